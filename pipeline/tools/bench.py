"""Benchmark: wall time of a cold run and of a fully cached re-run of the pipeline on one span, side
by side with TFX's own penguin example (tfx/examples/penguin, 334 rows), with per-node times.

    python -m pipeline.tools.bench [--span 1] [--out bench-results] [--skip-penguin]

Every measured run is a fresh process (imports included), as a user would start it. Per-node times
are read from each run's executions in ML-Metadata. The penguin data (CC0) ships in
pipeline/bench_data/penguin (see its README).
"""
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, List

import click

from pipeline.local import runner

PENGUIN_DATA = os.path.join(runner.REPO_ROOT, "pipeline", "bench_data", "penguin")
# Runs TFX's penguin example as shipped; importing `pipeline` first makes the same Keras choice.
PENGUIN_DRIVER = """
import os, sys
import pipeline
from tfx import v1 as tfx
from tfx.examples.penguin import penguin_pipeline_local as penguin
out, data_root, beam_args = sys.argv[1], sys.argv[2], sys.argv[3:]
tfx.orchestration.LocalDagRunner().run(penguin.create_pipeline(
    pipeline_name="penguin_local_keras", pipeline_root=os.path.join(out, "pipeline_root"),
    data_root=data_root, module_file=os.path.join(os.path.dirname(penguin.__file__), "penguin_utils_keras.py"),
    accuracy_threshold=0.6, serving_model_dir=os.path.join(out, "serving_model"),
    metadata_path=os.path.join(out, "metadata.sqlite"), user_provided_schema_path=None,
    enable_tuning=False, enable_bulk_inferrer=False, enable_example_diff=False,
    examplegen_input_config=None, examplegen_range_config_date=None, resolver_range_config=None,
    beam_pipeline_args=beam_args, enable_transform_input_cache=False))
"""


def latest_run_node_seconds(metadata_path: str) -> Dict[str, Dict]:
    """{node: {state, seconds}} for the most recent pipeline run in a SQLite MLMD store."""
    from data import mlmd_store
    from pipeline.local import summary
    store = mlmd_store.open_store(metadata_path, read_only=True)
    latest = max(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.create_time_since_epoch)
    nodes = summary.run_nodes(store, latest)
    return {n["node"]: {"state": n["state"], "seconds": n["seconds"]} for n in nodes}


def timed(cmd: List[str], log_path: str) -> float:
    start = time.monotonic()
    with open(log_path, "w") as log:
        completed = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=runner.REPO_ROOT)
    seconds = time.monotonic() - start
    if completed.returncode != 0:
        raise click.ClickException(f"{' '.join(cmd[:4])} ... failed (exit {completed.returncode}); see {log_path}")
    return seconds


def bench_pipeline(name: str, cmd: List[str], out: str) -> Dict:
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    figures = {}
    for phase in ("cold", "cached"):
        click.echo(f"{name}: {phase} run ...", err=True)
        seconds = timed(cmd, os.path.join(out, f"{phase}.log"))
        figures[phase] = {"wall_seconds": round(seconds, 1),
                          "nodes": latest_run_node_seconds(os.path.join(out, "metadata.sqlite"))}
    return figures


def print_table(results: Dict[str, Dict]) -> None:
    names = list(results)
    click.echo("\n" + " " * 22 + "".join(f"{n:>24}" for n in names))
    for phase in ("cold", "cached"):
        click.echo(f"{phase + ' run wall (s)':<22}" + "".join(
            f"{results[n][phase]['wall_seconds']:>24.1f}" for n in names))
    for name in names:
        for phase in ("cold", "cached"):
            nodes = results[name][phase]["nodes"]
            in_nodes = sum(v["seconds"] for v in nodes.values())
            click.echo(f"\n{name} {phase}: {len(nodes)} nodes, {in_nodes:.1f}s inside nodes, "
                       f"{results[name][phase]['wall_seconds'] - in_nodes:.1f}s outside (imports, "
                       f"compile, MLMD)")
            for node, v in nodes.items():
                click.echo(f"  {node:<34} {v['state']:<9} {v['seconds']:>7.1f}s")
    if len(names) == 2:
        ours, theirs = names
        click.echo(f"\ncold ratio {ours}/{theirs}: "
                   f"{results[ours]['cold']['wall_seconds'] / results[theirs]['cold']['wall_seconds']:.2f} "
                   f"(target <= 1.0); cached ratio: "
                   f"{results[ours]['cached']['wall_seconds'] / results[theirs]['cached']['wall_seconds']:.2f} "
                   f"(target <= 0.6)")


@click.command()
@click.option("--span", type=int, default=1, show_default=True)
@click.option("--data", "data_root", default=runner.DEFAULT_DATA_ROOT, show_default=True)
@click.option("--out", default="bench-results", show_default=True)
@click.option("--beam-mode", type=click.Choice(runner.BEAM_MODES), default="in_process", show_default=True)
@click.option("--skip-penguin", is_flag=True)
def main(span, data_root, out, beam_mode, skip_penguin):
    """Cold and cached wall time of this pipeline and of TFX's penguin example, per node."""
    out = os.path.abspath(out)
    results = {}
    ours = os.path.join(out, "flight-delay")
    results[f"flight-delay span {span}"] = bench_pipeline("flight-delay", [
        sys.executable, "-m", "pipeline", "run", "--span", str(span), "--data", data_root,
        "--output", ours, "--beam-mode", beam_mode], ours)
    if not skip_penguin:
        penguin = os.path.join(out, "penguin")
        results["tfx penguin"] = bench_pipeline("penguin", [
            sys.executable, "-c", PENGUIN_DRIVER, penguin, os.path.abspath(PENGUIN_DATA)]
            + runner.beam_pipeline_args(beam_mode), penguin)
    print_table(results)
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump(results, f, indent=2)
    click.echo(f"\nfigures written to {os.path.join(out, 'bench.json')}")


if __name__ == "__main__":
    main()
