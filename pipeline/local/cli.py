"""`python -m pipeline run`: one local run of the pipeline (LocalDagRunner) and its summary."""
import json

import click

from pipeline.cli_support import WindowType, check_metadata, fail
from pipeline.dag import configs
from pipeline.local import runner


@click.command()
@click.option("--span", type=int, default=None, help="Span (month 1-12) to train on; default: the latest.")
@click.option("--window", type=WindowType(), default=configs.TRAINING_WINDOW, show_default=True,
              help="Train on the last K spans up to --span, or 'all'; spans the metadata store lacks are "
                   "ingested first.")
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
    from pipeline.local import summary as run_summary
    from pipeline.local.span_check import BadSpanError

    check_metadata(metadata)
    hparams = {"epochs": epochs} if epochs else None
    try:
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
