"""What every `python -m pipeline ...` command shares: the one-line error, the `--metadata` check, `--window`."""
import logging
import os
import sys

import click

from data import mlmd_store
from pipeline.dag.window import parse_window


def fail(message: str, code: int = 1) -> None:
    """Ends the command with `Error: message` on stderr (no traceback)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def hide_tensorflow_startup_lines() -> None:
    """TF's C++ log at FATAL only (its start-up lines: CUDA stubs, CPU features), unless the caller set a level.
    Call before TF loads."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def quiet_tensorflow() -> None:
    """For commands that import TensorFlow/TFMA only to read artifact files: keep TF's start-up lines
    (C++ log), deprecation notices and other libraries' import warnings off stderr. Call before TF loads."""
    hide_tensorflow_startup_lines()
    for name in ("tensorflow", "absl", ""):  # "": e.g. TF-DF's compatibility warning on the root logger
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().addHandler(logging.NullHandler())  # no implicit basicConfig on a stray warning


def check_metadata(metadata) -> None:
    """Fails (exit 2) naming the problem when a given `--metadata` is not a usable store spec."""
    if metadata is None:
        return
    try:
        mlmd_store.connection_config(metadata, create_dirs=False)
    except mlmd_store.MetadataSpecError as e:
        fail(f"--metadata: {e}", code=2)


class WindowType(click.ParamType):
    """`--window K|all`."""
    name = "K|all"

    def convert(self, value, param, ctx):
        try:
            return parse_window(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)
