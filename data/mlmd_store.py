"""ML-Metadata connection helpers: one spec string for SQLite files and MySQL/MariaDB servers.

A spec is either a SQLite path (``outputs/metadata.sqlite``, ``sqlite:///abs/path.sqlite``) or a
MySQL URL ``mysql://user@host:port/db``. The MySQL password is read from an environment variable
(``MLMD_MYSQL_PASSWORD`` by default) at call time, never from the URL, so it does not end up in
shell history, logs or MLMD itself. The returned ``ConnectionConfig`` works for
``ml_metadata.MetadataStore`` and for TFX (``tfx.dsl.Pipeline(metadata_connection_config=...)``).

SQLite and concurrent writers: MLMD retries aborted write transactions itself
(``retry_options.max_num_retries``), but creating the schema of a new database from several
processes at once fails with "Concurrent writes aborted" / "subset of tables" / "database is
locked". :func:`open_store` retries that with backoff; call it (or :func:`prepare_store`) once
before starting concurrent TFX runs against a fresh SQLite file.
"""
from __future__ import annotations

import logging
import os
import random
import re
import time
import urllib.parse
from typing import Callable, Optional, TypeVar, Union

from ml_metadata import errors as mlmd_errors
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

PASSWORD_ENV = "MLMD_MYSQL_PASSWORD"
DEFAULT_SQLITE = os.path.join("outputs", "metadata.sqlite")
# MLMD's own retry count for aborted (conflicting) write transactions; its default is 5.
DEFAULT_MAX_NUM_RETRIES = 12

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")

# Messages of errors that mean "another writer holds the database; try again".
_TRANSIENT_MARKERS = (
    "database is locked",
    "Concurrent writes aborted",
    "subset of tables",
    "concurrent connection to the empty database",  # MySQL/MariaDB schema creation race
    "Please retry",
    "Deadlock found",
    "Lock wait timeout",
)


_PASSWORD_RE = re.compile(r'(password\s*[:=]\s*)("(?:[^"\\]|\\.)*"|\S+)')


class _RedactPasswords(logging.Filter):
    """Scrubs ``password: "..."`` from log records (MLMD logs its ConnectionConfig at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        if "password" in message:
            record.msg, record.args = _PASSWORD_RE.sub(r'\1"***"', message), ()
        return True


_FILTER = _RedactPasswords()


def _install_log_redaction() -> None:
    for name in ("absl", "ml_metadata", "tfx", ""):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class MetadataSpecError(ValueError):
    """A metadata spec string that cannot be turned into a connection config."""


def is_mysql_spec(spec: str) -> bool:
    return spec.strip().lower().startswith(("mysql://", "mariadb://"))


def connection_config(
    spec: str,
    *,
    password_env: str = PASSWORD_ENV,
    read_only: bool = False,
    create_dirs: bool = True,
    max_num_retries: int = DEFAULT_MAX_NUM_RETRIES,
) -> metadata_store_pb2.ConnectionConfig:
    """ConnectionConfig for a SQLite path or ``mysql://user@host:port/db`` (password from env).

    ``read_only`` opens SQLite read-only and requires the file to exist (a typo in a path must not
    silently create an empty store).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise MetadataSpecError("metadata spec is empty: give a SQLite path or mysql://user@host:port/db")
    spec = spec.strip()
    config = metadata_store_pb2.ConnectionConfig()
    config.retry_options.max_num_retries = max_num_retries
    if is_mysql_spec(spec):
        _install_log_redaction()
        config.mysql.CopyFrom(_mysql_config(spec, password_env))
        return config
    if "://" in spec and not spec.startswith("sqlite://"):
        raise MetadataSpecError(
            f"metadata spec {redact(spec)!r}: unsupported scheme; use a SQLite path, "
            "sqlite:///path or mysql://user@host:port/db")
    path = spec[len("sqlite://"):] if spec.startswith("sqlite://") else spec
    if not path:
        raise MetadataSpecError(f"metadata spec {spec!r}: missing SQLite file path")
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        raise MetadataSpecError(f"metadata spec {spec!r}: {path} is a directory, not a SQLite file")
    if read_only:
        if not os.path.isfile(path):
            raise MetadataSpecError(f"metadata store {path} does not exist (spec {spec!r})")
        mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    else:
        if create_dirs and os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = mode
    return config


def _mysql_config(spec: str, password_env: str) -> metadata_store_pb2.MySQLDatabaseConfig:
    parsed = urllib.parse.urlsplit(spec)
    if parsed.password is not None:
        # Never echo the URL: it contains the password.
        raise MetadataSpecError(
            "metadata spec contains a password (mysql://user:PASSWORD@...); remove it and export "
            f"it as ${password_env} instead")
    where = redact(spec)
    if not parsed.username:
        raise MetadataSpecError(f"metadata spec {where!r}: missing user (mysql://user@host:port/db)")
    if not parsed.hostname:
        raise MetadataSpecError(f"metadata spec {where!r}: missing host (mysql://user@host:port/db)")
    try:
        port = parsed.port or 3306
    except ValueError as e:
        raise MetadataSpecError(f"metadata spec {where!r}: bad port: {e}") from None
    database = parsed.path.lstrip("/")
    if not database or "/" in database:
        raise MetadataSpecError(f"metadata spec {where!r}: missing or bad database name (…/db)")
    if parsed.query or parsed.fragment:
        raise MetadataSpecError(f"metadata spec {where!r}: query strings are not supported")
    cfg = metadata_store_pb2.MySQLDatabaseConfig(
        host=parsed.hostname, port=port, database=database,
        user=urllib.parse.unquote(parsed.username))
    password = os.environ.get(password_env)
    if password:
        cfg.password = password
    return cfg


def redact(spec_or_config: Union[str, metadata_store_pb2.ConnectionConfig]) -> str:
    """Human-readable description of a spec or config without any password."""
    if isinstance(spec_or_config, metadata_store_pb2.ConnectionConfig):
        c = spec_or_config
        if c.HasField("mysql"):
            return f"mysql://{c.mysql.user}@{c.mysql.host}:{c.mysql.port}/{c.mysql.database}"
        if c.HasField("sqlite"):
            return f"sqlite://{c.sqlite.filename_uri}"
        return "<metadata config>"
    spec = str(spec_or_config)
    if is_mysql_spec(spec):
        p = urllib.parse.urlsplit(spec)
        if p.password is not None:
            netloc = f"{p.username}:***@{p.hostname}" + (f":{p.port}" if _safe_port(p) else "")
            return urllib.parse.urlunsplit((p.scheme, netloc, p.path, "", ""))
    return spec


def _safe_port(parsed) -> Optional[int]:
    try:
        return parsed.port
    except ValueError:
        return None


def _is_transient(err: BaseException) -> bool:
    if isinstance(err, mlmd_errors.AbortedError):
        return True
    msg = str(err)
    return any(m in msg for m in _TRANSIENT_MARKERS)


def with_retry(fn: Callable[[], _T], *, attempts: int = 8, base_delay: float = 0.2,
               what: str = "metadata operation") -> _T:
    """Calls ``fn`` retrying transient lock/abort errors with jittered exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as e:  # MLMD raises RuntimeError from C++ for lock conflicts.
            if not _is_transient(e):
                raise
            if attempt == attempts:
                raise RuntimeError(
                    f"{what} still failing after {attempts} attempts because another writer holds "
                    f"the database ({e}). For many concurrent writers use MySQL/MariaDB "
                    "(mysql://user@host:port/db) instead of SQLite.") from e
            delay = base_delay * (2 ** (attempt - 1)) * (0.5 + random.random())
            _LOG.info("%s: transient error (%s); retry %d/%d in %.2fs", what, e, attempt,
                      attempts - 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


class NamedStore(metadata_store.MetadataStore):
    """A MetadataStore that knows how to name itself in messages (`where`: the spec, password redacted)."""

    def __init__(self, config: metadata_store_pb2.ConnectionConfig, where: Optional[str] = None):
        super().__init__(config)
        self.where = where or redact(config)


def open_store(spec: Union[str, metadata_store_pb2.ConnectionConfig], *,
               read_only: bool = False, attempts: int = 8, **kwargs) -> NamedStore:
    """MetadataStore for a spec or config; retries schema creation races between writers."""
    config = (spec if isinstance(spec, metadata_store_pb2.ConnectionConfig)
              else connection_config(spec, read_only=read_only, **kwargs))
    if config.HasField("mysql") and not config.mysql.password:
        _LOG.debug("no password set: connecting to %s without one", redact(config))
    try:
        with _native_stderr_held() as held:
            store = with_retry(lambda: NamedStore(config, redact(spec)), attempts=attempts,
                               what=f"opening {redact(config)}")
        held.replay()
        return store
    except (mlmd_errors.StatusError, RuntimeError) as e:
        # MLMD's C++ log lines of a failed connection say what the error below says: debug log only.
        _LOG.debug("MLMD's own log while failing to open %s:\n%s", redact(config), held.text)
        hint = ""
        if config.HasField("mysql"):
            hint = (f" (check that the server is up at {config.mysql.host}:{config.mysql.port}, the user "
                    f"{config.mysql.user!r}, the database and ${PASSWORD_ENV})")
        # A refused connection leaves MySQL's errno and message empty: drop the empty fields.
        message = re.sub(r"[:,]?\s*errno:\s*,\s*error:\s*$", "", str(e).strip())
        raise RuntimeError(f"cannot open metadata store {redact(config)}: {message}{hint}") from None


class _native_stderr_held:
    """Holds what native code writes to file descriptor 2 (MLMD's glog) while the block runs; `replay()`
    writes it out (on success), `text` keeps it (on failure)."""

    def __enter__(self):
        import sys
        import tempfile
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode(errors="replace")
        self._file.close()
        return False

    def replay(self):
        if self.text:
            os.write(2, self.text.encode())


class StoreUnreadable(RuntimeError):
    """An existing store cannot be read; the message is one line naming it."""


def open_for_reading(spec: str) -> NamedStore:
    """An existing store, opened to be read: SQLite read-only (a mistyped path is not created), MySQL
    probed once (a reachable server with a broken database fails here). StoreUnreadable names it."""
    where = redact(spec)
    try:
        with _native_stderr_held() as held:  # MLMD's C++ lines of a failed probe: our error says it all
            store = open_store(spec, read_only=not is_mysql_spec(spec))
            store.get_context_types()
        held.replay()
    except Exception as e:  # MetadataSpecError, RuntimeError, MLMD's own errors: all mean "cannot read it"
        message = " ".join(str(e).split()) or type(e).__name__
        raise StoreUnreadable(message if where in message else f"cannot read metadata store {where}: {message}") \
            from None
    return store


def prepare_store(spec: Union[str, metadata_store_pb2.ConnectionConfig]) -> metadata_store_pb2.ConnectionConfig:
    """Creates the MLMD schema once (with retries) and returns the config for TFX runners."""
    config = spec if isinstance(spec, metadata_store_pb2.ConnectionConfig) else connection_config(spec)
    open_store(config)
    return config


def describe(spec_or_config: Union[str, metadata_store_pb2.ConnectionConfig]) -> str:
    """Alias of :func:`redact` (safe to print or log)."""
    return redact(spec_or_config)
