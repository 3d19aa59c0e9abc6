"""Builds the real adapters from settings, once per container (Lambda reuses containers).
Under SnapStart (`dogdetect.runtime.snapstart`), `prime` builds the AWS clients before the snapshot
and `reopen_connections` drops the snapshot's connections after each restore."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Engine

from dogdetect.adapters.aws import S3ImageStorage, SqsJobQueue, SqsNotificationQueue, aws_client
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.adapters.postgres.slots import DRAWINGS, WAITS, PostgresSlots
from dogdetect.adapters.presign import S3PostPresigner
from dogdetect.adapters.secrets import credentials_for, database_url
from dogdetect.config import Settings

AwsClientFactory = Callable[[str, str | None, str], Any]


@dataclass
class Adapters:
    settings: Settings
    client_factory: AwsClientFactory = aws_client
    # What holds connections, kept to be reopened: one AWS client per service (botocore's
    # are thread-safe; each one made loads its service's model), the database engine.
    clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    engines: list[Engine] = field(default_factory=list, init=False, repr=False)

    def _client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = self.client_factory(
                service, self.settings.aws_endpoint_url, self.settings.aws_region
            )
        return self.clients[service]

    def prime(self) -> None:
        """Build now what a first request would: the storage's and the queue's clients (their
        service models, endpoints, credentials); no connection opens before a call. The
        repository waits for its first use: it reads the database secret, which may have
        rotated by the time a snapshot is restored."""
        _ = self.storage, self.queue

    def reopen_connections(self) -> None:
        """No pooled connection is used again; each opens anew on its next use. The pool is
        dropped without closing its connections (`close=False`): their sockets are the
        snapshotted environment's, and no goodbye should be sent over them."""
        for engine in self.engines:
            engine.dispose(close=False)
        for client in self.clients.values():
            client.close()  # botocore: empties the connection pool; the client stays usable

    @cached_property
    def repository(self) -> PostgresPredictionRepository:
        return PostgresPredictionRepository(self.engine)

    @cached_property
    def waits(self) -> PostgresSlots:
        return PostgresSlots(self.engine, WAITS)

    @cached_property
    def drawings(self) -> PostgresSlots:
        return PostgresSlots(self.engine, DRAWINGS)

    @cached_property
    def engine(self) -> Engine:
        secrets = self._client("secretsmanager") if self.settings.database_secret_arn else None
        credentials = credentials_for(self.settings, secrets)
        url = database_url(self.settings, credentials)
        engine = make_engine(
            url,
            tls=self.settings.database_tls,
            credentials=credentials,
            ca_bundle=self.settings.database_ca_bundle,
        )
        self.engines.append(engine)
        return engine

    @cached_property
    def storage(self) -> S3ImageStorage:
        return S3ImageStorage(self._client("s3"), self.settings.bucket_name)

    @cached_property
    def presigner(self) -> S3PostPresigner:
        return S3PostPresigner(self._client("s3"), self.settings.bucket_name)

    @cached_property
    def queue(self) -> SqsJobQueue:
        return SqsJobQueue(self._client("sqs"), self.settings.queue_url)

    @cached_property
    def notifications(self) -> SqsNotificationQueue:
        return SqsNotificationQueue(self._client("sqs"), self.settings.notifications_queue_url)

    @cached_property
    def background(self) -> ThreadPoolExecutor:
        """Threads for a request's calls that run beside each other (submit's S3 put beside
        its row's insert). Lambda serves one request at a time per environment; `make local`
        and tests may run a few in one process."""
        return ThreadPoolExecutor(max_workers=4, thread_name_prefix="background")


_adapters: Adapters | None = None


def adapters() -> Adapters:
    """The container's adapters; settings are read on first use, when a handler starts."""
    global _adapters
    if _adapters is None:
        _adapters = Adapters(Settings())
    return _adapters
