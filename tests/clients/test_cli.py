"""The `dogdetect` command (`dogdetect_client.cli.main`) against a fake API on 127.0.0.1: its
arguments and usage errors (exit code 2), what it prints, its exit codes, --annotate, the
progress bar, and that it needs nothing beyond the standard library."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dogdetect_client import __version__
from dogdetect_client.cli import Outcome, Progress, main, save_annotated
from dogdetect_client.client import Result

from tests.fake_api import ANNOTATED, JPEG_START, Answer, FakeApi, form_parts

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


def test_help_is_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "--help"]) == 0
    assert "--annotate DIR" in capsys.readouterr().out


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


def test_ctrl_c_sends_no_more_files_and_exits_130(api: FakeApi, tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"p{i}.jpg").write_bytes(JPEG_START + b"%d" % i)
    release = threading.Event()
    held = Answer(200, {"detail": "held"}, hold=release)  # the first wait, until released
    api.script("GET", "/image_prediction/*", held)
    argv = ["predict", str(tmp_path), "--api", api.url, "--concurrency", "1"]
    command = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(SOURCE)!r})\n{RUN_CLI}",
            *argv,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    deadline = time.monotonic() + 20
    while not api.made("GET", "/image_prediction/") and time.monotonic() < deadline:
        time.sleep(0.05)
    command.send_signal(signal.SIGINT)
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
