"""Forward figures for training choices, without the pipeline: the production trainer (`trainer.train_and_export`)
trained on spans up to N, scored on all of span N+1 (`ct.score_examples`), for each training window and
warm / cold start.

    python -m pipeline.tools.model_selection [--window 1 --window 3 --window 6 --window all] [--warm/--cold ...]

Prints one JSON line per variant: mean forward AUC over the scored spans, per span, Trainer seconds.
This is how the defaults in pipeline/dag/configs.py (TRAINING_WINDOW) and the trainer (warm_start) were chosen;
the `ct` replay then confirms them through the real pipeline and its gates.
"""
import json
import os
import tempfile
import time

import click

from data import contract, spans_io
from pipeline.local import runner


def write_examples(data_root: str, span: int, cache_dir: str) -> str:
    """Span N as gzipped tf.Examples (the layout the Trainer reads), cached in `cache_dir`."""
    import tensorflow as tf
    path = os.path.join(cache_dir, f"span-{span}.gz")
    if not os.path.exists(path):
        frame = spans_io.read_span(spans_io.span_path(data_root, span))
        with tf.io.TFRecordWriter(path + ".tmp", options="GZIP") as writer:
            for row in frame.to_dict("records"):
                row = {k: (None if v is None or v != v else v) for k, v in row.items()}
                writer.write(contract.example_from_row(row, with_label=True).SerializeToString())
        os.replace(path + ".tmp", path)
    return path


def forward_figures(data_root: str, spans, window, warm: bool, cache_dir: str, hparams=None) -> dict:
    """Trains for spans[:-1] in order (window K or 'all'; warm from the previous model) and scores each
    model on the next span. Returns {"per_span": {span scored: auc}, "mean": ..., "trainer_seconds": ...}."""
    from pipeline.ct import replay as ct
    from pipeline.model import trainer
    files = {s: write_examples(data_root, s, cache_dir) for s in spans}
    per_span, seconds, previous = {}, [], None
    for i, span in enumerate(spans[:-1]):
        first = spans[0] if window == "all" else max(spans[0], span - int(window) + 1)
        model_dir = os.path.join(cache_dir, f"model-{window}-{'warm' if warm else 'cold'}-{span}")
        start = time.monotonic()
        trainer.train_and_export([files[s] for s in spans if first <= s <= span], runner.DEFAULT_SCHEMA, model_dir,
                                 hparams={**(hparams or {}), "warm_start": warm}, base_model_dir=previous)
        seconds.append(time.monotonic() - start)
        labels, scores = ct.score_examples(model_dir, "", files=[files[spans[i + 1]]])
        per_span[spans[i + 1]] = round(ct.forward_metrics(labels, scores)["auc"], 4)
        previous = model_dir
    return {"window": window, "start": "warm" if warm else "cold", "per_span": per_span,
            "mean": round(sum(per_span.values()) / len(per_span), 4),
            "trainer_seconds": round(sum(seconds), 1)}


@click.command()
@click.option("--data", "data_root", default=runner.DEFAULT_DATA_ROOT, show_default=True)
@click.option("--from", "first", type=int, default=1, show_default=True)
@click.option("--to", "last", type=int, default=12, show_default=True)
@click.option("--window", "windows", multiple=True, default=("1", "3", "6", "all"), show_default=True)
@click.option("--start", "starts", multiple=True, type=click.Choice(["warm", "cold"]), default=("warm",),
              show_default=True)
def main(data_root, first, last, windows, starts):
    from pipeline.ct.replay import parse_window
    with tempfile.TemporaryDirectory(prefix="model-selection-") as cache:
        for window in windows:
            for start in starts:
                click.echo(f"window {window}, {start} start ...", err=True)
                with runner.captured_output(os.path.join(cache, "training.log")):  # Keras/TF noise
                    result = forward_figures(data_root, list(range(first, last + 1)), parse_window(window),
                                             start == "warm", cache)
                click.echo(json.dumps(result))


if __name__ == "__main__":
    main()
