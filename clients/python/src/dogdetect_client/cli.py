"""`dogdetect`: the dog detector from a shell, through its HTTP API (`dogdetect_client`).

    dogdetect predict PATH... [--api URL] [--api-key KEY] [--json] [--annotate DIR]
                              [--concurrency N] [--timeout SECONDS]
    dogdetect health [--api URL] [--api-key KEY] [--json]
    dogdetect --version

Exit codes: 0 every file ended DONE (health: healthy), 1 otherwise, 2 a usage error."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from dogdetect_client import __version__
from dogdetect_client.client import API_ENV, API_KEY_ENV, DEFAULT_API, ApiError, Client, Result

OK, NOT_DONE, USAGE = 0, 1, 2
INTERRUPTED = 130  # as a shell reports a command stopped by SIGINT
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


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        client = Client(_api_url(args.api), args.api_key, timeout=30.0)
        if args.command == "health":
            return _health(client, args.json, sys.stdout, sys.stderr)
        return _predict(client, args, sys.stdout, sys.stderr)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2), already printed
        return exit_.code if isinstance(exit_.code, int) else USAGE
    except UsageError as exc:
        print(f"dogdetect: error: {exc}", file=sys.stderr)
        return USAGE


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
    common.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    parser = argparse.ArgumentParser(prog="dogdetect", description="Is there a dog in it?")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    predict = commands.add_parser(
        "predict",
        parents=[common],
        help="send photos and wait for their answers",
        description="Send photos, wait for their predictions, print them. A folder gives its"
        " image files (by extension, not its subfolders). Exit code 0 when every file ended"
        " DONE, 1 otherwise, 2 for a usage error.",
    )
    predict.add_argument("paths", nargs="+", metavar="PATH", help="a photo or a folder of them")
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
    commands.add_parser(
        "health",
        parents=[common],
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
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--api must be an http or https URL, not {url!r}")
    return url


# --- predict ------------------------------------------------------------------------------


def image_files(paths: Sequence[str]) -> list[Path]:
    """The files to send, in the order given, each once; folders give their image files."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            )
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"no such file or folder: {name}")
    unique = list({p.resolve(): p for p in found}.values())  # the first of each, in order
    if not unique:
        raise UsageError("no image files to send (a folder gives its .jpg, .png, ... files)")
    return unique


def _predict(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    files = image_files(args.paths)
    folder = Path(args.annotate) if args.annotate else None
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot make the folder {folder}: {exc.strerror}") from exc
    progress = Progress(len(files), err)
    outcomes: dict[int, Outcome] = {}
    pool = ThreadPoolExecutor(args.concurrency, thread_name_prefix="dogdetect")
    futures = {pool.submit(_one, client, path, args, folder): i for i, path in enumerate(files)}
    try:
        for future in as_completed(futures):
            outcome = outcomes[futures[future]] = future.result()
            if args.json:  # each line as soon as its file is finished
                progress.clear()
                print(json.dumps(outcome.to_json(folder is not None)), file=out, flush=True)
            progress.advance(outcome)
    except KeyboardInterrupt:  # Ctrl-C: no file not yet started is sent
        pool.shutdown(wait=False, cancel_futures=True)
        progress.clear()
        print("dogdetect: interrupted", file=err)
        return INTERRUPTED
    pool.shutdown()
    progress.clear()
    ordered = [outcomes[i] for i in range(len(files))]
    if not args.json:
        print_table(ordered, out, folder)
    return OK if all(o.ok for o in ordered) else NOT_DONE


def _one(client: Client, path: Path, args: argparse.Namespace, folder: Path | None) -> Outcome:
    result = client.predict(
        path, timeout=args.timeout, confidence=args.confidence, classes=args.classes
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
        f"{len(outcomes)} files: {dogs} with a dog, {len(done) - dogs} without, "
        f"{len(outcomes) - len(done)} not DONE"
    )
    if folder is not None:
        saved = sum(1 for o in outcomes if o.annotated)
        summary += f"; {saved} annotated photos in {folder}"
    print(summary, file=out)


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


# --- health -------------------------------------------------------------------------------


def _health(client: Client, as_json: bool, out: TextIO, err: TextIO) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
