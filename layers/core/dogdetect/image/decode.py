"""Upload validation and decoding: one policy for submit and the worker.

Formats are sniffed from the bytes, never from a filename or Content-Type. Then, for both
`validate_upload` (submit) and `decode_rgb` (the worker), the same steps: the container is
walked for what it would cost to decode (`dogdetect.image.formats`, against the limits of
`dogdetect.image.limits`), the header is parsed by that format's Pillow plugin only, the
pixel count is capped, the first frame is decoded, the EXIF orientation is applied and the
pixels are converted to RGB. Whatever Pillow raises on the way
is the upload's fault: `UnsupportedImage` (415), or `ImageTooLarge` (422) for a cost limit.
So a file the worker would fail on is refused at submit. The one difference is the scale a
JPEG is decoded at (DCT scaling still entropy-decodes every scan, at a fraction of the cost):
1/8 at submit, and for the model (`decode_for_model`) the smallest scale that still gives it
all the pixels it will look at.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from dogdetect.domain.errors import (
    DomainError,
    EmptyUpload,
    ImageTooLarge,
    UnsupportedImage,
    UploadTooLarge,
)
from dogdetect.image import formats, tiff
from dogdetect.image.formats import ACCEPTED_FORMATS, sniff_format
from dogdetect.image.limits import check_pixels

if TYPE_CHECKING:  # numpy is for the worker's decode; submit only validates (cold start)
    import numpy as np

# Every failure of `validate_upload`'s decode and of `decode_rgb` is one of these: the file's
# fault, the same on every try (a 415 or 422 at submit, ERROR at once in the worker).
IMAGE_ERRORS: tuple[type[DomainError], ...] = (UnsupportedImage, ImageTooLarge)

# Each format's own plugin, called directly: `Image.open` would also try other readers (a
# JPEG with an MPF block becomes a multi-picture file, whose index Pillow parses unbounded).
_PLUGINS: dict[str, type[ImageFile.ImageFile]] = {
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
    "GIF": GifImagePlugin.GifImageFile,
}

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_ALPHA = ("RGBA", "LA", "PA", "RGBa", "La")


# Pillow's DCT scales (libjpeg decodes at 1/1, 1/2, 1/4 or 1/8), most reduced first.
_DCT_SCALES = (8, 4, 2)
_TRANSPOSED = (5, 6, 7, 8)  # orientations whose upright image swaps width and height


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


@dataclass(frozen=True)
class ModelInput:
    """Upright RGB uint8 pixels for the model, and how many original pixels (of the upright
    image) each decoded pixel spans: scale boxes by these to give them in the original's."""

    pixels: np.ndarray
    scale_x: float
    scale_y: float


@dataclass(frozen=True)
class _Decoded:
    info: ImageInfo  # the stored image's format and full size
    image: Image.Image  # upright RGB, possibly DCT-reduced
    scale_x: float
    scale_y: float


# A JPEG's stored size -> the size to ask Pillow's `draft` for, or None for full size.
_DraftRequest = Callable[[int, int], "tuple[int, int] | None"]


def validate_upload(data: bytes, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Check an upload fully (size, cost, a decode as the worker will do it), keep no pixels."""
    if not data:
        raise EmptyUpload("the upload is empty")
    if len(data) > max_bytes:
        raise UploadTooLarge(f"the upload is larger than the limit of {max_bytes} bytes")
    return _decode(data, max_pixels, _eighth).info


def decode_rgb(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode to an upright RGB uint8 array (EXIF orientation applied, first frame only)."""
    return _pixels(_decode(data, max_pixels, _full_size).image)


def decode_for_model(data: bytes, max_pixels: int, min_side: int) -> ModelInput:
    """`decode_rgb` for a model that resizes the longer side to `min_side`: a JPEG is decoded
    at the smallest DCT scale whose longer side still has `min_side` pixels or more (a 12 MP
    photo at 1/4: a sixteenth of the pixels to decode, convert and resize)."""
    decoded = _decode(data, max_pixels, lambda w, h: _draft_request(w, h, min_side))
    return ModelInput(_pixels(decoded.image), decoded.scale_x, decoded.scale_y)


@dataclass(frozen=True)
class UprightImage:
    """`ModelInput` as a Pillow image: for drawing, where numpy is not at hand (status)."""

    image: Image.Image
    scale_x: float
    scale_y: float


def decode_upright(data: bytes, max_pixels: int, min_side: int) -> UprightImage:
    """`decode_for_model`'s decode (same policy, same DCT scale choice) as a Pillow image."""
    decoded = _decode(data, max_pixels, lambda w, h: _draft_request(w, h, min_side))
    return UprightImage(decoded.image, decoded.scale_x, decoded.scale_y)


def _pixels(rgb: Image.Image) -> np.ndarray:
    import numpy as np

    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _eighth(width: int, height: int) -> tuple[int, int]:
    return max(1, width // 8), max(1, height // 8)


def _full_size(width: int, height: int) -> None:
    return None


def _draft_request(width: int, height: int, min_side: int) -> tuple[int, int] | None:
    """A size that makes `draft` pick the most reduced scale whose longer side (rounded up,
    as libjpeg does) is still >= min_side: draft picks the largest scale s with
    width // requested_width >= s and height // requested_height >= s."""
    longer = max(width, height)
    for scale in _DCT_SCALES:
        if -(-longer // scale) >= min_side:
            return max(1, width // scale), max(1, height // scale)
    return None


def _decode(data: bytes, max_pixels: int, draft: _DraftRequest) -> _Decoded:
    sniffed = sniff_format(data)
    if sniffed is None:
        raise UnsupportedImage(f"not a supported image; accepted: {', '.join(ACCEPTED_FORMATS)}")
    try:
        with warnings.catch_warnings():
            # Pillow warns about what it skips (corrupt EXIF, its own bomb threshold, which
            # our pixel cap undercuts); the outcome is what counts.
            warnings.simplefilter("ignore")
            return _decode_checked(data, sniffed, max_pixels, draft)
    except DomainError:
        raise
    except Exception as exc:  # any decoder failure is the file's
        raise decoding_failure(exc, sniffed) from exc


def decoding_failure(exc: Exception, image_format: str) -> DomainError:
    """The domain error for whatever a decoder raised on an upload's bytes: Pillow raises
    struct.error, TypeError, IndexError, KeyError, ValueError, OSError, SyntaxError,
    ZeroDivisionError, EOFError... on bad data, and no list of them is ever complete."""
    if isinstance(exc, (Image.DecompressionBombError, MemoryError)):
        return ImageTooLarge(f"the {image_format} image is too large to decode")
    return UnsupportedImage(f"the {image_format} data is corrupt or truncated ({_reason(exc)})")


def _decode_checked(data: bytes, sniffed: str, max_pixels: int, draft: _DraftRequest) -> _Decoded:
    layout = formats.inspect(data, sniffed, max_pixels)
    img = _PLUGINS[sniffed](io.BytesIO(data))  # parses the header only
    width, height = img.size
    if width <= 0 or height <= 0:
        raise UnsupportedImage("the image has no pixels")
    check_pixels(width, height, max_pixels)
    requested = draft(width, height) if sniffed == "JPEG" else None
    if requested is not None:
        # DCT scaling decodes every block at a reduced size: cheaper, and still reads all
        # the data (a corrupt scan fails here as at full size).
        img.draft("RGB", requested)
    img.load()  # the first frame only: nothing here reads or counts the others
    scale_x = scale_y = 1.0
    if requested is not None:  # in the stored frame: the transpose below swaps the axes
        scale_x, scale_y = width / img.size[0], height / img.size[1]
    # Pillow's TIFF reader applies the TIFF's orientation itself, as it loads.
    orientation = 1 if sniffed == "TIFF" else _orientation(img, layout)
    upright = img.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else img
    if orientation in _TRANSPOSED:
        scale_x, scale_y = scale_y, scale_x
    return _Decoded(ImageInfo(sniffed, width, height), _to_rgb(upright), scale_x, scale_y)


def _orientation(img: Image.Image, layout: formats.Layout) -> int:
    """The orientation stated in EXIF, else in XMP (as Pillow's `exif_transpose` reads them),
    read by our own bounded parser: Pillow's EXIF reader has no cost limits, and rewriting
    the EXIF as `exif_transpose` does fails on odd tags (a ResolutionUnit stored as text)."""
    if layout.orientation is not None:
        return layout.orientation
    exif = img.info.get("exif")
    raw_profile = img.info.get("Raw profile type exif")  # ImageMagick's PNG text chunk
    if exif is None and isinstance(raw_profile, str):
        try:
            exif = bytes.fromhex("".join(raw_profile.split("\n")[3:]))
        except ValueError:
            exif = None
    if isinstance(exif, bytes):
        orientation = tiff.exif_orientation(exif)
        if orientation is not None:
            return orientation
    for key in ("xmp", "XML:com.adobe.xmp"):
        xmp = img.info.get(key)
        if isinstance(xmp, (bytes, str)):
            return xmp_orientation(xmp)
    return 1


_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(?:="|>)([1-8])')


def xmp_orientation(xmp: bytes | str) -> int:
    """The orientation an XMP packet states (Pillow honours it when EXIF has none)."""
    raw = xmp.encode("utf-8", "replace") if isinstance(xmp, str) else xmp
    found = _XMP_ORIENTATION.search(raw)
    return int(found.group(1)) if found else 1


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in _SIXTEEN_BIT:
        # Scale to 8 bits rather than clip (a plain convert turns 16-bit samples white).
        wide = img if img.mode == "I" else img.convert("I")
        return wide.point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    if img.mode in _ALPHA or (img.mode == "P" and "transparency" in img.info):
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return img if img.mode == "RGB" else img.convert("RGB")


def _reason(exc: Exception) -> str:
    """What the decoder said, short enough for a client; its class when it said nothing."""
    text = "".join(c if c.isprintable() else "?" for c in " ".join(str(exc).split()))
    return text[:160] if text else type(exc).__name__
