"""Upload validation and decoding against the hostile-input corpus."""

from __future__ import annotations

import numpy as np
import pytest
from dogdetect import errors
from dogdetect.errors import (
    EmptyUpload,
    ImageTooLarge,
    UnsupportedImage,
    UploadTooLarge,
)
from dogdetect.http import ERROR_STATUS
from dogdetect.imaging import ImageInfo, decode_rgb, sniff_format, validate_upload
from dogdetect.settings import Settings

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
