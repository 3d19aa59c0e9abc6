"""LocalStack, the second emulator (`make local EMULATOR=localstack`): localstack-core from
PyPI in host mode (`python -m localstack.runtime.main`), no Docker and no token, in a venv of
its own on Python 3.13 (.venv-localstack, requirements-localstack.txt).

What it does that moto does not: it checks a presigned POST's policy itself, so the local
stack's own check (local/s3_post.py) is not in the way. What it does not do: enforce IAM (a
paid feature), so every function signs as the same identity here; keep S3 across a restart
(persistence is paid too), so a restarted stack has lost its uploads (docs/decisions.md)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from pathlib import Path

from local.config import REPO_ROOT, LocalConfig
from local.processes import spawn, stop, wait_until

DEFAULT_PYTHON = REPO_ROOT / ".venv-localstack" / "bin" / "python"
SERVICES = ("s3", "sqs")
READY_SECONDS = 120
STATE_FOLDER = "localstack"  # in the stack's state folder
# Only these of the developer's environment: the venv's python must not see .venv's.
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "USER")


def localstack_python() -> Path:
    """LOCALSTACK_PYTHON when set, else the venv `make local EMULATOR=localstack` makes."""
    python = Path(os.environ.get("LOCALSTACK_PYTHON", DEFAULT_PYTHON))
    if not python.exists():
        raise SystemExit(
            f"error: no LocalStack at {python}. `make local EMULATOR=localstack` makes its "
            "venv (.venv-localstack, Python 3.13), or set LOCALSTACK_PYTHON to one."
        )
    return python


def localstack_environment(config: LocalConfig) -> dict[str, str]:
    state = config.state_dir / STATE_FOLDER
    return {
        **{name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ},
        "GATEWAY_LISTEN": f"{config.host}:{config.aws_port}",
        # Its default server (twisted) listens on every interface whatever GATEWAY_LISTEN
        # names (2026.3.0); hypercorn binds the address given.
        "GATEWAY_SERVER": "hypercorn",
        "DNS_ADDRESS": "0",  # no DNS server of its own (it would want port 53)
        "SQS_ENDPOINT_STRATEGY": "path",  # queue URLs on the endpoint's own address
        "SKIP_SSL_CERT_DOWNLOAD": "1",  # offline: a self-signed certificate of its own
        "SERVICES": ",".join(SERVICES),
        # Loaded before it says ready: loaded on first use instead, the first call can take
        # longer than the functions' 3-second read timeout (adapters/aws.py).
        "EAGER_SERVICE_LOADING": "1",
        "DISABLE_EVENTS": "1",  # no analytics sent anywhere
        "FILESYSTEM_ROOT": str(state / "filesystem"),
        "TMPDIR": str(state / "tmp"),
    }


def start_localstack(config: LocalConfig, log: Path) -> subprocess.Popen[bytes]:
    """LocalStack on the stack's AWS port, on 127.0.0.1 only, once S3 and SQS answer."""
    python = localstack_python()
    environment = localstack_environment(config)
    state = config.state_dir / STATE_FOLDER
    state.mkdir(exist_ok=True)
    state.chmod(0o700)  # uploaded photos (its temporary files): this user's only
    for folder in ("FILESYSTEM_ROOT", "TMPDIR"):
        Path(environment[folder]).mkdir(exist_ok=True)
    argv = [str(python), "-m", "localstack.runtime.main"]
    process = spawn(argv, log, env=environment, cwd=config.state_dir)

    def running() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"LocalStack exited; see {log}")
        return services_running(config)

    try:
        wait_until(running, READY_SECONDS, "LocalStack", interval=0.5)
    except BaseException:
        stop(process)
        raise
    return process


def services_running(config: LocalConfig) -> bool:
    """Whether LocalStack's health endpoint reports S3 and SQS running."""
    connection = http.client.HTTPConnection(config.host, config.aws_port, timeout=2)
    try:
        connection.request("GET", "/_localstack/health")
        services = json.load(connection.getresponse()).get("services", {})
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return all(services.get(name) == "running" for name in SERVICES)
