"""The decoder's fuzzing contract, seeds and mutations, shared by the Hypothesis run in
tests/unit/image/test_fuzz.py and the coverage-guided run of scripts/fuzz-decoding.

The contract, for any bytes: `validate_upload` and `decode_rgb` return, or raise one of the
decoding errors (`IMAGE_ERRORS`, plus `EmptyUpload`/`UploadTooLarge` at submit); they agree
(submit accepts exactly what the worker decodes); neither fails inside our own walker of the
container; and neither spends more than `SLOW_SECONDS` of CPU on one input.
"""

from __future__ import annotations

import functools
import io
import struct
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from dogdetect.domain.errors import EmptyUpload, UploadTooLarge
from dogdetect.domain.limits import DEFAULT_MAX_UPLOAD_BYTES
from dogdetect.image.decode import IMAGE_ERRORS, decode_rgb, validate_upload
from PIL import Image

from tests import corpus

MAX_BYTES = DEFAULT_MAX_UPLOAD_BYTES
# Fuzzing runs at a tenth of the production pixel cap: the contract does not depend on it,
# and each execution is ten times cheaper. Work limits (scans, chunks...) are the real ones.
MAX_PIXELS = 4_000_000
# CPU seconds one call may take on a fuzz input (at most 64 kB and 4 megapixels): the worst
# legitimate one takes about a quarter of that here.
SLOW_SECONDS = 2.0
MAX_INPUT_BYTES = 65_536

_OUR_CODE = tuple(f"dogdetect/image/{name}.py" for name in ("formats", "tiff", "limits", "decode"))


class ContractBroken(Exception):
    """An input on which the decoder broke its contract (a finding)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class Outcome:
    refused_with: str | None  # the error class, None when accepted
    cpu_seconds: float


def _run(call: Callable[[], object], allowed: tuple[type[Exception], ...], name: str) -> Outcome:
    started = time.process_time()
    refused: str | None = None
    try:
        call()
    except allowed as exc:
        refused = type(exc).__name__
        cause = exc.__cause__
        if cause is not None and cause.__traceback__ is not None:
            innermost = traceback.extract_tb(cause.__traceback__)[-1]
            if innermost.filename.endswith(_OUR_CODE):
                raise ContractBroken(
                    f"{name}: {type(cause).__name__} in our code",
                    f"{innermost.filename}:{innermost.lineno}: {cause}",
                ) from cause
    except Exception as exc:
        raise ContractBroken(
            f"{name}: raised {type(exc).__module__}.{type(exc).__qualname__}", str(exc)[:200]
        ) from exc
    spent = time.process_time() - started
    if spent > SLOW_SECONDS:
        raise ContractBroken(f"{name}: slow", f"{spent:.2f} s of CPU")
    return Outcome(refused, spent)


def check(data: bytes) -> tuple[Outcome, Outcome]:
    """Hold `data` to the contract; raise `ContractBroken` when it is not held."""
    submit = _run(
        lambda: validate_upload(data, MAX_BYTES, MAX_PIXELS),
        (EmptyUpload, UploadTooLarge, *IMAGE_ERRORS),
        "validate_upload",
    )
    worker = _run(lambda: decode_rgb(data, MAX_PIXELS), IMAGE_ERRORS, "decode_rgb")
    if data and len(data) <= MAX_BYTES and submit.refused_with != worker.refused_with:
        raise ContractBroken(
            "submit and worker disagree",
            f"validate_upload: {submit.refused_with or 'accepted'}, "
            f"decode_rgb: {worker.refused_with or 'accepted'}",
        )
    return submit, worker


# --- seeds: small files of every format and feature, made with Pillow ---------------------


def _picture(mode: str, size: tuple[int, int] = (40, 24)) -> Image.Image:
    rng = np.random.default_rng(sum(map(ord, mode)))
    rgb = np.asarray(corpus._rgb_array(*size), dtype=np.uint8).copy()
    rgb[::5, ::3] = rng.integers(0, 256, rgb[::5, ::3].shape, dtype=np.uint8)
    img = Image.fromarray(rgb)
    return img if mode == "RGB" else img.convert(mode)


def _save(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[corpus.EXIF_ORIENTATION_TAG] = orientation
    exif[0x011A] = 72.0  # XResolution: a fraction, which Pillow reads at open
    exif[0x0128] = 2
    return exif.tobytes()


def _rle_bmp(rle4: bool) -> bytes:
    width, height = 16, 4
    if rle4:  # runs of two alternating nibbles, an absolute run, end of line
        row = b"\x08\x12" + b"\x00\x04\x34\x56" + b"\x04\x77" + b"\x00\x00"
    else:
        row = b"\x08\x01" + b"\x00\x04\x02\x03\x02\x03" + b"\x04\x01" + b"\x00\x00"
    pixels = row * height + b"\x00\x01"
    colors = 16 if rle4 else 256
    palette = b"".join(bytes((i * 15 % 256, i * 7 % 256, i * 3 % 256, 0)) for i in range(colors))
    offset = 14 + 40 + len(palette)
    info = struct.pack(
        "<IiiHHIIiiII", 40, width, height, 1, 4 if rle4 else 8, 2 if rle4 else 1,
        len(pixels), 0, 0, colors, 0,
    )  # fmt: skip
    return (
        b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels
    )


@functools.cache
def seeds() -> dict[str, bytes]:
    """Named seed files: every accepted format in its common variants, and the corpus's
    crafted ones (small: the largest corpus files are left out)."""
    rgb = _picture("RGB")
    frames = [_picture("RGB"), _picture("RGB").rotate(90, expand=False)]
    made = {
        "jpeg_baseline": _save(rgb, "JPEG", quality=75),
        "jpeg_progressive": _save(rgb, "JPEG", quality=75, progressive=True),
        "jpeg_progressive_444": _save(rgb, "JPEG", progressive=True, subsampling=0),
        "jpeg_optimized_restart": _save(rgb, "JPEG", optimize=True, restart_marker_blocks=2),
        "jpeg_exif_orientation_8": _save(rgb, "JPEG", exif=_exif(8)),
        "jpeg_cmyk_progressive": _save(_picture("CMYK"), "JPEG", progressive=True),
        "jpeg_gray_icc": _save(_picture("L"), "JPEG", icc_profile=b"\0" * 200),
        "png_rgb": _save(rgb, "PNG"),
        "png_interlaced": _save(rgb, "PNG", optimize=False, interlace=1),
        "png_palette": _save(_picture("P"), "PNG"),
        "png_gray_alpha": _save(_picture("LA"), "PNG"),
        "png_16bit": _save(Image.fromarray(corpus.gray16_array()), "PNG"),
        "png_exif": _save(rgb, "PNG", exif=_exif(6)),
        "png_text": _save(rgb, "PNG", pnginfo=_png_text()),
        "apng": _save(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "webp_lossy": _save(rgb, "WEBP", quality=50),
        "webp_lossless": _save(rgb, "WEBP", lossless=True),
        "webp_alpha_exif": _save(_picture("RGBA"), "WEBP", exif=_exif(3)),
        "webp_animated": _save(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "gif": _save(_picture("P"), "GIF"),
        "gif_animated_comment": _save(
            frames[0], "GIF", save_all=True, append_images=frames[1:], comment=b"hello"
        ),
        "gif_interlaced": _save(_picture("P"), "GIF", interlace=True),
        "bmp_rgb": _save(rgb, "BMP"),
        "bmp_palette": _save(_picture("P"), "BMP"),
        "bmp_1bit": _save(_picture("1"), "BMP"),
        "bmp_rle8": _rle_bmp(rle4=False),
        "bmp_rle4": _rle_bmp(rle4=True),
        "tiff_raw": _save(rgb, "TIFF"),
        "tiff_lzw_predictor": _save(rgb, "TIFF", compression="tiff_lzw", predictor=2),
        "tiff_deflate": _save(rgb, "TIFF", compression="tiff_adobe_deflate"),
        "tiff_packbits_gray": _save(_picture("L"), "TIFF", compression="packbits"),
        "tiff_group4": _save(_picture("1"), "TIFF", compression="group4"),
        "tiff_16bit": _save(Image.fromarray(corpus.gray16_array()), "TIFF"),
        "tiff_exif": _save(rgb, "TIFF", exif=_exif(6)),
        "tiff_multipage": _save(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "tiff_cmyk": _save(_picture("CMYK"), "TIFF"),
    }
    for case in corpus.CASES:
        if case.name not in ("empty", "oversized") and len(case.data()) <= MAX_INPUT_BYTES:
            made[f"corpus_{case.name}"] = case.data()
    return made


def _png_text() -> object:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "a dog, maybe")
    info.add_text("Description", "compressed " * 20, zip=True)
    info.add_itxt("XML:com.adobe.xmp", '<x tiff:Orientation="1"/>')
    return info


# --- structure-aware repairs after a blind mutation ----------------------------------------


def repair_png_crcs(data: bytes) -> bytes:
    """Recompute every PNG chunk's CRC: Pillow refuses a bad one, which would hide everything
    a mutation changed inside a chunk."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out = bytearray(data)
    pos = 8
    while pos + 12 <= len(out):
        (length,) = struct.unpack_from(">L", out, pos)
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">L", zlib.crc32(out[pos + 4 : end]) & 0xFFFFFFFF)
        pos = end + 4
    return bytes(out)


def repair(data: bytes) -> bytes:
    return repair_png_crcs(data)
