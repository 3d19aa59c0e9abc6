"""A request's options (`dogdetect.domain.options`): what is accepted, what is refused and
with which words, and what a prediction keeps."""

from __future__ import annotations

import pytest
from dogdetect.domain.errors import InvalidOptions
from dogdetect.domain.models import Box, Detection
from dogdetect.domain.options import (
    COCO_CLASSES,
    MAX_CLASSES_CHARS,
    PredictionOptions,
    parse_options,
    same_options,
)

FLOOR = 0.25


def test_nothing_asked_is_the_floor_and_every_class() -> None:
    assert parse_options(None, None, FLOOR) == PredictionOptions(FLOOR, None)
    assert parse_options(None, None, 0.4) == PredictionOptions(0.4, None)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("0.8", 0.8), ("1", 1.0), ("1.0", 1.0), ("0.25", 0.25), (" 0.5 ", 0.5), (".9", 0.9)],
)
def test_a_confidence_from_the_floor_to_1(raw: str, value: float) -> None:
    assert parse_options(raw, None, FLOOR).confidence == value


@pytest.mark.parametrize(
    "raw",
    ["0.1", "0.2499", "1.5", "1.0001", "x", "nan", "inf", "-0.5", "1e-1", "0_5", "0,8", "",
     "0.8" + "0" * 40],
)  # fmt: skip
def test_any_other_confidence_is_refused_naming_the_range(raw: str) -> None:
    with pytest.raises(InvalidOptions) as refused:
        parse_options(raw, None, FLOOR)
    assert "'confidence' must be a number from 0.25 to 1" in refused.value.detail


def test_the_range_follows_the_services_floor() -> None:
    with pytest.raises(InvalidOptions) as refused:
        parse_options("0.3", None, 0.5)
    assert "from 0.5 to 1" in refused.value.detail


def test_classes_are_the_models_names_in_its_order_once_each() -> None:
    assert parse_options(None, "dog", FLOOR).classes == ("dog",)
    # order, case, spaces around a name and repeats do not matter: one request, one spelling
    for raw in ("dog,cat", "cat,dog", " Dog , CAT ,dog"):
        assert parse_options(None, raw, FLOOR).classes == ("cat", "dog")
    assert parse_options(None, "traffic light,person", FLOOR).classes == ("person", "traffic light")
    assert parse_options(None, ",".join(COCO_CLASSES), FLOOR).classes == COCO_CLASSES


def test_an_unknown_class_is_refused_naming_it_and_where_the_names_are() -> None:
    with pytest.raises(InvalidOptions) as refused:
        parse_options(None, "dog,unicorn", FLOOR)
    assert "'unicorn'" in refused.value.detail and "/docs" in refused.value.detail
    assert "'dog'" not in refused.value.detail


def test_many_unknown_names_are_quoted_only_in_part() -> None:
    raw = ",".join(f"thing{i}" + "x" * 100 for i in range(12))
    with pytest.raises(InvalidOptions) as refused:
        parse_options(None, raw, FLOOR)
    assert "and 7 more" in refused.value.detail
    assert len(refused.value.detail) < 500


@pytest.mark.parametrize("raw", ["dog,,cat", "dog,", ",", " "])
def test_an_empty_class_name_is_refused(raw: str) -> None:
    with pytest.raises(InvalidOptions) as refused:
        parse_options(None, raw, FLOOR)
    assert "empty name" in refused.value.detail


def test_classes_longer_than_the_bound_are_refused_unread() -> None:
    with pytest.raises(InvalidOptions) as refused:
        parse_options(None, "dog," * (MAX_CLASSES_CHARS // 4 + 1), FLOOR)
    assert f"longer than {MAX_CLASSES_CHARS}" in refused.value.detail


def test_the_class_names_are_cocos_eighty() -> None:
    assert len(COCO_CLASSES) == len(set(COCO_CLASSES)) == 80
    assert "dog" in COCO_CLASSES


def _at(label: str, confidence: float) -> Detection:
    return Detection(label, confidence, Box(0, 0, 1, 1))


def test_kept_are_those_at_or_above_the_confidence_and_of_the_classes() -> None:
    found = [_at("dog", 0.9), _at("dog", 0.8), _at("dog", 0.79), _at("cat", 0.95)]
    assert PredictionOptions(0.8).kept(found) == (found[0], found[1], found[3])
    assert PredictionOptions(0.8, ("dog",)).kept(found) == tuple(found[:2])
    assert PredictionOptions(0.25, ("horse",)).kept(found) == ()


def test_a_prediction_made_before_options_applied_the_floor_to_every_class() -> None:
    assert same_options(None, PredictionOptions(FLOOR), FLOOR)
    assert not same_options(None, PredictionOptions(0.8), FLOOR)
    assert not same_options(None, PredictionOptions(FLOOR, ("dog",)), FLOOR)
    assert same_options(PredictionOptions(0.8, ("dog",)), PredictionOptions(0.8, ("dog",)), FLOOR)
    assert not same_options(PredictionOptions(0.8), PredictionOptions(0.8, ("dog",)), FLOOR)
