"""TIFF directories (IFDs), read from the bytes as Pillow reads them, with what reading them
costs: a TIFF file's own, and the EXIF block's (a TIFF structure inside a JPEG, PNG or WebP).
The EXIF orientation comes from here, not from Pillow's EXIF reader, which has no cost limits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dogdetect.domain.errors import UnsupportedImage
from dogdetect.image.limits import (
    IFD_VALUE_SLACK_BYTES,
    MAX_EXIF_HEADERS,
    MAX_IFD_ENTRIES,
    MAX_IFD_RATIONALS,
    MAX_IFD_VALUES,
    MAX_TIFF_STRIPS,
    TIFF_COMPRESSIONS,
    too_costly,
)

EXIF_HEADER = b"Exif\x00\x00"
ORIENTATION_TAG = 0x0112


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
            raise too_costly(
                f"its {self.what} directories read more than {budget} bytes of values from "
                f"{self.blob_length} bytes (entries pointing at the same data)"
            )
        if self.values > MAX_IFD_VALUES:
            raise too_costly(f"its {self.what} directories hold more than {MAX_IFD_VALUES} numbers")
        if self.rationals > MAX_IFD_RATIONALS:
            raise too_costly(
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
        raise too_costly(
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
                raise too_costly("its EXIF block repeats its header")
            return None
        exif = exif[len(EXIF_HEADER) :]
    cost = _DirectoryCost("EXIF", len(exif)) if check_cost else None
    directory = _first_directory(exif, cost)
    return _orientation_entry(directory) if directory is not None else None


def _orientation_entry(directory: _Directory) -> int | None:
    value = _first_integer(directory, ORIENTATION_TAG)
    return value if value is not None and 1 <= value <= 8 else None


def tiff_size(data: bytes) -> tuple[int, int] | None:
    """A TIFF file's stored size, if IFD0 states it, after checking the cost of IFD0 (and of
    the EXIF, GPS and Interoperability directories Pillow reads in full at load), the
    compression, and the strips. The orientation is left to Pillow's TIFF reader, which
    applies it itself."""
    cost = _DirectoryCost("TIFF", len(data))
    directory = _first_directory(data, cost)
    if directory is None:
        return None
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
            raise too_costly(
                f"it has {strips} TIFF strips or tiles; at most {MAX_TIFF_STRIPS} are accepted"
            )
        if compression != 1:
            # Each strip is decompressed from its byte count: strips that overlap would make
            # the decoder read the same bytes again and again.
            counts = _integers(data, directory, counts_tag)
            if counts is None or len(counts) != strips:
                raise UnsupportedImage("the TIFF strip byte counts are missing or unreadable")
            if sum(counts) > len(data):
                raise too_costly(
                    f"its TIFF strips claim {sum(counts)} bytes of a {len(data)}-byte file "
                    "(strips pointing at the same data)"
                )
    width, height = _first_integer(directory, 256), _first_integer(directory, 257)
    return (width, height) if width is not None and height is not None else None


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
