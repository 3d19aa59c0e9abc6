"""The `dogdetect` command (`dogdetect_client.cli.main`) against a fake API on 127.0.0.1: its
arguments and usage errors (exit code 2), what it prints, its exit codes, --annotate, the
progress bar, Ctrl-C, the commands about one prediction (get, wait, annotated, delete) and the
list, and that it needs nothing beyond the standard library."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from dogdetect_client import __version__
from dogdetect_client.cli import Outcome, Progress, main, save_annotated
from dogdetect_client.client import Result

from tests.fake_api import ANNOTATED, JPEG_START, Answer, FakeApi, Recorded, form_parts

SOURCE = Path(__file__).resolve().parents[2] / "clients" / "python" / "src"
RUN_CLI = "from dogdetect_client.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.close()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A folder as a user has one: two photos, a text file named .jpg, and what a folder
    contributes nothing of (another extension, a hidden file, a subfolder)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "dog.jpg").write_bytes(JPEG_START + b" a dog")
    (folder / "horses.JPG").write_bytes(JPEG_START + b" two horses")
    (folder / "notes.jpg").write_text("not a photo at all\n")
    (folder / "readme.txt").write_text("photos of the garden\n")
    (folder / ".hidden.jpg").write_bytes(JPEG_START)
    (folder / "more").mkdir()
    (folder / "more" / "cat.jpg").write_bytes(JPEG_START)
    return folder


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


# --- usage errors: exit code 2 -----------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["predict"],
        ["predict", "x.jpg", "--concurrency", "0"],
        ["predict", "x.jpg", "--concurrency", "many"],
        ["predict", "x.jpg", "--timeout", "-1"],
        ["predict", "x.jpg", "--no-such-option"],
        ["health", "extra"],
        ["predict", "x.jpg", "--confidence", "1.5"],
        ["predict", "x.jpg", "--confidence", "high"],
        ["predict", "x.jpg", "--classes", "dog,,cat"],
        ["predict", "x.jpg", "--recursive=yes"],
        ["get"],
        ["get", "a", "b"],
        ["wait", "x", "--timeout", "0"],
        ["list", "--status", "FINISHED"],
        ["list", "--limit", "0"],
        ["list", "--limit", "5", "--all"],
        ["list", "extra"],
        ["annotated", "x"],  # no -o
        ["delete"],
        ["delete", "x", "--json"],
    ],
)
def test_arguments_it_cannot_use_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "usage: dogdetect" in capsys.readouterr().err


def test_version_is_the_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"dogdetect {__version__}\n"


def test_python_m_dogdetect_client_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dogdetect_client", "--help"],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(SOURCE)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: dogdetect")


def test_a_path_that_is_not_there_is_a_usage_error(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(tmp_path / "gone.jpg"), "--api", api.url]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert api.requests == []  # nothing sent


def test_a_folder_without_photos_is_a_usage_error(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert main(["predict", str(tmp_path), "--api", api.url]) == 2
    assert "no image files" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["ftp://example.com", "127.0.0.1:8080", "http://"])
def test_an_api_that_is_not_an_http_url_is_a_usage_error(
    url: str, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(photos), "--api", url]) == 2
    assert "--api must be an http or https URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("route", "base"),
    [
        ("/image_prediction", ""),
        ("/image_prediction/", ""),
        ("/image_prediction/0b3f7c52-9e1d-4a6b-8f2c-5d7e9a1b3c46", ""),
        ("/image_prediction/0b3f7c52-9e1d-4a6b-8f2c-5d7e9a1b3c46/annotated?x=1", ""),
        ("/image_predictions", ""),
        ("/health", ""),
        ("/docs", ""),
        ("/prod/image_prediction/uploads", "/prod"),
    ],
)
def test_an_api_url_holding_a_route_is_a_usage_error_naming_the_base_url(
    api: FakeApi, photos: Path, route: str, base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(photos / "dog.jpg"), "--api", api.url + route]) == 2
    said = capsys.readouterr().err
    assert f"--api is the API's base URL, without a route: pass --api {api.url}{base} " in said
    assert api.requests == []  # nothing sent


def test_a_route_in_dogdetect_api_is_named_too(api: FakeApi) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(SOURCE)!r})\n{RUN_CLI}",
            "get",
            "some-id",
        ],
        env={"PATH": os.environ.get("PATH", ""), "DOGDETECT_API": f"{api.url}/image_prediction"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"pass --api {api.url} (not {api.url}/image_prediction; the same for" in done.stderr
    assert "$DOGDETECT_API" in done.stderr
    assert api.requests == []


def test_an_api_url_with_a_stage_path_is_kept(api: FakeApi, photos: Path) -> None:
    """An API Gateway stage (or any prefix) is part of the base URL: nothing is refused."""
    assert main(["predict", str(photos / "dog.jpg"), "--api", api.url + "/prod"]) == 1
    assert api.requests[0].path == "/prod/image_prediction"


def test_help_is_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "--help"]) == 0
    assert "--annotate DIR" in capsys.readouterr().out


def test_help_names_every_command_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    for command in ("predict", "get", "wait", "list", "annotated", "delete", "health"):
        assert f" {command} " in said
    for code in ("0 done", "1 otherwise", "2 a usage error", "3 no prediction", "130 stopped"):
        assert code in said


# --- predict ------------------------------------------------------------------------------


def test_a_folder_gives_one_json_line_per_photo_and_exit_1_when_one_is_not_done(
    api: FakeApi, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(photos), "--api", api.url, "--json"]) == 1
    out = capsys.readouterr()
    by_name = {Path(str(line["path"])).name: line for line in lines(out.out)}
    assert set(by_name) == {"dog.jpg", "horses.JPG", "notes.jpg"}
    for line in by_name.values():
        assert set(line) == {
            "path",
            "image_prediction_id",
            "status",
            "has_dog",
            "detections",
            "error",
        }
    dog, horses, notes = by_name["dog.jpg"], by_name["horses.JPG"], by_name["notes.jpg"]
    assert (dog["status"], dog["has_dog"], dog["error"]) == ("DONE", True, None)
    assert dog["detections"] == [
        {
            "label": "dog",
            "confidence": 0.93,
            "box": {"x1": 10.0, "y1": 20.0, "x2": 110.0, "y2": 220.0},
        }
    ]
    assert (horses["status"], horses["has_dog"], horses["detections"]) == ("DONE", False, [])
    assert (notes["status"], notes["image_prediction_id"], notes["has_dog"]) == (
        "REJECTED",
        None,
        None,
    )
    assert "415" in str(notes["error"]) and "not a supported image" in str(notes["error"])
    assert out.err == ""  # no progress bar: stderr is not a terminal


def test_every_photo_done_is_exit_0_and_a_table(
    api: FakeApi, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dog, horses = photos / "dog.jpg", photos / "horses.JPG"
    assert main(["predict", str(dog), str(horses), str(dog), "--api", api.url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["PATH", "STATUS", "DOG", "ID", "DETECTIONS"]
    assert table[1].split()[:3] == [str(dog), "DONE", "yes"]
    assert table[1].endswith("dog 93%")
    assert table[2].split()[:3] == [str(horses), "DONE", "no"]
    assert table[2].endswith("nothing")
    assert table[3] == "2 files: 1 with a dog, 1 without, 0 not DONE"  # dog.jpg once
    assert len(api.made("POST", "/image_prediction")) == 2


def test_the_table_says_why_a_file_is_not_done(
    api: FakeApi, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(photos / "notes.jpg"), "--api", api.url]) == 1
    row = capsys.readouterr().out.splitlines()[1]
    assert row.split()[1:4] == ["REJECTED", "-", "-"]
    assert "415: not a supported image" in row


def test_retries_make_no_second_prediction(
    api: FakeApi, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.script("POST", "/image_prediction", Answer(429, {"message": "x"}, {"Retry-After": "0"}))
    api.script("POST", "/image_prediction", Answer(503, {"detail": "x"}, {"Retry-After": "0"}))
    assert main(["predict", str(photos / "dog.jpg"), "--api", api.url, "--json"]) == 0
    (line,) = lines(capsys.readouterr().out)
    assert line["status"] == "DONE"
    posts = api.made("POST", "/image_prediction")
    assert len(posts) == 3 and len({p.headers["idempotency-key"] for p in posts}) == 1
    assert list(api.photos) == [line["image_prediction_id"]]


def test_an_unreadable_retry_after_is_backed_off_not_a_crash(
    api: FakeApi, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.script("POST", "/image_prediction", Answer(503, {"detail": "x"}, {"Retry-After": "²"}))
    assert main(["predict", str(photos / "dog.jpg"), "--api", api.url, "--json"]) == 0
    (line,) = lines(capsys.readouterr().out)
    assert line["status"] == "DONE"


def test_confidence_and_classes_are_asked_for_each_photo(
    api: FakeApi, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", str(photos / "dog.jpg"), str(photos / "horses.JPG"), "--api", api.url]
    assert main([*argv, "--confidence", "0.8", "--classes", "dog, cat"]) == 0
    sent = api.made("POST", "/image_prediction")
    assert len(sent) == 2
    for request in sent:
        parts = form_parts(request.headers["content-type"], request.body)
        fields = {name: content for name, _, content in parts if name != "image"}
        assert fields == {"confidence": b"0.8", "classes": b"dog,cat"}


def test_api_and_key_from_options(
    api: FakeApi, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", str(photos / "dog.jpg"), "--api", api.url + "/", "--api-key", "k-1"]
    assert main(argv) == 0
    assert {r.headers.get("x-api-key") for r in api.requests} == {"k-1"}


def test_annotate_saves_each_done_photo_under_a_name_that_cannot_collide(
    api: FakeApi, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    again = tmp_path / "elsewhere"
    again.mkdir()
    (again / "dog.jpg").write_bytes(JPEG_START + b" another dog")  # the same file name
    out_dir = tmp_path / "out" / "annotated"  # made as needed
    argv = ["predict", str(photos), str(again), "--api", api.url, "--json", "--annotate"]
    assert main([*argv, str(out_dir)]) == 1  # notes.jpg is not DONE
    results = lines(capsys.readouterr().out)
    saved = {Path(str(r["annotated"])) for r in results if r["annotated"]}
    assert saved == set(out_dir.iterdir())
    assert len(saved) == 3  # both dog.jpg and horses.JPG; nothing for notes.jpg
    for result in results:
        if result["status"] == "DONE":
            path = Path(str(result["annotated"]))
            stem = Path(str(result["path"])).stem
            assert path.name == f"{stem}-{str(result['image_prediction_id'])[:8]}.jpg"
            assert path.read_bytes() == ANNOTATED
        else:
            assert result["annotated"] is None


def test_an_annotated_photo_not_saved_makes_the_exit_code_1(
    api: FakeApi, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.script("GET", "/image_prediction/*/annotated", Answer(404, {"detail": "no longer stored"}))
    argv = ["predict", str(photos / "dog.jpg"), "--api", api.url, "--json"]
    assert main([*argv, "--annotate", str(tmp_path / "out")]) == 1
    (line,) = lines(capsys.readouterr().out)
    assert line["status"] == "DONE" and line["annotated"] is None
    assert line["error"] == "annotated photo not saved: 404: no longer stored"


def test_the_table_says_where_the_annotated_photos_are(
    api: FakeApi, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    assert main(["predict", str(photos), "--api", api.url, "--annotate", str(out_dir)]) == 1
    summary = capsys.readouterr().out.splitlines()[-1]
    assert (
        summary == f"3 files: 1 with a dog, 1 without, 1 not DONE; 2 annotated photos in {out_dir}"
    )


def test_one_file_is_one_file_not_one_files(
    api: FakeApi, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    argv = ["predict", str(photos / "dog.jpg"), "--api", api.url, "--annotate", str(out_dir)]
    assert main(argv) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary == f"1 file: 1 with a dog, 0 without, 0 not DONE; 1 annotated photo in {out_dir}"


def test_a_folder_s_subfolders_with_recursive(
    api: FakeApi, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (photos / ".cache").mkdir()
    (photos / ".cache" / "thumb.jpg").write_bytes(JPEG_START + b" a thumbnail")
    (photos / "more" / "deeper").mkdir()
    (photos / "more" / "deeper" / "dog2.jpg").write_bytes(JPEG_START + b" a dog again")
    assert main(["predict", str(photos), "--api", api.url, "--json", "--recursive"]) == 1
    sent = {Path(str(line["path"])).relative_to(photos) for line in lines(capsys.readouterr().out)}
    assert sent == {
        Path("dog.jpg"),
        Path("horses.JPG"),
        Path("notes.jpg"),
        Path("more/cat.jpg"),
        Path("more/deeper/dog2.jpg"),
    }  # no hidden file, nothing of a hidden folder


def test_saved_names_never_overwrite(tmp_path: Path) -> None:
    pid = "0b3f7c52-9e1d-4a6b-8f2c-5d7e9a1b3c46"
    first = save_annotated(tmp_path, Path("a/dog.jpg"), pid, b"1")
    second = save_annotated(tmp_path, Path("b/dog.jpg"), pid, b"2")
    assert (first.name, second.name) == ("dog-0b3f7c52.jpg", f"dog-{pid}.jpg")
    assert (first.read_bytes(), second.read_bytes()) == (b"1", b"2")


def test_concurrency_sends_files_at_once(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(6):
        (tmp_path / f"p{i}.jpg").write_bytes(JPEG_START + b"%d" % i)
    assert main(["predict", str(tmp_path), "--api", api.url, "--concurrency", "3"]) == 0
    assert len(api.made("POST", "/image_prediction")) == 6


def interruptible() -> None:
    """In the child: SIGINT as a terminal's Ctrl-C finds a command, whatever this run
    inherited (a shell without job control starts a background job with SIGINT ignored, and
    an ignored signal stays ignored across exec: Python would then never raise
    KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_argv(*argv: str) -> list[str]:
    """`dogdetect argv...` from this checkout's client, in a fresh interpreter."""
    return [
        sys.executable,
        "-c",
        f"import sys; sys.path.insert(0, {str(SOURCE)!r})\n{RUN_CLI}",
        *argv,
    ]


def started(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`command` in a child that Ctrl-C reaches as it would from a terminal, its output piped."""
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )


def interrupt_after_waits(api: FakeApi, command: subprocess.Popen[str], waits: int = 1) -> None:
    """SIGINT to `command` once it has asked for `waits` answers (or 20 s on, whichever first)."""
    deadline = time.monotonic() + 20
    while len(api.made("GET", "/image_prediction/")) < waits and time.monotonic() < deadline:
        time.sleep(0.05)
    command.send_signal(signal.SIGINT)


def test_ctrl_c_sends_no_more_files_and_exits_130(api: FakeApi, tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"p{i}.jpg").write_bytes(JPEG_START + b"%d" % i)
    release = threading.Event()
    held = Answer(200, {"detail": "held"}, hold=release)  # the first wait, until released
    api.script("GET", "/image_prediction/*", held)
    argv = ["predict", str(tmp_path), "--api", api.url, "--concurrency", "1"]
    command = started(cli_argv(*argv))
    interrupt_after_waits(api, command)
    # The held wait is answered only once the command has said it stopped: its answer can
    # never be read first, however slow the machine. (The first line it writes to stderr.)
    assert command.stderr is not None
    said = command.stderr.readline()
    release.set()
    out, err = command.communicate(timeout=30)
    err = said + err
    assert command.returncode == 130, out + err
    assert "dogdetect: interrupted" in err
    assert len(api.made("POST", "/image_prediction")) == 1  # the other five never sent


def test_the_command_ends_at_ctrl_c_without_waiting_for_answers_on_their_way(
    api: FakeApi, tmp_path: Path
) -> None:
    """`dogdetect` (`python -m dogdetect_client`, as the console script) exits once it has
    said what finished, though a held wait is still unanswered (released only after)."""
    (tmp_path / "p0.jpg").write_bytes(JPEG_START)
    release = threading.Event()
    api.script("GET", "/image_prediction/*", Answer(0, hold=release))
    try:
        command = started(
            [sys.executable, "-m", "dogdetect_client", "predict", str(tmp_path), "--api", api.url],
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(SOURCE)},
        )
        interrupt_after_waits(api, command)
        out, err = command.communicate(timeout=25)  # the hold lasts 30 s: not its end
        assert not release.is_set()
    finally:
        release.set()
    assert command.returncode == 130, out + err
    (prediction_id,) = api.photos
    assert err.splitlines() == [
        "dogdetect: interrupted: 0 files finished, 1 sent and not finished, 0 not sent",
        f"  {tmp_path / 'p0.jpg'}: {prediction_id} (dogdetect wait {prediction_id})",
    ]
    assert out == ""


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_ctrl_c_prints_what_finished_and_the_ids_sent(
    api: FakeApi, tmp_path: Path, as_json: bool
) -> None:
    for i in range(5):
        (tmp_path / f"p{i}.jpg").write_bytes(JPEG_START + (b" a dog" if i == 0 else b" a cat"))
    release = threading.Event()
    # The first two waits answered as the fake would; the third held until released.
    api.script("GET", "/image_prediction/*", Answer(0), Answer(0), Answer(0, hold=release))
    argv = ["predict", str(tmp_path), "--api", api.url, "--concurrency", "1"]
    command = started(cli_argv(*argv, *(["--json"] if as_json else [])))
    interrupt_after_waits(api, command, waits=3)
    assert command.stdout is not None and command.stderr is not None
    said = command.stderr.readline()  # said before the held wait is answered
    release.set()
    # Read through the same buffered streams (communicate() would skip what readline() took
    # into the buffer beyond its line); the output is a few lines, no pipe fills.
    err = said + command.stderr.read()
    out = command.stdout.read()
    command.wait(timeout=30)
    assert command.returncode == 130, out + err
    first, second, third = list(api.photos)  # p0's, p1's, p2's predictions; p3, p4 never sent
    if as_json:
        finished = lines(out)
        assert [(line["image_prediction_id"], line["status"]) for line in finished] == [
            (first, "DONE"),
            (second, "DONE"),
        ]
    else:
        table = out.splitlines()
        assert table[0].split() == ["PATH", "STATUS", "DOG", "ID", "DETECTIONS"]
        assert table[1].split()[:4] == [str(tmp_path / "p0.jpg"), "DONE", "yes", first]
        assert table[2].split()[:4] == [str(tmp_path / "p1.jpg"), "DONE", "no", second]
        assert table[3:] == ["2 files: 1 with a dog, 1 without, 0 not DONE"]
    assert err.splitlines() == [
        "dogdetect: interrupted: 2 files finished, 1 sent and not finished, 2 not sent",
        f"  {tmp_path / 'p2.jpg'}: {third} (dogdetect wait {third})",
    ]
    assert len(api.made("POST", "/image_prediction")) == 3


# --- the progress bar ----------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_is_drawn_on_a_terminal_only() -> None:
    done = Outcome(Result("a.jpg", "id", "DONE", True))
    failed = Outcome(Result("b.jpg", None, "REJECTED"))
    terminal = Terminal()
    bar = Progress(2, terminal)
    bar.advance(done)
    bar.advance(failed)
    drawn = terminal.getvalue()
    assert "[" + "." * 30 + "] 0/2" in drawn
    assert "[" + "#" * 15 + "." * 15 + "] 1/2" in drawn
    assert "[" + "#" * 30 + "] 2/2 (1 not DONE)" in drawn
    bar.clear()
    assert terminal.getvalue().endswith("\r")
    plain = io.StringIO()
    Progress(2, plain).advance(done)
    assert plain.getvalue() == ""


# --- get, wait, annotated, delete -------------------------------------------------------

UNKNOWN = "0b3f7c52-9e1d-4a6b-8f2c-5d7e9a1b3c46"
HEADER = ["ID", "STATUS", "DOG", "CREATED", "DETECTIONS"]


def test_get_prints_a_row_and_exits_0_when_done(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    dog = api.add(JPEG_START + b" a dog")
    assert main(["get", dog, "--api", api.url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == HEADER
    assert table[1].split() == [dog, "DONE", "yes", "2026-11-29", "22:00:00", "dog", "93%"]
    assert len(table) == 2


def test_get_json_is_the_status_document_as_the_api_gave_it(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    dog = api.add(JPEG_START + b" a dog")
    assert main(["get", dog, "--api", api.url, "--json"]) == 0
    (line,) = lines(capsys.readouterr().out)
    assert line == api._status(dog)
    (request,) = api.requests
    assert "prefer" not in request.headers  # get asks as it is now


@pytest.mark.parametrize(("status", "said"), [("PENDING", "-"), ("ERROR", "the photo could")])
def test_get_exits_1_when_not_done(
    api: FakeApi, status: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prediction_id = api.add(JPEG_START, status)
    assert main(["get", prediction_id, "--api", api.url]) == 1
    row = capsys.readouterr().out.splitlines()[1]
    assert row.split()[:3] == [prediction_id, status, "-"]
    assert row.split(maxsplit=5)[5].startswith(said)


@pytest.mark.parametrize("command", ["get", "wait", "delete"])
def test_an_unknown_id_is_exit_3(
    api: FakeApi, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, UNKNOWN, "--api", api.url]) == 3
    out = capsys.readouterr()
    assert out.err == "dogdetect: 404: no prediction with this id\n"
    assert out.out == ""


@pytest.mark.parametrize("command", ["get", "wait", "delete", "list"])
def test_a_refusal_is_exit_1_with_what_the_api_said(
    api: FakeApi, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = Answer(401, {"detail": "a valid X-API-Key header is required"})
    api.script("GET", "/image_prediction/*", refused)
    api.script("DELETE", "/image_prediction/*", refused)
    api.script("GET", "/image_prediction", refused)
    argv = [command] + ([] if command == "list" else [UNKNOWN])
    assert main([*argv, "--api", api.url, "--api-key", "wrong"]) == 1
    assert capsys.readouterr().err == "dogdetect: 401: a valid X-API-Key header is required\n"
    assert {r.headers.get("x-api-key") for r in api.requests} == {"wrong"}


def test_no_answer_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi()
    url = fake.url
    fake.close()
    assert main(["get", UNKNOWN, "--api", url]) == 1
    assert "no answer from" in capsys.readouterr().err


def test_wait_holds_with_prefer_until_done(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    dog = api.add(JPEG_START + b" a dog")
    pending = Answer(200, {**api._status(dog), "status": "PENDING", "has_dog": None})
    api.script("GET", f"/image_prediction/{dog}", pending, pending)
    assert main(["wait", dog, "--api", api.url, "--json"]) == 0
    (line,) = lines(capsys.readouterr().out)
    assert (line["status"], line["has_dog"]) == ("DONE", True)
    assert [r.headers["prefer"] for r in api.requests] == ["wait=20"] * 3


def test_wait_for_an_error_is_exit_1(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    failed = api.add(JPEG_START, "ERROR")
    assert main(["wait", failed, "--api", api.url]) == 1
    row = capsys.readouterr().out.splitlines()[1]
    assert row.split()[:2] == [failed, "ERROR"] and row.endswith("the photo could not be read")


def test_wait_past_its_timeout_is_exit_1_and_says_so(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    pending = api.add(JPEG_START, "PENDING")  # never finishes; the fake answers at once
    assert main(["wait", pending, "--api", api.url, "--timeout", "1"]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines()[1].split()[:2] == [pending, "PENDING"]
    assert out.err == "dogdetect: PENDING, not finished within 1 s\n"
    assert {r.headers.get("prefer") for r in api.requests} <= {"wait=1", None}


def test_annotated_saves_the_jpeg(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dog = api.add(JPEG_START + b" a dog")
    target = tmp_path / "dog-boxed.jpg"
    target.write_bytes(b"an older file")  # replaced, as the user named it
    assert main(["annotated", dog, "-o", str(target), "--api", api.url]) == 0
    assert target.read_bytes() == ANNOTATED
    assert capsys.readouterr().out == f"saved {target} ({len(ANNOTATED)} bytes)\n"
    assert sorted(tmp_path.iterdir()) == [target]  # nothing left beside it


def test_annotated_to_stdout(api: FakeApi, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    dog = api.add(JPEG_START + b" a dog")
    assert main(["annotated", dog, "-o", "-", "--api", api.url]) == 0
    assert capsysbinary.readouterr().out == ANNOTATED


def test_annotated_of_a_prediction_not_done_is_exit_1_and_writes_nothing(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pending = api.add(JPEG_START, "PENDING")
    target = tmp_path / "kept.jpg"
    target.write_bytes(b"kept as it was")
    assert main(["annotated", pending, "-o", str(target), "--api", api.url]) == 1
    said = capsys.readouterr().err
    assert said == (
        "dogdetect: 404: the prediction is PENDING: its annotated photo exists once it is DONE\n"
    )
    assert target.read_bytes() == b"kept as it was"


def test_annotated_of_an_unknown_id_is_exit_3(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "none.jpg"
    assert main(["annotated", UNKNOWN, "-o", str(target), "--api", api.url]) == 3
    assert capsys.readouterr().err == "dogdetect: 404: no prediction with this id\n"
    assert not target.exists()


def test_annotated_into_a_folder_that_is_not_there_is_a_usage_error(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-folder" / "x.jpg"
    assert main(["annotated", UNKNOWN, "-o", str(target), "--api", api.url]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert api.requests == []


def test_delete_then_get_is_exit_3(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    dog = api.add(JPEG_START + b" a dog")
    assert main(["delete", dog, "--api", api.url]) == 0
    assert capsys.readouterr().out == f"deleted {dog}\n"
    assert main(["get", dog, "--api", api.url]) == 3


# --- list ---------------------------------------------------------------------------------


def query(request: Recorded) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query))


def test_list_prints_the_newest_20_and_says_there_are_more(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    made = [api.add(JPEG_START + b" a dog") for _ in range(25)]
    assert main(["list", "--api", api.url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == HEADER
    assert [row.split()[0] for row in table[1:-1]] == made[::-1][:20]
    assert table[-1] == "20 predictions, newest first; more with --all or a larger --limit"
    (request,) = api.requests
    assert query(request) == {"limit": "20"}


def test_list_all_follows_every_cursor_once(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    made = [api.add(JPEG_START + b" a cat") for _ in range(230)]
    assert main(["list", "--api", api.url, "--all", "--json"]) == 0
    listed = [line["image_prediction_id"] for line in lines(capsys.readouterr().out)]
    assert listed == made[::-1]  # each once, newest first
    asked = [query(r) for r in api.requests]
    assert [q["limit"] for q in asked] == ["100", "100", "100"]
    assert "cursor" not in asked[0] and asked[1]["cursor"] != asked[2]["cursor"]


def test_list_limit_past_a_page_takes_two(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    made = [api.add(JPEG_START) for _ in range(160)]
    assert main(["list", "--api", api.url, "--limit", "150"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [row.split()[0] for row in table[1:-1]] == made[::-1][:150]
    assert table[-1].startswith("150 predictions, newest first; more")
    assert [query(r)["limit"] for r in api.requests] == ["100", "50"]


def test_list_by_status(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.add(JPEG_START)
    failed = api.add(JPEG_START, "ERROR")
    api.add(JPEG_START, "PENDING")
    assert main(["list", "--api", api.url, "--status", "error"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [row.split()[:2] for row in table[1:-1]] == [[failed, "ERROR"]]
    assert table[-1] == "1 prediction, newest first"
    assert query(api.requests[0]) == {"limit": "20", "status": "ERROR"}


def test_an_empty_list(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--api", api.url]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ID                                    STATUS      DOG  CREATED              DETECTIONS",
        "0 predictions, newest first",
    ]


def test_a_list_refused_is_exit_1(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.script("GET", "/image_prediction", Answer(422, {"detail": "limit must be 1 to 100"}))
    assert main(["list", "--api", api.url, "--json"]) == 1
    out = capsys.readouterr()
    assert (out.out, out.err) == ("", "dogdetect: 422: limit must be 1 to 100\n")


@pytest.mark.parametrize("status", [404, 405])
def test_a_list_of_an_api_without_the_route_says_so(
    api: FakeApi, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    api.script("GET", "/image_prediction", Answer(status, {"detail": "Not Found"}))
    assert main(["list", "--api", api.url]) == 1
    out = capsys.readouterr()
    assert out.out == ""  # no table header for a list that never came
    assert out.err == (
        f"dogdetect: {status}: Not Found (no GET /image_prediction here: an API older than lists)\n"
    )


def test_a_list_whose_cursor_comes_back_is_stopped(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    one = api.add(JPEG_START)
    page = {"items": [api._status(one)], "next_cursor": "again"}
    api.script("GET", "/image_prediction", *[Answer(200, page)] * 5)
    assert main(["list", "--api", api.url, "--all", "--json"]) == 1
    out = capsys.readouterr()
    assert len(lines(out.out)) == 2  # the first page, then the page of the same cursor
    assert out.err == "dogdetect: 200: the list's next_cursor repeats an earlier page's\n"
    assert len(api.requests) == 2


@pytest.mark.parametrize(
    "page",
    [
        {"items": "none"},
        {"items": [], "next_cursor": 7},
        {"items": [{"image_prediction_id": "x"}], "next_cursor": None},
    ],
    ids=["items-not-a-list", "cursor-not-text", "item-without-status"],
)
def test_an_unreadable_list_is_exit_1(
    api: FakeApi, page: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    api.script("GET", "/image_prediction", Answer(200, page))
    assert main(["list", "--api", api.url]) == 1
    assert capsys.readouterr().err.startswith("dogdetect: 200: the answer")


# --- health -------------------------------------------------------------------------------


def test_health_is_exit_0_when_healthy(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--api", api.url]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{api.url}: ok"
    assert "  database   ok" in out


def test_health_is_exit_1_when_a_dependency_is_down(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    down = {"status": "unavailable", "checks": {"database": "unavailable"}}
    api.script("GET", "/health", Answer(503, down))
    assert main(["health", "--api", api.url, "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == down


def test_health_is_exit_1_when_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi()
    url = fake.url
    fake.close()  # the port is free again: nothing answers there
    assert main(["health", "--api", url]) == 1
    assert "no answer from" in capsys.readouterr().err


# --- nothing but the standard library ------------------------------------------------------


def test_the_command_imports_only_the_standard_library(api: FakeApi) -> None:
    """Run with no site-packages at all (-S -I): the command and its client must work."""
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['dogdetect', 'health']\n"
        "try:\n"
        "    runpy.run_module('dogdetect_client.cli', run_name='__main__')\n"
        "except SystemExit as exit_:\n"
        "    code = exit_.code\n"
        "outside = sorted(\n"
        "    m.split('.')[0] for m in sys.modules\n"
        "    if m.split('.')[0] not in (*sys.stdlib_module_names, 'dogdetect_client', '__main__')\n"
        ")\n"
        "print('not stdlib:', outside, 'exit:', code)\n"
    )
    environment = {"PATH": os.environ.get("PATH", ""), "DOGDETECT_API": api.url}
    done = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, {str(SOURCE)!r})\n{probe}"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("not stdlib: [] exit: 0"), done.stdout
    assert f"{api.url}: ok" in done.stdout  # the API came from DOGDETECT_API
