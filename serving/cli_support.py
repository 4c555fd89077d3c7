"""What every `python -m serving ...` command shares: the one-line error, default paths, common options."""
import click

from data.contract import MODEL_NAME
from data.paths import OutputLayout

DEFAULT_PUSH_DIR = OutputLayout().serving_model_dir
DEFAULT_METADATA = OutputLayout().metadata_path

model_option = click.option("--model-name", default=MODEL_NAME, show_default=True)


def fail(exc):
    """Ends the command with `Error: <exc>` on stderr (no traceback)."""
    raise click.ClickException(str(exc)) from None
