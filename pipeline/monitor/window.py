"""A monitoring window's identity and where its files go (light: no TensorFlow import, for the command line)."""
import datetime
import os
import uuid

from data import mlmd_store
from data.paths import OUTPUT_DIR


class BadInput(ValueError):
    """Input the monitor cannot use: logs, labels, store or a version the store does not know. One line."""


def window_id() -> str:
    """UTC start time and a short random suffix, e.g. 2026-12-06T01-34-38Z-3fa2c1."""
    return f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H-%M-%SZ')}-{uuid.uuid4().hex[:6]}"


def default_output(metadata: str, window: str) -> str:
    """<the SQLite store's folder>/monitoring/<window> (outputs/monitoring/<window> for a MySQL store)."""
    base = OUTPUT_DIR if mlmd_store.is_mysql_spec(metadata) else os.path.dirname(os.path.abspath(metadata))
    return os.path.join(base, "monitoring", window)
