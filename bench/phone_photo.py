"""A phone-sized photo (12 megapixels, 4032x3024, JPEG quality 90) made from the shared dog
photo at bench time, in the run's work folder: never committed."""

from __future__ import annotations

from pathlib import Path

from bench.common import SHARED

SIZE = (4032, 3024)  # a 12 MP phone camera's 4:3 frame
QUALITY = 90
SOURCE = SHARED / "images" / "dog.jpg"  # 4:3 as well: scaled, not stretched


def make(folder: Path) -> Path:
    from PIL import Image

    out = folder / "phone-12mp.jpg"
    with Image.open(SOURCE) as photo:
        photo.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS).save(
            out, "JPEG", quality=QUALITY
        )
    return out


def describe(path: Path) -> dict[str, object]:
    from PIL import Image

    with Image.open(path) as photo:
        width, height = photo.size
    return {"width": width, "height": height, "bytes": path.stat().st_size, "quality": QUALITY}
