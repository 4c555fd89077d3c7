"""Benchmark: trace/impact latency on stores of 10, 100 and 1,000 synthetic runs, lineage API vs naive walk.

    python -m pipeline.tools.lineage_bench [--sizes 10,100,1000] [--repeat 5] [--workdir DIR] [--metadata-root mysql://...]

Stores are written through the MLMD API by :mod:`pipeline.tools.synthetic_lineage`, which records the real
DAG (``create_pipeline`` compiled): spans cycle through 1..12, every run trains with new parameters (so
the Trainer and everything after it execute) and every 5th run is a fully cached re-run. Built SQLite
stores are kept in ``--workdir`` and reused.
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable, List

import click

from data import mlmd_store
from pipeline.lineage import query, render
from pipeline.tools.naive_lineage import collect_naive
from pipeline.tools.synthetic_lineage import SyntheticPipeline


def build_store(spec: str, n_runs: int):
    """A store with ``n_runs`` runs (re-used if it already holds them)."""
    store = mlmd_store.open_store(spec)
    have = len(store.get_contexts_by_type("pipeline_run"))
    if have >= n_runs:
        return store
    if have:
        raise click.ClickException(f"{mlmd_store.describe(spec)} holds {have} runs, not {n_runs}: remove it")
    p = SyntheticPipeline(store, root="/bench/root")
    for i in range(n_runs):
        span = 1 + i % 12
        if i % 5 == 4:
            p.run(1 + (i - 1) % 12, f"run-{i:05d}", epochs=i - 1, auc=0.6 + ((i - 1) % 7) / 20)
        else:
            p.run(span, f"run-{i:05d}", epochs=i, auc=0.6 + (i % 7) / 20, anomalies=(i % 11 == 10))
    return store


def _time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (page cache, prepared statements)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


@click.command()
@click.option("--sizes", default="10,100,1000", show_default=True, help="Run counts, comma-separated.")
@click.option("--repeat", default=5, show_default=True, help="Timed repetitions (median is shown).")
@click.option("--workdir", default=None,
              help="Where the SQLite stores are kept (default: /dev/shm/lineage-bench if it exists, else "
                   "outputs/lineage-bench; tmpfs avoids an fsync per MLMD write while building).")
@click.option("--mysql", "mysql_base", default=None,
              help="Also/instead use MySQL: mysql://user@host:port (one database per size is created by MLMD).")
def main(sizes: str, repeat: int, workdir: str, mysql_base):
    """Prints a table of median latencies (ms) for trace/impact/runs."""
    if workdir is None:
        workdir = ("/dev/shm/lineage-bench" if os.path.isdir("/dev/shm")
                   else os.path.join("outputs", "lineage-bench"))
    os.makedirs(workdir, exist_ok=True)
    rows: List[list] = []
    for n in [int(s) for s in sizes.split(",") if s.strip()]:
        spec = (f"{mysql_base.rstrip('/')}/lineage_bench_{n}" if mysql_base
                else os.path.join(workdir, f"runs-{n}.sqlite"))
        t0 = time.perf_counter()
        store = build_store(spec, n)
        build_s = time.perf_counter() - t0
        n_art, n_exec = len(store.get_artifacts()), len(store.get_executions())
        first_model = min(a.id for a in store.get_artifacts_by_type("Model"))
        ops = [
            ("trace served", lambda c: query.trace(store, "served", collector=c)),
            ("trace oldest model", lambda c: query.trace(store, first_model, collector=c)),
            ("impact span 1", lambda c: query.impact(store, 1, collector=c)),
        ]
        for name, op in ops:
            api_ms = _time(lambda: op(query.collect_api), repeat)
            naive_ms = _time(lambda: op(collect_naive), repeat)
            rows.append([n, n_art, n_exec, name, f"{api_ms:.1f}", f"{naive_ms:.1f}", f"{naive_ms / api_ms:.2f}x"])
        runs_ms = _time(lambda: query.runs(store), max(1, repeat // 2))
        rows.append([n, n_art, n_exec, "runs (whole history)", f"{runs_ms:.1f}", "-", "-"])
        click.echo(f"built/opened {n} runs in {build_s:.1f}s ({mlmd_store.describe(spec)})", err=True)
    click.echo(render.table(["runs", "artifacts", "executions", "question", "lineage API ms", "naive walk ms",
                             "naive/API"], rows))


if __name__ == "__main__":
    main()
