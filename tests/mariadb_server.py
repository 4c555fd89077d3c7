"""Throwaway MariaDB server for tests (Debian's ``mariadb-server``; see .ci/system-deps.sh).

Use from any conftest.py::

    from tests.mariadb_server import mariadb_server  # noqa: F401  (session fixture)

    def test_x(mariadb_server):
        spec = mariadb_server.new_database("x")       # "mysql://mlmd@127.0.0.1:PORT/x"
        env = mariadb_server.env()                    # {"MLMD_MYSQL_PASSWORD": ...}

The server listens on 127.0.0.1 on a free port with its data in a temporary folder, runs as the
current user, has the anonymous users deleted (or TCP logins as a named user are denied) and a
user with a password and rights to create databases. It is stopped and deleted at session end.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Dict, Optional

import pytest

PASSWORD_ENV = "MLMD_MYSQL_PASSWORD"


def _find(binary: str) -> Optional[str]:
    return shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.access(p, os.X_OK)), None)


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM the server if the test process dies without tearing down (Linux)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDBServer:
    """A private mariadbd process; ``start()`` / ``stop()`` or use as a context manager."""

    def __init__(self, user: str = "mlmd", startup_timeout: float = 60.0):
        self.user = user
        self.password = "pw-" + uuid.uuid4().hex[:12]
        self.host = "127.0.0.1"
        self.port: Optional[int] = None
        self.startup_timeout = startup_timeout
        self._dir: Optional[str] = None
        self._proc: Optional[subprocess.Popen] = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "MariaDBServer":
        mariadbd, install_db, client = _find("mariadbd"), _find("mariadb-install-db"), _find("mariadb")
        if not (mariadbd and install_db and client):
            raise RuntimeError("MariaDB is not installed (need mariadbd, mariadb-install-db, mariadb): "
                               "run `bash .ci/system-deps.sh` (apt-get install mariadb-server)")
        self._client = client
        self._dir = tempfile.mkdtemp(prefix="mdb-")  # short: socket paths are limited to ~107 chars
        datadir = os.path.join(self._dir, "data")
        user_args = ["--user=root"] if os.geteuid() == 0 else []
        r = subprocess.run([install_db, "--no-defaults", f"--datadir={datadir}", "--skip-test-db",
                            "--auth-root-authentication-method=socket", *user_args],
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed ({r.returncode}): {r.stderr[-2000:]}")
        self.port = _free_port()
        self.socket = os.path.join(self._dir, "s.sock")
        self._log = os.path.join(self._dir, "error.log")
        self._proc = subprocess.Popen(
            [mariadbd, "--no-defaults", f"--datadir={datadir}", f"--socket={self.socket}",
             f"--port={self.port}", f"--bind-address={self.host}", f"--pid-file={self._dir}/m.pid",
             f"--log-error={self._log}", "--skip-name-resolve", "--skip-log-bin",
             "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M", "--max-connections=200",
             "--innodb-flush-log-at-trx-commit=2", *user_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent)
        deadline = time.time() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self._proc.returncode}: {self._tail_log()}")
            if os.path.exists(self.socket) and self._sql("SELECT 1", check=False).returncode == 0:
                break
            if time.time() > deadline:
                self.stop()
                raise RuntimeError(f"mariadbd did not start within {self.startup_timeout}s: {self._tail_log()}")
            time.sleep(0.2)
        self._sql(
            "DELETE FROM mysql.global_priv WHERE User='';"
            f"CREATE USER '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self.password}';"
            f"CREATE USER '{self.user}'@'localhost' IDENTIFIED BY '{self.password}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'127.0.0.1';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'localhost';"
            "FLUSH PRIVILEGES;")
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> "MariaDBServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- helpers -------------------------------------------------------------------------------
    def _sql(self, sql: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([self._client, "--no-defaults", f"--socket={self.socket}", "-uroot", "-e", sql],
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"SQL failed ({sql[:80]}...): {r.stderr}")
        return r

    def _tail_log(self) -> str:
        try:
            with open(self._log) as f:
                return f.read()[-2000:]
        except OSError:
            return "(no error log)"

    def sql(self, sql: str) -> str:
        """Runs SQL as root over the socket; returns stdout (tab-separated)."""
        return self._sql(sql).stdout

    def new_database(self, prefix: str = "mlmd") -> str:
        """Creates an empty database; returns its ``mysql://user@host:port/db`` spec (no password)."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self._sql(f"CREATE DATABASE `{name}`")
        return self.spec(name)

    def spec(self, database: str) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{database}"

    def env(self) -> Dict[str, str]:
        return {PASSWORD_ENV: self.password}


@pytest.fixture(scope="session")
def mariadb_server():
    """Session-wide MariaDB server; its password is exported as $MLMD_MYSQL_PASSWORD."""
    server = MariaDBServer().start()
    previous = os.environ.get(PASSWORD_ENV)
    os.environ[PASSWORD_ENV] = server.password
    try:
        yield server
    finally:
        if previous is None:
            os.environ.pop(PASSWORD_ENV, None)
        else:
            os.environ[PASSWORD_ENV] = previous
        server.stop()
