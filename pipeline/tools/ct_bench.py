"""Benchmark: the replay as one `ct` process vs one `run` process per span, same spans, same window.

    python -m pipeline.tools.ct_bench [--from 1 --to 12] [--window all] [--data DIR] [--epochs N]

Prints both wall times, their ratio (target <= 0.5) and each span's marginal cost. Figures, not assertions.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import click

from pipeline.dag import configs
from pipeline.local import runner
from pipeline.ct.replay import parse_window, window_for


def _timed(command, cwd) -> tuple:
    start = time.monotonic()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise click.ClickException(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.monotonic() - start, proc.stdout


@click.command()
@click.option("--from", "first", type=int, default=1, show_default=True)
@click.option("--to", "last", type=int, default=12, show_default=True)
@click.option("--window", default=str(configs.TRAINING_WINDOW), show_default=True)
@click.option("--data", "data_root", default=runner.DEFAULT_DATA_ROOT, show_default=True)
@click.option("--epochs", type=int, default=None)
def main(first, last, window, data_root, epochs):
    window = parse_window(window)
    extra = ["--epochs", str(epochs)] if epochs else []
    with tempfile.TemporaryDirectory(prefix="ct-bench-") as tmp:
        ct_seconds, out = _timed([sys.executable, "-m", "pipeline", "ct", "--from", str(first), "--to", str(last),
                                  "--window", str(window), "--data", data_root, "--output",
                                  os.path.join(tmp, "ct"), "--json"] + extra, runner.REPO_ROOT)
        per_span_ct = {row["span"]: row["seconds"] for row in json.loads(out)}
        separate = {}
        for span in range(first, last + 1):
            separate[span], _ = _timed([sys.executable, "-m", "pipeline", "run", "--span", str(span), "--window",
                                        str(window_for(span, window)), "--data", data_root, "--output",
                                        os.path.join(tmp, "runs"), "--json"] + extra, runner.REPO_ROOT)
            click.echo(f"  run --span {span}: {separate[span]:.1f}s (ct: {per_span_ct[span]:.1f}s)", err=True)
    total_separate = sum(separate.values())
    click.echo(f"spans {first}..{last}, window {window}")
    click.echo(f"{'span':>4} {'ct (s)':>8} {'run process (s)':>16}")
    for span in range(first, last + 1):
        click.echo(f"{span:>4} {per_span_ct[span]:>8.1f} {separate[span]:>16.1f}")
    click.echo(f"ct, one process: {ct_seconds:.1f}s; separate run processes: {total_separate:.1f}s; "
               f"ratio {ct_seconds / total_separate:.2f} (target <= 0.5)")


if __name__ == "__main__":
    main()
