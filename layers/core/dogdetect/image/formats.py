"""What an upload may cost to decode, checked from its bytes before any decoder runs.

Pillow's decoders do work that grows with things other than the pixel count: a progressive
JPEG is decoded once per scan, a TIFF or EXIF directory is read entry by entry in Python, PNG
chunks, GIF blocks and RLE-compressed BMP pixels are walked one at a time in Python. Each such
cost has a limit here, applied by walking the container (never the compressed data) with a
loop that itself stops at the limit. Breaking a limit is `ImageTooLarge` (422); a container
too malformed to walk is left to the decoder, which refuses it (415).

The limits and the worst decode times they allow on a development machine are in
docs/security.md ("Decoding limits"); scripts/fuzz-decoding checks that no input does worse.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from dogdetect.domain.errors import ImageTooLarge, UnsupportedImage

# --- limits ------------------------------------------------------------------------------

# A progressive JPEG from libjpeg has 10 scans, mozjpeg's up to about 20; libtiff refuses
# JPEG data with more than 100 scans, for the same reason (each scan is a pass over the image).
MAX_JPEG_SCANS = 100
# Entropy-decoding work summed over the scans, in coefficient-visits: a scan costs every block
# of each of its components (16 units of overhead + one per coefficient in its spectral band),
# whatever the scan's size in bytes. 2e9 units take about a second and a half on one core; a
# baseline 40-megapixel 4:4:4 JPEG costs 0.15e9, libjpeg's progressive one 0.37e9.
MAX_JPEG_SCAN_WORK = 1_000_000_000
JPEG_BLOCK_OVERHEAD = 16
# Marker segments (a real JPEG has 10 to 60; ICC profiles split in chunks add a few).
MAX_JPEG_SEGMENTS = 1_000
# Bytes between segments before the first scan: Pillow's header parser steps over them one
# at a time in Python. Real files have none, or a few padding bytes.
MAX_JPEG_HEADER_GAP = 65_536
# TIFF and EXIF directories: entries (read one by one in Python), and bytes read for their
# values (entries may point at the same bytes: without this, 5,000 entries x 60 kB).
MAX_IFD_ENTRIES = 1_000
IFD_VALUE_SLACK_BYTES = 65_536
# Numbers in the directories Pillow reads (each becomes a Python object, a fraction a costly
# one): strip offsets and counts of the most strips allowed, and room for the rest.
MAX_IFD_VALUES = 2 * 65_536 + 65_536
MAX_IFD_RATIONALS = 4_096
# TIFF strips or tiles (a Python loop each, at open and at load).
MAX_TIFF_STRIPS = 65_536
# Compressions decoded with bounded work per byte: none, CCITT fax, LZW, Deflate, PackBits.
# JPEG-in-TIFF (6, 7) would need the JPEG scan checks per strip; the rest are rare.
TIFF_COMPRESSIONS = frozenset({1, 2, 3, 4, 5, 8, 32773, 32946})
# PNG chunks up to IEND (each one a Python call at open or load).
MAX_PNG_CHUNKS = 16_384
# Compressed metadata chunks (ICC profile, compressed text): Pillow inflates each, up to
# 1 MB; the total it tracks for text only, not for ICC profiles (a PNG has at most one).
MAX_PNG_COMPRESSED_CHUNKS = 64
_PNG_COMPRESSED = frozenset({b"iCCP", b"zTXt", b"iTXt"})
# GIF: blocks and sub-blocks before the first image (a Python loop each), and comment bytes
# (concatenated sub-block by sub-block: quadratic).
MAX_GIF_HEADER_BLOCKS = 4_096
MAX_GIF_COMMENT_BYTES = 65_536
# RLE-compressed BMPs are decoded pixel by pixel in Python (about 0.2 us a pixel).
MAX_RLE_BMP_PIXELS = 2_000_000
# EXIF blocks start with one "Exif\0\0" header (PNG and WebP containers may add a second);
# Pillow strips repeated ones by copying the rest each time.
MAX_EXIF_HEADERS = 2
EXIF_HEADER = b"Exif\x00\x00"

ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Layout:
    """What the walk learned: the stored size, if the container states it early, and the EXIF
    orientation when it lives in the container itself (TIFF) or in a block Pillow parses at
    open (JPEG APP1)."""

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


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} pixels; the limit is {max_pixels} pixels"
        )


def _too_costly(what: str) -> ImageTooLarge:
    return ImageTooLarge(f"the image would cost too much to decode: {what}")


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
                raise _too_costly(
                    f"more than {MAX_JPEG_HEADER_GAP} stray bytes between its JPEG header segments"
                )
        if marker == _EOI:
            break
        pos = found.end()
        if marker == _SOI:
            continue  # standalone; libjpeg refuses a second one
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise _too_costly(f"it has more than {MAX_JPEG_SEGMENTS} JPEG marker segments")
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
                raise _too_costly(
                    f"it has more than {MAX_JPEG_SCANS} JPEG scans (a progressive JPEG has "
                    "about 10)"
                )
            work += _jpeg_scan_work(frame, body)
            if work > MAX_JPEG_SCAN_WORK:
                raise _too_costly(
                    f"its {scans} JPEG scans pass over the image's blocks more than "
                    f"{MAX_JPEG_SCAN_WORK:,} coefficient-times"
                )
        elif marker == _APP1 and scans == 0 and not seen_exif and body.startswith(EXIF_HEADER):
            seen_exif = True  # Pillow reads the first EXIF block of the header at open
            orientation = exif_orientation(body, check_cost=True)
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


# --- EXIF and TIFF directories -----------------------------------------------------------

# TIFF field type -> bytes per value (the types Pillow reads; others it skips).
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
                    13: 4, 16: 8, 17: 8, 18: 8}  # fmt: skip
# Types Pillow reads as one bytes or str object; the others become a Python object per value.
_BYTE_STRING_TYPES = frozenset({1, 2, 6, 7})
_RATIONAL_TYPES = frozenset({5, 10})
# Directories Pillow's TIFF reader parses in full at load: EXIF, GPS, Interoperability.
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005


@dataclass(frozen=True)
class _Directory:
    endian: str
    entries: dict[int, tuple[int, int, bytes]]  # tag -> (type, count, inline 4 bytes)


@dataclass
class _DirectoryCost:
    """What reading directories costs Pillow, summed over the directories of one block."""

    what: str
    blob_length: int
    value_bytes: int = 0
    values: int = 0
    rationals: int = 0

    def add(self, kind: int, count: int, size: int) -> None:
        if size > 4:
            self.value_bytes += size
        if kind not in _BYTE_STRING_TYPES:
            self.values += count
        if kind in _RATIONAL_TYPES:
            self.rationals += count
        budget = self.blob_length + IFD_VALUE_SLACK_BYTES
        if self.value_bytes > budget:
            raise _too_costly(
                f"its {self.what} directories read more than {budget} bytes of values from "
                f"{self.blob_length} bytes (entries pointing at the same data)"
            )
        if self.values > MAX_IFD_VALUES:
            raise _too_costly(
                f"its {self.what} directories hold more than {MAX_IFD_VALUES} numbers"
            )
        if self.rationals > MAX_IFD_RATIONALS:
            raise _too_costly(
                f"its {self.what} directories hold more than {MAX_IFD_RATIONALS} fractions"
            )


def _endian(blob: bytes) -> str | None:
    if blob[:4] == b"II*\x00":
        return "<"
    if blob[:4] == b"MM\x00*":
        return ">"
    return None


def _directory(blob: bytes, offset: int, cost: _DirectoryCost | None) -> _Directory | None:
    """One IFD of a TIFF structure, read as Pillow's `ImageFileDirectory_v2.load` reads it:
    stop at the first entry or value that runs past the end. With `cost`, what the reading
    costs is added to it (raising past a limit). None without a valid header."""
    endian = _endian(blob)
    if endian is None:
        return None
    if offset + 2 > len(blob):
        return _Directory(endian, {})
    (count,) = struct.unpack_from(endian + "H", blob, offset)
    if cost is not None and count > MAX_IFD_ENTRIES:
        raise _too_costly(
            f"its {cost.what} directory has {count} entries; at most {MAX_IFD_ENTRIES} are accepted"
        )
    entries: dict[int, tuple[int, int, bytes]] = {}
    for at in range(offset + 2, offset + 2 + 12 * min(count, MAX_IFD_ENTRIES), 12):
        if at + 12 > len(blob):
            break
        tag, kind, n = struct.unpack_from(endian + "HHL", blob, at)
        inline = blob[at + 8 : at + 12]
        if kind not in _TIFF_TYPE_SIZES:
            continue  # Pillow skips a type it does not know
        size = n * _TIFF_TYPE_SIZES[kind]
        if size > 4 and struct.unpack_from(endian + "L", inline)[0] + size > len(blob):
            break  # Pillow stops reading the directory here
        if cost is not None:
            cost.add(kind, n, size)
        entries.setdefault(tag, (kind, n, inline))
    return _Directory(endian, entries)


def _first_directory(blob: bytes, cost: _DirectoryCost | None) -> _Directory | None:
    endian = _endian(blob)
    if endian is None or len(blob) < 8:
        return None
    return _directory(blob, struct.unpack_from(endian + "L", blob, 4)[0], cost)


# Integer field types: BYTE, SHORT, LONG, SBYTE, SSHORT, SLONG, LONG8, SLONG8.
_INTEGER_CODES = {1: "B", 3: "H", 4: "L", 6: "b", 8: "h", 9: "l", 16: "Q", 17: "q"}


def _integers(blob: bytes, directory: _Directory, tag: int) -> tuple[int, ...] | None:
    """The values of an integer entry (None if absent, not integers, or unreadable)."""
    entry = directory.entries.get(tag)
    if entry is None:
        return None
    kind, count, inline = entry
    code = _INTEGER_CODES.get(kind)
    if code is None or count < 1:
        return None
    size = count * struct.calcsize("<" + code)
    if size <= 4:
        source, at = inline, 0
    else:
        source, (at,) = blob, struct.unpack_from(directory.endian + "L", inline)
    if at + size > len(source):
        return None
    return struct.unpack_from(f"{directory.endian}{count}{code}", source, at)


def _first_integer(directory: _Directory, tag: int, allow_pointer: bool = False) -> int | None:
    entry = directory.entries.get(tag)
    if entry is None or entry[1] < 1:
        return None
    kind, _, inline = entry
    code = "L" if allow_pointer and kind == 13 else _INTEGER_CODES.get(kind)
    if code is None or struct.calcsize("<" + code) > 4:
        return None
    return int(struct.unpack_from(directory.endian + code, inline)[0])


def exif_orientation(exif: bytes, check_cost: bool = False) -> int | None:
    """The EXIF Orientation (1-8) of an EXIF block, None when absent or unreadable. With
    `check_cost`, the block is one Pillow will parse: refuse one that would cost too much."""
    headers = 0
    while exif.startswith(EXIF_HEADER):
        headers += 1
        if headers > MAX_EXIF_HEADERS:
            if check_cost:
                raise _too_costly("its EXIF block repeats its header")
            return None
        exif = exif[len(EXIF_HEADER) :]
    cost = _DirectoryCost("EXIF", len(exif)) if check_cost else None
    directory = _first_directory(exif, cost)
    return _orientation_entry(directory) if directory is not None else None


def _orientation_entry(directory: _Directory) -> int | None:
    value = _first_integer(directory, ORIENTATION_TAG)
    return value if value is not None and 1 <= value <= 8 else None


_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(?:="|>)([1-8])')


def xmp_orientation(xmp: bytes | str) -> int:
    """The orientation an XMP packet states (Pillow honours it when EXIF has none)."""
    raw = xmp.encode("utf-8", "replace") if isinstance(xmp, str) else xmp
    found = _XMP_ORIENTATION.search(raw)
    return int(found.group(1)) if found else 1


def tiff_layout(data: bytes) -> Layout:
    """IFD0 (and the EXIF, GPS and Interoperability directories Pillow reads in full at
    load), the compression, and the strips. The orientation is left to Pillow's TIFF reader,
    which applies it itself."""
    cost = _DirectoryCost("TIFF", len(data))
    directory = _first_directory(data, cost)
    if directory is None:
        return Layout()
    _sub_directories(data, directory, cost)
    compression = 1
    if 259 in directory.entries:
        compression = _first_integer(directory, 259) or 0
    if compression not in TIFF_COMPRESSIONS:
        raise UnsupportedImage(
            f"the TIFF uses compression {compression}, which is not accepted; accepted: none, "
            "CCITT fax, LZW, Deflate, PackBits"
        )
    for offsets_tag, counts_tag in ((273, 279), (324, 325)):  # strips, tiles
        if offsets_tag not in directory.entries:
            continue
        strips = directory.entries[offsets_tag][1]
        if strips > MAX_TIFF_STRIPS:
            raise _too_costly(
                f"it has {strips} TIFF strips or tiles; at most {MAX_TIFF_STRIPS} are accepted"
            )
        if compression != 1:
            # Each strip is decompressed from its byte count: strips that overlap would make
            # the decoder read the same bytes again and again.
            counts = _integers(data, directory, counts_tag)
            if counts is None or len(counts) != strips:
                raise UnsupportedImage("the TIFF strip byte counts are missing or unreadable")
            if sum(counts) > len(data):
                raise _too_costly(
                    f"its TIFF strips claim {sum(counts)} bytes of a {len(data)}-byte file "
                    "(strips pointing at the same data)"
                )
    width, height = _first_integer(directory, 256), _first_integer(directory, 257)
    return Layout(size=(width, height) if width is not None and height is not None else None)


def _sub_directories(data: bytes, directory: _Directory, cost: _DirectoryCost) -> None:
    """The directories Pillow's TIFF reader parses at load: EXIF and GPS (pointed at from
    IFD0), and Interoperability (pointed at from the EXIF directory)."""
    found: dict[int, _Directory | None] = {}
    for tag in (_EXIF_IFD, _GPS_IFD):
        offset = _first_integer(directory, tag, allow_pointer=True)
        found[tag] = _directory(data, offset, cost) if offset is not None else None
    exif = found[_EXIF_IFD]
    if exif is not None:
        offset = _first_integer(exif, _INTEROP_IFD, allow_pointer=True)
        if offset is not None:
            _directory(data, offset, cost)


# --- PNG, GIF, BMP -----------------------------------------------------------------------


def png_layout(data: bytes) -> Layout:
    pos, chunks, compressed = 8, 0, 0
    while pos + 8 <= len(data):
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise _too_costly(f"it has more than {MAX_PNG_CHUNKS} PNG chunks")
        (length,) = struct.unpack_from(">L", data, pos)
        kind = data[pos + 4 : pos + 8]
        if kind == b"IEND":
            break
        if kind in _PNG_COMPRESSED:
            compressed += 1
            if compressed > MAX_PNG_COMPRESSED_CHUNKS:
                raise _too_costly(
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
            raise _too_costly(
                f"it has more than {MAX_GIF_HEADER_BLOCKS} GIF blocks before the first image"
            )
        if comment > MAX_GIF_COMMENT_BYTES:
            raise _too_costly(f"its GIF comments are longer than {MAX_GIF_COMMENT_BYTES} bytes")
    return Layout(size=(width, height))


_BMP_RLE = (1, 2)


def bmp_layout(data: bytes) -> Layout:
    if len(data) < 34 or int.from_bytes(data[14:18], "little") < 40:
        return Layout()  # OS/2 headers have no compression field
    width, height, _, _, compression = struct.unpack_from("<iiHHL", data, 18)
    width, height = abs(width), abs(height)
    if compression in _BMP_RLE and width * height > MAX_RLE_BMP_PIXELS:
        raise _too_costly(
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


_WALKERS = {
    "JPEG": jpeg_layout,
    "TIFF": tiff_layout,
    "PNG": png_layout,
    "GIF": gif_layout,
    "BMP": bmp_layout,
    "WEBP": webp_layout,
}
