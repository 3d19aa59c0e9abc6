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
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from dogdetect.config import Settings
from dogdetect.image import formats, limits
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


# JPEG marker search as libjpeg does it (fill bytes, then a code that is not data or RSTn).
_JPEG_MARKER = re.compile(rb"\xff+[^\x00\x01\xd0-\xd7\xff]")


def jpeg_scans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan: its SOS segment and the entropy-coded data after it."""
    pos, found = 2, []
    while (marker := _JPEG_MARKER.search(data, pos)) is not None:
        start, code = marker.end() - 2, data[marker.end() - 1]
        if code == 0xD9:
            break
        end = start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")
        if code == 0xDA:
            following = _JPEG_MARKER.search(data, end)
            end = following.start() if following else len(data)
            found.append((start, end))
        pos = end
    return found


def progressive_jpeg_with_repeated_scan(img: Image.Image, total_scans: int) -> bytes:
    """A progressive JPEG whose last scan (a refinement pass over every block) is repeated
    until the file has `total_scans` scans: tiny on the wire, one pass over the image each.
    (The probe's file: 6000x6000, its small AC scan repeated 35,000 times.)"""
    data = _save(img, "JPEG", progressive=True, quality=90)
    scans = jpeg_scans(data)
    start, end = scans[-1]
    extra = total_scans - len(scans)
    assert extra >= 0
    return data[:end] + data[start:end] * extra + data[end:]


def tiff_structure(entries: list[tuple[int, int, int, bytes]], pixels: bytes = b"") -> bytes:
    """A little-endian TIFF structure written entry by entry (tag, type, count, value bytes):
    pixels at offset 8, then IFD0, then the values too long to sit in an entry."""
    pixels_end = 8 + len(pixels) + (len(pixels) & 1)
    values_at = pixels_end + 2 + 12 * len(entries) + 4
    ifd, values = struct.pack("<H", len(entries)), b""
    for tag, kind, count, value in sorted(entries):
        if len(value) > 4:
            ifd += struct.pack("<HHLL", tag, kind, count, values_at + len(values))
            values += value + b"\x00" * (len(value) & 1)
        else:
            ifd += struct.pack("<HHL", tag, kind, count) + value.ljust(4, b"\x00")
    padding = b"\x00" * (pixels_end - 8 - len(pixels))
    return (
        b"II*\x00" + struct.pack("<L", pixels_end) + pixels + padding + ifd + b"\x00" * 4 + values
    )


SHORT, LONG, ASCII, UNDEFINED = 3, 4, 2, 7


def short(tag: int, *values: int) -> tuple[int, int, int, bytes]:
    return tag, SHORT, len(values), struct.pack(f"<{len(values)}H", *values)


def long(tag: int, *values: int) -> tuple[int, int, int, bytes]:
    return tag, LONG, len(values), struct.pack(f"<{len(values)}L", *values)


def ascii_text(tag: int, text: str) -> tuple[int, int, int, bytes]:
    raw = text.encode() + b"\x00"
    return tag, ASCII, len(raw), raw


def exif_block(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    return b"Exif\x00\x00" + tiff_structure(entries)


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


# --- costly or odd files from the hostile-input probe (issue 9) ---------------------------

# EXIF tags: Orientation, ResolutionUnit (a SHORT by the standard).
EXIF_RESOLUTION_UNIT_TAG = 0x0128
PROBE_SCAN_SIDE = 512
PROBE_SCANS = 2 * limits.MAX_JPEG_SCANS
WORK_SIDE = 4096  # large enough for a scan to weigh: 262,144 blocks of 64 coefficients


def _flat(mode: str, side: int) -> Image.Image:
    return Image.new(mode, (side, side), 128 if mode == "L" else (120, 130, 140))


@functools.cache
def jpeg_scan_flood() -> bytes:
    """The probe's repeated-scan progressive JPEG at a small size: twice the scan limit."""
    return progressive_jpeg_with_repeated_scan(_flat("RGB", PROBE_SCAN_SIDE), PROBE_SCANS)


@functools.cache
def jpeg_at_scan_limit() -> bytes:
    """Exactly the scan limit: accepted, and decoded within its bounded work."""
    return progressive_jpeg_with_repeated_scan(_flat("RGB", PROBE_SCAN_SIDE), limits.MAX_JPEG_SCANS)


def _scans_for_work(side: int, over: bool) -> int:
    """How many scans take a WORK_SIDE gray progressive JPEG just past (or up to) the scan
    work budget: the repeated scan is a refinement pass over every block."""
    plain = _save(_flat("L", side), "JPEG", progressive=True, quality=90)
    layout = formats.jpeg_layout(plain)
    blocks = ((side + 7) // 8) ** 2
    per_scan = blocks * (limits.JPEG_BLOCK_OVERHEAD + 63)
    room = limits.MAX_JPEG_SCAN_WORK - layout.jpeg_scan_work
    return layout.jpeg_scans + room // per_scan + (1 if over else 0)


@functools.cache
def jpeg_scan_work_flood() -> bytes:
    """Fewer scans than the limit, but together more decoding work than the budget."""
    return progressive_jpeg_with_repeated_scan(
        _flat("L", WORK_SIDE), _scans_for_work(WORK_SIDE, over=True)
    )


@functools.cache
def jpeg_at_scan_work_limit() -> bytes:
    """As much scan work as the budget allows: the worst JPEG of its size we accept."""
    return progressive_jpeg_with_repeated_scan(
        _flat("L", WORK_SIDE), _scans_for_work(WORK_SIDE, over=False)
    )


def _exif_orientation_6_resolution_unit_text() -> bytes:
    """Pillow's `exif_transpose` rewrites this EXIF and fails (struct.error) on the text."""
    return exif_block(
        [short(EXIF_ORIENTATION_TAG, 6), ascii_text(EXIF_RESOLUTION_UNIT_TAG, "inches")]
    )


@functools.cache
def jpeg_exif_text_resolution_unit() -> bytes:
    img = Image.fromarray(_rgb_array(*EXIF_STORED_SIZE))
    return _save(img, "JPEG", quality=90, exif=_exif_orientation_6_resolution_unit_text())


@functools.cache
def webp_exif_text_resolution_unit() -> bytes:
    img = Image.fromarray(_rgb_array(*EXIF_STORED_SIZE))
    return _save(img, "WEBP", quality=80, exif=_exif_orientation_6_resolution_unit_text())


def gray_pixels() -> bytes:
    """WIDTH x HEIGHT 8-bit gray samples for the hand-written TIFFs."""
    return bytes(range(256)) * (WIDTH * HEIGHT // 256)


def gray_tiff_entries(pixels_at: int) -> list[tuple[int, int, int, bytes]]:
    """The entries of an uncompressed gray TIFF (one strip at `pixels_at`), but its offsets."""
    return [
        short(256, WIDTH),
        short(257, HEIGHT),
        short(258, 8),
        short(259, 1),
        short(262, 1),
        short(277, 1),
        short(278, HEIGHT),
        long(279, WIDTH * HEIGHT),
    ]


@functools.cache
def tiff_by_hand() -> bytes:
    """The same TIFF written by hand, well formed (so the broken one below differs by a tag)."""
    return tiff_structure([*gray_tiff_entries(8), long(273, 8)], gray_pixels())


@functools.cache
def tiff_strip_offsets_text() -> bytes:
    """StripOffsets stored as text: a TypeError inside Pillow's load (it answered 500)."""
    return tiff_structure([*gray_tiff_entries(8), ascii_text(273, "8")], gray_pixels())


@functools.cache
def tiff_overlapping_strips() -> bytes:
    """A Deflate TIFF whose many strips all point at the same compressed bytes: the decoder
    would inflate them once per strip."""
    row = zlib.compress(b"\x80" * WIDTH)
    strips = 2_000
    return tiff_structure(
        [
            short(256, WIDTH),
            short(257, strips),
            short(258, 8),
            short(259, 8),
            short(262, 1),
            short(277, 1),
            short(278, 1),
            long(273, *([8] * strips)),
            long(279, *([len(row) * 4] * strips)),
        ],
        row * 4,
    )


@functools.cache
def tiff_jpeg_compressed() -> bytes:
    return _save(Image.fromarray(_rgb_array()), "TIFF", compression="jpeg")


@functools.cache
def jpeg_exif_overlapping_values() -> bytes:
    """An EXIF block whose entries all point at the same 50 kB: Pillow reads it at open, and
    copies the 50 kB once per entry."""
    blob = 50_000
    entries = [(0xC000 + i, UNDEFINED, blob, b"") for i in range(limits.MAX_IFD_ENTRIES)]
    ifd_at = 8
    values_at = ifd_at + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHLL", tag, kind, count, values_at) for tag, kind, count, _ in entries
    )
    exif = b"Exif\x00\x00II*\x00" + struct.pack("<L", ifd_at) + ifd + b"\x00" * (4 + blob)
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return jpeg()[:2] + app1 + jpeg()[2:]


@functools.cache
def jpeg_mpf_index_flood() -> bytes:
    """A multi-picture index whose entries each point at the same 60 kB of SHORTs: Pillow's
    MPO reader expands every one into a tuple of 30,000 numbers at open. Only the first
    picture is wanted, so the index is not read: accepted."""
    blob = 60_000
    count = 200
    values_at = 8 + 2 + 12 * count + 4
    ifd = struct.pack("<H", count) + b"".join(
        struct.pack("<HHLL", 0xB100 + i, SHORT, blob // 2, values_at) for i in range(count)
    )
    mpf = b"MPF\x00II*\x00" + struct.pack("<L", 8) + ifd + b"\x00" * (4 + blob)
    app2 = b"\xff\xe2" + struct.pack(">H", len(mpf) + 2) + mpf
    return jpeg()[:2] + app2 + jpeg()[2:]


@functools.cache
def png_exif_repeated_headers() -> bytes:
    """An eXIf chunk of 60,000 "Exif" headers: Pillow strips them one copy at a time
    (quadratic). The orientation is read by our parser, which gives up: accepted, upright."""
    chunk = _png_chunk(b"eXIf", b"Exif\x00\x00" * 60_000)
    data = png()
    return data[:33] + chunk + data[33:]  # after the signature (8) and IHDR (25)


@functools.cache
def png_chunk_flood() -> bytes:
    """More empty ancillary chunks than the chunk limit (each a Python call in Pillow)."""
    data = png()
    flood = _png_chunk(b"prVt", b"") * (limits.MAX_PNG_CHUNKS + 1)
    return data[:33] + flood + data[33:]


@functools.cache
def webp_bomb() -> bytes:
    """A small WebP whose extended header claims a 16383 x 16383 canvas (268 megapixels)."""
    data = bytearray(webp_exif_text_resolution_unit())  # with EXIF: the extended format
    assert data[12:16] == b"VP8X"
    data[24:30] = (16382).to_bytes(3, "little") * 2
    return bytes(data)


@functools.cache
def png_iccp_flood() -> bytes:
    """More ICC profile chunks than allowed, each a kilobyte inflating to a megabyte: Pillow
    inflates every one (4,400 of them in 4.4 MB took 3.6 s)."""
    bomb = _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * 1_000_000, 9))
    data = png()
    return data[:33] + bomb * (limits.MAX_PNG_COMPRESSED_CHUNKS + 1) + data[33:]


def _gif_with_header_blocks(blocks: bytes) -> bytes:
    data = gif()
    flags = data[10]
    palette = 3 << ((flags & 7) + 1) if flags & 0x80 else 0
    image = 13 + palette  # Pillow writes the image descriptor right after the global palette
    assert data[image : image + 1] in (b",", b"!")
    return data[:image] + blocks + data[image:]


@functools.cache
def gif_comment_flood() -> bytes:
    """A comment longer than the comment limit (Pillow concatenates it sub-block by
    sub-block)."""
    sub_blocks = limits.MAX_GIF_COMMENT_BYTES // 255 + 1
    return _gif_with_header_blocks(b"\x21\xfe" + (b"\xff" + b"c" * 255) * sub_blocks + b"\x00")


@functools.cache
def gif_block_flood() -> bytes:
    """An application extension of one-byte sub-blocks, more than the block limit."""
    tiny = b"\x01x" * (limits.MAX_GIF_HEADER_BLOCKS + 1)
    return _gif_with_header_blocks(b"\x21\xff\x0bXXXXXXXX1.0" + tiny + b"\x00")


@functools.cache
def bmp_rle_over_limit() -> bytes:
    """An RLE8 BMP just over the RLE pixel limit (Pillow decodes RLE in Python)."""
    width = 2_000
    height = limits.MAX_RLE_BMP_PIXELS // width + 1
    row = (b"\xfa\x01" * (width // 250)) + b"\x00\x00"  # runs of 250, end of line
    pixels = row * height + b"\x00\x01"
    palette = b"\x00\x00\x00\x00\xff\xff\xff\x00" + b"\x00" * 4 * 254
    offset = 14 + 40 + len(palette)
    header = struct.pack(
        "<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0
    )
    return (
        b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + header + palette + pixels
    )


@functools.cache
def jpeg_header_junk() -> bytes:
    """More stray bytes between header segments than the limit (Pillow's parser steps over
    them one at a time)."""
    data = jpeg()
    app0_end = 4 + int.from_bytes(data[4:6], "big")  # SOI, then Pillow's JFIF APP0 segment
    return data[:app0_end] + b"\x00" * (limits.MAX_JPEG_HEADER_GAP + 1) + data[app0_end:]


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
    CorpusCase("webp_bomb", webp_bomb, BOMB),
    CorpusCase("oversized", oversized, TOO_LARGE),
    # issue 9: costs bounded, every decoder failure a 4xx, metadata quirks harmless
    CorpusCase("jpeg_scan_flood", jpeg_scan_flood, BOMB),
    CorpusCase("jpeg_at_scan_limit", jpeg_at_scan_limit, ACCEPTED, "JPEG", (PROBE_SCAN_SIDE,) * 2),
    CorpusCase("jpeg_scan_work_flood", jpeg_scan_work_flood, BOMB),
    CorpusCase(
        "jpeg_at_scan_work_limit", jpeg_at_scan_work_limit, ACCEPTED, "JPEG", (WORK_SIDE,) * 2
    ),
    CorpusCase(
        "jpeg_exif_text_resolution_unit",
        jpeg_exif_text_resolution_unit,
        ACCEPTED,
        "JPEG",
        EXIF_STORED_SIZE,
    ),
    CorpusCase(
        "webp_exif_text_resolution_unit",
        webp_exif_text_resolution_unit,
        ACCEPTED,
        "WEBP",
        EXIF_STORED_SIZE,
    ),
    CorpusCase("tiff_by_hand", tiff_by_hand, ACCEPTED, "TIFF", SIZE),
    CorpusCase("tiff_strip_offsets_text", tiff_strip_offsets_text, UNSUPPORTED),
    CorpusCase("tiff_overlapping_strips", tiff_overlapping_strips, BOMB),
    CorpusCase("tiff_jpeg_compressed", tiff_jpeg_compressed, UNSUPPORTED),
    CorpusCase("jpeg_exif_overlapping_values", jpeg_exif_overlapping_values, BOMB),
    CorpusCase("jpeg_mpf_index_flood", jpeg_mpf_index_flood, ACCEPTED, "JPEG", SIZE),
    CorpusCase("png_exif_repeated_headers", png_exif_repeated_headers, ACCEPTED, "PNG", SIZE),
    CorpusCase("png_chunk_flood", png_chunk_flood, BOMB),
    CorpusCase("png_iccp_flood", png_iccp_flood, BOMB),
    CorpusCase("gif_comment_flood", gif_comment_flood, BOMB),
    CorpusCase("gif_block_flood", gif_block_flood, BOMB),
    CorpusCase("bmp_rle_over_limit", bmp_rle_over_limit, BOMB),
    CorpusCase("jpeg_header_junk", jpeg_header_junk, BOMB),
]

CASES_BY_NAME: dict[str, CorpusCase] = {case.name: case for case in CASES}
VALID_CASES = [case for case in CASES if case.accepted]
INVALID_CASES = [case for case in CASES if not case.accepted]
