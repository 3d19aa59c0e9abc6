"""Upload validation and decoding. Formats are sniffed from the bytes, never from a filename
or Content-Type; Pillow then parses the header and the pixel count is capped before decoding."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:  # numpy is for the worker's decode; submit only validates (cold start)
    import numpy as np

from dogdetect.errors import EmptyUpload, ImageTooLarge, UnsupportedImage, UploadTooLarge

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


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


def validate_upload(data: bytes, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Check an upload fully (header, size, pixel count, a decode) without keeping pixels."""
    if not data:
        raise EmptyUpload("the upload is empty")
    if len(data) > max_bytes:
        raise UploadTooLarge(f"the upload is larger than the limit of {max_bytes} bytes")
    sniffed = sniff_format(data)
    if sniffed is None:
        raise UnsupportedImage(f"not a supported image; accepted: {', '.join(ACCEPTED_FORMATS)}")
    with _open(data, sniffed, max_pixels) as img:
        info = ImageInfo(sniffed, img.width, img.height)
        _decode_check(img)
    return info


def decode_rgb(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode to an upright RGB uint8 array (EXIF orientation applied, first frame only)."""
    sniffed = sniff_format(data)
    if sniffed is None:
        raise UnsupportedImage("not a supported image")
    with _open(data, sniffed, max_pixels) as img:
        img.seek(0)
        try:  # exif_transpose loads the pixels: truncated data surfaces here
            upright = ImageOps.exif_transpose(img) or img
        except (OSError, SyntaxError, ValueError) as exc:
            raise UnsupportedImage(f"the {sniffed} data is truncated or corrupt") from exc
        return _to_rgb_array(upright)


def _open(data: bytes, sniffed: str, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own pixel cap below is stricter than Pillow's warning threshold.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[sniffed])
    except Image.DecompressionBombError as exc:
        # Pillow refuses more than 2 * MAX_IMAGE_PIXELS at open: a bomb, not a bad format.
        raise ImageTooLarge(f"the image claims too many pixels; the limit is {max_pixels}") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnsupportedImage(f"the {sniffed} header could not be parsed") from exc
    if img.width <= 0 or img.height <= 0:
        img.close()
        raise UnsupportedImage("the image has no pixels")
    if img.width * img.height > max_pixels:
        img.close()
        raise ImageTooLarge(
            f"the image is {img.width}x{img.height} pixels; the limit is {max_pixels} pixels"
        )
    return img


def _decode_check(img: Image.Image) -> None:
    """Decode once so that truncated or corrupt data is refused at the door."""
    if img.format == "JPEG":
        # DCT scaling decodes every block at 1/8 size: cheap, and still reads all the data.
        img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UnsupportedImage(f"the {img.format} data is truncated or corrupt") from exc


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    import numpy as np

    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedImage(f"the {img.format} data is truncated or corrupt") from exc
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit samples: scale to 8 bits rather than clip (a plain convert turns them white).
        wide = np.asarray(img, dtype=np.uint32)
        gray = (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
        return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
