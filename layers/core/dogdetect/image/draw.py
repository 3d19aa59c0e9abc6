"""The annotated photo: the stored image decoded as the worker decodes it (upright, RGB, same
limits), at most MAX_SIDE pixels a side, with a box and a label drawn for each detection,
encoded as a JPEG small enough for a Lambda response.

Pillow only (the status function has no numpy), with Pillow's own font: nothing is read from
the system or downloaded. Colours are the page's (layers/core/dogdetect/api/assets/page.js): dogs
magenta, everything else cyan.

Labels are placed by one rule, the page's too (`placeLabels` in page.js): `place_labels`."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

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
    """Boxes first, then labels (no box crosses a label), placed so that none hides another
    (`label_layout`); dogs last, so on top."""
    width = line_width(image)
    draw = ImageDraw.Draw(image)
    ordered = sorted(detections, key=lambda d: (d.label == DOG_LABEL, d.confidence))
    for detection in ordered:
        box = _scaled_box(detection, scale_x, scale_y, image.size)
        draw.rectangle(box, outline=BOX_COLOURS[detection.label == DOG_LABEL], width=width)
    font = label_font(image)
    for detection, rectangle in reversed(label_layout(image, detections, scale_x, scale_y)):
        if rectangle is not None:
            _label(draw, detection, rectangle, font, width)


def label_font(image: Image.Image) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(14, line_width(image) * 5))  # as the page's labels


def label_layout(
    image: Image.Image, detections: Sequence[Detection], scale_x: float, scale_y: float
) -> list[tuple[Detection, Rectangle | None]]:
    """Each detection with its label's rectangle in `image` (None: no free place), the most
    important first (dogs, then by confidence), which get the best places."""
    padding = line_width(image)
    font = label_font(image)
    draw = ImageDraw.Draw(image)
    first = sorted(detections, key=lambda d: (d.label == DOG_LABEL, d.confidence), reverse=True)
    sizes = []
    for detection in first:
        left, top, right, bottom = draw.textbbox((0, 0), label_text(detection), font=font)
        sizes.append((right - left + 2 * padding, bottom - top + 2 * padding))
    boxes = [_scaled_box(d, scale_x, scale_y, image.size) for d in first]
    return list(zip(first, place_labels(boxes, sizes, image.size), strict=True))


def label_text(detection: Detection) -> str:
    """ "dog 92%": the label and the confidence in whole percent (the page's too)."""
    return f"{detection.label} {round(detection.confidence * 100)}%"


# Where a label may go, tried in order along each edge of its box: this many places from one
# end of the edge to the other (the page's LABEL_STEPS).
LABEL_STEPS = 8

Rectangle = tuple[float, float, float, float]  # left, top, right, bottom (right, bottom out)


def label_candidates(
    box: Sequence[float], size: tuple[float, float], image_size: tuple[float, float]
) -> Iterator[Rectangle]:
    """The places a label of `size` may take for `box`, best first, each inside the image:
    along the top edge (above it, then just inside it), along the bottom edge (below, then
    inside), then down the left and right edges (outside, then inside), each edge from its
    start (left, top) to its end in LABEL_STEPS places."""
    x1, y1, x2, y2 = box
    width, height = size
    across = _steps(x1, x2 - width)
    down = _steps(y1, y2 - height)
    rows = ((x, y) for y in (y1 - height, y1, y2, y2 - height) for x in across)
    columns = ((x, y) for x in (x1 - width, x1, x2, x2 - width) for y in down)
    for x, y in (*rows, *columns):
        left = max(0.0, min(x, image_size[0] - width))
        top = max(0.0, min(y, image_size[1] - height))
        yield left, top, left + width, top + height


def _steps(start: float, last: float) -> list[float]:
    if last <= start:
        return [start]
    return [start + (last - start) * i / (LABEL_STEPS - 1) for i in range(LABEL_STEPS)]


def overlaps(a: Rectangle, b: Rectangle) -> bool:
    """Whether two rectangles share any area (touching edges do not)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(
    boxes: Sequence[Sequence[float]],
    sizes: Sequence[tuple[float, float]],
    image_size: tuple[float, float],
) -> list[Rectangle | None]:
    """Each label's rectangle, in the order given (the most important first): the first of
    its `label_candidates` that overlaps no label placed before it; None when every one does
    (its box is drawn without a label: no label ever hides another). At most
    8 x LABEL_STEPS candidates a label, each checked against the labels placed so far."""
    placed: list[Rectangle] = []
    result: list[Rectangle | None] = []
    for box, size in zip(boxes, sizes, strict=True):
        chosen = next(
            (
                candidate
                for candidate in label_candidates(box, size, image_size)
                if not any(overlaps(candidate, other) for other in placed)
            ),
            None,
        )
        if chosen is not None:
            placed.append(chosen)
        result.append(chosen)
    return result


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
    rectangle: Rectangle,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    padding: int,
) -> None:
    text = label_text(detection)
    left, top, _, _ = draw.textbbox((0, 0), text, font=font)
    # Rounded edge by edge: labels that touch still touch, and none overlaps another.
    x, y, right, bottom = (round(v) for v in rectangle)
    is_dog = detection.label == DOG_LABEL
    draw.rectangle((x, y, right - 1, bottom - 1), fill=BOX_COLOURS[is_dog])
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
