"""`dogdetect`: the dog detector from a shell, through its HTTP API (`dogdetect_client`).

    dogdetect predict PATH... [--recursive] [--json] [--annotate DIR] [--concurrency N]
                              [--timeout SECONDS]
    dogdetect get ID [--json]
    dogdetect wait ID [--timeout SECONDS] [--json]
    dogdetect list [--status STATUS] [--limit N | --all] [--json]
    dogdetect annotated ID -o FILE
    dogdetect delete ID
    dogdetect health [--json]
    dogdetect --version

Each command also takes --api URL and --api-key KEY. Exit codes (EXIT_CODES below): 0 done
(every file or the prediction DONE, deleted, saved, listed, healthy), 1 otherwise, 2 a usage
error, 3 no prediction with this id, 130 stopped by Ctrl-C."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TextIO

from dogdetect_client import __version__
from dogdetect_client.client import (
    API_ENV,
    API_KEY_ENV,
    DEFAULT_API,
    MAX_LIST_LIMIT,
    STATUSES,
    TERMINAL,
    ApiError,
    Client,
    Result,
    result_of,
)

OK, NOT_DONE, USAGE, NOT_FOUND = 0, 1, 2, 3
INTERRUPTED = 130  # as a shell reports a command stopped by SIGINT
EXIT_CODES = {
    OK: "done: every file (or the prediction) DONE, deleted, saved, listed; health: healthy",
    NOT_DONE: "otherwise: a file or the prediction not DONE (ERROR, REJECTED, FAILED, still"
    " PENDING or PROCESSING at --timeout), an annotated photo not saved, an answer not had",
    USAGE: "a usage error, before anything is sent",
    NOT_FOUND: "no prediction with this id (get, wait, annotated, delete)",
    INTERRUPTED: "stopped by Ctrl-C",
}
# The commands about one prediction: a 404 there means that there is no such prediction.
BY_ID = frozenset({"get", "wait", "annotated", "delete"})
# Path segments that begin a route: an --api URL holding one is a route's, not the API's.
ROUTES = frozenset({"image_prediction", "image_predictions", "health", "docs", "openapi.json"})
# What a folder contributes (files named on the command line are sent whatever their name:
# the service judges the bytes).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
SHOWN_DETECTIONS = 4


class UsageError(Exception):
    pass


@dataclass(frozen=True)
class Outcome:
    """One file's result, and where its annotated photo was saved (with --annotate)."""

    result: Result
    annotated: str | None = None
    annotate_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.result.done and self.annotate_error is None

    def to_json(self, annotating: bool) -> dict[str, Any]:
        line = self.result.to_json()
        if self.annotate_error is not None:
            line["error"] = self.annotate_error
        if annotating:
            line["annotated"] = self.annotated
        return line


Command = Callable[[Client, argparse.Namespace, TextIO, TextIO], int]


def run() -> NoReturn:
    """The `dogdetect` command: main's exit code. Stopped by Ctrl-C, it ends once it has said
    what finished, without waiting for the answers still on their way (a held wait can take
    20 s): what is printed is flushed, and the threads still waiting are abandoned."""
    code = main()
    if code == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        client = Client(_api_url(args.api), args.api_key, timeout=30.0)
        return COMMANDS[args.command](client, args, sys.stdout, sys.stderr)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2), already printed
        return exit_.code if isinstance(exit_.code, int) else USAGE
    except UsageError as exc:
        print(f"dogdetect: error: {exc}", file=sys.stderr)
        return USAGE
    except ApiError as exc:  # get, wait, list, annotated, delete: the answer they needed
        print(f"dogdetect: {exc}", file=sys.stderr)
        return NOT_FOUND if exc.status == 404 and args.command in BY_ID else NOT_DONE
    except KeyboardInterrupt:  # predict says what finished first, on its own
        print("dogdetect: interrupted", file=sys.stderr)
        return INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api",
        default=os.environ.get(API_ENV) or DEFAULT_API,
        help=f"the API's base URL (default: ${API_ENV} or {DEFAULT_API})",
    )
    common.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"sent as X-API-Key (default: ${API_KEY_ENV})",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    parser = argparse.ArgumentParser(
        prog="dogdetect",
        description="Is there a dog in it?",
        epilog="exit codes: " + "; ".join(f"{code} {said}" for code, said in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    predict = commands.add_parser(
        "predict",
        parents=[common, as_json],
        help="send photos and wait for their answers",
        description="Send photos, wait for their predictions, print them. A folder gives its"
        " image files (by extension; its subfolders too with --recursive). Exit code 0 when"
        " every file ended DONE, 1 otherwise, 2 for a usage error, 130 on Ctrl-C (after"
        " printing what finished).",
    )
    predict.add_argument("paths", nargs="+", metavar="PATH", help="a photo or a folder of them")
    predict.add_argument(
        "-r", "--recursive", action="store_true", help="a folder's subfolders too (not hidden)"
    )
    predict.add_argument(
        "--annotate", metavar="DIR", help="save each DONE photo with its boxes drawn in DIR"
    )
    predict.add_argument(
        "--concurrency", type=_positive, default=4, metavar="N", help="files at once (4)"
    )
    predict.add_argument(
        "--timeout",
        type=_positive,
        default=120,
        metavar="SECONDS",
        help="how long to wait for each prediction (120)",
    )
    predict.add_argument(
        "--confidence",
        type=_fraction,
        metavar="C",
        help="keep detections at or above C, and say has_dog for a dog at or above C (from"
        " the service's floor, 0.25, to 1; default: the floor)",
    )
    predict.add_argument(
        "--classes",
        type=_names,
        metavar="NAMES",
        help="keep only detections of these COCO classes, comma-separated (dog,cat); has_dog"
        " still looks for a dog",
    )
    prediction_id = argparse.ArgumentParser(add_help=False)
    prediction_id.add_argument("id", metavar="ID", help="the prediction's image_prediction_id")
    commands.add_parser(
        "get",
        parents=[common, as_json, prediction_id],
        help="one prediction as it is now",
        description="Print one prediction (GET /image_prediction/ID). Exit code 0 when it is"
        " DONE, 1 otherwise, 3 when there is no prediction with this id.",
    )
    wait = commands.add_parser(
        "wait",
        parents=[common, as_json, prediction_id],
        help="wait until a prediction is DONE or ERROR",
        description="Wait for one prediction (Prefer: wait, at most 20 s a request) until it"
        " is DONE or ERROR or --timeout passes, then print it. Exit code 0 when DONE, 1"
        " otherwise, 3 when there is no prediction with this id.",
    )
    wait.add_argument(
        "--timeout", type=_positive, default=120, metavar="SECONDS", help="at most (120)"
    )
    listing = commands.add_parser(
        "list",
        parents=[common, as_json],
        help="your predictions, newest first",
        description="List predictions, newest first (GET /image_prediction): the API key's"
        " own, or every one when the API has no keys.",
    )
    listing.add_argument(
        "--status", type=str.upper, choices=STATUSES, help="only those of this status"
    )
    how_many = listing.add_mutually_exclusive_group()
    how_many.add_argument("--limit", type=_positive, default=20, metavar="N", help="at most N (20)")
    how_many.add_argument("--all", action="store_true", help="every one, page after page")
    annotated = commands.add_parser(
        "annotated",
        parents=[common, prediction_id],
        help="save a DONE prediction's photo with its boxes drawn",
        description="Save the photo of a DONE prediction with its boxes drawn, a JPEG"
        " (GET /image_prediction/ID/annotated). Exit code 0 when saved, 1 when there is none"
        " (not DONE, no longer stored), 3 when there is no prediction with this id.",
    )
    annotated.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="where to save it (- for stdout)"
    )
    commands.add_parser(
        "delete",
        parents=[common, prediction_id],
        help="delete a prediction and its stored photo",
        description="Delete a prediction, its detections and its stored photo. Exit code 0"
        " when deleted, 3 when there is no prediction with this id.",
    )
    commands.add_parser(
        "health",
        parents=[common, as_json],
        help="is the service up? (exit code 0 when healthy)",
        description="Ask /health: the database, the bucket and the queue.",
    )
    return parser


def _fraction(text: str) -> float:
    """A number from 0 to 1 (the service refuses one below its floor, 422)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"not a number from 0 to 1: {text!r}")
    return value


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"not class names separated by commas: {text!r}")
    return names


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of 1 or more: {text!r}")
    return value


def _api_url(url: str) -> str:
    """The API's base URL; a usage error, saying what to pass, for one that holds a route."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--api must be an http or https URL, not {url!r}")
    segments = parts.path.split("/")
    for i, segment in enumerate(segments):
        if segment in ROUTES:
            base_path = "/".join(segments[:i])
            base = urllib.parse.urlunsplit(parts._replace(path=base_path, query="", fragment=""))
            raise UsageError(
                f"--api is the API's base URL, without a route: pass --api {base}"
                f" (not {url}; the same for ${API_ENV})"
            )
    return url


# --- predict ------------------------------------------------------------------------------


def image_files(paths: Sequence[str], recursive: bool = False) -> list[Path]:
    """The files to send, in the order given, each once; folders give their image files
    (and, `recursive`, those of their subfolders, hidden ones left out)."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(_images_in(path, recursive))
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"no such file or folder: {name}")
    unique = list({p.resolve(): p for p in found}.values())  # the first of each, in order
    if not unique:
        raise UsageError("no image files to send (a folder gives its .jpg, .png, ... files)")
    return unique


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    found = []
    for parent, folders, names in os.walk(folder):  # symbolic links to folders not followed
        folders[:] = [f for f in folders if recursive and not f.startswith(".")]
        for name in names:
            path = Path(parent, name)
            if path.suffix.lower() in IMAGE_SUFFIXES and not name.startswith("."):
                found.append(path)
    return [p for p in found if p.is_file()]


def _predict(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    files = image_files(args.paths, args.recursive)
    folder = Path(args.annotate) if args.annotate else None
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot make the folder {folder}: {exc.strerror}") from exc
    progress = Progress(len(files), err)
    outcomes: dict[int, Outcome] = {}
    sent: dict[int, str] = {}  # each file's prediction id, as soon as the service has it

    def show(i: int, outcome: Outcome) -> None:
        outcomes[i] = outcome
        if args.json:  # each line as soon as its file is finished
            progress.clear()
            print(json.dumps(outcome.to_json(folder is not None)), file=out, flush=True)

    pool = ThreadPoolExecutor(args.concurrency, thread_name_prefix="dogdetect")
    futures = {
        pool.submit(_one, client, path, args, folder, partial(sent.__setitem__, i)): i
        for i, path in enumerate(files)
    }
    try:
        for future in as_completed(futures):
            show(futures[future], future.result())
            progress.advance(outcomes[futures[future]])
    except KeyboardInterrupt:  # Ctrl-C: no file not yet started is sent
        pool.shutdown(wait=False, cancel_futures=True)
        progress.clear()
        for future, i in futures.items():  # finished, not yet shown
            finished = future.done() and not future.cancelled()
            if i not in outcomes and finished and future.exception() is None:
                show(i, future.result())
        _interrupted(files, outcomes, sent, args.json, folder, out, err)
        return INTERRUPTED
    pool.shutdown()
    progress.clear()
    ordered = [outcomes[i] for i in range(len(files))]
    if not args.json:
        print_table(ordered, out, folder)
    return OK if all(o.ok for o in ordered) else NOT_DONE


def _interrupted(
    files: Sequence[Path],
    outcomes: dict[int, Outcome],
    sent: dict[int, str],
    as_json: bool,
    folder: Path | None,
    out: TextIO,
    err: TextIO,
) -> None:
    """What finished, as the run prints it (the table; JSON lines are out already), then
    the `interrupted` line, and the ids of the files sent whose answer was not waited for."""
    if not as_json and outcomes:
        print_table([outcomes[i] for i in sorted(outcomes)], out, folder)
    out.flush()
    # A copy first (one step for the interpreter): the threads may still be adding to it.
    waiting = {i: pid for i, pid in sorted(sent.copy().items()) if i not in outcomes}
    unsent = len(files) - len(outcomes) - len(waiting)
    print(
        f"dogdetect: interrupted: {_count(len(outcomes), 'file')} finished,"
        f" {len(waiting)} sent and not finished, {unsent} not sent",
        file=err,
    )
    for i, prediction_id in waiting.items():
        print(f"  {files[i]}: {prediction_id} (dogdetect wait {prediction_id})", file=err)


def _one(
    client: Client,
    path: Path,
    args: argparse.Namespace,
    folder: Path | None,
    on_submitted: Callable[[str], None] | None = None,
) -> Outcome:
    result = client.predict(
        path,
        timeout=args.timeout,
        on_submitted=on_submitted,
        confidence=args.confidence,
        classes=args.classes,
    )
    if folder is None or not result.done or result.image_prediction_id is None:
        return Outcome(result)
    try:
        photo = client.annotated(result.image_prediction_id)
        return Outcome(result, str(save_annotated(folder, path, result.image_prediction_id, photo)))
    except (ApiError, OSError) as exc:
        return Outcome(result, annotate_error=f"annotated photo not saved: {exc}")


def save_annotated(folder: Path, source: Path, prediction_id: str, photo: bytes) -> Path:
    """DIR/<stem>-<first 8 of the id>.jpg, never over an existing file (then the whole id)."""
    for name in (f"{source.stem}-{prediction_id[:8]}.jpg", f"{source.stem}-{prediction_id}.jpg"):
        target = folder / name
        try:
            with target.open("xb") as file:
                file.write(photo)
            return target
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder / name} exists")


def print_table(outcomes: Sequence[Outcome], out: TextIO, folder: Path | None = None) -> None:
    rows = [("PATH", "STATUS", "DOG", "ID", "DETECTIONS")]
    for o in outcomes:
        r = o.result
        dog = "-" if r.has_dog is None else ("yes" if r.has_dog else "no")
        said = _found(r) if o.ok else (o.annotate_error or r.error or "-")
        rows.append((r.path or "-", r.status, dog, r.image_prediction_id or "-", said))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[4]]).rstrip(), file=out)
    done = [o for o in outcomes if o.result.done]
    dogs = sum(1 for o in done if o.result.has_dog)
    summary = (
        f"{_count(len(outcomes), 'file')}: {dogs} with a dog, {len(done) - dogs} without, "
        f"{len(outcomes) - len(done)} not DONE"
    )
    if folder is not None:
        saved = sum(1 for o in outcomes if o.annotated)
        summary += f"; {_count(saved, 'annotated photo')} in {folder}"
    print(summary, file=out)


def _count(n: int, noun: str) -> str:
    """ "1 file", "2 files", "0 files" (the nouns here take an s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _found(result: Result) -> str:
    best = sorted(result.detections, key=lambda d: -float(d.get("confidence", 0)))
    shown = [
        f"{d['label']} {round(float(d['confidence']) * 100)}%" for d in best[:SHOWN_DETECTIONS]
    ]
    more = len(best) - len(shown)
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "") if shown else "nothing"


class Progress:
    """`[#####.....] 5/10` on stderr, redrawn in place, only when stderr is a terminal."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.finished, self.not_done = total, 0, 0
        self.stream = stream
        self.enabled = stream.isatty()
        self._shown = 0
        self._draw()

    def advance(self, outcome: Outcome) -> None:
        self.finished += 1
        self.not_done += not outcome.ok
        self._draw()

    def clear(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0

    def _draw(self) -> None:
        if not self.enabled:
            return
        filled = self.WIDTH * self.finished // max(1, self.total)
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.finished}/{self.total}"
        if self.not_done:
            line += f" ({self.not_done} not DONE)"
        self.stream.write("\r" + line.ljust(self._shown))
        self.stream.flush()
        self._shown = len(line)


# --- one prediction, and the list --------------------------------------------------------

# ID, STATUS, DOG, CREATED, then DETECTIONS: fixed widths, so that rows print as they come.
COLUMNS = ((36, "ID"), (10, "STATUS"), (3, "DOG"), (19, "CREATED"))


def _get(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    body = client.get(args.id)
    _show_predictions([body], args.json, out)
    return OK if body["status"] == "DONE" else NOT_DONE


def _wait(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    body = client.wait(args.id, timeout=args.timeout)
    _show_predictions([body], args.json, out)
    if body["status"] not in TERMINAL:
        print(f"dogdetect: {body['status']}, not finished within {args.timeout} s", file=err)
    return OK if body["status"] == "DONE" else NOT_DONE


def _list(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Page after page (at most MAX_LIST_LIMIT each), each printed as it comes."""
    shown, cursor, seen = 0, None, set()
    while True:
        size = MAX_LIST_LIMIT if args.all else min(MAX_LIST_LIMIT, args.limit - shown)
        try:
            page = client.list(limit=size, cursor=cursor, status=args.status)
        except ApiError as exc:
            if exc.status in (404, 405) and cursor is None:  # no such route there
                detail = f"{exc.detail} (no GET /image_prediction here: an API older than lists)"
                raise ApiError(exc.status, detail) from exc
            raise
        _show_predictions(page.items, args.json, out, header=cursor is None)
        shown += len(page.items)
        cursor = page.next_cursor
        if cursor is None or not page.items or (not args.all and shown >= args.limit):
            break
        if cursor in seen:  # a server that would send the same pages for ever
            raise ApiError(200, "the list's next_cursor repeats an earlier page's")
        seen.add(cursor)
    if not args.json:
        more = "; more with --all or a larger --limit" if cursor is not None else ""
        print(f"{_count(shown, 'prediction')}, newest first{more}", file=out)
    return OK


def _annotated(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    target = None if args.output == "-" else Path(args.output)
    if target is not None and not target.parent.is_dir():
        raise UsageError(f"no such folder: {target.parent}")
    try:
        photo = client.annotated(args.id)
    except ApiError as exc:
        if exc.status != 404:
            raise
        # 404 is also a prediction that has no annotated photo: not DONE, no longer stored.
        # Which one is told by the prediction itself (never by the words of the answer).
        client.get(args.id)  # 404 again: there is no such prediction
        print(f"dogdetect: {exc}", file=err)
        return NOT_DONE
    if target is None:
        sys.stdout.buffer.write(photo)
        sys.stdout.buffer.flush()
        return OK
    try:
        _write_whole(target, photo)
    except OSError as exc:
        print(f"dogdetect: cannot save {target}: {exc.strerror}", file=err)
        return NOT_DONE
    print(f"saved {target} ({len(photo):,} bytes)", file=out)
    return OK


def _write_whole(target: Path, data: bytes) -> None:
    """`target` holds `data` whole, or is as it was: written beside it, then renamed."""
    with tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
    ) as part:
        try:
            part.write(data)
        except BaseException:
            part.close()
            os.unlink(part.name)
            raise
    try:
        os.replace(part.name, target)
    except BaseException:
        os.unlink(part.name)
        raise


def _delete(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    client.delete(args.id)
    print(f"deleted {args.id}", file=out)
    return OK


def _show_predictions(
    bodies: Sequence[dict[str, Any]], as_json: bool, out: TextIO, header: bool = True
) -> None:
    """Status documents as JSON lines (as the API gave them), or as rows of a table."""
    if header and not as_json:
        _header(out)
    for body in bodies:
        if as_json:
            print(json.dumps(body), file=out)
            continue
        result = result_of(body)
        dog = "-" if result.has_dog is None else ("yes" if result.has_dog else "no")
        said = _found(result) if result.done else (result.error or "-")
        cells = (result.image_prediction_id or "-", result.status, dog, _when(body))
        row = [cell.ljust(width) for cell, (width, _) in zip(cells, COLUMNS, strict=True)]
        print("  ".join([*row, said]).rstrip(), file=out)
    out.flush()


def _header(out: TextIO) -> None:
    print("  ".join([name.ljust(width) for width, name in COLUMNS] + ["DETECTIONS"]), file=out)


def _when(body: dict[str, Any]) -> str:
    """created_at as 2026-11-29 22:00:00 (UTC); as given when it is not a time."""
    text = body.get("created_at")
    if not isinstance(text, str):
        return "-"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S")


# --- health -------------------------------------------------------------------------------


def _health(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    as_json = args.json
    try:
        healthy, body = client.health()
    except ApiError as exc:
        print(f"dogdetect: {exc}", file=err)
        return NOT_DONE
    if as_json:
        print(json.dumps(body), file=out)
    else:
        print(f"{client.api}: {body['status']}", file=out)
        checks = body.get("checks")
        for name, state in sorted(checks.items() if isinstance(checks, dict) else []):
            print(f"  {name:<10} {state}", file=out)
    return OK if healthy else NOT_DONE


COMMANDS: dict[str, Command] = {
    "predict": _predict,
    "get": _get,
    "wait": _wait,
    "list": _list,
    "annotated": _annotated,
    "delete": _delete,
    "health": _health,
}


if __name__ == "__main__":
    run()
