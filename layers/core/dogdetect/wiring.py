"""Builds the real adapters from settings, once per container (Lambda reuses containers)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from dogdetect.adapters.aws import S3ImageStorage, SqsJobQueue, aws_client
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.adapters.secrets import credentials_for, database_url
from dogdetect.settings import Settings


@dataclass
class Adapters:
    settings: Settings

    @cached_property
    def repository(self) -> PostgresPredictionRepository:
        credentials = credentials_for(self.settings)
        url = database_url(self.settings, credentials)
        engine = make_engine(
            url,
            tls=self.settings.database_tls,
            credentials=credentials,
            ca_bundle=self.settings.database_ca_bundle,
        )
        return PostgresPredictionRepository(engine)

    @cached_property
    def storage(self) -> S3ImageStorage:
        client = aws_client("s3", self.settings.aws_endpoint_url, self.settings.aws_region)
        return S3ImageStorage(client, self.settings.bucket_name)

    @cached_property
    def queue(self) -> SqsJobQueue:
        client = aws_client("sqs", self.settings.aws_endpoint_url, self.settings.aws_region)
        return SqsJobQueue(client, self.settings.queue_url)


_adapters: Adapters | None = None


def adapters() -> Adapters:
    """The container's adapters; settings are read on first use, when a handler starts."""
    global _adapters
    if _adapters is None:
        _adapters = Adapters(Settings())
    return _adapters
