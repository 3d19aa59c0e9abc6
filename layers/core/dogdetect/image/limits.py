"""What an upload may cost to decode: one limit per cost, per format.

Pillow's decoders do work that grows with things other than the pixel count: a progressive
JPEG is decoded once per scan, a TIFF or EXIF directory is read entry by entry in Python, PNG
chunks, GIF blocks and RLE-compressed BMP pixels are walked one at a time in Python. Each such
cost has a limit here, checked from the bytes before any decoder runs, by the container walks
of `dogdetect.image.formats` and `dogdetect.image.tiff`. Breaking a limit is `ImageTooLarge`
(422).

The limits and the worst decode times they allow on a development machine are in
docs/security.md ("Decoding limits"); scripts/fuzz-decoding checks that no input does worse.
"""

from __future__ import annotations

from dogdetect.domain.errors import ImageTooLarge

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
# GIF: blocks and sub-blocks before the first image (a Python loop each), and comment bytes
# (concatenated sub-block by sub-block: quadratic).
MAX_GIF_HEADER_BLOCKS = 4_096
MAX_GIF_COMMENT_BYTES = 65_536
# RLE-compressed BMPs are decoded pixel by pixel in Python (about 0.2 us a pixel).
MAX_RLE_BMP_PIXELS = 2_000_000
# EXIF blocks start with one "Exif\0\0" header (PNG and WebP containers may add a second);
# Pillow strips repeated ones by copying the rest each time.
MAX_EXIF_HEADERS = 2


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} pixels; the limit is {max_pixels} pixels"
        )


def too_costly(what: str) -> ImageTooLarge:
    return ImageTooLarge(f"the image would cost too much to decode: {what}")
