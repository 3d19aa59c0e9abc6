"""Checks of an annotated JPEG (GET /image_prediction/{id}/annotated, `dogdetect.image.draw`):
are the boxes there, in their colour, where the detections say?"""

from __future__ import annotations

import io
from collections.abc import Iterator

from PIL import Image

DOG = (255, 0, 170)  # dogdetect.image.draw.BOX_COLOURS, the page's #ff00aa
OTHER = (0, 200, 255)  # #00c8ff
# JPEG keeps a line's centre close to its colour (4:4:4 at quality 85); photo pixels seldom
# come this close to pure magenta or cyan.
TOLERANCE = 48


def open_jpeg(data: bytes) -> Image.Image:
    assert data[:3] == b"\xff\xd8\xff", data[:16]
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image.convert("RGB")


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = TOLERANCE) -> bool:
    return all(abs(p - c) <= tolerance for p, c in zip(pixel, colour, strict=False))


def _edge_points(box: tuple[float, float, float, float], step: int) -> Iterator[tuple[int, int]]:
    x1, y1, x2, y2 = (round(v) for v in box)
    for x in range(x1, x2 + 1, step):
        yield x, y1
        yield x, y2
    for y in range(y1, y2 + 1, step):
        yield x1, y
        yield x2, y


def edge_fraction(
    image: Image.Image,
    box: tuple[float, float, float, float],
    colour: tuple[int, int, int],
    reach: int = 4,
    step: int = 3,
) -> float:
    """The share of points sampled along the box's edges (in `image`'s pixels) that have
    `colour` within `reach` pixels: the stroke is drawn inward from the edge."""
    pixels = image.load()
    assert pixels is not None
    width, height = image.size
    points = list(_edge_points(box, step))
    found = 0
    for x, y in points:
        around = [
            pixels[min(max(x + dx, 0), width - 1), min(max(y + dy, 0), height - 1)]
            for dx in range(-reach, reach + 1)
            for dy in range(-reach, reach + 1)
        ]
        found += any(near(p, colour) for p in around)
    return found / len(points)


def colour_share(image: Image.Image, colour: tuple[int, int, int]) -> float:
    """The share of the image's pixels that have `colour` (a box is a thin line: little)."""
    small = image.resize((max(1, image.width // 4), max(1, image.height // 4)), Image.NEAREST)
    pixels = small.load()
    assert pixels is not None
    points = [(x, y) for x in range(small.width) for y in range(small.height)]
    return sum(near(pixels[point], colour) for point in points) / len(points)
