"""The annotated photo: the stored image decoded as the worker decodes it (upright, RGB, same
limits), at most MAX_SIDE pixels a side, with a box and a label drawn for each detection,
encoded as a JPEG small enough for a Lambda response.

Pillow only (the status function has no numpy), with Pillow's own font: nothing is read from
the system or downloaded. Colours are the page's (layers/core/dogdetect/api/assets/page.js): dogs
magenta, everything else cyan."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from dogdetect.domain.limits import MAX_BINARY_BODY_BYTES
from dogdetect.domain.models import DOG_LABEL, Detection
from dogdetect.image.decode import decode_upright

# A 40-megapixel photo is drawn on a copy whose longer side is 2048 pixels: enough to read
# the boxes, and its decoded pixels (12 MB) and JPEG stay small whatever the photo.
MAX_SIDE = 2048
# A response crosses API Gateway and Lambda as an upload does (base64, 6 MB at most): the
# largest binary body that fits is the upload limit (dogdetect.domain.limits).
MAX_JPEG_BYTES = MAX_BINARY_BODY_BYTES
# Tried in order until the JPEG fits: 4:4:4 first (thin coloured lines keep their colour),
# then 4:2:0 and lower qualities; past the last, the image is halved and tried again.
JPEG_SETTINGS = ((85, 0), (85, 2), (70, 2), (50, 2))

BOX_COLOURS = {True: (255, 0, 170), False: (0, 200, 255)}  # is a dog -> #ff00aa / #00c8ff
TEXT_COLOURS = {True: (255, 255, 255), False: (0, 0, 0)}


def annotate(
    data: bytes,
    detections: Sequence[Detection],
    max_pixels: int,
    max_side: int = MAX_SIDE,
    max_bytes: int = MAX_JPEG_BYTES,
) -> bytes:
    """The photo with its detections drawn, as JPEG bytes (at most `max_bytes`). Boxes are in
    the upright original's pixels, as the API gives them."""
    upright = decode_upright(data, max_pixels, max_side)
    original_width = upright.image.width * upright.scale_x
    original_height = upright.image.height * upright.scale_y
    image = _fit(upright.image, max_side)
    del upright  # the full-size decode is no longer needed: its memory can go now
    # Nothing of the upload's metadata goes into the drawing: Pillow would write the upload's
    # comment (a JPEG's COM holds 65,533 bytes at most: a longer one failed every call) and
    # XMP from `info` when saving.
    image.info.clear()
    draw_detections(image, detections, image.width / original_width, image.height / original_height)
    return jpeg_within(image, max_bytes)


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    longer = max(image.size)
    if longer <= max_side:
        return image
    size = (
        max(1, round(image.width * max_side / longer)),
        max(1, round(image.height * max_side / longer)),
    )
    # reducing_gap: an integer box reduction first, then Lanczos on what is left (fast).
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def line_width(image: Image.Image) -> int:
    return max(3, round(max(image.size) / 300))


def draw_detections(
    image: Image.Image, detections: Sequence[Detection], scale_x: float, scale_y: float
) -> None:
    """Boxes first, then labels (no box crosses a label); dogs last, so on top."""
    width = line_width(image)
    font = ImageFont.load_default(size=max(14, width * 5))  # as the page's labels
    draw = ImageDraw.Draw(image)
    ordered = sorted(detections, key=lambda d: (d.label == DOG_LABEL, d.confidence))
    boxes = [_scaled_box(d, scale_x, scale_y, image.size) for d in ordered]
    for detection, box in zip(ordered, boxes, strict=True):
        draw.rectangle(box, outline=BOX_COLOURS[detection.label == DOG_LABEL], width=width)
    for detection, box in zip(ordered, boxes, strict=True):
        _label(draw, detection, box, font, width)


def _scaled_box(
    detection: Detection, scale_x: float, scale_y: float, size: tuple[int, int]
) -> tuple[int, int, int, int]:
    b = detection.box
    x1 = min(max(round(b.x1 * scale_x), 0), size[0] - 1)
    y1 = min(max(round(b.y1 * scale_y), 0), size[1] - 1)
    x2 = min(max(round(b.x2 * scale_x), x1), size[0] - 1)
    y2 = min(max(round(b.y2 * scale_y), y1), size[1] - 1)
    return x1, y1, x2, y2


def _label(
    draw: ImageDraw.ImageDraw,
    detection: Detection,
    box: tuple[int, int, int, int],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    padding: int,
) -> None:
    text = f"{detection.label} {round(detection.confidence * 100)}%"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    width, height = right - left + 2 * padding, bottom - top + 2 * padding
    x = box[0]
    y = box[1] - height if box[1] >= height else box[1]  # above the box, else inside it
    is_dog = detection.label == DOG_LABEL
    draw.rectangle((x, y, x + width - 1, y + height - 1), fill=BOX_COLOURS[is_dog])
    draw.text((x + padding - left, y + padding - top), text, fill=TEXT_COLOURS[is_dog], font=font)


def jpeg_within(image: Image.Image, max_bytes: int) -> bytes:
    """The first of JPEG_SETTINGS whose file fits `max_bytes`; halved until one does."""
    while True:
        for quality, subsampling in JPEG_SETTINGS:
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=quality, subsampling=subsampling)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue()
        if max(image.size) <= 1:
            raise ValueError(f"no JPEG of this image fits in {max_bytes} bytes")
        image = image.resize((max(1, image.width // 2), max(1, image.height // 2)))
