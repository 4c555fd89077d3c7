"""`python -m pipeline ct --from A --to B ...`: the continuous-training replay (see pipeline/ct/replay.py)."""
import json
import sys

import click

from data import mlmd_store
from pipeline.cli_support import WindowType, check_metadata, fail, hide_tensorflow_startup_lines
from pipeline.dag import configs
from pipeline.local import runner
from pipeline.model import families


@click.command("ct")
@click.option("--from", "first", type=click.IntRange(min=1), required=True, help="First span of the replay.")
@click.option("--to", "last", type=click.IntRange(min=1), required=True, help="Last span of the replay.")
@click.option("--window", type=WindowType(), default=configs.TRAINING_WINDOW, show_default=True,
              help="Train each span's candidate on the last K spans, or on all spans so far ('all').")
@click.option("--data", "data_root", default=runner.DEFAULT_DATA_ROOT, show_default=True,
              type=click.Path(file_okay=False))
@click.option("--schema", "schema_path", default=runner.DEFAULT_SCHEMA, show_default=True,
              type=click.Path(dir_okay=False, exists=True))
@click.option("--output", "output_dir", default="outputs", show_default=True,
              help="Pipeline root, metadata store, pushed models, logs and the report (<output>/ct/).")
@click.option("--metadata", default=None, help="MLMD store (SQLite path or mysql://...); default <output>/metadata.sqlite.")
@click.option("--epochs", type=int, default=None, help="Training epochs (default: the trainer's).")
@click.option("--no-warm-start", is_flag=True, help="Train every candidate from scratch.")
@click.option("--family", "model_family", type=click.Choice(sorted(families.FAMILIES)), default=configs.MODEL_FAMILY,
              show_default=True, help="Model family the Trainer fits (gbt: TF-DF gradient-boosted trees, always cold).")
@click.option("--name", "replay_name", default=None, help="Name of the replay's MLMD context (default: ct-<time>).")
@click.option("--verbose", "-v", is_flag=True, help="Also show what the runs log, on stderr.")
@click.option("--json", "as_json", is_flag=True, help="stdout: one JSON array, one object per span.")
def ct_command(first, last, window, data_root, schema_path, output_dir, metadata, epochs, no_warm_start,
               model_family, replay_name, verbose, as_json):
    """Replay spans FROM..TO in order in one process: train, gate, push; forward figures and a report."""
    if not verbose:  # the runs' Python logs stay in their log files; only TF's C++ start-up lines go
        hide_tensorflow_startup_lines()
    from pipeline.ct import replay as ct, report as ct_report
    from pipeline.local.span_check import BadSpanError

    if last < first:
        raise click.BadParameter(f"--to {last} is before --from {first}", param_hint="--to")
    check_metadata(metadata)
    hparams = {}
    if epochs:
        hparams["epochs"] = epochs
    if no_warm_start:
        hparams["warm_start"] = False
    out = sys.stderr if as_json else sys.stdout
    try:
        result = ct.replay(first, last, window=window, output_dir=output_dir, metadata=metadata,
                           data_root=data_root, schema_path=schema_path, hparams=hparams or None,
                           model_family=model_family,
                           replay_name=replay_name, verbose=verbose,  # node progress: stderr
                           on_span=lambda row: click.echo(ct.format_row(row), file=out))
    except (BadSpanError, runner.PipelineRunError, ValueError, LookupError) as e:
        fail(str(e))
    store = mlmd_store.open_store(metadata or runner.OutputLayout(output_dir).metadata_path)
    paths = ct_report.write_report(store, result["replay"], output_dir)
    if as_json:
        click.echo(json.dumps(result["spans"], indent=2))
    else:
        click.echo(f"Replay {result['replay']}: report {paths['html']}")
    click.echo(f"Report: {paths['html']}", err=True)
