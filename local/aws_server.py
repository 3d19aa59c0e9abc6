"""moto's server, made durable for S3: every object written through it is mirrored to disk
and restored on the next start, so uploads survive a restart or a hard kill of the stack.

moto keeps state in memory only. Queue messages are not mirrored: after a restart the stack
re-queues every unfinished prediction from PostgreSQL, the source of truth (see
docs/decisions.md)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

_MUTATING = {"PUT", "POST", "DELETE"}
REGION = "us-east-1"

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="folder of the S3 mirror")
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    args.data.mkdir(parents=True, exist_ok=True)
    print(f"restored {restore(args.data)} objects from {args.data}", flush=True)
    app = S3Mirror(DomainDispatcherApplication(create_backend_app), args.data)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
