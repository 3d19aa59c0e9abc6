"""Amazon's RDS CA bundle: `make build` fetches it (scripts/fetch-rds-ca-bundle) into the core
layer before `sam build`, checked against a SHA-256 (RDS_CA_BUNDLE_SHA256, else the committed
pin file infra/rds-ca-bundle.sha256, else pinned on first use); every function is told where it
lands. The script is run as `make build` runs it, serving bundles of certificates the tests
make (file:// and a local HTTPS server), never the real pin file."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import os
import re
import runpy
import shutil
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.certificates import issue_server_certificate, make_ca
from tests.infra.conftest import REPO_ROOT, environment, ref_target
from tests.infra.test_wiring import dockerfile_stages

SCRIPT = REPO_ROOT / "scripts" / "fetch-rds-ca-bundle"
SCRIPT_GLOBALS = runpy.run_path(str(SCRIPT))
DEFAULT_OUTPUT = Path(SCRIPT_GLOBALS["DEFAULT_OUTPUT"])
PIN_FILE = REPO_ROOT / "infra" / "rds-ca-bundle.sha256"
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda puts an image function's code
LAYERS_PYTHON = "/opt/python"  # where a Python layer's python/ folder appears
AMAZON = "Amazon Web Services, Inc."
RDS = "Amazon RDS"


def where_the_function_sees(resources: dict[str, Any], function: dict[str, Any]) -> str:
    """The bundle's path inside a function, from how the template and Dockerfile build it."""
    props = function["Properties"]
    if props.get("PackageType") == "Image":
        (copy,) = [  # in the image's last stage, the one Lambda runs
            arg.split()
            for op, arg in list(dockerfile_stages().values())[-1]
            if op == "COPY" and arg.startswith("layers/core/dogdetect ")
        ]
        source, target = copy
        inside = DEFAULT_OUTPUT.relative_to(REPO_ROOT / source)
        return f"{target.replace('${LAMBDA_TASK_ROOT}', LAMBDA_TASK_ROOT)}/{inside.as_posix()}"
    layers = [resources[ref_target(layer) or ""] for layer in props["Layers"]]
    for layer in layers:
        content = (REPO_ROOT / "infra" / layer["Properties"]["ContentUri"]).resolve()
        if DEFAULT_OUTPUT.is_relative_to(content):
            # SAM's Python build copies the layer's folder into python/
            return f"{LAYERS_PYTHON}/{DEFAULT_OUTPUT.relative_to(content).as_posix()}"
    raise AssertionError("no layer of this function carries the bundle")


def test_every_function_is_told_where_the_bundle_lands(
    template: dict[str, Any], resources: dict[str, Any], functions: dict[str, Any]
) -> None:
    for name, function in functions.items():
        told = environment(template, function).get("DATABASE_CA_BUNDLE")
        assert told == where_the_function_sees(resources, function), name


def git_ignores(path: Path) -> bool:
    relative = path.relative_to(REPO_ROOT)
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", str(relative)], cwd=REPO_ROOT, check=False
    )
    assert checked.returncode in (0, 1), checked
    return checked.returncode == 0


def test_the_fetched_bundle_is_not_committed() -> None:
    relative = DEFAULT_OUTPUT.relative_to(REPO_ROOT)
    assert relative.parts[:3] == ("layers", "core", "dogdetect")  # inside the package
    assert git_ignores(DEFAULT_OUTPUT), f"{relative} is not in .gitignore"


def test_the_pin_file_is_where_it_can_be_committed() -> None:
    assert Path(SCRIPT_GLOBALS["DEFAULT_PIN_FILE"]) == PIN_FILE
    assert not git_ignores(PIN_FILE), f"{PIN_FILE.relative_to(REPO_ROOT)} is git-ignored"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_build_fetches_the_bundle_before_sam_build() -> None:
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "build", "SAM=/bin/true"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    fetch = [i for i, line in enumerate(dry_run) if "scripts/fetch-rds-ca-bundle" in line]
    build = [i for i, line in enumerate(dry_run) if "/bin/true build" in line]
    assert fetch and build and fetch[0] < build[0], dry_run


def the_images_bundle_check() -> str:
    """The RUN of the image's last stage that checks the bundle, after the core is copied in."""
    stage = list(dockerfile_stages().values())[-1]
    (copied,) = [
        i for i, (op, arg) in enumerate(stage) if op == "COPY" and arg.startswith("layers/core/")
    ]
    checks = [arg for op, arg in stage[copied:] if op == "RUN" and DEFAULT_OUTPUT.name in arg]
    assert checks, "the image does not check for the RDS CA bundle after copying the core"
    return checks[0]


@pytest.mark.parametrize(("content", "builds"), [(None, False), (b"", False), (b"PEM", True)])
def test_the_predict_image_refuses_to_build_without_the_bundle(
    tmp_path: Path, content: bytes | None, builds: bool
) -> None:
    """A plain `sam build` (not `make build`) does not fetch the bundle; the image it builds
    would fail every database connection (DATABASE_CA_BUNDLE names a missing file), and the
    migration with it. The check is run as Docker runs it, in a shell, on a task root with the
    bundle missing, empty or present."""
    bundle = tmp_path / "dogdetect" / "certs" / DEFAULT_OUTPUT.name
    if content is not None:
        bundle.parent.mkdir(parents=True)
        bundle.write_bytes(content)
    result = subprocess.run(
        ["/bin/sh", "-c", the_images_bundle_check()],
        env={"PATH": "/usr/bin:/bin", "LAMBDA_TASK_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode == 0) == builds, result.stderr
    if not builds:
        assert "make build" in result.stderr and "fetch-rds-ca-bundle" in result.stderr


# ------------------------------------------------------------------ certificates to serve


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def name(common_name: str, organization: str = AMAZON, unit: str = RDS) -> x509.Name:
    """A name laid out like those of Amazon's bundle."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle"),
        ]
    )


def issue(subject: x509.Name, by: Issued | None = None, ca: bool = True) -> Issued:
    """A certificate for `subject`, signed by `by` (self-signed without)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(by.certificate.subject if by else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(by.key if by else key, hashes.SHA256())
    )
    return Issued(certificate, key)


@pytest.fixture(scope="module")
def rds_root() -> Issued:
    return issue(name("Amazon RDS test-1 Root CA ECC256 G1"))


@pytest.fixture(scope="module")
def rds_cas(rds_root: Issued) -> list[Issued]:
    """Like Amazon's bundle: roots, and an intermediate CA issued by one of them."""
    intermediate = issue(name("Amazon RDS test-1 2019 CA"), by=rds_root)
    return [rds_root, intermediate, issue(name("Amazon RDS test-2 Root CA ECC256 G1"))]


def serve(folder: Path, *certificates: Issued | str) -> Path:
    """A bundle file of these certificates (or PEM texts), to serve by its file:// URL."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "global-bundle.pem"
    path.write_text("".join(c if isinstance(c, str) else c.pem() for c in certificates))
    return path


@pytest.fixture
def bundle(tmp_path: Path, rds_cas: list[Issued]) -> Path:
    """A bundle standing in for Amazon's."""
    return serve(tmp_path / "served", *rds_cas)


@pytest.fixture
def pin_file(tmp_path: Path) -> Path:
    """Where the script keeps its pin in these tests (never the repository's)."""
    return tmp_path / "infra" / "rds-ca-bundle.sha256"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(
    output: Path,
    url: str,
    checksum: str | None,
    pin_file: Path,
    trusted_cas: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """The script as `make build` runs it; `trusted_cas` replaces the default trust store."""
    dropped = ("RDS_CA_BUNDLE_", "SSL_CERT_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(dropped)}
    env["RDS_CA_BUNDLE_URL"] = url
    if checksum is not None:
        env["RDS_CA_BUNDLE_SHA256"] = checksum
    if trusted_cas is not None:
        env["SSL_CERT_FILE"] = str(trusted_cas)  # OpenSSL's default store, as Python loads it
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(output), "--pin-file", str(pin_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def nothing_installed(output: Path, result: subprocess.CompletedProcess[str]) -> bool:
    leftovers = list(output.parent.iterdir()) if output.parent.is_dir() else []
    return "Nothing was installed" in result.stderr and not leftovers


# ------------------------------------------------------------------ with a pin


def test_the_bundle_is_installed_when_its_checksum_matches(
    bundle: Path, tmp_path: Path, pin_file: Path
) -> None:
    output = tmp_path / "layer" / "certs" / "rds-global-bundle.pem"
    result = fetch(output, bundle.as_uri(), sha256(bundle).upper(), pin_file)
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == bundle.read_bytes()
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no leftovers
    assert not pin_file.exists() and "pinned on first use" not in result.stderr


def test_the_installed_bundle_is_readable_by_the_functions_user(
    bundle: Path, tmp_path: Path, pin_file: Path
) -> None:
    """Docker's COPY and the layer zip keep the mode; Lambda's user does not own the file."""
    output = tmp_path / "certs" / "rds-global-bundle.pem"
    result = fetch(output, bundle.as_uri(), sha256(bundle), pin_file)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(output.stat().st_mode) == 0o644


def test_the_pin_file_pins_the_bundle(bundle: Path, tmp_path: Path, pin_file: Path) -> None:
    pin_file.parent.mkdir()
    pin_file.write_text(f"# reviewed by a person\n{sha256(bundle).upper()}  # a comment\n\n")
    pinned = pin_file.read_bytes()
    output = tmp_path / "certs" / "rds-global-bundle.pem"
    result = fetch(output, bundle.as_uri(), None, pin_file)
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == bundle.read_bytes()
    assert pin_file.read_bytes() == pinned and "pinned on first use" not in result.stderr


def test_the_environment_wins_over_the_pin_file(
    bundle: Path, tmp_path: Path, pin_file: Path
) -> None:
    pin_file.parent.mkdir()
    pin_file.write_text("0" * 64 + "\n")
    output = tmp_path / "certs" / "rds-global-bundle.pem"
    result = fetch(output, bundle.as_uri(), sha256(bundle), pin_file)
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == bundle.read_bytes()


@pytest.mark.parametrize("pinned_in", ["environment", "pin file"])
def test_a_bundle_with_another_checksum_is_refused(
    bundle: Path, tmp_path: Path, pin_file: Path, pinned_in: str
) -> None:
    checksum = "0" * 64
    if pinned_in == "pin file":
        pin_file.parent.mkdir()
        pin_file.write_text(f"{checksum}\n")
    output = tmp_path / "certs" / "rds-global-bundle.pem"
    result = fetch(
        output, bundle.as_uri(), checksum if pinned_in == "environment" else None, pin_file
    )
    assert result.returncode != 0
    assert sha256(bundle) in result.stderr and checksum in result.stderr
    for hint in ("openssl", "sha256sum", "truststore.pki.rds.amazonaws.com", str(pin_file)):
        assert hint in result.stderr  # how to review and pin the new bundle
    assert nothing_installed(output, result)
    assert pin_file.exists() == (pinned_in == "pin file")  # the pin is never rewritten


def test_an_installed_bundle_is_kept_offline(bundle: Path, tmp_path: Path, pin_file: Path) -> None:
    output = tmp_path / "rds-global-bundle.pem"
    shutil.copy(bundle, output)
    pin_file.parent.mkdir()
    pin_file.write_text(f"{sha256(bundle)}\n")
    result = fetch(output, (tmp_path / "unreachable.pem").as_uri(), None, pin_file)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_an_outdated_bundle_is_replaced(bundle: Path, tmp_path: Path, pin_file: Path) -> None:
    output = tmp_path / "rds-global-bundle.pem"
    output.write_text("an older bundle\n")
    result = fetch(output, bundle.as_uri(), sha256(bundle), pin_file)
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == bundle.read_bytes()


@pytest.mark.parametrize("pinned", [True, False])
def test_what_is_not_a_certificate_bundle_is_refused(
    tmp_path: Path, pin_file: Path, pinned: bool
) -> None:
    fake = tmp_path / "fake.pem"
    fake.write_text("<html>not a certificate</html>\n")
    output = tmp_path / "out" / "rds-global-bundle.pem"
    result = fetch(output, fake.as_uri(), sha256(fake) if pinned else None, pin_file)
    assert result.returncode != 0 and "not a PEM bundle" in result.stderr
    assert not output.exists() and not pin_file.exists()


@pytest.mark.parametrize("checksum", ["abc", "g" * 64])
def test_a_malformed_checksum_is_refused(
    bundle: Path, tmp_path: Path, pin_file: Path, checksum: str
) -> None:
    result = fetch(tmp_path / "out.pem", bundle.as_uri(), checksum, pin_file)
    assert result.returncode != 0 and "64 hex digits" in result.stderr
    assert not (tmp_path / "out.pem").exists()


@pytest.mark.parametrize("text", ["abc\n", "", "# only a comment\n", "0" * 64 + "\n" + "1" * 64])
def test_a_malformed_pin_file_is_refused(
    bundle: Path, tmp_path: Path, pin_file: Path, text: str
) -> None:
    """A pin file that holds no single checksum stops the build: it is never pinned over."""
    pin_file.parent.mkdir()
    pin_file.write_text(text)
    result = fetch(tmp_path / "out.pem", bundle.as_uri(), None, pin_file)
    assert result.returncode != 0 and "64 hex digits" in result.stderr
    assert str(pin_file) in result.stderr and pin_file.read_text() == text
    assert not (tmp_path / "out.pem").exists()


@pytest.mark.parametrize("pinned", [True, False])
def test_plain_http_is_refused(tmp_path: Path, pin_file: Path, pinned: bool) -> None:
    url = "http://truststore.example/global-bundle.pem"
    result = fetch(tmp_path / "out.pem", url, "0" * 64 if pinned else None, pin_file)
    assert result.returncode != 0 and "refusing" in result.stderr
    assert not pin_file.exists()


# ------------------------------------------------------------------ pinned on first use


def test_it_pins_on_first_use_then_verifies_against_that_pin_and_refuses_a_changed_bundle(
    bundle: Path, tmp_path: Path, pin_file: Path, rds_root: Issued
) -> None:
    output = tmp_path / "layer" / "certs" / "rds-global-bundle.pem"
    first = fetch(output, bundle.as_uri(), None, pin_file)
    assert first.returncode == 0, first.stderr
    assert output.read_bytes() == bundle.read_bytes()
    # the pin: the digest, and a comment saying when and where it was pinned
    digest_line, comment = pin_file.read_text().splitlines()
    assert digest_line.split()[0] == sha256(bundle)
    assert re.match(r"# pinned on first use at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ from ", comment)
    assert bundle.as_uri() in comment
    # the notice: what to review and commit, and how
    assert f"pinned on first use: review {output} and commit {pin_file}" in first.stderr
    for hint in ("openssl", "sha256sum", "truststore.pki.rds.amazonaws.com", sha256(bundle)):
        assert hint in first.stderr

    # from then on it is a pinned bundle: kept while in place, installed again unchanged
    pinned = pin_file.read_bytes()
    again = fetch(output, (tmp_path / "unreachable.pem").as_uri(), None, pin_file)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr
    output.unlink()
    reinstalled = fetch(output, bundle.as_uri(), None, pin_file)
    assert reinstalled.returncode == 0, reinstalled.stderr
    assert "pinned on first use" not in reinstalled.stderr and pin_file.read_bytes() == pinned

    # a changed bundle, even of Amazon RDS CAs only, is refused: a person reviews it first
    output.unlink()
    changed = serve(tmp_path / "changed", bundle.read_text(), issue(name("Amazon RDS test-3 CA")))
    refused = fetch(output, changed.as_uri(), None, pin_file)
    assert refused.returncode != 0
    assert sha256(changed) in refused.stderr and sha256(bundle) in refused.stderr
    assert nothing_installed(output, refused) and pin_file.read_bytes() == pinned


def public_root() -> str:
    """The first root of certifi's store: a real CA certificate, not Amazon RDS's."""
    return Path(certifi.where()).read_text().split("-----END CERTIFICATE-----")[0] + (
        "-----END CERTIFICATE-----\n"
    )


def another_ca() -> Issued:
    return issue(name("Example Root CA", organization="Example Corp", unit="PKI"))


FOREIGN: dict[str, tuple[Callable[[Issued], Issued | str], str]] = {
    # what the bundle holds besides an Amazon RDS root (given), and what the refusal must say
    "a public root": (lambda root: public_root(), "is not Amazon RDS"),
    "another organization's CA": (lambda root: another_ca(), "O=Example Corp"),
    "an Amazon RDS unit CA issued by another CA": (
        lambda root: issue(name("Amazon RDS test-9 CA"), by=another_ca()),
        "CN=Amazon RDS test-9 CA, L=Seattle, issued by C=US, O=Example Corp",
    ),
    "Amazon, but not the RDS unit": (
        lambda root: issue(name("Amazon Root", unit="Amazon Trust Services")),
        "OU=Amazon Trust Services",
    ),
    "a server certificate issued by an Amazon RDS CA": (
        lambda root: issue(name("db.example"), by=root, ca=False),
        "certificate 2 of 2 is not a CA certificate (",
    ),
}


@pytest.mark.parametrize("foreign", sorted(FOREIGN))
def test_first_use_pins_only_amazon_rds_ca_certificates(
    tmp_path: Path, pin_file: Path, rds_root: Issued, foreign: str
) -> None:
    make, says = FOREIGN[foreign]
    served = serve(tmp_path / "served", rds_root, make(rds_root))
    output = tmp_path / "certs" / "rds-global-bundle.pem"
    result = fetch(output, served.as_uri(), None, pin_file)
    assert result.returncode != 0
    assert says in result.stderr and "not pinned on first use" in result.stderr
    assert nothing_installed(output, result) and not pin_file.exists()


# ------------------------------------------------------------------ over HTTPS


@dataclass
class HttpsServer:
    """Serves `routes` (path -> (status, headers, body)) over TLS on 127.0.0.1."""

    ca_file: Path
    port: int = 0
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[HttpsServer]:
    folder = tmp_path / "tls"
    folder.mkdir()
    ca = make_ca("fetch test CA")
    cert_file, key_file = issue_server_certificate(ca, folder, ["localhost"], ["127.0.0.1"])
    server = HttpsServer(ca.write(folder / "ca.pem"))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = server.routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def test_first_use_fetches_over_https_from_a_trusted_server(
    https_server: HttpsServer, bundle: Path, tmp_path: Path, pin_file: Path
) -> None:
    https_server.routes["/global-bundle.pem"] = (200, {}, bundle.read_bytes())
    output = tmp_path / "certs" / "rds-global-bundle.pem"
    url = https_server.url("/global-bundle.pem")
    result = fetch(output, url, None, pin_file, trusted_cas=https_server.ca_file)
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == bundle.read_bytes()
    assert pin_file.read_text().split()[0] == sha256(bundle) and url in pin_file.read_text()


def test_an_https_server_whose_certificate_is_not_trusted_is_refused(
    https_server: HttpsServer, bundle: Path, tmp_path: Path, pin_file: Path
) -> None:
    https_server.routes["/global-bundle.pem"] = (200, {}, bundle.read_bytes())
    elsewhere = make_ca("another CA").write(tmp_path / "another-ca.pem")
    output = tmp_path / "certs" / "rds-global-bundle.pem"
    url = https_server.url("/global-bundle.pem")
    result = fetch(output, url, None, pin_file, trusted_cas=elsewhere)
    assert result.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert nothing_installed(output, result) and not pin_file.exists()


def test_a_redirect_to_plain_http_is_refused(
    https_server: HttpsServer, bundle: Path, tmp_path: Path, pin_file: Path
) -> None:
    plain = f"http://127.0.0.1:{https_server.port}/global-bundle.pem"
    https_server.routes["/moved.pem"] = (302, {"Location": plain}, b"")
    https_server.routes["/global-bundle.pem"] = (200, {}, bundle.read_bytes())
    output = tmp_path / "certs" / "rds-global-bundle.pem"
    url = https_server.url("/moved.pem")
    result = fetch(output, url, None, pin_file, trusted_cas=https_server.ca_file)
    assert result.returncode != 0 and f"refusing a redirect to {plain}" in result.stderr
    assert nothing_installed(output, result) and not pin_file.exists()
