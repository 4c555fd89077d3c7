"""``lineage`` click group: trace, impact, runs, diff over an ML-Metadata store.

Register under the pipeline CLI with ``cli.add_command(lineage)``; standalone:
``python -m pipeline.lineage trace served --metadata outputs/metadata.sqlite``.
"""
from __future__ import annotations

import os
import sys

import click

from data import mlmd_store

DEFAULT_METADATA = os.path.join("outputs", "metadata.sqlite")


def _metadata_option(f):
    return click.option(
        "--metadata", default=DEFAULT_METADATA, show_default=True,
        help="MLMD store: SQLite path or mysql://user@host:port/db (password from $MLMD_MYSQL_PASSWORD).")(f)


def _format_option(graph: bool):
    choices = ["table", "json"] + (["dot", "html"] if graph else [])
    return click.option("--format", "fmt", type=click.Choice(choices), default="table", show_default=True,
                        help="table, JSON" + (", Graphviz DOT or a self-contained HTML page (inline SVG)" if graph else ""))


_files_option = click.option(
    "--read-files", is_flag=True,
    help="Also read artifact files: TFMA metrics of ModelEvaluation (and schema.pbtxt for diff). "
         "Default: MLMD only (except --format html, which always shows the metrics).")
_output_option = click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
                              help="Write to this file instead of stdout.")


def _open(spec: str):
    try:
        return mlmd_store.open_for_reading(spec)
    except mlmd_store.StoreUnreadable as e:
        raise click.ClickException(str(e)) from None


def _emit(result, fmt: str, output, title: str):
    from pipeline.lineage import render
    if fmt == "json":
        text = render.to_json(result)
    elif fmt == "dot":
        text = render.to_dot(result["graph"], title)
    elif fmt == "html":
        text = render.to_html(result, title)
    else:
        text = render.to_text(result)
    if output:
        with open(output, "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text)


def _run(fn):
    from pipeline.lineage.query import LineageError
    try:
        return fn()
    except LineageError as e:
        raise click.ClickException(str(e)) from None


@click.group()
def lineage():
    """Ask ML-Metadata about models, data and runs."""
    from pipeline.cli_support import quiet_tensorflow
    quiet_tensorflow()  # --read-files and --format html import TFMA


@lineage.command()
@click.argument("model", default="served")
@_metadata_option
@_format_option(graph=True)
@_files_option
@_output_option
@click.option("--server", default=None,
              help="gRPC host:port of a live model server: check what is served against its GetModelStatus.")
def trace(model, metadata, fmt, read_files, output, server):
    """Everything upstream of MODEL: 'served' (the registry's stable version, else the latest push; default),
    'canary', 'shadow', 'latest' or an artifact id."""
    from pipeline.lineage import query
    store = _open(metadata)
    # a page shows the evaluation's metrics: read TFMA's files for it
    result = _run(lambda: query.trace(store, model, read_files=read_files or fmt == "html"))
    if server:
        result["served"] = _run(lambda: query.served_state(store, server))
    _emit(result, fmt, output, f"trace {model}")
    if result["served"].get("mismatches"):
        raise click.ClickException("registry and server disagree: " + "; ".join(result["served"]["mismatches"]))


@lineage.command()
@click.argument("artifact")
@_metadata_option
@_format_option(graph=True)
@_output_option
def impact(artifact, metadata, fmt, output):
    """Everything downstream of ARTIFACT: a span number (3, span:3) or an artifact id (id:42)."""
    from pipeline.lineage import query
    store = _open(metadata)
    result = _run(lambda: query.impact(store, artifact))
    _emit(result, fmt, output, f"impact {artifact}")


@lineage.command()
@_metadata_option
@click.option("--pipeline", default=None, help="Only runs of this pipeline name.")
@click.option("--last", type=int, default=None, help="Only the last N runs.")
@_format_option(graph=False)
@_files_option
@_output_option
def runs(metadata, pipeline, last, fmt, read_files, output):
    """Run history: start, duration, executed/cached nodes, spans, metrics, verdicts, pushed version."""
    from pipeline.lineage import query
    store = _open(metadata)
    result = _run(lambda: query.runs(store, pipeline=pipeline, limit=last, read_files=read_files))
    _emit(result, fmt, output, "runs")


@lineage.command()
@click.argument("run_a")
@click.argument("run_b")
@_metadata_option
@_files_option
@_format_option(graph=False)
@_output_option
def diff(run_a, run_b, metadata, read_files, fmt, output):
    """Two runs side by side (run ids, or model references: served, latest, artifact id)."""
    from pipeline.lineage import query
    store = _open(metadata)
    result = _run(lambda: query.diff(store, run_a, run_b, read_files=read_files))
    _emit(result, fmt, output, f"diff {run_a} {run_b}")


def main(argv=None):
    lineage.main(args=argv, prog_name="python -m pipeline.lineage")


if __name__ == "__main__":
    main(sys.argv[1:])
