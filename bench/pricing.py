"""Lambda cost of 1,000 images from measured durations and the template's memory sizes.

Prices are AWS's on-demand list prices in us-east-1 (not template facts); the architecture
that picks one, the memory and the batch size come from infra/template.yaml."""

from __future__ import annotations

from dataclasses import dataclass

from bench.template_facts import TemplateFacts

PRICE_PER_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_REQUEST = 0.20 / 1_000_000
IMAGES = 1000


@dataclass(frozen=True)
class Durations:
    """Seconds each function spends per image: predict's share of a batch, one submit, one
    status poll."""

    predict_s: float
    submit_s: float
    status_s: float


@dataclass(frozen=True)
class Cost:
    usd: float
    usd_predict: float


def gb_seconds(seconds: float, memory_mb: int) -> float:
    return seconds * memory_mb / 1024


def per_1000_images(durations: Durations, facts: TemplateFacts) -> Cost:
    price = PRICE_PER_GB_SECOND[facts.architecture]
    predict = IMAGES * gb_seconds(durations.predict_s, facts.memory_mb["predict"]) * price
    predict += IMAGES / facts.batch_size * PRICE_PER_REQUEST  # one invocation per batch
    api = (
        IMAGES
        * price
        * (
            gb_seconds(durations.submit_s, facts.memory_mb["submit"])
            + gb_seconds(durations.status_s, facts.memory_mb["status"])
        )
    )
    api += 2 * IMAGES * PRICE_PER_REQUEST  # one submit and one status request per image
    return Cost(usd=predict + api, usd_predict=predict)
