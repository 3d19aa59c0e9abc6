"""Real photographs: ../shared/images (dog.jpg has a dog, horses.jpg none) and the two
no-dog photos shipped inside the ultralytics wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SHARED_IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "images"


def _ultralytics_assets() -> Path:
    spec = importlib.util.find_spec("ultralytics")  # locates the wheel without importing torch
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "assets"


def photo(name: str) -> bytes:
    """The shared folder first: the wheel is looked for only for the photos it alone has (the
    unit tests on Python 3.13 have no ultralytics)."""
    if (SHARED_IMAGES / name).exists():
        return (SHARED_IMAGES / name).read_bytes()
    if (_ultralytics_assets() / name).exists():
        return (_ultralytics_assets() / name).read_bytes()
    raise FileNotFoundError(f"{name} is in neither {SHARED_IMAGES} nor the ultralytics wheel")


# photo -> whether it has a dog
LABELLED_PHOTOS = {"dog.jpg": True, "horses.jpg": False, "bus.jpg": False, "zidane.jpg": False}
