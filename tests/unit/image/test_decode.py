"""Upload validation and decoding against the hostile-input corpus, and the decoding policy
(`dogdetect.image`: the container walks of `formats` and `tiff` against the cost limits of
`limits`): every cost bounded, every decoder failure a domain error."""

from __future__ import annotations

import io
import struct
import sys
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import cv2
import numpy as np
import pytest
from dogdetect.api.app import ERROR_STATUS
from dogdetect.config import Settings
from dogdetect.domain import errors
from dogdetect.domain.errors import (
    EmptyUpload,
    ImageTooLarge,
    UnsupportedImage,
    UploadTooLarge,
)
from dogdetect.domain.models import Box, Detection, scaled
from dogdetect.image import formats, limits, tiff
from dogdetect.image.decode import (
    IMAGE_ERRORS,
    ImageInfo,
    decode_for_model,
    decode_rgb,
    decoding_failure,
    validate_upload,
)
from dogdetect.image.formats import sniff_format
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tests import corpus
from tests.corpus import CASES, INVALID_CASES, VALID_CASES, CorpusCase

LIMITS = Settings()
VALIDATION_ERRORS = (EmptyUpload, UploadTooLarge, UnsupportedImage, ImageTooLarge)
# What validation can raise, by status (MultipleImages, also 422, is about the form, not bytes).
ERROR_FOR_STATUS = {status: cls for cls, status in ERROR_STATUS.items() if cls in VALIDATION_ERRORS}


def validate(data: bytes) -> ImageInfo:
    return validate_upload(data, LIMITS.max_upload_bytes, LIMITS.max_image_pixels)


def decode(data: bytes) -> np.ndarray:
    return decode_rgb(data, LIMITS.max_image_pixels)


def test_corpus_covers_every_outcome() -> None:
    assert {c.expected_status for c in CASES} == {202, 400, 413, 415, 422}
    assert len({c.name for c in CASES}) == len(CASES)
    assert len(corpus.oversized()) > LIMITS.max_upload_bytes
    assert len(corpus.png_bomb()) < 200  # the bomb is tiny on the wire


def test_corpus_is_deterministic() -> None:
    for case in CASES:
        if case.name != "oversized":
            fresh = getattr(case.make_bytes, "__wrapped__", case.make_bytes)  # bypass the cache
            assert fresh() == fresh() == case.data(), case.name


@pytest.mark.parametrize("case", VALID_CASES, ids=lambda c: c.name)
def test_valid_upload_reports_format_and_size(case: CorpusCase) -> None:
    info = validate(case.data())
    assert info.format == case.image_format
    assert (info.width, info.height) == case.size
    assert sniff_format(case.data()) == case.image_format


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda c: c.name)
def test_refused_upload_raises_the_error_for_its_status(case: CorpusCase) -> None:
    expected = ERROR_FOR_STATUS[case.expected_status]
    with pytest.raises(errors.DomainError) as caught:
        validate(case.data())
    assert type(caught.value) is expected
    assert caught.value.detail  # a message for the client


@pytest.mark.parametrize("case", VALID_CASES, ids=lambda c: c.name)
def test_every_valid_upload_decodes_to_rgb_uint8(case: CorpusCase) -> None:
    image = decode(case.data())
    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3
    assert image.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize(
    "case",
    [c for c in INVALID_CASES if c.name not in ("empty", "oversized")],
    ids=lambda c: c.name,
)
def test_decode_refuses_what_validation_refuses(case: CorpusCase) -> None:
    expected = ERROR_FOR_STATUS[case.expected_status]
    with pytest.raises(expected):
        decode(case.data())


def test_pixel_cap_is_the_configured_one() -> None:
    data = corpus.png()
    validate_upload(data, 10_000, corpus.WIDTH * corpus.HEIGHT)
    with pytest.raises(errors.ImageTooLarge):
        validate_upload(data, 10_000, corpus.WIDTH * corpus.HEIGHT - 1)
    with pytest.raises(errors.ImageTooLarge):
        decode_rgb(data, corpus.WIDTH * corpus.HEIGHT - 1)


def test_byte_cap_is_checked_before_the_format() -> None:
    data = corpus.png()
    validate_upload(data, len(data), LIMITS.max_image_pixels)
    with pytest.raises(errors.UploadTooLarge):
        validate_upload(data, len(data) - 1, LIMITS.max_image_pixels)
    with pytest.raises(errors.UploadTooLarge):
        validate_upload(b"not an image at all", 5, LIMITS.max_image_pixels)


def test_format_is_sniffed_not_trusted_from_the_container() -> None:
    # A PNG body behind a JPEG magic is not silently accepted as something else.
    forged = b"\xff\xd8\xff" + corpus.png()
    with pytest.raises(errors.UnsupportedImage):
        validate(forged)


def test_plain_jpeg_decodes_to_the_gradient() -> None:
    image = decode(corpus.jpeg())
    assert image.shape == (corpus.HEIGHT, corpus.WIDTH, 3)
    # red grows left to right, green top to bottom (JPEG is lossy: loose bounds)
    assert image[0, 0, 0] < 30 and image[0, -1, 0] > 225
    assert image[0, 0, 1] < 30 and image[-1, 0, 1] > 225


def test_exif_orientation_6_is_applied() -> None:
    stored_w, stored_h = corpus.EXIF_STORED_SIZE
    image = decode(corpus.exif_rotated_jpeg())
    assert image.shape == (stored_w, stored_h, 3)  # rotated: width and height swap
    # Rotated 90 degrees clockwise: the stored left column (red 0) becomes the top row,
    # the stored top row (green 0) becomes the right column.
    assert image[0, :, 0].max() < 40
    assert image[:, -1, 1].max() < 40
    assert image[-1, :, 0].min() > 215


def test_16bit_png_is_scaled_not_saturated() -> None:
    image = decode(corpus.png_16bit())
    assert image.shape == (corpus.HEIGHT, corpus.WIDTH, 3)
    gray = image[..., 0]
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    expected = (corpus.gray16_array() >> 8).astype(np.uint8)
    np.testing.assert_array_equal(gray, expected)
    assert gray.min() == 0 and gray.max() == 255
    assert (gray < 128).mean() > 0.4  # not turned white


def test_rgba_transparency_is_composited_on_white() -> None:
    image = decode(corpus.rgba_png())
    half = corpus.WIDTH // 2
    assert (image[:, :half] == (255, 0, 0)).all()
    assert (image[:, half:] == (255, 255, 255)).all()  # transparent black -> white, not black


def test_palette_transparency_is_composited_on_white() -> None:
    image = decode(corpus.palette_png_transparent())
    half = corpus.WIDTH // 2
    assert (image[:, :half] == (0, 255, 0)).all()
    assert (image[:, half:] == (255, 255, 255)).all()


def test_animated_gif_decodes_its_first_frame() -> None:
    image = decode(corpus.animated_gif())
    assert image.shape == (corpus.HEIGHT, corpus.WIDTH, 3)
    assert (image == corpus.FIRST_FRAME_RGB).all()


def test_cmyk_and_grayscale_become_rgb() -> None:
    cmyk = decode(corpus.cmyk_jpeg())
    rgb = decode(corpus.jpeg())
    assert np.abs(cmyk.astype(int) - rgb.astype(int)).mean() < 20  # same picture, as RGB
    gray = decode(corpus.grayscale_jpeg())
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0", "JPEG"),
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"BM", "BMP"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"GIF87a", "GIF"),
        (b"GIF89a", "GIF"),
        (b"GIF90a", None),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_sniff_format(data: bytes, expected: str | None) -> None:
    assert sniff_format(data) == expected


# --- one policy for submit and the worker --------------------------------------------------


def _outcome(call: Callable[[], object]) -> type[Exception] | None:
    try:
        call()
    except errors.DomainError as exc:
        return type(exc)
    return None


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.name not in ("empty", "oversized")], ids=lambda c: c.name
)
def test_submit_refuses_exactly_what_the_worker_cannot_decode(case: CorpusCase) -> None:
    data = case.data()
    assert _outcome(lambda: validate(data)) is _outcome(lambda: decode(data))


@pytest.mark.parametrize(
    "raised",
    [
        struct.error("unpack requires a buffer of 4 bytes"),
        TypeError("'str' object cannot be interpreted as an integer"),
        IndexError("index out of range"),
        KeyError(3),
        ValueError("not enough image data"),
        OSError("image file is truncated"),
        SyntaxError("not a TIFF file"),
        ZeroDivisionError("division by zero"),
        EOFError(),
        RecursionError("maximum recursion depth exceeded"),
        NotImplementedError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_any_decoder_exception_is_an_unsupported_image(raised: Exception) -> None:
    mapped = decoding_failure(raised, "TIFF")
    assert type(mapped) is errors.UnsupportedImage
    assert mapped.detail.startswith("the TIFF data is corrupt or truncated (")
    assert "()" not in mapped.detail  # says something even when the decoder said nothing


@pytest.mark.parametrize(
    "raised",
    [Image.DecompressionBombError("too big"), MemoryError()],
    ids=lambda e: type(e).__name__,
)
def test_decoder_running_out_of_room_is_image_too_large(raised: Exception) -> None:
    assert type(decoding_failure(raised, "PNG")) is errors.ImageTooLarge


def test_text_where_a_tiff_number_belongs_is_415_not_500() -> None:
    # Pillow's load raised TypeError, which reached the client as a 500.
    with pytest.raises(errors.UnsupportedImage, match="the TIFF data is corrupt or truncated"):
        validate(corpus.tiff_strip_offsets_text())
    with pytest.raises(errors.UnsupportedImage):
        decode(corpus.tiff_strip_offsets_text())
    assert decode(corpus.tiff_by_hand()).shape == (corpus.HEIGHT, corpus.WIDTH, 3)


@pytest.mark.parametrize(
    "make", [corpus.jpeg_exif_text_resolution_unit, corpus.webp_exif_text_resolution_unit]
)
def test_orientation_is_applied_whatever_else_the_exif_holds(make: Callable[[], bytes]) -> None:
    # Pillow's exif_transpose rewrote the EXIF and raised struct.error on the text
    # ResolutionUnit: the worker retried the job for 13 minutes, then said "error".
    stored_w, stored_h = corpus.EXIF_STORED_SIZE
    image = decode(make())
    assert image.shape == (stored_w, stored_h, 3)
    assert image[0, :, 0].max() < 60  # the stored left column (red 0) is now the top row


def _png_with_chunk(kind: bytes, payload: bytes) -> bytes:
    data = corpus.png()
    return data[:33] + corpus._png_chunk(kind, payload) + data[33:]


ORIENTATION_6 = corpus.short(0x0112, 6)
XMP_ORIENTATION_6 = b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/>'


@pytest.mark.parametrize(
    ("data", "plain"),
    [
        pytest.param(_png_with_chunk(b"eXIf", corpus.exif_block([ORIENTATION_6])[6:]),
                     corpus.png(), id="png-exif"),
        pytest.param(_png_with_chunk(b"iTXt", b"XML:com.adobe.xmp\x00" + b"\x00" * 4
                                     + XMP_ORIENTATION_6), corpus.png(), id="png-xmp"),
        pytest.param(_png_with_chunk(b"tEXt", b"Raw profile type exif\x00\nexif\n   40\n"
                                     + corpus.exif_block([ORIENTATION_6]).hex().encode()),
                     corpus.png(), id="png-imagemagick-exif"),
        pytest.param(corpus.tiff_structure([*corpus.gray_tiff_entries(8), corpus.long(273, 8),
                                            ORIENTATION_6], corpus.gray_pixels()),
                     corpus.tiff_by_hand(), id="tiff-tag"),
    ],
)  # fmt: skip
def test_orientation_read_where_pillow_reads_it(data: bytes, plain: bytes) -> None:
    # Rotated 90 degrees clockwise, once (Pillow's TIFF reader rotates by itself).
    np.testing.assert_array_equal(decode(data), np.rot90(decode(plain), k=-1))
    assert validate(data).format == sniff_format(data)


# --- bounded work ----------------------------------------------------------------------


def _raised_inside_pillow(exc: BaseException) -> bool:
    return any("/PIL/" in frame.filename for frame in traceback.extract_tb(exc.__traceback__))


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.expected_status == 422], ids=lambda c: c.name
)
def test_costly_files_are_refused_before_any_decoder_runs(case: CorpusCase) -> None:
    for check in (validate, decode):
        with pytest.raises(errors.ImageTooLarge) as caught:
            check(case.data())
        assert not _raised_inside_pillow(caught.value)
        assert caught.value.__cause__ is None


def test_the_probe_scan_flood_is_refused_by_counting_scans() -> None:
    # The probe's file repeated one scan 35,000 times (41 s at submit); this one twice the limit.
    assert len(corpus.jpeg_scans(corpus.jpeg_scan_flood())) == corpus.PROBE_SCANS
    with pytest.raises(errors.ImageTooLarge, match="more than 100 JPEG scans"):
        validate(corpus.jpeg_scan_flood())
    limit = formats.jpeg_layout(corpus.jpeg_at_scan_limit())
    assert limit.jpeg_scans == limits.MAX_JPEG_SCANS
    assert validate(corpus.jpeg_at_scan_limit()).format == "JPEG"


def test_scan_work_is_bounded_for_the_worst_jpeg_accepted() -> None:
    """The budget holds for the worst file the limits allow: the accepted one is within one
    scan of it, the refused one the same plus one scan (work counted, not timed: the time it
    takes is measured by scripts/fuzz-decoding --worst-case)."""
    worst = formats.jpeg_layout(corpus.jpeg_at_scan_work_limit())
    one_scan = ((corpus.WORK_SIDE + 7) // 8) ** 2 * (limits.JPEG_BLOCK_OVERHEAD + 63)
    assert worst.jpeg_scan_work <= limits.MAX_JPEG_SCAN_WORK < worst.jpeg_scan_work + one_scan
    flood = corpus.jpeg_scan_work_flood()
    assert len(corpus.jpeg_scans(flood)) == worst.jpeg_scans + 1 < limits.MAX_JPEG_SCANS
    with pytest.raises(errors.ImageTooLarge, match="coefficient-times"):
        validate(flood)
    assert decode(corpus.jpeg_at_scan_work_limit()).shape == (corpus.WORK_SIDE,) * 2 + (3,)


def test_a_scan_weighs_its_blocks_and_spectral_band() -> None:
    # Pillow's progressive JPEG of a 64x64 gray image: 64 blocks; scans DC (1 coefficient),
    # AC 1-5, 6-63, 1-63, DC refinement, 1-63 refinement.
    plain = formats.jpeg_layout(jpeg_bytes(Image.new("L", (64, 64), 9), progressive=True))
    overhead = limits.JPEG_BLOCK_OVERHEAD
    bands = [1, 5, 58, 63, 1, 63]
    assert plain.jpeg_scans == len(bands)
    assert plain.jpeg_scan_work == 64 * sum(overhead + band for band in bands)
    baseline = formats.jpeg_layout(jpeg_bytes(Image.new("RGB", (64, 64)), subsampling=0))
    assert baseline.jpeg_scans == 1
    assert baseline.jpeg_scan_work == 3 * 64 * (overhead + 64)  # one interleaved scan


def jpeg_bytes(img: Image.Image, **params: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **params)
    return buf.getvalue()


def test_the_walk_stops_at_the_first_end_of_image() -> None:
    # Scans after EOI are never decoded: not counted either (a second image, MPO-style).
    tail = corpus.jpeg_scan_flood()
    assert formats.jpeg_layout(corpus.jpeg() + tail).jpeg_scans == 1


@dataclass
class PythonWork:
    pillow_lines: int = 0
    peak_bytes: int = 0


@contextmanager
def counting_python_work() -> Iterator[PythonWork]:
    """Lines of Pillow's Python run, and the peak of Python memory: work, counted."""
    work = PythonWork()

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        if "/PIL/" not in frame.f_code.co_filename:
            return None
        if event == "line":
            work.pillow_lines += 1
        return trace

    tracemalloc.start()
    sys.settrace(trace)
    try:
        yield work
    finally:
        sys.settrace(None)
        work.peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@pytest.mark.parametrize(
    "make",
    [corpus.png_exif_repeated_headers, corpus.jpeg_mpf_index_flood],
    ids=lambda make: make.__name__,
)
def test_metadata_that_pillow_would_expand_is_never_expanded(make: Callable[[], bytes]) -> None:
    # png_exif_repeated_headers: Pillow's EXIF reader strips 60,000 headers one copy at a time
    # (27 s for 300,000). jpeg_mpf_index_flood: Pillow's MPO reader expands its index into
    # 6 million numbers at open. Both are only metadata: accepted, without reading it.
    data = make()
    with counting_python_work() as work:
        decode(data)
        validate(data)
    assert work.pillow_lines < 20_000
    assert work.peak_bytes < 4 * len(data) + 8_000_000


def _ifd(count: int) -> bytes:
    entries = b"".join(struct.pack("<HHL4s", 0x9000 + i, 3, 1, b"\x01\x00\x00\x00")
                       for i in range(count))  # fmt: skip
    return b"II*\x00" + struct.pack("<LH", 8, count) + entries + b"\x00" * 4


def test_directory_entries_are_bounded() -> None:
    ok, too_many = limits.MAX_IFD_ENTRIES, limits.MAX_IFD_ENTRIES + 1
    assert tiff.exif_orientation(b"Exif\x00\x00" + _ifd(ok), check_cost=True) is None
    with pytest.raises(errors.ImageTooLarge, match="EXIF directory has 1001 entries"):
        tiff.exif_orientation(b"Exif\x00\x00" + _ifd(too_many), check_cost=True)
    # Only a block Pillow would parse is refused; otherwise it is just read no further.
    assert tiff.exif_orientation(b"Exif\x00\x00" + _ifd(too_many)) is None


def test_repeated_exif_headers_are_refused_where_pillow_parses_them() -> None:
    block = b"Exif\x00\x00" * 3 + corpus.exif_block([corpus.short(0x0112, 6)])[6:]
    with pytest.raises(errors.ImageTooLarge, match="repeats its header"):
        tiff.exif_orientation(block, check_cost=True)
    assert tiff.exif_orientation(block) is None
    assert tiff.exif_orientation(block[12:]) == 6  # one header, as written


def test_tiff_strips_are_bounded() -> None:
    strips = limits.MAX_TIFF_STRIPS + 1
    data = corpus.tiff_structure(
        [corpus.short(256, 1), corpus.long(257, strips), corpus.short(258, 8),
         corpus.short(262, 1), corpus.short(278, 1),
         corpus.long(273, *([8] * strips)), corpus.long(279, *([1] * strips))],
        b"\x00",
    )  # fmt: skip
    with pytest.raises(errors.ImageTooLarge, match="65537 TIFF strips"):
        validate(data)


def test_jpeg_segments_are_bounded() -> None:
    data = corpus.jpeg()
    comments = b"\xff\xfe\x00\x02" * limits.MAX_JPEG_SEGMENTS
    with pytest.raises(errors.ImageTooLarge, match="more than 1000 JPEG marker segments"):
        validate(data[:2] + comments + data[2:])
    validate(data[:2] + comments[: 4 * (limits.MAX_JPEG_SEGMENTS - 20)] + data[2:])


def test_rle_bmp_under_the_limit_is_decoded() -> None:
    width = 250
    row = b"\xfa\x01\x00\x00"  # a run of 250 pixels of index 1, end of line
    palette = b"\x00\x00\x00\x00\xff\xff\xff\x00" + b"\x00" * 4 * 254
    pixels = row * 4 + b"\x00\x01"
    offset = 14 + 40 + len(palette)
    header = struct.pack("<IiiHHIIiiII", 40, width, 4, 1, 8, 1, len(pixels), 0, 0, 256, 0)
    data = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + header
    image = decode(data + palette + pixels)
    assert image.shape == (4, width, 3) and (image == 255).all()


def test_refusals_name_what_was_wrong() -> None:
    for case in INVALID_CASES:
        if case.name in ("empty", "oversized"):
            continue
        with pytest.raises(IMAGE_ERRORS) as caught:
            validate(case.data())
        detail = caught.value.detail
        assert detail and detail[0].islower() and "<class" not in detail, (case.name, detail)


# --- decoding for the model (decode_for_model): JPEGs at a reduced DCT scale -------------


def pattern(width: int, height: int) -> np.ndarray:
    """Red grows left to right, green top to bottom, blue in 200-pixel squares."""
    x = np.arange(width)[np.newaxis, :]
    y = np.arange(height)[:, np.newaxis]
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = x * 255 // max(1, width - 1)
    rgb[..., 1] = y * 255 // max(1, height - 1)
    rgb[..., 2] = ((x // 200 + y // 200) % 2) * 255
    return rgb


def pattern_jpeg(width: int, height: int, orientation: int | None = None) -> bytes:
    params: dict[str, Any] = {"quality": 90}
    if orientation is not None:
        exif = Image.Exif()
        exif[corpus.EXIF_ORIENTATION_TAG] = orientation
        params["exif"] = exif.tobytes()
    return jpeg_bytes(Image.fromarray(pattern(width, height)), **params)


@pytest.fixture(scope="module")
def twelve_megapixels() -> bytes:
    return pattern_jpeg(4000, 3000)


def shrunk(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The full decode averaged down to the reduced one's size."""
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA).astype(int)


def test_a_12_megapixel_jpeg_is_decoded_at_a_quarter_for_the_model(
    twelve_megapixels: bytes,
) -> None:
    reduced = decode_for_model(twelve_megapixels, LIMITS.max_image_pixels, min_side=640)
    # 1/8 would give 500 x 375, short of 640: 1/4 is the smallest scale that keeps 640
    assert reduced.pixels.shape == (750, 1000, 3) and reduced.pixels.dtype == np.uint8
    assert reduced.pixels.flags.c_contiguous
    assert (reduced.scale_x, reduced.scale_y) == (4.0, 4.0)
    full = decode(twelve_megapixels)
    assert np.abs(shrunk(full, 750, 1000) - reduced.pixels).mean() < 3  # the same picture


def test_scales_are_the_original_size_over_the_decoded_size() -> None:
    # 1279 / 2 rounds up to 640, the minimum: 1/2 still qualifies, 640 x 480 decoded
    reduced = decode_for_model(pattern_jpeg(1279, 959), LIMITS.max_image_pixels, min_side=640)
    assert reduced.pixels.shape == (480, 640, 3)
    assert (reduced.scale_x, reduced.scale_y) == (1279 / 640, 959 / 480)
    # 1277 / 2 would be 639: decoded at full size, scale exactly 1
    full = decode_for_model(pattern_jpeg(1277, 957), LIMITS.max_image_pixels, min_side=640)
    assert full.pixels.shape == (957, 1277, 3) and (full.scale_x, full.scale_y) == (1.0, 1.0)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_scales_follow_the_exif_orientation(orientation: int) -> None:
    data = pattern_jpeg(1601, 1199, orientation)  # decoded at 1/4: 401 x 300 as stored
    reduced = decode_for_model(data, LIMITS.max_image_pixels, min_side=400)
    upright = decode(data)  # full size, upright
    height, width = reduced.pixels.shape[:2]
    assert (width, height) == ((300, 401) if orientation >= 5 else (401, 300))
    assert width * reduced.scale_x == pytest.approx(upright.shape[1])
    assert height * reduced.scale_y == pytest.approx(upright.shape[0])
    assert np.abs(shrunk(upright, height, width) - reduced.pixels).mean() < 4


def test_a_rotated_12_megapixel_photo_keeps_its_scales_upright() -> None:
    data = pattern_jpeg(4001, 2999, orientation=6)  # stored landscape, viewed portrait
    reduced = decode_for_model(data, LIMITS.max_image_pixels, min_side=640)
    assert reduced.pixels.shape == (1001, 750, 3)  # 1/4 of 2999 x 4001, rounded up
    assert (reduced.scale_x, reduced.scale_y) == (2999 / 750, 4001 / 1001)


def test_other_formats_are_decoded_at_full_size() -> None:
    png = io.BytesIO()
    Image.fromarray(pattern(2000, 1500)).save(png, "PNG")
    model_input = decode_for_model(png.getvalue(), LIMITS.max_image_pixels, min_side=640)
    assert (model_input.scale_x, model_input.scale_y) == (1.0, 1.0)
    np.testing.assert_array_equal(model_input.pixels, pattern(2000, 1500))


@given(
    width=st.integers(1, 260),
    height=st.integers(1, 260),
    min_side=st.integers(1, 100),
)
@settings(max_examples=60, deadline=None)
def test_the_smallest_scale_that_keeps_min_side(width: int, height: int, min_side: int) -> None:
    reduced = decode_for_model(pattern_jpeg(width, height), LIMITS.max_image_pixels, min_side)
    longer, decoded_longer = max(width, height), max(reduced.pixels.shape[:2])
    assert decoded_longer >= min(min_side, longer)
    assert reduced.pixels.shape[1] * reduced.scale_x == pytest.approx(width)
    assert reduced.pixels.shape[0] * reduced.scale_y == pytest.approx(height)
    smallest = next(s for s in (8, 4, 2, 1) if -(-longer // s) >= min_side or s == 1)
    if min(width, height) >= smallest:  # libjpeg reduces no side below one pixel
        assert decoded_longer == -(-longer // smallest)


@pytest.mark.parametrize("case", VALID_CASES, ids=lambda c: c.name)
def test_every_valid_upload_decodes_for_the_model(case: CorpusCase) -> None:
    upright = decode(case.data())
    model_input = decode_for_model(case.data(), LIMITS.max_image_pixels, min_side=8)
    height, width = model_input.pixels.shape[:2]
    assert width * model_input.scale_x == pytest.approx(upright.shape[1])
    assert height * model_input.scale_y == pytest.approx(upright.shape[0])
    if case.image_format != "JPEG":  # only JPEGs are decoded reduced
        np.testing.assert_array_equal(model_input.pixels, upright)


@pytest.mark.parametrize(
    "case",
    [c for c in INVALID_CASES if c.name not in ("empty", "oversized")],
    ids=lambda c: c.name,
)
def test_decode_for_model_refuses_what_decode_rgb_refuses(case: CorpusCase) -> None:
    with pytest.raises(IMAGE_ERRORS) as caught:
        decode(case.data())
    with pytest.raises(type(caught.value)):
        decode_for_model(case.data(), LIMITS.max_image_pixels, min_side=8)


def test_detections_on_a_reduced_image_are_scaled_to_the_original() -> None:
    found = [Detection("dog", 0.9, Box(10.0, 20.0, 100.5, 200.2))]
    assert scaled(found, 4.0, 2999 / 750) == [Detection("dog", 0.9, Box(40.0, 80.0, 402.0, 800.5))]
    assert scaled(found, 1.0, 1.0) == found
