"""Hostile-input corpus: upload bytes made with Pillow/numpy, each with the HTTP status the API
must answer. Deterministic and small (except `oversized`, which must exceed the upload limit).

Used by the unit suite (against `validate_upload` and the submit app) and by the integration
and end-to-end suites over real HTTP:

    from tests.corpus import CASES
    for case in CASES:
        response = client.post("/image_prediction", files={"image": (case.name, case.data())})
        assert response.status_code == case.expected_status
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from dogdetect.settings import Settings
from PIL import Image

ACCEPTED = 202
EMPTY = 400
TOO_LARGE = 413
UNSUPPORTED = 415
BOMB = 422

# Pixel dimensions of the valid images (width x height); small so that everything is fast.
WIDTH, HEIGHT = 48, 32
SIZE = (WIDTH, HEIGHT)
# What the EXIF-rotated JPEG stores; orientation 6 means "rotate 90 degrees clockwise to view".
EXIF_STORED_SIZE = (40, 24)
EXIF_ORIENTATION_TAG = 0x0112
BOMB_SIDE = 50_000


@dataclass(frozen=True)
class CorpusCase:
    name: str
    make_bytes: Callable[[], bytes]
    expected_status: int
    # For accepted images: the format `validate_upload` must report, and (width, height).
    image_format: str | None = None
    size: tuple[int, int] | None = None

    def data(self) -> bytes:
        return self.make_bytes()

    @property
    def accepted(self) -> bool:
        return self.expected_status == ACCEPTED


# --- building blocks ---------------------------------------------------------------------


def _rgb_array(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A smooth gradient (JPEG-friendly) with distinct channels, so rotations are visible."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(1, width - 1)).astype(np.uint8)
    g = (y * 255 // max(1, height - 1)).astype(np.uint8)
    b = np.full((height, width), 96, dtype=np.uint8)
    return np.stack([r, g, b], axis=-1)


def _save(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_by_hand(width: int, height: int, rows: list[bytes] | None = None) -> bytes:
    """An 8-bit grayscale PNG written chunk by chunk; IHDR may claim any size."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows) if rows is not None else b"\x00" * 64
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )


# --- accepted images ----------------------------------------------------------------------


@functools.cache
def jpeg() -> bytes:
    return _save(Image.fromarray(_rgb_array()), "JPEG", quality=90)


@functools.cache
def png() -> bytes:
    return _save(Image.fromarray(_rgb_array()), "PNG")


@functools.cache
def webp() -> bytes:
    return _save(Image.fromarray(_rgb_array()), "WEBP", quality=80)


@functools.cache
def bmp() -> bytes:
    return _save(Image.fromarray(_rgb_array()), "BMP")


@functools.cache
def tiff() -> bytes:
    return _save(Image.fromarray(_rgb_array()), "TIFF")


@functools.cache
def gif() -> bytes:
    return _save(Image.fromarray(_rgb_array()).convert("P"), "GIF")


FIRST_FRAME_RGB = (255, 0, 0)
SECOND_FRAME_RGB = (0, 0, 255)


@functools.cache
def animated_gif() -> bytes:
    frames = [Image.new("RGB", (WIDTH, HEIGHT), c) for c in (FIRST_FRAME_RGB, SECOND_FRAME_RGB)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


@functools.cache
def cmyk_jpeg() -> bytes:
    return _save(Image.fromarray(_rgb_array()).convert("CMYK"), "JPEG", quality=90)


@functools.cache
def grayscale_jpeg() -> bytes:
    return _save(Image.fromarray(_rgb_array()).convert("L"), "JPEG", quality=90)


@functools.cache
def rgba_png() -> bytes:
    """Left half opaque red, right half fully transparent (black underneath)."""
    rgba = np.zeros((HEIGHT, WIDTH, 4), dtype=np.uint8)
    rgba[:, : WIDTH // 2] = (255, 0, 0, 255)
    rgba[:, WIDTH // 2 :] = (0, 0, 0, 0)
    return _save(Image.fromarray(rgba, "RGBA"), "PNG")


@functools.cache
def palette_png_transparent() -> bytes:
    """Palette image: index 0 transparent (black in the palette), index 1 opaque green."""
    img = Image.new("P", (WIDTH, HEIGHT), 0)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0, 0, 0] * 254)
    img.paste(1, (0, 0, WIDTH // 2, HEIGHT))
    return _save(img, "PNG", transparency=0)


# 16-bit samples spanning the whole range; decoding must scale them, not clip them to white.
def gray16_array() -> np.ndarray:
    return np.linspace(0, 65535, WIDTH * HEIGHT, dtype=np.uint16).reshape(HEIGHT, WIDTH)


@functools.cache
def png_16bit() -> bytes:
    img = Image.fromarray(gray16_array())
    assert img.mode == "I;16"
    return _save(img, "PNG")


@functools.cache
def exif_rotated_jpeg() -> bytes:
    img = Image.fromarray(_rgb_array(*EXIF_STORED_SIZE))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = 6
    return _save(img, "JPEG", quality=90, exif=exif.tobytes())


# --- refused uploads ----------------------------------------------------------------------


def empty() -> bytes:
    return b""


def plain_text() -> bytes:
    return b"just some text, not an image\n" * 4


def html() -> bytes:
    return b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"


def svg() -> bytes:
    return (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<script>alert(1)</script><rect width="10" height="10"/></svg>'
    )


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@functools.cache
def random_bytes() -> bytes:
    data = np.random.default_rng(1234).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    return b"\x00" + data  # no image magic can start with NUL


@functools.cache
def truncated_jpeg() -> bytes:
    # Noise does not compress: the scan data is most of the file, so half of it cuts the scan.
    noise = np.random.default_rng(7).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = _save(Image.fromarray(noise), "JPEG", quality=95)
    return whole[: len(whole) // 2]


def magic_only_png() -> bytes:
    return b"\x89PNG\r\n\x1a\n"


def bmp_magic_then_junk() -> bytes:
    return b"BM" + b"\xff" * 62


@functools.cache
def png_bomb() -> bytes:
    """A few dozen bytes whose IHDR claims 50000 x 50000 (2.5 gigapixels)."""
    return png_by_hand(BOMB_SIDE, BOMB_SIDE)


@functools.cache
def png_over_pixel_limit() -> bytes:
    """Above our pixel cap (40 MP) but below Pillow's own bomb threshold (~179 MP)."""
    return png_by_hand(8_000, 6_000)


@functools.cache
def jpeg_bomb() -> bytes:
    """A valid small JPEG whose SOF0 frame header is patched to claim 65000 x 65000."""
    data = bytearray(_save(Image.fromarray(_rgb_array()), "JPEG", quality=90))
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    # SOFn: marker(2) length(2) precision(1) height(2) width(2)
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)
    return bytes(data)


@functools.cache
def gif_bomb() -> bytes:
    """A valid small GIF whose logical screen is patched to claim 65000 x 65000."""
    data = bytearray(gif())
    data[6:10] = struct.pack("<HH", 65_000, 65_000)
    return bytes(data)


def oversized() -> bytes:
    """A valid JPEG padded past the configured upload limit (the size check comes first)."""
    limit = Settings().max_upload_bytes
    return jpeg() + b"\x00" * (limit + 1 - len(jpeg()))


CASES: list[CorpusCase] = [
    CorpusCase("jpeg", jpeg, ACCEPTED, "JPEG", SIZE),
    CorpusCase("png", png, ACCEPTED, "PNG", SIZE),
    CorpusCase("webp", webp, ACCEPTED, "WEBP", SIZE),
    CorpusCase("bmp", bmp, ACCEPTED, "BMP", SIZE),
    CorpusCase("tiff", tiff, ACCEPTED, "TIFF", SIZE),
    CorpusCase("gif", gif, ACCEPTED, "GIF", SIZE),
    CorpusCase("animated_gif", animated_gif, ACCEPTED, "GIF", SIZE),
    CorpusCase("cmyk_jpeg", cmyk_jpeg, ACCEPTED, "JPEG", SIZE),
    CorpusCase("grayscale_jpeg", grayscale_jpeg, ACCEPTED, "JPEG", SIZE),
    CorpusCase("rgba_png", rgba_png, ACCEPTED, "PNG", SIZE),
    CorpusCase("palette_png_transparent", palette_png_transparent, ACCEPTED, "PNG", SIZE),
    CorpusCase("png_16bit", png_16bit, ACCEPTED, "PNG", SIZE),
    # validate_upload reports the stored size; decode_rgb applies the EXIF rotation.
    CorpusCase("exif_rotated_jpeg", exif_rotated_jpeg, ACCEPTED, "JPEG", EXIF_STORED_SIZE),
    CorpusCase("empty", empty, EMPTY),
    CorpusCase("plain_text", plain_text, UNSUPPORTED),
    CorpusCase("html", html, UNSUPPORTED),
    CorpusCase("svg", svg, UNSUPPORTED),
    CorpusCase("pdf", pdf, UNSUPPORTED),
    CorpusCase("random_bytes", random_bytes, UNSUPPORTED),
    CorpusCase("truncated_jpeg", truncated_jpeg, UNSUPPORTED),
    CorpusCase("magic_only_png", magic_only_png, UNSUPPORTED),
    CorpusCase("bmp_magic_then_junk", bmp_magic_then_junk, UNSUPPORTED),
    CorpusCase("png_bomb", png_bomb, BOMB),
    CorpusCase("png_over_pixel_limit", png_over_pixel_limit, BOMB),
    CorpusCase("jpeg_bomb", jpeg_bomb, BOMB),
    CorpusCase("gif_bomb", gif_bomb, BOMB),
    CorpusCase("oversized", oversized, TOO_LARGE),
]

CASES_BY_NAME: dict[str, CorpusCase] = {case.name: case for case in CASES}
VALID_CASES = [case for case in CASES if case.accepted]
INVALID_CASES = [case for case in CASES if not case.accepted]
