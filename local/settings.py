"""Which of the functions' settings (`dogdetect.config.Settings`) `make local` takes from its
own environment, and which are the stack's own.

A user's choices (API keys, the dog threshold, limits, the model, the webhooks' secret and
retry schedule) reach every function when they are set where `make local` runs, and are
checked before anything starts. Where the stack's functions find what the stack made (its
database, bucket, queues, endpoint, credentials, region, the queues' receive count) is the
stack's alone: a variable of that name left in a shell (a real AWS profile, another project's
QUEUE_URL) never reaches a function. Every Settings field is in exactly one of the two sets
(tests/unit/local/test_settings.py)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "STACK_OWNED",
    "USER_SETTINGS",
    "SettingsRefused",
    "check",
    "from_user",
    "is_stack_owned",
]

USER_SETTINGS = frozenset(
    {
        "API_KEYS",
        "DOG_CONFIDENCE",
        "MAX_UPLOAD_BYTES",
        "MAX_IMAGE_PIXELS",
        "WAITS_PER_CLIENT",
        "WAITS_TOTAL",
        "DRAWINGS_TOTAL",
        "ENQUEUE_GRACE_SECONDS",
        "STUCK_AFTER_SECONDS",
        "DIRECT_UPLOAD_MAX_BYTES",
        "DIRECT_UPLOAD_EXPIRES_SECONDS",
        "DIRECT_UPLOAD_GRACE_SECONDS",
        "WEBHOOK_SECRET",
        "WEBHOOK_RETRY_DELAYS",
        "ALLOW_HTTP_WEBHOOKS",
        "MODEL_PATH",
        "DETECTOR_ENGINE",
        "OPENVINO_CACHE_DIR",
    }
)

# DATABASE_URL and AWS_ENDPOINT_URL choose what `make local` connects to instead of starting
# its own (README); the functions still get the stack's URLs (the application role's login).
STACK_OWNED = frozenset(
    {
        "DATABASE_URL",
        "DATABASE_SECRET_ARN",
        "DATABASE_HOST",
        "DATABASE_PORT",
        "DATABASE_NAME",
        "DATABASE_TLS",
        "DATABASE_CA_BUNDLE",
        "APP_DATABASE_SECRET_ARN",
        "APP_DATABASE_USER",
        "APP_DATABASE_PASSWORD",
        "BUCKET_NAME",
        "QUEUE_URL",
        "NOTIFICATIONS_QUEUE_URL",
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "WEBHOOK_SECRET_ARN",
        "MAX_RECEIVE_COUNT",  # the queues' maxReceiveCount, from the template
    }
)


class SettingsRefused(SystemExit):
    """A setting of the environment the functions would refuse: `make local` stops first."""


def is_stack_owned(name: str) -> bool:
    """Never from the environment: the stack's own settings, and every AWS_* variable
    (credentials, profiles, Lambda's own), which the stack and its runtime set."""
    return name in STACK_OWNED or name.startswith("AWS_")


def from_user(environ: Mapping[str, str]) -> dict[str, str]:
    """The user's settings that are set in `environ`."""
    return {name: environ[name] for name in sorted(USER_SETTINGS) if name in environ}


def check(settings: Mapping[str, str]) -> None:
    """Refuse what a function would refuse when it starts, naming the variable and never
    its value (a secret, a key)."""
    from dogdetect.config import Settings
    from dogdetect.domain.webhooks.signing import InvalidSecret, secret_key
    from pydantic import ValidationError

    given = {name.lower(): value for name, value in settings.items()}
    try:
        Settings.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{str(error['loc'][0]).upper()}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsRefused(f"error: {problems}") from None
    if "WEBHOOK_SECRET" in settings:
        try:
            secret_key(settings["WEBHOOK_SECRET"])
        except InvalidSecret as exc:
            raise SettingsRefused(f"error: WEBHOOK_SECRET: {exc} (whsec_ + base64)") from None
