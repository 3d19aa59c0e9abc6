"""A small client of the dog-detector HTTP API, on the standard library alone (the `dogdetect`
command uses it; neither needs anything installed besides this package).

    from dogdetect_client import Client
    client = Client("http://127.0.0.1:8080")
    result = client.predict("dog.jpg")        # submit, wait, answer
    result.status, result.has_dog, result.detections
    jpeg = client.annotated(result.image_prediction_id)
    page = client.list(limit=20, status="DONE")  # newest first; page.next_cursor for more

Requests the service or its gateway refuse for load (429) or a dependency (503) are tried
again after their Retry-After (at most `max_retry_after` seconds; a backoff when there is
none), at most `tries` times in all. An upload carries one Idempotency-Key across its tries:
a retry never makes a second prediction. Photos larger than what the API takes in a request
(`direct_limit`, the service's MAX_UPLOAD_BYTES) go to the bucket through a presigned POST
(POST /image_prediction/uploads), as the service asks for them.

Nothing here imports the service: the numbers both sides need are written here again, and
the repository's tests check that they match the service's."""

from __future__ import annotations

import email.utils
import json
import mimetypes
import os
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_API = "http://127.0.0.1:8080"
API_ENV = "DOGDETECT_API"
API_KEY_ENV = "DOGDETECT_API_KEY"
# The service's numbers, written again (the client never imports the service): the largest
# photo the API takes in one request (its MAX_UPLOAD_BYTES by default; a larger one goes
# through a presigned upload), and the longest `Prefer: wait` it honours.
DIRECT_LIMIT = 4_500_000
MAX_WAIT_SECONDS = 20
# The most predictions one page of GET /image_prediction holds (its `limit`, 1 to this).
MAX_LIST_LIMIT = 100
STATUSES = ("PENDING", "PROCESSING", "DONE", "ERROR")
TERMINAL = frozenset({"DONE", "ERROR"})
# Client-side outcomes, besides the service's PENDING, PROCESSING, DONE and ERROR:
REJECTED = "REJECTED"  # the service refused the upload (a 4xx: not an image, too large...)
FAILED = "FAILED"  # no answer: unreachable, or 5xx / 429 still after every try

Image = str | os.PathLike[str] | bytes
_DELTA_SECONDS = re.compile(r"[0-9]+")
# Spreads retries; a generator of its own, so the caller's `random` is neither used nor moved.
_JITTER = random.SystemRandom()


class ApiError(Exception):
    """An answer other than the one expected, or none (`status` None: not reachable)."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(f"{status}: {detail}" if status is not None else detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        """The body as JSON; an ApiError, never a crash, when it is not."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise ApiError(self.status, f"the answer is not JSON: {self.detail()}") from None

    def fields(self, **kinds: type) -> dict[str, Any]:
        """The JSON object, checked to have each named field of its kind (an ApiError when
        not): what the client reads of a server's answer is checked before it is used."""
        body = self.json()
        for name, kind in kinds.items():
            if not isinstance(body, dict) or not isinstance(body.get(name), kind):
                raise ApiError(self.status, f"the answer has no {name} ({kind.__name__})")
        return dict(body)

    def detail(self) -> str:
        """The error's words: the service's {"detail"}, the gateway's {"message"}, S3's
        <Message>, else the start of the body."""
        text = self.body.decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            found = re.search(r"<Message>(.*?)</Message>", text, re.S)
            return found.group(1) if found else text[:200]
        if isinstance(parsed, dict):
            said = parsed.get("detail", parsed.get("message", parsed))
            return said if isinstance(said, str) else json.dumps(said)
        return text[:200]


@dataclass(frozen=True)
class Result:
    """What became of one photo. `status` is the prediction's, or REJECTED / FAILED."""

    path: str | None
    image_prediction_id: str | None
    status: str
    has_dog: bool | None = None
    detections: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status == "DONE"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "image_prediction_id": self.image_prediction_id,
            "status": self.status,
            "has_dog": self.has_dog,
            "detections": self.detections,
            "error": self.error,
        }


@dataclass(frozen=True)
class Page:
    """One page of GET /image_prediction: status documents, newest first, and the cursor of
    the next page (None: this is the last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def result_of(body: Mapping[str, Any], path: str | None = None) -> Result:
    """A status document (GET /image_prediction/{id}) as a Result; FAILED when what it says
    of the detections cannot be read."""
    prediction_id = body.get("image_prediction_id")
    prediction_id = prediction_id if isinstance(prediction_id, str) else None
    detections, has_dog = _detections(body.get("detections")), body.get("has_dog")
    status = body.get("status")
    if detections is None or not isinstance(has_dog, bool | None) or not isinstance(status, str):
        return Result(path, prediction_id, FAILED, error="the answer's detections are unreadable")
    error = body.get("error") if isinstance(body.get("error"), str) else None
    return Result(path, prediction_id, status, has_dog, detections, error)


class Client:
    def __init__(
        self,
        api: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        tries: int = 6,
        max_retry_after: float = 30.0,
        direct_limit: int = DIRECT_LIMIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = (api or os.environ.get(API_ENV) or DEFAULT_API).rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.tries = max(1, tries)
        self.max_retry_after = max_retry_after
        self.direct_limit = direct_limit
        self._sleep = sleep

    # --- the API -----------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the body: {"status", "checks"}); 503 is an answer here, not an error.
        A probe: tried twice at most, so that a service that is down is said so at once."""
        response = self._request("GET", "/health", accept=(200, 503), tries=2)
        return response.status == 200, response.fields(status=str)

    def submit(
        self,
        image: Image,
        idempotency_key: str | None = None,
        *,
        confidence: float | None = None,
        classes: Sequence[str] | None = None,
    ) -> str:
        """Send a photo (a path or its bytes); its prediction's id. With an Idempotency-Key,
        the same across retries (`idempotency_key`, else a new one). Over `direct_limit` bytes,
        through a presigned upload straight to the bucket (no key: see _submit_presigned).
        `confidence` (the service's floor, 0.25, to 1) and `classes` (COCO names): only those
        detections are kept, and has_dog looks for a dog at that confidence."""
        data, filename = _read(image)
        options = _options(confidence, classes)
        if len(data) > self.direct_limit:
            return self._submit_presigned(data, filename, options)
        key = idempotency_key or str(uuid.uuid4())
        body, content_type = multipart(options, "image", filename, data)
        response = self._request(
            "POST",
            "/image_prediction",
            body=body,
            headers={"Content-Type": content_type, "Idempotency-Key": key},
            accept=(202,),
        )
        return str(response.fields(image_prediction_id=str)["image_prediction_id"])

    def get(self, prediction_id: str, wait: int | None = None) -> dict[str, Any]:
        headers = {"Prefer": f"wait={wait}"} if wait else {}
        response = self._request(
            "GET",
            f"/image_prediction/{_quoted(prediction_id)}",
            headers=headers,
            accept=(200,),
            timeout=self.timeout + (wait or 0),
        )
        return response.fields(status=str)

    def list(self, limit: int = 20, cursor: str | None = None, status: str | None = None) -> Page:
        """One page of the caller's predictions, newest first (GET /image_prediction): at most
        `limit` (1 to MAX_LIST_LIMIT), after `cursor` (a page's next_cursor), only those of
        `status` when given."""
        query = {"limit": str(limit), "cursor": cursor, "status": status}
        text = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        response = self._request("GET", f"/image_prediction?{text}", accept=(200,))
        body = response.fields(items=list)
        next_cursor = body.get("next_cursor")
        if not isinstance(next_cursor, str | None):
            raise ApiError(response.status, "the answer's next_cursor is not text or null")
        for item in body["items"]:
            if not isinstance(item, dict) or not isinstance(item.get("status"), str):
                raise ApiError(response.status, "the answer has an item without a status")
        return Page(list(body["items"]), next_cursor)

    def wait(self, prediction_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """The prediction once DONE or ERROR, or as it is after `timeout` seconds; held by
        the service (Prefer: wait) rather than polled."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            wait = max(1, min(MAX_WAIT_SECONDS, int(remaining)))
            started = time.monotonic()
            body = self.get(prediction_id, wait=wait if remaining > 0 else None)
            if body["status"] in TERMINAL or time.monotonic() >= deadline:
                return body
            if time.monotonic() - started < 0.5:  # the wait was not held: do not spin
                self._sleep(0.5)

    def predict(
        self,
        image: Image,
        timeout: float = 120.0,
        on_submitted: Callable[[str], None] | None = None,
        *,
        confidence: float | None = None,
        classes: Sequence[str] | None = None,
    ) -> Result:
        """Submit and wait; every outcome is a Result (REJECTED, FAILED included).
        `on_submitted` is given the prediction's id as soon as the service has accepted it."""
        path = None if isinstance(image, bytes) else os.fspath(image)
        try:
            prediction_id = self.submit(image, confidence=confidence, classes=classes)
        except ApiError as exc:
            rejected = exc.status is not None and 400 <= exc.status < 500 and exc.status != 429
            return Result(path, None, REJECTED if rejected else FAILED, error=str(exc))
        except OSError as exc:  # the file itself could not be read
            return Result(path, None, REJECTED, error=f"cannot read the file: {exc.strerror}")
        if on_submitted is not None:
            on_submitted(prediction_id)
        try:
            body = self.wait(prediction_id, timeout)
        except ApiError as exc:
            return Result(path, prediction_id, FAILED, error=str(exc))
        result = result_of({**body, "image_prediction_id": prediction_id}, path)
        if result.status not in TERMINAL and result.status != FAILED:
            return replace(result, error=f"not finished within {timeout:g} s")
        return result

    def annotated(self, prediction_id: str) -> bytes:
        """The JPEG of the photo with its detections drawn (DONE predictions only)."""
        path = f"/image_prediction/{_quoted(prediction_id)}/annotated"
        return self._request("GET", path, headers={"Accept": "image/jpeg"}, accept=(200,)).body

    def delete(self, prediction_id: str) -> None:
        self._request("DELETE", f"/image_prediction/{_quoted(prediction_id)}", accept=(204,))

    # --- presigned uploads ---------------------------------------------------------------

    def _submit_presigned(self, data: bytes, filename: str, options: Mapping[str, str]) -> str:
        # Retrying here makes no second prediction either: a 429 never reached the service,
        # and a 503 stored nothing (the row is the last thing it writes). A prediction whose
        # answer was lost on the way, never sent a photo, ends ERROR ("no upload received").
        answer = self._request(
            "POST",
            "/image_prediction/uploads",
            body=urllib.parse.urlencode(options).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"} if options else None,
            accept=(201,),
        )
        offer = answer.fields(image_prediction_id=str, upload=dict)
        upload = offer["upload"]
        fields = upload.get("fields")
        if not isinstance(upload.get("url"), str) or not _is_form(fields):
            raise ApiError(answer.status, "the answer's upload has no url and fields")
        body, content_type = multipart(fields, "file", filename, data)
        # The same object again is harmless: a retried POST rewrites the one key it may write.
        self._request(
            "POST",
            upload["url"],
            body=body,
            headers={"Content-Type": content_type},
            accept=(200, 201, 204),
            retry_on=(500, 503),
            send_key=False,
        )
        return str(offer["image_prediction_id"])

    # --- HTTP with retries ---------------------------------------------------------------

    def _request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: tuple[int, ...],
        retry_on: tuple[int, ...] = (429, 503),
        timeout: float | None = None,
        send_key: bool = True,
        tries: int | None = None,
    ) -> Response:
        """One request, tried again on `retry_on` answers (and 409 for a keyed upload whose
        first try is still being answered) or no answer at all, up to `tries` (by default
        `self.tries`) times."""
        url = target if "://" in target else self.api + target
        all_headers = {"Accept": "application/json", **(headers or {})}
        if send_key and self.api_key:
            all_headers["X-API-Key"] = self.api_key
        retryable = set(retry_on) | ({409} if "Idempotency-Key" in all_headers else set())
        most = min(tries or self.tries, self.tries)
        for attempt in range(1, most + 1):
            last = attempt == most
            try:
                response = _send(method, url, body, all_headers, timeout or self.timeout)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if last:
                    raise ApiError(None, f"no answer from {url}: {_reason(exc)}") from exc
                self._sleep(self._backoff(attempt))
                continue
            if response.status in accept:
                return response
            if response.status not in retryable or last:
                raise ApiError(response.status, response.detail())
            self._sleep(self._delay(response, attempt))
        raise AssertionError("unreachable")  # the loop returns or raises on its last try

    def _delay(self, response: Response, attempt: int) -> float:
        after = retry_after_seconds(response.headers.get("retry-after"))
        if after is None:
            return self._backoff(attempt)
        return min(after, self.max_retry_after)

    def _backoff(self, attempt: int) -> float:
        """0.5 s, 1 s, 2 s... (at most 8 s), each shortened at random by up to half, so that
        clients refused together do not come back together."""
        base = min(8.0, 0.5 * 2.0 ** (attempt - 1))
        return min(base * _JITTER.uniform(0.5, 1.0), self.max_retry_after)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110); None when absent or
    unreadable."""
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):  # ASCII digits only: str.isdigit() takes "²" too
        return float(value[:12])  # more digits are longer than any cap
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _options(confidence: float | None, classes: Sequence[str] | None) -> dict[str, str]:
    """The form fields of a prediction's options (none: the service's defaults)."""
    fields = {}
    if confidence is not None:
        fields["confidence"] = str(float(confidence))
    if classes is not None:
        fields["classes"] = ",".join(classes)
    return fields


def multipart(
    fields: Mapping[str, str], file_field: str, filename: str, data: bytes
) -> tuple[bytes, str]:
    """A multipart/form-data body: `fields` in order, then the file (S3's POST wants it
    last); and its Content-Type."""
    boundary = f"dogdetect-{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_escape(name)}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_escape(file_field)}"; '
        f'filename="{_escape(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
    )
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _send(
    method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float
) -> Response:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ApiError(None, f"not an http or https URL: {url}")
    # http(s) only, checked above (bandit B310, ruff S310)
    request = urllib.request.Request(  # noqa: S310  # nosec B310
        url, data=body, headers=dict(headers), method=method
    )
    opener = _DIRECT if _is_loopback(request.host) else _PROXIED
    try:
        with opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, _lower(answer.headers), answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, _lower(error.headers), error.read())


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """An API answer is never a redirect to follow: a 3xx is reported as it is."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# The environment's proxy (http_proxy, https_proxy, no_proxy) for every host but this
# machine's, which a proxy cannot reach: `make local`'s API is on 127.0.0.1.
_PROXIED = urllib.request.build_opener(_NoRedirects())
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def _is_loopback(host: str) -> bool:
    name = urllib.parse.urlsplit(f"//{host}").hostname or ""
    return name == "localhost" or name.startswith("127.") or name == "::1"


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()} if headers else {}


def _read(image: Image) -> tuple[bytes, str]:
    if isinstance(image, bytes):
        return image, "image"
    path = Path(image)
    return path.read_bytes(), path.name


def _detections(value: Any) -> list[dict[str, Any]] | None:
    """The detections when each has a text label and a numeric confidence; None if not."""
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    for found in value:
        if not isinstance(found, dict) or not isinstance(found.get("label"), str):
            return None
        confidence = found.get("confidence")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            return None
    return list(value)


def _is_form(fields: Any) -> bool:
    return isinstance(fields, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
    )


def _quoted(prediction_id: str) -> str:
    return urllib.parse.quote(prediction_id, safe="")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", " ").replace("\n", " ")


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__
