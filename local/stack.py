"""Start the local stack, serve the API, and stop everything on Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import uvicorn

from local import settings
from local.aws import (
    FAKE_CREDENTIALS,
    Resources,
    ensure_resources,
    remember_identities,
    start_moto,
)
from local.bucket_events import route_uploads_to_queue
from local.config import EMULATORS, LocalConfig
from local.files import write_private
from local.http_protocol import GatewayHttpProtocol
from local.iam import LocalNames, function_identities, iam_client
from local.localstack import start_localstack
from local.logs import configure as configure_logs
from local.postgres import EmbeddedPostgres
from local.processes import stop, wait_until
from local.supervisor import PollerSupervisor
from local.template import functions

logger = logging.getLogger("local")
READY_FILE = "stack.json"


def parse_config(argv: list[str] | None) -> LocalConfig:
    parser = argparse.ArgumentParser(prog="make local", description=__doc__)
    defaults = LocalConfig()
    parser.add_argument("--state-dir", type=Path, default=defaults.state_dir)
    parser.add_argument(
        "--emulator",
        choices=EMULATORS,
        default=os.environ.get("EMULATOR") or defaults.emulator,
        help="the AWS endpoint to start (default: $EMULATOR, else moto)",
    )
    parser.add_argument(
        "--api-port", type=int, default=int(os.environ.get("API_PORT", defaults.api_port))
    )
    parser.add_argument(
        "--aws-port", type=int, default=int(os.environ.get("AWS_PORT", defaults.aws_port))
    )
    parser.add_argument(
        "--pg-port", type=int, default=int(os.environ.get("PG_PORT", defaults.pg_port))
    )
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=defaults.queue_config.visibility_timeout_seconds,
        help="seconds before a failed message is retried (tests shorten the template's value)",
    )
    parser.add_argument(
        "--function-timeout",
        action="append",
        default=[],
        metavar="NAME=SECONDS",
        help="replace a function's timeout from the template (tests make one time out)",
    )
    args = parser.parse_args(argv)
    timeouts = {
        name: float(seconds)
        for name, seconds in (item.split("=", 1) for item in args.function_timeout)
    }
    queue, notifications = defaults.queue_config, defaults.notifications_config
    retry_delays = defaults.webhook_retry_delays
    if args.visibility_timeout != queue.visibility_timeout_seconds:  # for every queue
        seconds = args.visibility_timeout
        queue = replace(
            queue,
            visibility_timeout_seconds=seconds,
            dead_letter_visibility_timeout_seconds=seconds,
        )
        notifications = replace(
            notifications,
            visibility_timeout_seconds=seconds,
            dead_letter_visibility_timeout_seconds=seconds,
        )
        retry_delays = str(seconds)  # a failed webhook too comes back after that long
    return replace(
        defaults,
        state_dir=args.state_dir.resolve(),
        emulator=args.emulator,
        api_port=args.api_port,
        aws_port=args.aws_port,
        pg_port=args.pg_port,
        queue_config=queue,
        notifications_config=notifications,
        webhook_retry_delays=retry_delays,
        function_timeouts=timeouts,
    )


def function_environment(
    config: LocalConfig,
    database_url: str,
    endpoint: str,
    resources: Resources,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """What every function sees: the same variable names the template sets in the cloud (but
    the signing secret itself for the cloud's secret's ARN). The user's settings set in
    `environ` (local/settings.py) replace `make local`'s defaults (a new signing secret per
    start, the local retry schedule, http webhooks to loopback); the stack's own are always
    the stack's. Checked here, before anything starts, as the functions would check them."""
    own = {
        # The stack's own identity; each function's own replaces it (per_function_environments).
        "AWS_ACCESS_KEY_ID": environ.get(
            "AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]
        ),
        "AWS_SECRET_ACCESS_KEY": environ.get(
            "AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        ),
        "AWS_DEFAULT_REGION": config.region,
        "AWS_ENDPOINT_URL": endpoint,
        "DATABASE_URL": database_url,
        "BUCKET_NAME": resources.bucket,
        "QUEUE_URL": resources.queue_url,
        "NOTIFICATIONS_QUEUE_URL": resources.notifications_queue_url,
        "MAX_RECEIVE_COUNT": str(config.queue_config.max_receive_count),
        "YOLO_CONFIG_DIR": str(config.state_dir / "ultralytics"),
        "POWERTOOLS_METRICS_NAMESPACE": "DogDetect",
        "POWERTOOLS_METRICS_DISABLED": environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    defaults = {
        "WEBHOOK_SECRET": new_webhook_secret(),
        "ALLOW_HTTP_WEBHOOKS": "true",  # receivers on 127.0.0.1 (see docs/decisions.md)
        "WEBHOOK_RETRY_DELAYS": config.webhook_retry_delays,
        # predict's compiled model, kept across starts (the image's is made at build time)
        "OPENVINO_CACHE_DIR": str(config.state_dir / "openvino-cache"),
    }
    chosen = settings.from_user(environ)
    settings.check(chosen)
    return {**defaults, **chosen, **own}


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def ports_in_use(config: LocalConfig) -> list[str]:
    """The ports this run would bind that something else already holds."""
    wanted = {"API_PORT": config.api_port}
    if not os.environ.get("AWS_ENDPOINT_URL"):
        wanted["AWS_PORT"] = config.aws_port
    if not os.environ.get("DATABASE_URL"):
        wanted["PG_PORT"] = config.pg_port
    busy = []
    for variable, port in wanted.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((config.host, port))
            except OSError:
                busy.append(f"{port} ({variable})")
    return busy


def run(config: LocalConfig) -> None:
    busy = ports_in_use(config)
    if busy:
        raise SystemExit(
            f"error: in use: {', '.join(busy)}. Stop what holds them (another `make local`?) "
            "or choose others, e.g. API_PORT=8081 make local"
        )
    settings.check(settings.from_user(os.environ))  # before anything starts
    config.state_dir.mkdir(parents=True, exist_ok=True)
    # Uploaded photos, logs with prediction ids, credentials: for this user only. Others may
    # pass through (o+x) to the database folder, which PostgreSQL owns when we run as root.
    config.state_dir.chmod(0o711)
    (config.state_dir / READY_FILE).unlink(missing_ok=True)
    for name, value in FAKE_CREDENTIALS.items():  # another endpoint's, unless given
        os.environ.setdefault(name, value)
    with ExitStack() as cleanup:
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            postgres = EmbeddedPostgres(config.state_dir / "postgres", config.host, config.pg_port)
            cleanup.callback(postgres.stop)
            database_url = postgres.start()
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        own_moto = not endpoint and config.emulator == "moto"
        if own_moto:
            moto = start_moto(config, config.state_dir / "moto.log")
            cleanup.callback(stop, moto.process)
            os.environ.update(moto.credentials)  # the stack's own identity, from here on
            endpoint = config.aws_endpoint
        elif not endpoint:
            cleanup.callback(stop, start_localstack(config, config.state_dir / "localstack.log"))
            endpoint = config.aws_endpoint
        resources = ensure_resources(config, endpoint)
        from local.database import migrate_for_functions

        app_database_url = migrate_for_functions(database_url)  # the functions' least privilege
        environment = function_environment(config, app_database_url, endpoint, resources)
        for name in settings.STACK_OWNED - environment.keys():  # this process's adapters too
            os.environ.pop(name, None)
        os.environ.update(environment)
        recover_lost_messages(resources)
        # After the recovery: the test event S3 sends makes the queue look non-empty.
        route_uploads_to_queue(config, endpoint, resources)
        functions = per_function_environments(config, environment, endpoint, resources, own_moto)
        poller = PollerSupervisor(config, endpoint, resources, functions)
        cleanup.callback(poller.stop)
        # stack.json also names the superuser's URL, for tests; never given to a function
        serve(config, {**environment, "MASTER_DATABASE_URL": database_url}, functions, poller)


def per_function_environments(
    config: LocalConfig,
    environment: dict[str, str],
    endpoint: str,
    resources: Resources,
    enforce_iam: bool,
) -> dict[str, dict[str, str]]:
    """Each function's environment: this process's (PATH, API_KEYS, ...) but the stack's own
    names (`local.settings.is_stack_owned`), with the shared settings, and the function's own
    credentials: an IAM user whose policy is its role's in the template (on our own moto,
    which enforces it)."""
    inherited = {k: v for k, v in os.environ.items() if not settings.is_stack_owned(k)}
    names = {name: {**inherited, **environment} for name in functions()}
    if enforce_iam:
        local = LocalNames(
            region=environment["AWS_DEFAULT_REGION"],
            account=resources.account,
            bucket=resources.bucket,
            queue_urls={name: url for name, (url, _) in resources.queues.items()},
        )
        identities = function_identities(iam_client(endpoint, local.region), local)
        remember_identities(
            config, {i.user: {"policy": i.policy, **i.credentials} for i in identities.values()}
        )
        for name, identity in identities.items():
            names[name].update(identity.credentials)
    return names


def recover_lost_messages(resources: Resources) -> None:
    """moto keeps messages in memory: after a restart its queue is empty while PostgreSQL
    still holds unfinished predictions. Queue them again (a no-op for finished rows)."""
    from dogdetect.runtime.composition import adapters
    from dogdetect.service.sweep import requeue_unfinished

    a = adapters()
    if a.queue.depth() == 0:
        count = requeue_unfinished(a.repository, a.storage, a.queue)
        if count:
            logger.info("re-queued %d unfinished predictions", count)


def serve(
    config: LocalConfig,
    environment: dict[str, str],
    functions: dict[str, dict[str, str]],
    poller: PollerSupervisor,
) -> None:
    from local.gateway import Gateway

    gateway = Gateway(functions, timeouts=config.function_timeouts)
    server = uvicorn.Server(
        uvicorn.Config(
            gateway,
            host=config.host,
            port=config.api_port,
            log_level="warning",
            lifespan="on",
            http=GatewayHttpProtocol,  # JSON for malformed HTTP; slow headers timed out
            timeout_keep_alive=5,
        )
    )

    def announce_when_ready() -> None:
        gateway.prewarm()
        wait_until(lambda: server.started, 60, "gateway")
        wait_until(poller.ready, 300, "predict poller")
        ready = {"api_url": config.api_url, "pid": os.getpid(), **environment}
        write_private(config.state_dir / READY_FILE, json.dumps(ready, indent=2))
        print(
            f"\nready: API on {config.api_url} (docs at /docs, logs in {config.state_dir})",
            flush=True,
        )

    threading.Thread(target=announce_when_ready, daemon=True).start()
    threading.Thread(target=poller.keep_running, daemon=True).start()
    try:
        server.run()  # returns on SIGINT/SIGTERM
    finally:
        gateway.close()


def main(argv: list[str] | None = None) -> None:
    configure_logs()
    config = parse_config(argv)
    print(
        f"starting: PostgreSQL :{config.pg_port}, AWS ({config.emulator}) :{config.aws_port}, "
        f"API :{config.api_port}",
        flush=True,
    )
    # uvicorn re-raises Ctrl-C once it has shut down; by then everything has been stopped.
    with contextlib.suppress(KeyboardInterrupt):
        run(config)
    print("stopped: nothing of the local stack is left running", flush=True)
