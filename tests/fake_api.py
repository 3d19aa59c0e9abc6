"""A tiny stand-in of the dog-detector API on 127.0.0.1, for the client and the command's unit
tests: real HTTP on a real socket (a thread per request), every request recorded, and answers
that can be scripted per route ahead of the default ones.

By default it behaves as the service would, simply: an upload whose bytes start as a JPEG is
accepted (the same Idempotency-Key gives the same id again), anything else is 415; a
prediction is DONE at once (or in the status a test sets in `statuses`), with a dog when the
photo's bytes contain b"dog"; a presigned upload goes to its own fake bucket at /bucket; GET
/image_prediction lists them, newest first, a page at a time (`limit`, an opaque `cursor`,
`status`), as the service does."""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import json
import sys
import threading
import time
import urllib.parse
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JPEG_START = b"\xff\xd8\xff"
DOG_BOX = {"x1": 10.0, "y1": 20.0, "x2": 110.0, "y2": 220.0}
ANNOTATED = JPEG_START + b"\xe0 an annotated photo"
STATUSES = ("PENDING", "PROCESSING", "DONE", "ERROR")
MAX_LIMIT = 100


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int  # 0: the answer the fake would give anyway (held or delayed as below)
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a held request)
    # Held until the test sets it (30 s at most): a request in flight for as long as the test
    # needs, whatever the machine's speed.
    hold: threading.Event | None = None


def form_parts(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    """(name, filename, content) of each part of a multipart/form-data body, in order."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = []
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        parts.append((name, part.get_filename(), part.get_payload(decode=True)))
    return parts


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.scripts: dict[tuple[str, str], deque[Answer]] = {}
        self.photos: dict[str, bytes] = {}  # prediction id -> the photo's bytes, oldest first
        self.statuses: dict[str, str] = {}  # prediction id -> its status, when not DONE
        self.numbers: dict[str, int] = {}  # prediction id -> when it was made: 0, 1, 2...
        self.keys: dict[str, str] = {}  # Idempotency-Key -> prediction id
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, method: str, route: str, *answers: Answer) -> None:
        """Answer the next requests to `route` (a path, or "/image_prediction/*" for any id)
        with these, in order, before the default ones."""
        self.scripts.setdefault((method, route), deque()).extend(answers)

    def made(self, method: str, route_start: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(route_start)]

    # --- answering ------------------------------------------------------------------------

    def answer(self, request: Recorded) -> Answer:
        with self.lock:
            self.requests.append(request)
            scripted = self._scripted(request)
            if scripted is None:
                return self._default(request)
            if scripted.status == 0:
                default = self._default(request)
                return Answer(
                    default.status, default.body, default.headers, scripted.delay, scripted.hold
                )
            return scripted

    def add(self, photo: bytes, status: str = "DONE") -> str:
        """A prediction made without a request (the newest), in this status."""
        with self.lock:
            prediction_id = str(uuid.uuid4())
            self.photos[prediction_id] = photo
            if status != "DONE":
                self.statuses[prediction_id] = status
            return prediction_id

    def _numbered(self) -> dict[str, int]:
        """Each prediction's number, in the order they were made (deleted ones keep theirs)."""
        for prediction_id in self.photos:
            self.numbers.setdefault(prediction_id, len(self.numbers))
        return self.numbers

    def _scripted(self, request: Recorded) -> Answer | None:
        path = urllib.parse.urlsplit(request.path).path
        for route in (request.path, path, _any_id(path)):
            queue = self.scripts.get((request.method, route))
            if queue:
                return queue.popleft()
        return None

    def _default(self, request: Recorded) -> Answer:
        method, path = request.method, request.path
        parts = path.strip("/").split("/")
        target = urllib.parse.urlsplit(path)
        if (method, target.path) == ("GET", "/image_prediction"):
            return self._list(urllib.parse.parse_qs(target.query))
        if (method, path) == ("GET", "/health"):
            checks = {"database": "ok", "storage": "ok", "queue": "ok"}
            return Answer(200, {"status": "ok", "checks": checks})
        if (method, path) == ("POST", "/image_prediction"):
            (_, _, photo) = next(p for p in self._parts(request) if p[0] == "image")
            return self._accept(request, photo, 202)
        if (method, path) == ("POST", "/image_prediction/uploads"):
            prediction_id = self._new_id(request)
            upload = {"url": f"{self.url}/bucket", "fields": _fields(prediction_id)}
            body = {
                "image_prediction_id": prediction_id,
                "upload": upload,
                "expires_at": "2026-11-29T23:00:00Z",
            }
            return Answer(201, body)
        if (method, path) == ("POST", "/bucket"):
            parts = self._parts(request)
            fields = {name: content.decode() for name, filename, content in parts if not filename}
            key = fields["key"]
            assert parts[-1][0] == "file", "S3 wants the file last"
            assert [n for n, _, _ in parts[:-1]] == list(_fields(key.split("/")[-1]))
            self.photos[key.split("/")[-1]] = parts[-1][2]
            return Answer(204, b"")
        if len(parts) >= 2 and parts[0] == "image_prediction" and parts[1] in self.photos:
            return self._prediction(method, parts[1], parts[2:])
        return Answer(404, {"detail": "no prediction with this id"})

    def _prediction(self, method: str, prediction_id: str, rest: list[str]) -> Answer:
        if method == "DELETE" and not rest:
            del self.photos[prediction_id]
            return Answer(204, b"")
        if method == "GET" and rest == ["annotated"]:
            status = self.statuses.get(prediction_id, "DONE")
            if status != "DONE":
                said = f"the prediction is {status}: its annotated photo exists once it is DONE"
                return Answer(404, {"detail": said})
            return Answer(200, ANNOTATED, {"Content-Type": "image/jpeg"})
        if method == "GET" and not rest:
            return Answer(200, self._status(prediction_id))
        return Answer(405, {"detail": "Method Not Allowed"})

    def _status(self, prediction_id: str) -> dict[str, Any]:
        status = self.statuses.get(prediction_id, "DONE")
        if status != "DONE":
            body = prediction(prediction_id, status, None, [])
            body["error"] = "the photo could not be read" if status == "ERROR" else None
        else:
            dog = b"dog" in self.photos[prediction_id]
            found = [{"label": "dog", "confidence": 0.93, "box": DOG_BOX}] if dog else []
            body = prediction(prediction_id, "DONE", dog, found)
        made = self._numbered()[prediction_id]  # one second after the one before
        body["created_at"] = f"2026-11-29T22:{made // 60 % 60:02d}:{made % 60:02d}Z"
        return body

    def _list(self, query: dict[str, list[str]]) -> Answer:
        """Newest first, `limit` at most, after the cursor's position: the cursor holds the
        number of the last one given, in base64."""
        try:
            limit = int(query.get("limit", ["20"])[-1])
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            return Answer(422, {"detail": f"limit must be a whole number from 1 to {MAX_LIMIT}"})
        status = query.get("status", [None])[-1]
        if status is not None and status not in STATUSES:
            return Answer(422, {"detail": f"status must be one of {', '.join(STATUSES)}"})
        numbers = self._numbered()
        newest_first = [(numbers[pid], pid) for pid in self.photos][::-1]
        cursor = query.get("cursor", [None])[-1]
        if cursor is not None:
            try:
                after = int(base64.urlsafe_b64decode(cursor.encode()).decode())
            except (ValueError, binascii.Error):
                return Answer(422, {"detail": "cursor is not one this API gave"})
            newest_first = [(i, pid) for i, pid in newest_first if i < after]
        chosen = [
            (i, pid)
            for i, pid in newest_first
            if status is None or self.statuses.get(pid, "DONE") == status
        ]
        page, rest = chosen[:limit], chosen[limit:]
        next_cursor = base64.urlsafe_b64encode(str(page[-1][0]).encode()).decode() if rest else None
        items = [self._status(pid) for _, pid in page]
        return Answer(200, {"items": items, "next_cursor": next_cursor})

    def _accept(self, request: Recorded, photo: bytes, status: int) -> Answer:
        if not photo.startswith(JPEG_START):
            return Answer(415, {"detail": "not a supported image; accepted: JPEG, PNG"})
        prediction_id = self._new_id(request)
        self.photos[prediction_id] = photo
        body = {"image_prediction_id": prediction_id, "status": "PENDING", "has_dog": None}
        return Answer(status, body)

    def _new_id(self, request: Recorded) -> str:
        key = request.headers.get("idempotency-key")
        if key is not None and key in self.keys:
            return self.keys[key]
        prediction_id = str(uuid.uuid4())
        if key is not None:
            self.keys[key] = prediction_id
        return prediction_id

    @staticmethod
    def _parts(request: Recorded) -> list[tuple[str, str | None, bytes]]:
        return form_parts(request.headers["content-type"], request.body)


def prediction(
    prediction_id: str, status: str, has_dog: bool | None, detections: list[Any]
) -> dict[str, Any]:
    return {
        "image_prediction_id": prediction_id,
        "status": status,
        "has_dog": has_dog,
        "detections": detections,
        "error": None,
        "created_at": "2026-11-29T22:00:00Z",
        "updated_at": "2026-11-29T22:00:01Z",
    }


def _fields(prediction_id: str) -> dict[str, str]:
    return {"key": f"incoming/{prediction_id}", "policy": "cG9saWN5", "x-amz-signature": "abc"}


def _any_id(path: str) -> str:
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "image_prediction" and parts[2] != "uploads":
        parts[2] = "*"
    return "/".join(parts)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about a client gone before its answer (a command stopped by Ctrl-C)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = api.answer(Recorded(self.command, self.path, headers, body))
            time.sleep(answer.delay)
            if answer.hold is not None:
                answer.hold.wait(30)
            raw = (
                answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
            )
            self.send_response(answer.status)
            if not isinstance(answer.body, bytes):
                self.send_header("Content-Type", "application/json")
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    return Handler
