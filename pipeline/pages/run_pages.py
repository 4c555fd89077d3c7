"""Self-contained HTML pages for a run (inline CSS and SVG, no external asset): data statistics per split (values
present, empty and missing counted apart, histograms) and the evaluation (metrics per slice, ROC, precision-recall
and calibration plots of candidate and baseline, the blessing gates marked). The report site
(pipeline/pages/site.py) wraps the same sections in its navigation."""
import html
import math
import os
from typing import Dict, List, Optional, Sequence

from pipeline.pages import charts
from pipeline.pages.shell import page
from pipeline.mlmd import evaluation

SLICE_METRICS = ("example_count", "auc", "auc_precision_recall", "precision", "recall", "f1_score",
                 "calibration")
metrics_by_slice = evaluation.metrics_by_slice
def run_folder(run_id: str) -> str:
    """A run id as a folder name (no ':')."""
    return run_id.replace(":", "-")


# --- statistics --------------------------------------------------------------------------------------------
def value_counts(feature, num_examples: int) -> Dict[str, Optional[int]]:
    """{"present", "empty", "missing"}: examples with a value, with the feature but no value (an empty CSV cell
    becomes an empty value list, which TFDV counts as non-missing), without the feature. ``empty`` is None
    when a feature has several values per example (TFDV's counts do not say how many examples had none)."""
    common = getattr(feature, feature.WhichOneof("stats")).common_stats
    empty = common.num_non_missing - common.tot_num_values if common.max_num_values <= 1 else None
    present = common.num_non_missing - (empty or 0)
    return {"present": present, "empty": empty, "missing": num_examples - common.num_non_missing}


def _count(n: Optional[int], total: int, flag: bool = False) -> str:
    """A count and its share of the examples; ``flag``: shown as a warning when not 0."""
    if n is None:
        return "<td class='n'>?</td>"
    share = f" ({100 * n / total:.1f}%)" if total and n else ""
    css = "n warn" if flag and n else "n"
    return f"<td class='{css}'>{n}{share}</td>"


def _feature_summary(feature) -> List[str]:
    """[summary text, histogram SVG] of one feature's statistics."""
    kind = feature.WhichOneof("stats")
    stats = getattr(feature, kind)
    if kind == "num_stats":
        summary = (f"mean {stats.mean:.4g}, sd {stats.std_dev:.4g}, min {stats.min:.4g}, "
                   f"max {stats.max:.4g}, zeros {stats.num_zeros}")
        standard = [h for h in stats.histograms if h.type == h.STANDARD]
        return [summary, charts.bars([b.sample_count for b in standard[0].buckets]) if standard else ""]
    top = ", ".join(f"{html.escape(v.value)} ({int(v.frequency)})" for v in stats.top_values[:5])
    ranks = [b.sample_count for b in stats.rank_histogram.buckets[:20]]
    return [f"{stats.unique} unique; top: {top}", charts.bars(ranks)]


def load_split_statistics(statistics_uri: str, split: str):
    import tensorflow_data_validation as tfdv
    return tfdv.load_stats_binary(os.path.join(statistics_uri, f"Split-{split}", "FeatureStats.pb")).datasets[0]


def statistics_section(statistics_uri: str, splits: Sequence[str] = ("train", "eval")) -> str:
    """One table per split: per feature the examples with a value, with an empty value and without the feature,
    a summary and a histogram."""
    out = ["<p class='note'>present = the example has a value; empty = the column is there but the cell was "
           "empty (TFDV's own 'missing' does not count these); missing = no such feature in the example.</p>"]
    for split in splits:
        dataset = load_split_statistics(statistics_uri, split)
        rows = []
        for feature in sorted(dataset.features, key=lambda f: f.path.step[0]):
            counts = value_counts(feature, dataset.num_examples)
            kind = {"num_stats": "number", "string_stats": "string"}.get(feature.WhichOneof("stats"), "?")
            summary, picture = _feature_summary(feature)
            rows.append(f"<tr><td>{html.escape(feature.path.step[0])}</td><td>{kind}</td>"
                        f"{_count(counts['present'], dataset.num_examples)}"
                        f"{_count(counts['empty'], dataset.num_examples, flag=True)}"
                        f"{_count(counts['missing'], dataset.num_examples, flag=True)}<td>{summary}</td>"
                        f"<td>{picture}</td></tr>")
        out.append(f"<h2 id='split-{split}'>{html.escape(split)} split: {dataset.num_examples} examples</h2>"
                   f"<table class='stats' data-split='{html.escape(split)}'><tr><th>feature</th><th>type</th>"
                   f"<th>{split}: present</th><th>{split}: empty</th><th>{split}: missing</th><th>summary</th>"
                   f"<th>histogram</th></tr>{''.join(rows)}</table>")
    return "".join(out)


def statistics_html(statistics_uri: str, splits=("train", "eval")) -> str:
    """Per-feature statistics of a span's splits, with histograms (no external assets)."""
    return page("Statistics by split", f"<p class='note'>{html.escape(statistics_uri)}</p>"
                + statistics_section(statistics_uri, splits))


# --- evaluation --------------------------------------------------------------------------------------------
def _fmt(value: Optional[float], digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return f"{value:.{digits}f}"


def _bar(value: Optional[float], threshold: Optional[float] = None) -> str:
    if value is None or math.isnan(value):
        return _fmt(value)
    width = max(0.0, min(1.0, value)) * 120
    mark = (f"<line x1='{threshold * 120:.1f}' x2='{threshold * 120:.1f}' y1='0' y2='14' stroke='#c00'/>"
            if threshold is not None else "")
    return (f"<svg width='124' height='14'><rect width='{width:.1f}' height='14' fill='#4a7'/>{mark}</svg> "
            f"{value:.3f}")


def _at(points: Sequence[tuple], threshold: float) -> Optional[tuple]:
    """The point of a curve [(x, y, threshold)] whose threshold is closest to ``threshold``."""
    return min(points, key=lambda p: abs(p[2] - threshold)) if points else None


def slice_charts(plots: Dict[str, Dict[str, List[tuple]]], metrics: Dict[str, Dict[str, float]],
                 decision_thresholds: Sequence[float], gate: Dict[str, float], width: int = 300) -> str:
    """ROC, precision-recall and calibration charts of one slice; ``plots``/``metrics``: {model: ...}."""
    def values(metric: str) -> str:
        found = [f"{model} {metrics[model][metric]:.3f}" for model in plots if metric in metrics.get(model, {})]
        floor = f" (gate >= {gate['lower_bound']:g})" if metric == "auc" and "lower_bound" in gate else ""
        return f"{metric}: " + ", ".join(found) + floor if found else ""

    markers = {"roc": [], "pr": []}
    for model, curves in plots.items():
        for threshold in decision_thresholds:
            for kind in markers:
                point = _at(curves.get(kind, []), threshold)
                if point:
                    x_name, y_name = ("FPR", "TPR") if kind == "roc" else ("recall", "precision")
                    markers[kind].append({"x": point[0], "y": point[1], "series": model,
                                          "label": f"{model} at threshold {threshold:g}: {x_name} {point[0]:.3f}, "
                                                   f"{y_name} {point[1]:.3f}"})
    roc = charts.line_chart({m: [p[:2] for p in c.get("roc", [])] for m, c in plots.items()},
                            "ROC", "false positive rate", "true positive rate", markers["roc"], diagonal=True,
                            width=width, subtitle=values("auc"), legend_at="bottom-right")
    pr = charts.line_chart({m: [p[:2] for p in c.get("pr", [])] for m, c in plots.items()},
                           "Precision-recall", "recall", "precision", markers["pr"], width=width,
                           subtitle=values("auc_precision_recall").replace("auc_precision_recall", "AUC-PR"),
                           legend_at="top-right")
    calibration = charts.line_chart({m: [p[:2] for p in c.get("calibration", [])] for m, c in plots.items()},
                                    "Calibration", "mean prediction (bucket)", "label rate (bucket)", diagonal=True,
                                    width=width, subtitle=values("calibration"), legend_at="top-left")
    marks = ", ".join(f"{t:g}" for t in decision_thresholds)
    note = f"<p class='note'>Dots: the decision threshold {marks}.</p>" if marks else ""
    return f"<div class='charts'>{roc}{pr}{calibration}</div>{note}"


NO_BASELINE = "no baseline model: none trained on an earlier span had been pushed when this run started"


def _gates_text(gates: Dict, has_baseline: bool = True) -> str:
    parts, unapplied = [], []
    for metric, gate in gates.get("metrics", {}).items():
        if "lower_bound" in gate:
            parts.append(f"{metric} &gt;= {gate['lower_bound']:g}")
        if "upper_bound" in gate:
            parts.append(f"{metric} &lt;= {gate['upper_bound']:g}")
        if "change" in gate:
            (parts if has_baseline else unapplied).append(f"{metric} change vs baseline &gt;= {gate['change']:+g}")
    if unapplied:
        parts.append(f"not applied ({NO_BASELINE}): {', '.join(unapplied)}")
    decision = ", ".join(f"{t:g}" for t in gates.get("decision_thresholds", []))
    return (f"<p>Blessing gates (the Evaluator's EvalConfig): {'; '.join(parts) or 'none'}. Decision threshold "
            f"{decision or '?'} (precision, recall, F1; marked on the curves). Scores are class-balanced, not "
            f"probabilities: calibration is shown, not gated.</p>")


def evaluation_section(evaluation_uri: str, gates: Optional[Dict] = None) -> str:
    """Validation result, gates, metrics per slice (candidate and baseline) and the curves of every slice."""
    gates = gates or {}
    auc_gate = gates.get("metrics", {}).get("auc", {})
    rows = evaluation.metrics_by_slice(evaluation_uri)
    # rows without a metric: TFMA's slice keys of a baseline that was never evaluated (none was given)
    baseline = {r["slice"]: r for r in evaluation.metrics_by_slice(evaluation_uri, evaluation.BASELINE) if len(r) > 1}
    plots = evaluation.plots_by_slice(evaluation_uri)
    validation = evaluation.load_validation(evaluation_uri)
    verdict = ("<span class='pass'>blessed: every gate met</span>" if validation["ok"] else
               "<span class='fail'>NOT blessed</span>: " + "; ".join(html.escape(f) for f in validation["failures"]))
    out = [f"<p>{verdict}</p>", _gates_text(gates, has_baseline=bool(baseline))]
    header = "".join(f"<th>{html.escape(m)}</th>" for m in SLICE_METRICS)
    body = []
    for row in rows:
        cells = []
        for metric in SLICE_METRICS:
            value = row.get(metric)
            if metric == "auc":
                cells.append(f"<td>{_bar(value, auc_gate.get('lower_bound'))}</td>")
            elif metric == "example_count":
                cells.append(f"<td class='n'>{int(value) if value is not None else ''}</td>")
            else:
                cells.append(f"<td class='n'>{_fmt(value)}</td>")
        base = baseline.get(row["slice"], {})
        cells.append(f"<td class='n'>{_fmt(base.get('auc'))}</td>" if baseline else "<td class='note'>none</td>")
        body.append(f"<tr><td>{html.escape(row['slice'])}</td>{''.join(cells)}</tr>")
    floor = " (red line: the AUC gate)" if "lower_bound" in auc_gate else ""
    table = (f"<h2>Metrics by slice</h2><p class='note'>Candidate model on the eval split{floor}; last column: "
             f"the baseline's AUC on the same slice{'' if baseline else ' (' + NO_BASELINE + ')'}.</p>"
             f"<table class='metrics'><tr><th>slice</th>{header}"
             f"<th>baseline auc</th></tr>{''.join(body)}</table>")
    if not plots:
        return "".join(out) + table + "<p class='note'>No plots in this evaluation (its EvalConfig asked for none).</p>"
    decision = gates.get("decision_thresholds", [])
    metrics_of = {r["slice"]: r for r in rows}
    if evaluation.OVERALL not in plots:
        out.append(table + "<h2>Curves by slice</h2>")
    for name in [r["slice"] for r in rows if r["slice"] in plots]:
        metrics = {evaluation.CANDIDATE: metrics_of.get(name, {}), evaluation.BASELINE: baseline.get(name, {})}
        charts_html = slice_charts(plots[name], metrics, decision, auc_gate if name == evaluation.OVERALL else {},
                                   width=320 if name == evaluation.OVERALL else 250)
        count = int(metrics_of.get(name, {}).get("example_count", 0))
        if name == evaluation.OVERALL:  # first: what a reader looks at
            out.append(f"<div class='slice' data-slice='{html.escape(name)}'><h2>Overall ({count} examples)</h2>"
                       f"{charts_html}</div>{table}<h2>Curves by slice</h2>")
        else:
            out.append(f"<details class='slice' data-slice='{html.escape(name)}'><summary>{html.escape(name)} "
                       f"({count} examples)</summary>{charts_html}</details>")
    return "".join(out)


def evaluation_html(evaluation_uri: str, min_auc: Optional[float] = None, title: str = "",
                    gates: Optional[Dict] = None) -> str:
    """The evaluation page; ``gates`` as evaluation.gates gives (else only ``min_auc`` as the AUC floor)."""
    if gates is None and min_auc is not None:
        gates = {"metrics": {"auc": {"lower_bound": min_auc}}}
    return page(f"Evaluation by slice {title}".strip(), evaluation_section(evaluation_uri, gates))


def write_run_reports(summary: Dict, output_root: str, min_auc: Optional[float] = None) -> Dict[str, str]:
    """Writes statistics.html and evaluation.html under <output_root>/reports/<run id>/; returns paths."""
    folder = os.path.join(output_root, "reports", run_folder(summary["run_id"]))
    os.makedirs(folder, exist_ok=True)
    written = {}
    if summary.get("statistics_uri"):
        written["statistics"] = os.path.join(folder, "statistics.html")
        with open(written["statistics"], "w") as f:
            f.write(statistics_html(summary["statistics_uri"]))
    if summary.get("evaluation_uri"):
        written["evaluation"] = os.path.join(folder, "evaluation.html")
        with open(written["evaluation"], "w") as f:
            f.write(evaluation_html(summary["evaluation_uri"], min_auc, f"(run {summary['run_id']})",
                                    gates=summary.get("gates")))
    return written
