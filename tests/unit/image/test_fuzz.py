"""Fuzzing the decoder within `make test`: Hypothesis with structure-aware mutations of
Pillow-made seeds, then a short coverage-guided atheris run (scripts/fuzz-decoding, which
also runs for as long as one likes). The contract is tests/decoding_fuzz.py's: return or
raise a decoding error, submit and worker agree, bounded CPU."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from dogdetect.domain.errors import UnsupportedImage
from dogdetect.image import tiff
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import decoding_fuzz
from tests.decoding_fuzz import ContractBroken, check, repair, repair_png_crcs

REPO = Path(__file__).resolve().parents[3]
SEEDS = sorted(decoding_fuzz.seeds().items())
# Values that make lengths, counts and offsets interesting.
EDGE_VALUES = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF]


@st.composite
def mutated_seeds(draw: st.DrawFn) -> bytes:
    """A seed of any format, changed the ways costly or broken files differ from good ones:
    a part repeated, a length/count/offset field set to an edge value, another seed's bytes
    spliced in, a cut; PNG CRCs then recomputed so that Pillow looks past them."""
    _, seed = draw(st.sampled_from(SEEDS))
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["repeat", "field", "splice", "byte", "cut"]))
        if kind == "repeat":
            piece = bytes(data[pos : pos + draw(st.integers(1, 256))])
            data[pos:pos] = piece * draw(st.integers(1, 64))
        elif kind == "field":
            width = draw(st.sampled_from([1, 2, 4]))
            value = draw(st.sampled_from(EDGE_VALUES)) & ((1 << (8 * width)) - 1)
            order = draw(st.sampled_from(["big", "little"]))
            data[pos : pos + width] = value.to_bytes(width, order)
        elif kind == "splice":
            _, other = draw(st.sampled_from(SEEDS))
            start = draw(st.integers(0, max(0, len(other) - 1)))
            data[pos : pos + 64] = other[start : start + 64]
        elif kind == "byte" and data:
            data[pos] = draw(st.integers(0, 255))
        else:
            del data[pos + 1 :]
    return repair(bytes(data[: decoding_fuzz.MAX_INPUT_BYTES]))


@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_seeds())
def test_mutated_files_keep_the_decoding_contract(data: bytes) -> None:
    check(data)


@pytest.mark.parametrize(("name", "seed"), SEEDS, ids=[name for name, _ in SEEDS])
def test_every_seed_keeps_the_contract(name: str, seed: bytes) -> None:
    submit, _ = check(seed)
    if not name.startswith("corpus_"):
        assert submit.refused_with is None, name  # the made seeds are all good files


def test_the_contract_catches_what_it_promises_to() -> None:
    """The harness itself can fail: an unexpected exception, a failure inside our walker,
    and a slow call are each a finding."""
    with pytest.raises(ContractBroken, match=r"raised builtins\.TypeError"):
        decoding_fuzz._run(_raise(TypeError("x")), (UnsupportedImage,), "call")

    def walker_bug() -> None:
        try:
            tiff.exif_orientation(None)  # type: ignore[arg-type]
        except AttributeError as exc:
            raise UnsupportedImage("wrapped") from exc

    with pytest.raises(ContractBroken, match="in our code"):
        decoding_fuzz._run(walker_bug, (UnsupportedImage,), "call")

    def spin() -> None:
        deadline = time.process_time() + decoding_fuzz.SLOW_SECONDS + 0.1
        while time.process_time() < deadline:
            pass

    with pytest.raises(ContractBroken, match="slow"):
        decoding_fuzz._run(spin, (UnsupportedImage,), "call")


def _raise(exc: Exception):  # type: ignore[no-untyped-def]
    def call() -> None:
        raise exc

    return call


def test_png_crcs_are_repaired() -> None:
    png = decoding_fuzz.seeds()["png_rgb"]
    broken = bytearray(png)
    broken[-1] ^= 0xFF  # the IEND CRC
    assert repair_png_crcs(bytes(broken)) == png


def _fuzz(tmp_path: Path, seconds: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fuzz-decoding"), "--seconds", str(seconds),
         "--corpus", str(tmp_path / "corpus"), "--findings", str(tmp_path / "findings"), *extra],
        capture_output=True, text=True, timeout=180, cwd=REPO,
    )  # fmt: skip


def test_coverage_guided_fuzzing_finds_nothing(tmp_path: Path) -> None:
    run = _fuzz(tmp_path, 8)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "findings: none" in run.stdout
    executions = int(run.stdout.split(" executions")[0].rsplit(" ", 1)[-1])
    assert executions > 300, run.stdout  # it really ran


def test_coverage_guided_fuzzing_reports_a_finding(tmp_path: Path) -> None:
    run = _fuzz(tmp_path, 1, "--self-test")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FINDING" in run.stdout and "self-test" in run.stdout
    assert list((tmp_path / "findings").glob("contract-self-test-*.txt"))


def test_every_cut_of_every_seed_keeps_the_contract() -> None:
    # Found by the Hypothesis run: a TIFF header cut after its magic made our own walker
    # raise struct.error (reported as a corrupt file, but a bug in the walker all the same).
    for _, seed in SEEDS:
        for length in range(0, min(len(seed), 64)):
            check(seed[:length])
