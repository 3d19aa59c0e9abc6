"""The annotated JPEG carries nothing of the upload's metadata. A PNG with a 70 KB text
comment, and a GIF with a 65,536-byte comment (the most its decoding limits take), were
accepted and DONE, then `/annotated` answered 500 on every call: Pillow copied the comment into
the JPEG, whose comment segment holds 65,533 bytes at most."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import pytest
from PIL import Image, PngImagePlugin

from tests.conftest import submit, wait_terminal
from tests.photos import photo

LONG_COMMENT = b"metadata " * 7_778  # 70,002 bytes


def png_with_a_long_comment() -> bytes:
    text = PngImagePlugin.PngInfo()
    text.add_text("comment", LONG_COMMENT.decode())
    out = io.BytesIO()
    Image.open(io.BytesIO(photo("dog.jpg"))).save(out, "PNG", pnginfo=text)
    return out.getvalue()


def gif_with_a_long_comment() -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(photo("dog.jpg"))).convert("P").save(
        out, "GIF", comment=LONG_COMMENT[:65_536]
    )
    return out.getvalue()


def jpeg_markers(data: bytes) -> list[int]:
    """The markers of a JPEG's segments before its image data (SOS)."""
    markers, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: the image data follows
            break
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return markers


@pytest.mark.parametrize(
    "make", [png_with_a_long_comment, gif_with_a_long_comment], ids=["png", "gif"]
)
def test_the_annotated_photo_carries_no_metadata_of_the_upload(
    api: httpx.Client, make: Callable[[], bytes]
) -> None:
    data = make()
    accepted = submit(api, data, "commented")
    assert accepted.status_code == 202, accepted.text
    prediction_id = accepted.json()["image_prediction_id"]
    assert wait_terminal(api, prediction_id, timeout=120)["status"] == "DONE"

    response = api.get(f"/image_prediction/{prediction_id}/annotated")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    markers = jpeg_markers(response.content)
    assert 0xFE not in markers and 0xE1 not in markers and 0xE2 not in markers, markers
    assert b"metadata metadata" not in response.content
