"""The capacity model of docs/scaling.md: what the service needs at 10, 100 and 1,000 images a
second, where it stops first and what it costs, from the bench's measurements (bench/results)
and AWS's published quotas and prices (each with its page). The template's defaults are the
first rate's parameters (tests/infra/test_capacity_defaults.py holds them together), and the
README's cost table is rendered from the same figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.common import held, median

RATES_IPS = (10, 100, 1000)
SECONDS_PER_MONTH = 2_628_000  # 730 hours, as AWS's monthly prices count them
# Assumed, not measured (docs/scaling.md says what each moves):
READS_PER_IMAGE = 1  # plain status reads: a webhook user's check, or one poll once it is done
HEADROOM = 2.0  # capacity over the steady rate, for bursts (throttle, predict, database CPU)
BURST_SECONDS = 2.5  # the throttle's bucket holds this many seconds at its rate (today's 50/20)
IMAGE_MB = 1.0  # an uploaded photo, kept UploadRetentionDays (7)
RETENTION_DAYS = 7
LOG_KB_PER_IMAGE = 2.0  # the functions' JSON lines and REPORT lines


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    page: str


LAMBDA = "https://aws.amazon.com/lambda/pricing/"
PRICES = {
    "lambda_gb_s": Price(0.0000166667, "per GB-second, x86", LAMBDA),
    "lambda_request": Price(0.20e-6, "per request", LAMBDA),
    "http_api_request": Price(1.00e-6, "per request (first 300 M a month)",
                              "https://aws.amazon.com/api-gateway/pricing/"),
    "sqs_request": Price(0.40e-6, "per request", "https://aws.amazon.com/sqs/pricing/"),
    "s3_put": Price(0.005e-3, "per PUT", "https://aws.amazon.com/s3/pricing/"),
    "s3_get": Price(0.0004e-3, "per GET", "https://aws.amazon.com/s3/pricing/"),
    "s3_gb_month": Price(0.023, "per GB-month", "https://aws.amazon.com/s3/pricing/"),
    "logs_gb": Price(0.50, "per GB ingested", "https://aws.amazon.com/cloudwatch/pricing/"),
    "proxy_vcpu_hour": Price(0.015, "per vCPU-hour, 2 at least",
                             "https://aws.amazon.com/rds/proxy/pricing/"),
}  # fmt: skip
# Idle, beside the instance and the proxy (docs/deploy.md's table, item by item).
IDLE_REST_USD = {"production": 94.16 - 11.68 - 21.90, "trial": 31.93 - 11.68}
ACCOUNT_CONCURRENCY = 1000  # Lambda's default quota per Region (new accounts may have less)
HTTP_API_ACCOUNT_RPS, HTTP_API_ACCOUNT_BURST = 10_000, 5_000  # API Gateway, per Region
QUOTA_PAGES = {
    "lambda": "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    "api": "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
    "sqs": "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html",
    "rds": "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html",
}


@dataclass(frozen=True)
class DatabaseClass:
    name: str
    vcpus: int
    baseline: float  # the share of each vCPU it may use around the clock (burstable: credits)
    gib: int
    hourly: float  # single-AZ, us-east-1, https://aws.amazon.com/rds/postgresql/pricing/

    @property
    def sustained_vcpus(self) -> float:
        return self.vcpus * self.baseline

    @property
    def max_connections(self) -> int:
        """RDS's default: LEAST(DBInstanceClassMemory / 9531392, 5000), less what RDS keeps."""
        return min(int(self.gib * 1024**3 * 0.8 / 9531392), 5000)


DATABASE_CLASSES = (
    DatabaseClass("db.t4g.micro", 2, 0.10, 1, 0.016),
    DatabaseClass("db.t4g.small", 2, 0.20, 2, 0.032),
    DatabaseClass("db.t4g.medium", 2, 0.20, 4, 0.065),
    DatabaseClass("db.m7g.large", 2, 1.0, 8, 0.168),
    DatabaseClass("db.m7g.xlarge", 4, 1.0, 16, 0.336),
    DatabaseClass("db.m7g.2xlarge", 8, 1.0, 32, 0.672),
    DatabaseClass("db.m7g.4xlarge", 16, 1.0, 64, 1.344),
)


def inputs(r: dict[str, Any]) -> dict[str, float]:
    """The measured inputs, from one bench run's results."""
    drain = r["drain"]["photos"]
    db = r["database"]
    below = [s for s in db["steps"] if held(s)]
    scaling = r["pipeline"]["scaling"]["runs"].values()
    return {
        "predict_s": drain["cpu_s_by_role"]["predict environments"] / drain["finished"],
        "submit_s": median(r["pipeline"]["submit_only_latencies_s"]["1"]),
        "status_s": median(s for run in scaling for s in run["status_latencies_s"]),
        "done_s": median(r["pipeline"]["scaling"]["runs"]["1"]["done_latencies_s"]),
        "statements": db["per_image"]["image"]["statements"],
        "rows": db["per_image"]["image"]["rows"],
        "db_ms": db["per_image"]["image"]["ms"],
        "pg_cpu_s": median(s["postgres_cpu_ms_per_image"] for s in below) / 1000,
        "ceiling_statements_per_s": db["ceiling"]["statements_per_s"] if db["ceiling"] else 0.0,
    }


def _nice(value: float) -> int:
    """Up to 1, 2 or 5 times a power of ten: parameters a person would write."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(int(m * power) for m in (1, 2, 5, 10) if m * power >= value - 1e-9)


def parameters(
    rate: float, m: dict[str, float], memory_mb: dict[str, int], defaults: dict[str, Any]
) -> dict[str, Any]:
    """What the template needs at `rate` images/s. Waits past their cap are answered at once
    (the client asks again), so the cap has no headroom: enough for every upload waited for
    until DONE, and never below the default."""
    requests = rate * (1 + READS_PER_IMAGE)
    throttle = _nice(requests * HEADROOM)
    pg_vcpus = rate * m["pg_cpu_s"] * HEADROOM
    database = next(
        (c for c in DATABASE_CLASSES if c.sustained_vcpus >= pg_vcpus), DATABASE_CLASSES[-1]
    )
    predict = max(2, math.ceil(rate * m["predict_s"] * HEADROOM))
    api = rate * (m["submit_s"] + READS_PER_IMAGE * m["status_s"]) * HEADROOM
    waits = max(int(defaults["MaxConcurrentWaits"]), math.ceil(rate * m["done_s"]))
    return {
        "MaxConcurrentWaits": waits,
        "ApiThrottlingRateLimit": throttle,
        "ApiThrottlingBurstLimit": min(int(throttle * BURST_SECONDS), HTTP_API_ACCOUNT_BURST),
        "PredictMaxConcurrency": predict,
        "PredictMemorySize": memory_mb["predict"],  # a vCPU: the cheapest per image
        "DatabaseInstanceClass": database.name,
        "database": database,
        "pg_vcpus": pg_vcpus,
        "statements_per_s": rate * m["statements"],
        "api_environments": math.ceil(api),
        "environments": predict + math.ceil(api) + waits,
        "client_connections": 2 * (predict + math.ceil(api) + waits),
    }


def per_1000(m: dict[str, float], memory_mb: dict[str, int], batch: int) -> dict[str, float]:
    """What 1,000 images cost beyond the fixed monthly part, item by item."""
    p = {k: v.usd for k, v in PRICES.items()}
    gb_s = p["lambda_gb_s"] / 1024
    return {
        "predict": 1000 * (m["predict_s"] * memory_mb["predict"] * gb_s
                           + p["lambda_request"] / batch),
        "submit and status": 1000 * (
            m["submit_s"] * memory_mb["submit"] * gb_s
            + READS_PER_IMAGE * m["status_s"] * memory_mb["status"] * gb_s
            + (1 + READS_PER_IMAGE) * p["lambda_request"]
        ),
        "HTTP API": 1000 * (1 + READS_PER_IMAGE) * p["http_api_request"],
        "SQS": 1000 * (1 + 2 / batch) * p["sqs_request"],  # send; receive and delete per batch
        "S3 requests": 1000 * (p["s3_put"] + p["s3_get"]),
        "S3 storage": 1000 * IMAGE_MB / 1024 * RETENTION_DAYS / 30 * p["s3_gb_month"],
        "CloudWatch Logs": 1000 * LOG_KB_PER_IMAGE / 1024**2 * p["logs_gb"],
    }  # fmt: skip


def fixed_monthly(database: DatabaseClass, profile: str) -> dict[str, float]:
    proxy = max(2, database.vcpus) * PRICES["proxy_vcpu_hour"].usd * 730
    return {
        "database instance": database.hourly * 730,
        "RDS Proxy": proxy if profile == "production" else 0.0,
        "the rest of idle (endpoints, storage, secrets, alarms, dashboard, sweep)": IDLE_REST_USD[
            profile
        ],
    }


def limits(params: dict[str, Any], m: dict[str, float]) -> dict[str, float]:
    """The rate (images/s) at which each limit binds, under `params`."""
    # Each upload waited for until DONE: the wait holds a status environment meanwhile.
    lambda_s = m["predict_s"] + m["submit_s"] + READS_PER_IMAGE * m["status_s"] + m["done_s"]
    return {
        "the API's throttle (`ApiThrottlingRateLimit`)":
            params["ApiThrottlingRateLimit"] / (1 + READS_PER_IMAGE),
        "predict's concurrency (`PredictMaxConcurrency`)":
            params["PredictMaxConcurrency"] / m["predict_s"],
        "the database's CPU (`DatabaseInstanceClass`)":
            params["database"].sustained_vcpus / m["pg_cpu_s"],
        "the account's Lambda concurrency (a quota increase)": ACCOUNT_CONCURRENCY / lambda_s,
        "the account's API throttle (a quota increase)":
            HTTP_API_ACCOUNT_RPS / (1 + READS_PER_IMAGE),
    }  # fmt: skip


def _binding(found: dict[str, float], rate: float) -> str:
    name, at = min(found.items(), key=lambda item: item[1])
    if at >= rate:
        return f"none below {rate:,.0f} images/s: {name}, at {at:,.0f}"
    return f"{name}, at {at:,.0f} images/s"


def _profile(params: dict[str, Any]) -> str:
    """Trial (no proxy) while twice the functions' connections fit the instance."""
    have, need = params["database"].max_connections - 5, 2 * params["client_connections"]
    if need <= have:
        return f"trial or production (trial: {need} of {have} connections at twice the load)"
    return f"production: the proxy ({need} connections at twice the load, {have} the instance's)"


def model(
    r: dict[str, Any], defaults: dict[str, Any], memory_mb: dict[str, int], batch: int
) -> dict[str, Any]:
    """From one run's results `r` and the template's parameter defaults, memory and batch."""
    m = inputs(r)
    variable = per_1000(m, memory_mb, batch)
    default = {
        **defaults,
        "database": next(c for c in DATABASE_CLASSES
                         if c.name == defaults["DatabaseInstanceClass"]),
    }  # fmt: skip
    tiers = []
    for rate in RATES_IPS:
        params = parameters(rate, m, memory_mb, defaults)
        fixed = fixed_monthly(params["database"], "production")
        images = rate * SECONDS_PER_MONTH
        monthly = sum(fixed.values()) + sum(variable.values()) * images / 1000
        tiers.append({
            "rate": rate, "params": params, "fixed_total": sum(fixed.values()), "images": images,
            "monthly": monthly, "per_1000": monthly / images * 1000, "profile": _profile(params),
            "first": _binding(limits(default, m), rate),
            "next": _binding(limits(params, m), rate),
            "quota": _binding({k: v for k, v in limits(params, m).items() if "quota" in k}, rate),
        })  # fmt: skip
    idle = {p: sum(fixed_monthly(DATABASE_CLASSES[0], p).values()) for p in IDLE_REST_USD}
    held = m["done_s"] * memory_mb["status"] / 1024 * PRICES["lambda_gb_s"].usd
    return {"inputs": m, "variable": variable, "tiers": tiers, "idle": idle,
            "wait_per_1000": 1000 * held,
            "variable_total": sum(variable.values())}  # fmt: skip


ITEM_PRICES = {
    "predict": "Lambda per GB-second and per request (a batch of 10 per invocation)",
    "submit and status": "Lambda per GB-second and per request",
    "HTTP API": "$1.00 per million requests: an upload and a read per image",
    "SQS": "$0.40 per million requests: a send; a receive and a delete per batch",
    "S3 requests": "$0.005 per 1,000 PUT, $0.0004 per 1,000 GET",
    "S3 storage": "$0.023 per GB-month",
    "CloudWatch Logs": "$0.50 per GB ingested",
}


def render(r: dict[str, Any], defaults: dict[str, Any], memory_mb: dict[str, int],
           batch: int, env: Any) -> dict[str, str]:  # fmt: skip
    """The scaling section and the README's cost table, from the same model."""
    c = model(r, defaults, memory_mb, batch)
    context = {
        "c": c, "when": r["machine"]["when"][:10], "cpus": r["machine"]["cpus"],
        "reads": READS_PER_IMAGE, "headroom": HEADROOM, "image_mb": IMAGE_MB,
        "retention": RETENTION_DAYS, "log_kb": LOG_KB_PER_IMAGE, "account": ACCOUNT_CONCURRENCY,
        "prices": PRICES, "quota_pages": QUOTA_PAGES, "item_prices": ITEM_PRICES,
    }  # fmt: skip
    return {
        "scaling": env.get_template("capacity.md.j2").render(**context),
        "readme": env.get_template("costs.md.j2").render(**context),
    }


def between_markers(text: str, name: str, body: str) -> str:
    """`text` with what lies between `<!-- name: ... -->` and `<!-- /name -->` replaced."""
    start = text.index(f"<!-- {name}:")
    start = text.index("-->", start) + len("-->")
    end = text.index(f"<!-- /{name} -->", start)
    return text[:start] + "\n" + body.strip() + "\n" + text[end:]
