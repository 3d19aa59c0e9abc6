"""moto's server, made durable for S3: every object written through it is mirrored to disk
and restored on the next start, so uploads survive a restart or a hard kill of the stack.

moto keeps state in memory only. Queue messages are not mirrored: after a restart the stack
re-queues every unfinished prediction from PostgreSQL, the source of truth (see
docs/decisions.md)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from local.files import write_private
from local.moto_overheads import install as without_per_request_overheads
from local.s3_missing import MissingObjects, moto_bucket_exists, moto_may_list
from local.s3_post import PresignedPosts, moto_cors, moto_signer, moto_store

_MUTATING = {"PUT", "POST", "DELETE"}
REGION = "us-east-1"
ADMINISTRATOR = "local-stack"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _backend() -> Any:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


class S3Mirror:
    """WSGI middleware: after each S3 write, copy the affected object (or bucket) to disk."""

    def __init__(self, app: WsgiApp, root: Path) -> None:
        self.app = app
        self.root = root

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = list(self.app(environ, start_response))  # let moto finish the write first
        if environ["REQUEST_METHOD"] in _MUTATING and _is_s3(environ):
            bucket, _, key = unquote(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
            if bucket:
                self._sync(bucket, key)
        return body

    def sync(self, bucket: str, key: str) -> None:
        """Mirror one object written past moto's HTTP handlers (local/s3_post.py)."""
        self._sync(bucket, key)

    def _sync(self, bucket: str, key: str) -> None:
        found = _backend().buckets.get(bucket)
        folder = self.root / bucket
        if found is None:
            for stale in folder.glob("*"):
                stale.unlink()
            return
        folder.mkdir(parents=True, exist_ok=True)
        keys = [key] if key else [unquote(p.name) for p in folder.iterdir()]
        for name in keys:
            self._sync_key(found, folder, name)

    @staticmethod
    def _sync_key(bucket: Any, folder: Path, key: str) -> None:
        path = folder / quote(key, safe="")
        stored = bucket.keys.get(key)
        if stored is None:
            path.unlink(missing_ok=True)
            return
        partial = path.with_suffix(".partial")
        partial.write_bytes(stored.value)
        os.replace(partial, path)  # atomic: a hard kill leaves the old or the new file


def _is_s3(environ: dict[str, Any]) -> bool:
    credential = environ.get("HTTP_AUTHORIZATION", "") + environ.get("QUERY_STRING", "")
    return "/s3/aws4_request" in unquote(credential)


def restore(root: Path) -> int:
    """Load the mirrored buckets and objects into moto before it serves anything."""
    backend, restored = _backend(), 0
    for folder in sorted(p for p in root.glob("*") if p.is_dir()):
        backend.create_bucket(folder.name, REGION)
        for path in folder.iterdir():
            if path.suffix != ".partial":
                backend.put_object(folder.name, unquote(path.name), path.read_bytes())
                restored += 1
    return restored


ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def establish_identities(identities_file: Path) -> None:
    """From the first request on, every call must be signed by a known IAM identity. A new
    stack gets one identity of its own, an administrator (it creates the queues and the
    functions' users), made in moto's backend before anything is served. A restarted server
    (a fault test) gets back every identity the stack recorded, with the same keys, so that
    running functions keep working."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    if identities_file.exists():
        identities = json.loads(identities_file.read_text())
    else:
        identities = {ADMINISTRATOR: {"policy": ALLOW_ALL}}
    for user, identity in identities.items():
        iam.create_user(REGION, user)
        iam.put_user_policy(user, user, json.dumps(identity["policy"]))
        key = iam.create_access_key(user)
        if "AWS_ACCESS_KEY_ID" in identity:  # restore the recorded key
            key.access_key_id = identity["AWS_ACCESS_KEY_ID"]
            key.secret_access_key = identity["AWS_SECRET_ACCESS_KEY"]
        identity["AWS_ACCESS_KEY_ID"] = key.access_key_id
        identity["AWS_SECRET_ACCESS_KEY"] = key.secret_access_key
    write_private(identities_file, json.dumps(identities))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="folder of the S3 mirror")
    parser.add_argument(
        "--identities", type=Path, required=True, help="the IAM identities, kept across restarts"
    )
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    # IAM enforced from the first request: each function calls with its own role's policy.
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    args.data.mkdir(parents=True, exist_ok=True)
    args.data.chmod(0o700)  # uploaded photos: this user's only
    print(f"restored {restore(args.data)} objects from {args.data}", flush=True)
    establish_identities(args.identities)
    without_per_request_overheads()  # else a receive costs more the deeper the queue
    # A missing object is 403 to whoever may not list its bucket, as in S3 (local/s3_missing.py)
    moto = MissingObjects(
        DomainDispatcherApplication(create_backend_app), moto_bucket_exists(_backend), moto_may_list
    )
    mirror = S3Mirror(moto, args.data)
    # Presigned POSTs (direct uploads) are checked and stored before moto (local/s3_post.py).
    app = PresignedPosts(
        mirror, moto_store(_backend, mirror.sync), moto_signer, moto_cors(_backend)
    )
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
