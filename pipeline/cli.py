"""Command line: `python -m pipeline run|vertex|lineage|ct ...` (console script `flight-pipeline`).

stdout carries the result only (the summary, or with --json one JSON document); progress and errors
go to stderr, everything else a run prints to its log file (and to stderr with -v).
"""
import json
import sys

import click

from pipeline import metadata as mlmd_config
from pipeline import runner
from pipeline.ct_cli import WindowType


def fail(message: str, code: int = 1) -> None:
    """Ends the command with `ERROR: message` on stderr (no traceback)."""
    click.echo(f"ERROR: {message}", err=True)
    sys.exit(code)


@click.group()
def cli():
    """Flight-delay TFX pipeline."""


@cli.command()
@click.option("--span", type=int, default=None, help="Span (month 1-12) to train on; default: the latest.")
@click.option("--window", type=WindowType(), default=1, show_default=True,
              help="Train on the last K spans up to --span, or 'all' (earlier spans must have been run before).")
@click.option("--data", "data_root", default=runner.DEFAULT_DATA_ROOT, show_default=True,
              type=click.Path(file_okay=False), help="Folder of span-N/*.csv folders.")
@click.option("--output", "output_dir", default="outputs", show_default=True,
              help="Pipeline root, metadata store, pushed models and run logs go here.")
@click.option("--schema", "schema_path", default=runner.DEFAULT_SCHEMA, show_default=True,
              type=click.Path(dir_okay=False, exists=True))
@click.option("--metadata", default=None,
              help="MLMD store: SQLite path or mysql://user@host:port/db (password from "
                   "MLMD_MYSQL_PASSWORD). Default: <output>/metadata.sqlite.")
@click.option("--beam-mode", type=click.Choice(runner.BEAM_MODES), default="in_process", show_default=True)
@click.option("--workers", type=int, default=None, help="Beam workers for multi_* modes (default: cores).")
@click.option("--epochs", type=int, default=None, help="Training epochs (default: trainer's default).")
@click.option("--no-cache", is_flag=True, help="Re-execute every node.")
@click.option("--verbose", "-v", is_flag=True,
              help="Also show what the run logs (TFX, TF, Keras epochs, warnings) on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as one JSON document.")
def run(span, window, data_root, output_dir, schema_path, metadata, beam_mode, workers, epochs, no_cache, verbose, as_json):
    """Run the pipeline locally (LocalDagRunner)."""
    from pipeline import summary as run_summary
    from pipeline.span_check import BadSpanError

    if metadata is not None:
        try:
            mlmd_config.connection_config(metadata, create_dirs=False)
        except mlmd_config.MetadataSpecError as e:
            fail(f"--metadata: {e}", code=2)
    hparams = {"epochs": epochs} if epochs else None
    try:
        if window == "all":  # every span so far: 1..span
            window = span or span_check.span_number(span_check.select_span(data_root, None))
        result = runner.run_local(data_root, output_dir, span=span, window=window, schema_path=schema_path,
                                  beam_mode=beam_mode, workers=workers, metadata=metadata,
                                  hparams=hparams, enable_cache=not no_cache, verbose=verbose)
    except (BadSpanError, runner.PipelineRunError) as e:
        fail(str(e))
    if as_json:
        click.echo(json.dumps({**result.summary, "wall_seconds": result.wall_seconds}, indent=2))
    else:
        click.echo(run_summary.format_summary(result.summary, result.wall_seconds))
        click.echo(f"Log: {result.log_path}")


def _register_subcommands():
    from pipeline.ct_cli import ct_command
    from pipeline.lineage.cli import lineage
    from pipeline.vertex.cli import compile_command, vertex
    from pipeline.report_site import report
    cli.add_command(lineage)
    cli.add_command(report)
    cli.add_command(vertex)
    cli.add_command(compile_command, "compile-vertex")  # the old name of `vertex compile`
    cli.add_command(ct_command)


def main():
    _register_subcommands()
    cli()


if __name__ == "__main__":
    main()
