"""The worst uploads the decoding limits allow, one per kind of cost, at the production limits
(40 megapixels, 4.5 MB): `scripts/fuzz-decoding --worst-case` times both decodes of each.
Built in code (some take seconds and hundreds of MB to build): not part of the unit suite."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from dogdetect.config import Settings
from dogdetect.image import formats, limits
from PIL import Image

from tests import corpus

LIMITS = Settings()
SIDE = int(LIMITS.max_image_pixels**0.5)  # 6324: a square at the pixel cap


def _save(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def _banded(side: int = SIDE) -> Image.Image:
    """Bands of color: content that compresses to fit the upload limit at 40 MP."""
    return Image.linear_gradient("L").resize((side, side)).convert("RGB")


def _textured(side: int = SIDE) -> Image.Image:
    """Noise tiled over a gradient: content every decoder must really work on."""
    tile = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rows = np.tile(tile, (side // 64 + 1, side // 64 + 1, 1))[:side, :side]
    return Image.fromarray(rows)


def jpeg_scan_work_at_budget() -> bytes:
    """40 MP 4:4:4 progressive, its refinement scan repeated up to the scan-work budget."""
    img = Image.linear_gradient("L").resize((SIDE, SIDE)).convert("RGB")
    plain = _save(img, "JPEG", progressive=True, quality=90, subsampling=0)
    layout = formats.jpeg_layout(plain)
    per_scan = ((SIDE + 7) // 8) ** 2 * (limits.JPEG_BLOCK_OVERHEAD + 63)
    extra = (limits.MAX_JPEG_SCAN_WORK - layout.jpeg_scan_work) // per_scan
    start, end = corpus.jpeg_scans(plain)[-1]
    return plain[:end] + plain[start:end] * extra + plain[end:]


def jpeg_baseline_full() -> bytes:
    """40 MP 4:4:4 baseline, as much entropy-coded data as the upload limit holds."""
    img = _textured()
    for quality in (40, 25, 15, 8, 4):
        data = _save(img, "JPEG", quality=quality, subsampling=0)
        if len(data) <= LIMITS.max_upload_bytes:
            return data
    return data


def jpeg_progressive_full() -> bytes:
    img = _textured()
    for quality in (40, 25, 15, 8, 4):
        data = _save(img, "JPEG", quality=quality, subsampling=0, progressive=True)
        if len(data) <= LIMITS.max_upload_bytes:
            return data
    return data


def _png(width: int, height: int, depth: int, color: int, chunk: int = 1 << 20) -> bytes:
    channels = {0: 1, 2: 3, 6: 4}[color]
    row = b"\x00" + bytes(range(256)) * (width * channels * depth // 8 // 256 + 1)
    row = row[: 1 + width * channels * depth // 8]
    packer = zlib.compressobj(9)
    stream = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    idats = b"".join(
        corpus._png_chunk(b"IDAT", stream[i : i + chunk]) for i in range(0, len(stream), chunk)
    )
    ihdr = corpus._png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idats + corpus._png_chunk(b"IEND", b"")


def png_rgba16_full() -> bytes:
    """40 MP of 16-bit RGBA: 320 MB to inflate."""
    return _png(SIDE, SIDE, 16, 6)


def png_chunks_at_limit() -> bytes:
    """40 MP RGB split into as many IDAT chunks as the chunk limit allows."""
    plain = _png(SIDE, SIDE, 8, 2)
    stream = b"".join(_idat_payloads(plain))
    size = -(-len(stream) // (limits.MAX_PNG_CHUNKS - 3))
    return _png_from_stream(plain[16:24], stream, size)


def png_compressed_metadata_at_limit() -> bytes:
    """40 MP RGB after as many ICC profile chunks as allowed, each inflating to a megabyte."""
    plain = _png(SIDE, SIDE, 8, 2)
    bomb = corpus._png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(bytes(1_000_000), 9))
    return plain[:33] + bomb * limits.MAX_PNG_COMPRESSED_CHUNKS + plain[33:]


def _idat_payloads(data: bytes) -> list[bytes]:
    out, pos = [], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">L", data, pos)
        if data[pos + 4 : pos + 8] == b"IDAT":
            out.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return out


def _png_from_stream(size: bytes, stream: bytes, chunk: int) -> bytes:
    ihdr = corpus._png_chunk(b"IHDR", size + bytes((8, 2, 0, 0, 0)))
    idats = b"".join(
        corpus._png_chunk(b"IDAT", stream[i : i + chunk]) for i in range(0, len(stream), chunk)
    )
    return b"\x89PNG\r\n\x1a\n" + ihdr + idats + corpus._png_chunk(b"IEND", b"")


def gif_full_with_header_blocks() -> bytes:
    """40 MP GIF, after the most header blocks and the longest comment allowed."""
    data = _save(_banded().convert("P"), "GIF")
    flags = data[10]
    image = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    comment_blocks = limits.MAX_GIF_COMMENT_BYTES // 255
    comment = b"\x21\xfe" + (b"\xff" + b"c" * 255) * comment_blocks + b"\x00"
    tiny = (
        b"\x21\xff\x0bXXXXXXXX1.0"
        + b"\x01x" * (limits.MAX_GIF_HEADER_BLOCKS - comment_blocks - 8)
        + b"\x00"
    )
    return data[:image] + comment + tiny + data[image:]


def webp_lossy_full() -> bytes:
    """40 MP lossy, a few MB of data (pure noise would not fit the upload limit)."""
    return _save(Image.blend(_textured(), _banded(), 0.75), "WEBP", quality=20, method=0)


def webp_lossless_full() -> bytes:
    return _save(_textured(), "WEBP", lossless=True, quality=20, method=1)


def webp_most_frames() -> bytes:
    """An animation of as many frames as the upload holds (only the first is decoded; the
    container is still validated whole by libwebp)."""
    frames = [Image.new("RGB", (16, 16), (i, 0, 0)) for i in range(2)]
    data = _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    pos, last = 12, (0, 0)
    while pos + 8 <= len(data):
        (size,) = struct.unpack_from("<I", data, pos + 4)
        end = pos + 8 + size + (size & 1)
        if data[pos : pos + 4] == b"ANMF":
            last = (pos, end)
        pos = end
    frame = data[last[0] : last[1]]
    body = data[12 : last[1]] + frame * ((LIMITS.max_upload_bytes - last[1]) // len(frame))
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def tiff_strips_at_limit() -> bytes:
    """40 MP of Deflate strips, one row each, as many strips as allowed."""
    height = limits.MAX_TIFF_STRIPS
    width = LIMITS.max_image_pixels // height
    row = zlib.compress(bytes(width), 9)
    strips = row * height
    return corpus.tiff_structure(
        [
            corpus.short(256, width), corpus.long(257, height), corpus.short(258, 8),
            corpus.short(259, 8), corpus.short(262, 1), corpus.short(277, 1),
            corpus.short(278, 1),
            corpus.long(273, *(8 + i * len(row) for i in range(height))),
            corpus.long(279, *([len(row)] * height)),
        ],
        strips,
    )  # fmt: skip


def tiff_raw_strips_reused() -> bytes:
    """40 MP uncompressed, every strip pointing at the same row (allowed: raw strips cost
    their own size, not the file's)."""
    height = limits.MAX_TIFF_STRIPS
    width = LIMITS.max_image_pixels // height
    return corpus.tiff_structure(
        [
            corpus.short(256, width), corpus.long(257, height), corpus.short(258, 8),
            corpus.short(259, 1), corpus.short(262, 1), corpus.short(277, 1),
            corpus.short(278, 1), corpus.long(273, *([8] * height)),
            corpus.long(279, *([width] * height)),
        ],
        bytes(range(256)) * (width // 256 + 1),
    )  # fmt: skip


def tiff_directory_values_at_limit() -> bytes:
    """A small TIFF whose EXIF directory holds as many numbers and fractions as allowed
    (Pillow reads it in full at load, a Python object each)."""
    numbers = limits.MAX_IFD_VALUES - 2 * limits.MAX_IFD_RATIONALS - 64
    shorts = (0x9C9C, 3, numbers, struct.pack(f"<{numbers}H", *(i % 65536 for i in range(numbers))))
    fractions = (0x9C9D, 5, limits.MAX_IFD_RATIONALS,
                 struct.pack("<LL", 1, 3) * limits.MAX_IFD_RATIONALS)  # fmt: skip
    exif_ifd = corpus.tiff_structure([shorts, fractions])[8:]  # the directory and its values
    pixels = corpus.gray_pixels()
    where = 8 + len(pixels)
    return corpus.tiff_structure(
        [*corpus.gray_tiff_entries(8), corpus.long(273, 8), corpus.long(0x8769, where)],
        pixels + _relocated(exif_ifd, where),
    )


def _relocated(directory: bytes, at: int) -> bytes:
    """A directory written for offset 8, moved to `at` (its value offsets shifted)."""
    out = bytearray(directory)
    (count,) = struct.unpack_from("<H", out, 0)
    sizes = {3: 2, 4: 4, 5: 8}
    for i in range(count):
        entry = 2 + 12 * i
        _, kind, n = struct.unpack_from("<HHL", out, entry)
        if n * sizes.get(kind, 1) > 4:
            (offset,) = struct.unpack_from("<L", out, entry + 8)
            struct.pack_into("<L", out, entry + 8, offset - 8 + at)
    return bytes(out)


def bmp_rle4_at_limit() -> bytes:
    """An RLE4 BMP of as many pixels as allowed, in runs of 255 (Pillow: a Python loop a
    pixel)."""
    width = 2_000
    height = limits.MAX_RLE_BMP_PIXELS // width
    row = b"\xff\x12" * (width // 255) + bytes((width % 255, 0x12)) + b"\x00\x00"
    pixels = row * height + b"\x00\x01"
    palette = b"\x00\x00\x00\x00" * 16
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 4, 2, len(pixels), 0, 0, 16, 0)
    return (
        b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels
    )


def bmp_raw_full() -> bytes:
    """As many 24-bit pixels as the upload limit holds."""
    side = int((LIMITS.max_upload_bytes / 3) ** 0.5) - 8
    return _save(_textured(side), "BMP")


WORST_CASES: dict[str, Callable[[], bytes]] = {
    "jpeg: progressive, scan work at the budget": jpeg_scan_work_at_budget,
    "jpeg: baseline 40 MP, full of data": jpeg_baseline_full,
    "jpeg: progressive 40 MP, full of data": jpeg_progressive_full,
    "png: 40 MP 16-bit RGBA": png_rgba16_full,
    "png: 40 MP in the most chunks allowed": png_chunks_at_limit,
    "png: 40 MP after the most ICC profiles": png_compressed_metadata_at_limit,
    "gif: 40 MP after the most header blocks": gif_full_with_header_blocks,
    "webp: 40 MP lossy": webp_lossy_full,
    "webp: 40 MP lossless": webp_lossless_full,
    "webp: as many frames as uploads hold": webp_most_frames,
    "tiff: 40 MP Deflate in the most strips": tiff_strips_at_limit,
    "tiff: 40 MP raw, strips reused": tiff_raw_strips_reused,
    "tiff: directory numbers at the limit": tiff_directory_values_at_limit,
    "bmp: RLE4 at the RLE limit": bmp_rle4_at_limit,
    "bmp: 24-bit, as large as uploads go": bmp_raw_full,
}
