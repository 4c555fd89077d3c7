"""Forward figures for training choices, without the pipeline: each model family's production trainer
(pipeline/model/families.py) trained on spans up to N, scored on all of span N+1 (`ct.score_examples`), for
each training window and warm / cold start, side by side with a LightGBM reference in the same run.

    python -m pipeline.tools.model_selection [--family keras --family gbt] [--window all ...] [--start warm ...]
                                             [--no-reference] [--no-serving] [--hparams JSON] [--table PATH]

Prints one JSON line per variant: mean forward AUC over the scored spans, per span, trainer seconds, the
last model's size and its serving p50 (one row per request, REST, the project's model server), and the
difference to the reference with a 95% interval from resampling days (flights of a day are not
independent). `--table` writes the same figures as a Markdown table (the README's). This is how the
defaults in pipeline/dag/configs.py (MODEL_FAMILY, TRAINING_WINDOW) and the trainer (warm_start) were chosen;
the `ct` replay then confirms them through the real pipeline and its gates. The references (LightGBM, 300
trees: on the schedule-time columns, which the candidates are compared with, and on every contract column;
REFERENCES) use a test/benchmark-only dependency, never served.
"""
import json
import os
import tempfile
import time
from typing import Optional

import click

from data import contract, spans_io
from pipeline.local import runner
from pipeline.model import families


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


def _first(spans, span, window):
    return spans[0] if window == "all" else max(spans[0], span - int(window) + 1)


def _summary(per_span: dict, seconds: list) -> dict:
    return {"per_span": per_span, "mean": round(sum(per_span.values()) / len(per_span), 4),
            "trainer_seconds": round(sum(seconds), 1)}


def forward_figures(data_root: str, spans, window, warm: bool, cache_dir: str, hparams=None,
                    family: str = families.DEFAULT, keep_scores: Optional[dict] = None) -> dict:
    """Trains for spans[:-1] in order (window K or 'all'; warm from the previous model) and scores each
    model on the next span. Returns {"per_span": {span scored: auc}, "mean": ..., "trainer_seconds": ...,
    "model_dir": the last model}. `keep_scores` (a dict) receives {span: (labels, scores)}."""
    from pipeline.ct import replay as ct
    files = {s: write_examples(data_root, s, cache_dir) for s in spans}
    train = families.train_fn(family)
    per_span, seconds, previous, model_dir = {}, [], None, None
    for i, span in enumerate(spans[:-1]):
        model_dir = os.path.join(cache_dir, f"model-{family}-{window}-{'warm' if warm else 'cold'}-{span}")
        start = time.monotonic()
        train([files[s] for s in spans if _first(spans, span, window) <= s <= span], runner.DEFAULT_SCHEMA,
              model_dir, hparams={**(hparams or {}), "warm_start": warm}, base_model_dir=previous)
        seconds.append(time.monotonic() - start)
        labels, scores = ct.score_examples(model_dir, "", files=[files[spans[i + 1]]])
        per_span[spans[i + 1]] = round(ct.forward_metrics(labels, scores)["auc"], 4)
        if keep_scores is not None:
            keep_scores[spans[i + 1]] = (labels, scores)
        previous = model_dir
    return {"family": family, "window": window, "start": "warm" if warm else "cold",
            **_summary(per_span, seconds), "model_dir": model_dir}


# The LightGBM references: the (the columns known when the flight is scheduled, i.e. every contract
# column but the operations at the prediction moment), and LightGBM on every contract column.
REFERENCES = {
    "lightgbm (reference, schedule-time columns)": tuple(
        c for c in contract.FEATURE_KEYS if c not in contract.OPERATIONS_FEATURES),
    "lightgbm (every contract column)": contract.FEATURE_KEYS,
}


def reference_figures(data_root: str, spans, window, keep_scores: Optional[dict] = None,
                      name: str = next(iter(REFERENCES))) -> dict:
    """A LightGBM reference on the same forward protocol: 300 trees, the REFERENCES[name] columns (strings as
    categories), default settings, one thread (deterministic; on a shared machine faster than two)."""
    import lightgbm
    import pandas as pd
    from pipeline.ct import replay as ct
    frames = {s: spans_io.read_span(spans_io.span_path(data_root, s)) for s in spans}
    columns = list(REFERENCES[name])

    def design(frame, categories):
        x = frame[columns].copy()
        for c in columns:
            x[c] = x[c].astype(categories[c]) if c in categories else x[c].astype("float64")
        return x
    per_span, seconds = {}, []
    for i, span in enumerate(spans[:-1]):
        train = pd.concat([frames[s] for s in spans if _first(spans, span, window) <= s <= span])
        categories = {c: pd.CategoricalDtype(sorted(train[c].astype(str).unique())) for c in contract.CATEGORICAL_FEATURES}
        start = time.monotonic()
        model = lightgbm.LGBMClassifier(n_estimators=300, random_state=0, n_jobs=1, verbose=-1)
        model.fit(design(train, categories), train[contract.LABEL_KEY].astype(int))
        seconds.append(time.monotonic() - start)
        test = frames[spans[i + 1]]
        labels = test[contract.LABEL_KEY].astype(int).to_numpy()
        scores = model.predict_proba(design(test, categories))[:, 1]
        per_span[spans[i + 1]] = round(ct.forward_metrics(labels, scores)["auc"], 4)
        if keep_scores is not None:
            keep_scores[spans[i + 1]] = (labels, scores)
    return {"family": name, "window": window, "start": "cold", **_summary(per_span, seconds)}


def weighted_auc(labels, scores, weights):
    """ROC AUC with example weights (ties count one half)."""
    import numpy as np
    values, group = np.unique(scores, return_inverse=True)
    pos = np.bincount(group, weights * (labels == 1), minlength=len(values))
    neg = np.bincount(group, weights * (labels != 1), minlength=len(values))
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def day_bootstrap(candidate: dict, reference: dict, days: dict, resamples: int = 200, seed: int = 0) -> list:
    """95% interval of mean forward AUC (candidate - reference) when the days of each scored span are
    resampled with replacement (flights of one day share weather and delay cascades). candidate and
    reference: {span: (labels, scores)} over the same rows; days: {span: day of each row}."""
    import numpy as np
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        per_span = []
        for span, (labels, scores) in candidate.items():
            unique, index = np.unique(days[span], return_inverse=True)
            weights = np.bincount(rng.integers(0, len(unique), len(unique)), minlength=len(unique))[index].astype(float)
            per_span.append(weighted_auc(labels, scores, weights) - weighted_auc(reference[span][0], reference[span][1], weights))
        diffs.append(float(np.mean(per_span)))
    return [round(float(np.percentile(diffs, 2.5)), 4), round(float(np.percentile(diffs, 97.5)), 4)]


def model_bytes(model_dir: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(model_dir) for name in names)


def serving_p50_ms(model_dir: str, work_dir: str, requests_count: int = 200) -> float:
    """p50 latency of one-row REST predictions in the project's model server (serving/tools/bench.py)."""
    import shutil
    from serving.tools import bench
    base = os.path.join(work_dir, "serve", contract.MODEL_NAME)
    shutil.rmtree(os.path.dirname(base), ignore_errors=True)
    shutil.copytree(model_dir, os.path.join(base, "1"))
    server, _, rest, _ = bench.start_server(base, contract.MODEL_NAME, os.path.join(work_dir, "server.log"))
    try:
        body = json.dumps({"instances": bench.synthetic_rows(1)})
        return round(bench.measure(lambda: rest.post("predict", body), requests_count)["p50_ms"], 2)
    finally:
        server.stop()


def markdown_table(results: list) -> str:
    """The README's table: one row per variant, mean and per-span forward AUC, seconds, size, p50."""
    spans = sorted({s for r in results for s in r["per_span"]})
    head = ["family", "window", "start", "mean forward AUC", "vs reference (95% CI, days resampled)"] + \
        [str(s) for s in spans] + ["training s", "model size", "serving p50 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    for r in results:
        vs = "" if "vs_reference" not in r else f"{r['vs_reference']:+.4f} [{r['vs_reference_ci95'][0]:+.4f}, {r['vs_reference_ci95'][1]:+.4f}]"
        size = f"{r['model_bytes'] / 1e6:.1f} MB" if r.get("model_bytes") else "-"
        lines.append("| " + " | ".join([r["family"], str(r["window"]), r["start"], f"{r['mean']:.4f}", vs]
                                       + [f"{r['per_span'].get(s, float('nan')):.3f}" for s in spans]
                                       + [f"{r['trainer_seconds']:.0f}", size,
                                          f"{r['serving_p50_ms']:.2f}" if r.get("serving_p50_ms") else "-"]) + " |")
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--data", "data_root", default=runner.DEFAULT_DATA_ROOT, show_default=True)
@click.option("--from", "first", type=int, default=1, show_default=True)
@click.option("--to", "last", type=int, default=12, show_default=True)
@click.option("--family", "model_families", multiple=True, type=click.Choice(sorted(families.FAMILIES)),
              default=tuple(sorted(families.FAMILIES)), show_default=True)
@click.option("--window", "windows", multiple=True, default=("all",), show_default=True)
@click.option("--start", "starts", multiple=True, type=click.Choice(["warm", "cold"]), default=("warm",),
              show_default=True, help="Keras only: gradient-boosted trees always start cold.")
@click.option("--reference/--no-reference", default=True, show_default=True,
              help="LightGBM on the same protocol, in the same run (needs the test extra).")
@click.option("--serving/--no-serving", "serving", default=True, show_default=True,
              help="Measure each variant's last model in the project's model server (p50, one row).")
@click.option("--hparams", "hparams_json", default="{}", show_default=True,
              help='Hyperparameters per family over the trainers\' defaults, JSON: {"gbt": {"num_trees": 50}}.')
@click.option("--table", "table_path", default=None, help="Also write the figures as a Markdown table here.")
def main(data_root, first, last, model_families, windows, starts, reference, serving, hparams_json, table_path):
    from pipeline.ct.replay import parse_window
    try:
        hparams = json.loads(hparams_json)
        if not isinstance(hparams, dict) or set(hparams) - set(families.FAMILIES):
            raise ValueError(f"keys must be model families {sorted(families.FAMILIES)}")
    except ValueError as e:
        raise click.BadParameter(f"{hparams_json!r}: {e}", param_hint="--hparams") from e
    spans = list(range(first, last + 1))
    results = []
    with tempfile.TemporaryDirectory(prefix="model-selection-") as cache:
        days = {s: spans_io.read_span(spans_io.span_path(data_root, s))["day"].to_numpy() for s in spans[1:]}
        for window in windows:
            window = parse_window(window)
            reference_scores, reference_result = {}, None
            if reference:
                for name in REFERENCES:  # the first is the one candidates are compared with
                    click.echo(f"window {window}: {name} ...", err=True)
                    kept = reference_scores if reference_result is None else None
                    result = reference_figures(data_root, spans, window, keep_scores=kept, name=name)
                    reference_result = reference_result or result
                    results.append(result)
                    click.echo(json.dumps(result))
            variants = [(f, s) for f in model_families for s in (starts if f == "keras" else ("cold",))]
            for family, start in variants:
                click.echo(f"window {window}, {family}, {start} start ...", err=True)
                scores = {}
                with runner.captured_output(os.path.join(cache, "training.log")):  # Keras/TF noise
                    result = forward_figures(data_root, spans, window, start == "warm", cache, hparams=hparams.get(family),
                                             family=family, keep_scores=scores)
                result["model_bytes"] = model_bytes(result["model_dir"])  # the last span's model
                model_dir = result.pop("model_dir")
                if serving:
                    result["serving_p50_ms"] = serving_p50_ms(model_dir, cache)
                if reference_result:
                    result["vs_reference"] = round(result["mean"] - reference_result["mean"], 4)
                    result["vs_reference_ci95"] = day_bootstrap(scores, reference_scores, days)
                results.append(result)
                click.echo(json.dumps(result))
    if table_path:
        with open(table_path, "w", encoding="utf-8") as handle:
            handle.write(markdown_table(results))


if __name__ == "__main__":
    main()
