"""The `webhook` form field of POST /image_prediction: stored with the prediction when it is an
https URL of a public host (http to loopback only where the local stack allows it); anything
else is a 422 with a JSON detail and nothing stored. GET never shows it."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

import pytest
from dogdetect.domain.models import Status

from tests import corpus
from tests.unit.conftest import Wired, submit_deps_for

HOOK = "https://hooks.example.com/dogs?token=t"


def post(api: Wired, **data: object) -> object:
    return api.client.post(
        "/image_prediction", files={"image": ("dog.png", corpus.png())}, data=data
    )


def nothing_stored(api: Wired) -> bool:
    return not api.repository.rows and not api.storage.objects and not api.queue.sent


def test_a_webhook_is_stored_with_the_prediction(submit_api: Wired) -> None:
    response = post(submit_api, webhook=HOOK)
    assert response.status_code == 202  # type: ignore[attr-defined]
    (row,) = submit_api.repository.rows.values()
    assert row.prediction.webhook_url == HOOK


def test_without_a_webhook_nothing_is_announced_later(submit_api: Wired) -> None:
    assert post(submit_api).status_code == 202  # type: ignore[attr-defined]
    (row,) = submit_api.repository.rows.values()
    assert row.prediction.webhook_url is None


def test_an_empty_webhook_is_refused_and_nothing_stored(submit_api: Wired) -> None:
    """`webhook=` says something was meant: silence would drop it without a word."""
    response = post(submit_api, webhook="")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "'webhook' is empty" in response.json()["detail"]  # type: ignore[attr-defined]
    assert nothing_stored(submit_api)


@pytest.mark.parametrize(
    ("webhook", "named"),
    [
        ("http://hooks.example.com/x", "https://"),
        ("ftp://hooks.example.com/x", "https://"),
        ("https://user:pw@hooks.example.com/", "user name"),
        ("https://hooks.example.com/#f", "fragment"),
        ("https://127.0.0.1/", "loopback"),
        ("https://localhost/", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://10.0.0.1/", "private"),
        ("https://hooks.example.com/" + "x" * 2000, "2,000"),
    ],
)
def test_a_bad_webhook_is_422_and_nothing_is_stored(
    submit_api: Wired, webhook: str, named: str
) -> None:
    response = post(submit_api, webhook=webhook)
    assert response.status_code == 422  # type: ignore[attr-defined]
    detail = response.json()["detail"]  # type: ignore[attr-defined]
    assert isinstance(detail, str) and named in detail
    assert nothing_stored(submit_api)


def test_two_webhooks_are_422(submit_api: Wired) -> None:
    response = submit_api.client.post(
        "/image_prediction",
        files=[
            ("image", ("dog.png", corpus.png())),
            ("webhook", (None, HOOK)),
            ("webhook", (None, "https://hooks.example.org/")),
        ],
    )
    assert response.status_code == 422 and "at most one" in response.json()["detail"]
    assert nothing_stored(submit_api)


def test_a_webhook_sent_as_a_file_is_422(submit_api: Wired) -> None:
    response = submit_api.client.post(
        "/image_prediction",
        files=[("image", ("dog.png", corpus.png())), ("webhook", ("hook.txt", HOOK.encode()))],
    )
    assert response.status_code == 422
    assert nothing_stored(submit_api)


def test_the_local_stack_takes_http_to_loopback(
    submit_module: ModuleType, submit_api: Wired
) -> None:
    local = replace(submit_deps_for(submit_api.adapters), allow_http_webhooks=True)
    submit_module.app.dependency_overrides[submit_module.submit_deps] = lambda: local
    assert post(submit_api, webhook="http://127.0.0.1:8765/hook").status_code == 202  # type: ignore[attr-defined]
    assert post(submit_api, webhook="http://hooks.example.com/").status_code == 422  # type: ignore[attr-defined]


def test_a_repeat_with_an_idempotency_key_keeps_the_first_webhook(submit_api: Wired) -> None:
    first = submit_api.client.post(
        "/image_prediction",
        files={"image": ("dog.png", corpus.png())},
        data={"webhook": HOOK},
        headers={"Idempotency-Key": "order-1"},
    )
    again = submit_api.client.post(
        "/image_prediction",
        files={"image": ("dog.png", corpus.png())},
        data={"webhook": "https://hooks.example.org/other"},
        headers={"Idempotency-Key": "order-1"},
    )
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    (row,) = submit_api.repository.rows.values()
    assert row.prediction.webhook_url == HOOK


def test_get_never_shows_the_webhook(status_api: Wired) -> None:
    """Its query may hold the client's own secret; it is the client's to know."""
    row = status_api.repository.seed(Status.DONE, has_dog=True, webhook_url=HOOK)
    body = status_api.client.get(f"/image_prediction/{row.id}").json()
    assert "webhook" not in str(body) and "hooks.example.com" not in str(body)
