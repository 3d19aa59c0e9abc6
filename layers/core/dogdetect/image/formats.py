"""Which format an upload is, from its leading bytes, and a walk of its container for what
decoding it will cost (`dogdetect.image.limits`), before any decoder runs: the walk never
reads the compressed data, and its own loops stop at the limits. Past a limit the walk raises
`ImageTooLarge` (422); a container too malformed to walk is left to the decoder, which
refuses it (415). TIFF files and EXIF blocks are walked by `dogdetect.image.tiff`.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from dogdetect.image import tiff
from dogdetect.image.limits import (
    JPEG_BLOCK_OVERHEAD,
    MAX_GIF_COMMENT_BYTES,
    MAX_GIF_HEADER_BLOCKS,
    MAX_JPEG_HEADER_GAP,
    MAX_JPEG_SCAN_WORK,
    MAX_JPEG_SCANS,
    MAX_JPEG_SEGMENTS,
    MAX_PNG_CHUNKS,
    MAX_PNG_COMPRESSED_CHUNKS,
    MAX_RLE_BMP_PIXELS,
    check_pixels,
    too_costly,
)

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")


def sniff_format(data: bytes) -> str | None:
    """The image format named by the leading magic bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM"):
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


@dataclass(frozen=True)
class Layout:
    """What the walk learned: the stored size, if the container states it early, and the EXIF
    orientation when it lives in a block Pillow parses at open (JPEG APP1). A TIFF's own
    orientation is left to Pillow's TIFF reader, which applies it as it loads."""

    size: tuple[int, int] | None = None
    orientation: int | None = None  # None: the walk found no EXIF orientation
    jpeg_scans: int = 0
    jpeg_scan_work: int = 0


def inspect(data: bytes, image_format: str, max_pixels: int) -> Layout:
    """Walk the container of a sniffed upload; raise `ImageTooLarge` past any limit."""
    walker = _WALKERS.get(image_format)
    layout = walker(data) if walker is not None else Layout()
    if layout.size is not None:
        check_pixels(*layout.size, max_pixels)
    return layout


# --- JPEG --------------------------------------------------------------------------------

# The next marker as libjpeg finds it: fill bytes (0xFF...) then a code that is neither a
# stuffed zero nor a standalone marker (TEM, RST0-7) that libjpeg steps over.
_JPEG_MARKER = re.compile(rb"\xff+[^\x00\x01\xd0-\xd7\xff]")
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_SOS, _EOI, _SOI, _APP1 = 0xDA, 0xD9, 0xD8, 0xE1


@dataclass(frozen=True)
class _JpegFrame:
    width: int
    height: int
    # component id -> blocks it has, padded to whole MCUs (an upper bound on any scan's)
    blocks: dict[int, int]


def jpeg_layout(data: bytes) -> Layout:
    """Count the scans and their work the way libjpeg will meet them (markers found as libjpeg
    finds them, up to EOI), and check the EXIF block Pillow parses at open."""
    frame: _JpegFrame | None = None
    scans = work = segments = header_gap = 0
    orientation: int | None = None
    seen_exif = False
    pos = 2  # after SOI
    while (found := _JPEG_MARKER.search(data, pos)) is not None:
        start, marker = found.end() - 2, data[found.end() - 1]
        if scans == 0:
            header_gap += found.start() - pos + (found.end() - found.start() - 2)
            if header_gap > MAX_JPEG_HEADER_GAP:
                raise too_costly(
                    f"more than {MAX_JPEG_HEADER_GAP} stray bytes between its JPEG header segments"
                )
        if marker == _EOI:
            break
        pos = found.end()
        if marker == _SOI:
            continue  # standalone; libjpeg refuses a second one
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise too_costly(f"it has more than {MAX_JPEG_SEGMENTS} JPEG marker segments")
        if start + 4 > len(data):
            break
        length = int.from_bytes(data[start + 2 : start + 4], "big")
        if length < 2:
            break  # the decoder refuses a bogus length
        body = data[start + 4 : start + 2 + length]
        pos = start + 2 + length
        if marker in _SOF_MARKERS and frame is None:
            frame = _jpeg_frame(body)
        elif marker == _SOS:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise too_costly(
                    f"it has more than {MAX_JPEG_SCANS} JPEG scans (a progressive JPEG has "
                    "about 10)"
                )
            work += _jpeg_scan_work(frame, body)
            if work > MAX_JPEG_SCAN_WORK:
                raise too_costly(
                    f"its {scans} JPEG scans pass over the image's blocks more than "
                    f"{MAX_JPEG_SCAN_WORK:,} coefficient-times"
                )
        elif marker == _APP1 and scans == 0 and not seen_exif and body.startswith(tiff.EXIF_HEADER):
            seen_exif = True  # Pillow reads the first EXIF block of the header at open
            orientation = tiff.exif_orientation(body, check_cost=True)
    size = (frame.width, frame.height) if frame is not None else None
    return Layout(size, orientation, scans, work)


def _jpeg_frame(body: bytes) -> _JpegFrame | None:
    if len(body) < 6:
        return None
    height, width, count = struct.unpack_from(">HHB", body, 1)
    components = [
        (body[i], body[i + 1] >> 4, body[i + 1] & 0x0F)
        for i in range(6, min(len(body) - 2, 6 + 3 * count), 3)
    ]
    if not components:
        return _JpegFrame(width, height, {})
    h_max = max(1, *(h for _, h, _ in components))
    v_max = max(1, *(v for _, _, v in components))
    mcus = -(-width // (8 * h_max)) * -(-height // (8 * v_max))
    blocks = {cid: mcus * max(1, h) * max(1, v) for cid, h, v in components}
    return _JpegFrame(width, height, blocks)


def _jpeg_scan_work(frame: _JpegFrame | None, body: bytes) -> int:
    if frame is None or not body:
        return 0  # libjpeg refuses a scan before the frame header
    count = body[0]
    ids = body[1 : 1 + 2 * count : 2]
    band = body[1 + 2 * count : 3 + 2 * count]
    start, end = (band[0], band[1]) if len(band) == 2 else (0, 63)
    per_block = JPEG_BLOCK_OVERHEAD + max(1, min(end, 63) - min(start, 63) + 1)
    largest = max(frame.blocks.values(), default=0)
    return sum(frame.blocks.get(cid, largest) for cid in ids) * per_block


# --- PNG, GIF, BMP, WebP -----------------------------------------------------------------

# Compressed metadata chunks: ICC profile, compressed text.
_PNG_COMPRESSED = frozenset({b"iCCP", b"zTXt", b"iTXt"})


def png_layout(data: bytes) -> Layout:
    pos, chunks, compressed = 8, 0, 0
    while pos + 8 <= len(data):
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise too_costly(f"it has more than {MAX_PNG_CHUNKS} PNG chunks")
        (length,) = struct.unpack_from(">L", data, pos)
        kind = data[pos + 4 : pos + 8]
        if kind == b"IEND":
            break
        if kind in _PNG_COMPRESSED:
            compressed += 1
            if compressed > MAX_PNG_COMPRESSED_CHUNKS:
                raise too_costly(
                    f"it has more than {MAX_PNG_COMPRESSED_CHUNKS} compressed PNG metadata "
                    "chunks (ICC profiles, text)"
                )
        pos += 12 + length
    size = (
        struct.unpack_from(">LL", data, 16) if len(data) >= 24 and data[12:16] == b"IHDR" else None
    )
    return Layout(size=(int(size[0]), int(size[1])) if size else None)


def gif_layout(data: bytes) -> Layout:
    if len(data) < 13:
        return Layout()
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    steps = comment = 0
    while pos < len(data):
        introducer = data[pos]
        if introducer in (0x2C, 0x3B):  # the first image, or the end
            break
        steps += 1
        pos += 1
        if introducer == 0x21 and pos < len(data):  # an extension: label, then sub-blocks
            label = data[pos]
            pos += 1
            while pos < len(data):
                length = data[pos]
                pos += 1 + length
                steps += 1
                if label == 0xFE:
                    comment += length
                if length == 0 or steps > MAX_GIF_HEADER_BLOCKS:
                    break
        if steps > MAX_GIF_HEADER_BLOCKS:
            raise too_costly(
                f"it has more than {MAX_GIF_HEADER_BLOCKS} GIF blocks before the first image"
            )
        if comment > MAX_GIF_COMMENT_BYTES:
            raise too_costly(f"its GIF comments are longer than {MAX_GIF_COMMENT_BYTES} bytes")
    return Layout(size=(width, height))


_BMP_RLE = (1, 2)


def bmp_layout(data: bytes) -> Layout:
    if len(data) < 34 or int.from_bytes(data[14:18], "little") < 40:
        return Layout()  # OS/2 headers have no compression field
    width, height, _, _, compression = struct.unpack_from("<iiHHL", data, 18)
    width, height = abs(width), abs(height)
    if compression in _BMP_RLE and width * height > MAX_RLE_BMP_PIXELS:
        raise too_costly(
            f"it is an RLE-compressed BMP of {width}x{height} pixels; the limit for RLE is "
            f"{MAX_RLE_BMP_PIXELS} pixels"
        )
    return Layout(size=(width, height))


def webp_layout(data: bytes) -> Layout:
    """The canvas size, read before Pillow's reader allocates the canvas."""
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
    elif kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    elif kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
    else:
        return Layout()
    return Layout(size=(width, height))


def tiff_layout(data: bytes) -> Layout:
    return Layout(size=tiff.tiff_size(data))


_WALKERS = {
    "JPEG": jpeg_layout,
    "TIFF": tiff_layout,
    "PNG": png_layout,
    "GIF": gif_layout,
    "BMP": bmp_layout,
    "WEBP": webp_layout,
}
