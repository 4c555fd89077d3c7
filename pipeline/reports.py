"""Self-contained HTML pages for a run (no external assets): data statistics per split with histograms,
and evaluation metrics per slice (overall, by carrier, by origin)."""
import html
import os
from typing import Dict, List, Optional

from pipeline.lineage.evaluation import metrics_by_slice

SLICE_METRICS = ("example_count", "auc", "auc_precision_recall", "precision", "recall", "f1_score",
                 "calibration")


def _histogram_svg(buckets, width: int = 160, height: int = 28) -> str:
    counts = [b.sample_count for b in buckets]
    if not counts or max(counts) <= 0:
        return ""
    bar = width / len(counts)
    rects = "".join(
        f"<rect x='{i * bar:.1f}' y='{height - height * c / max(counts):.1f}' width='{max(bar - 1, 1):.1f}' "
        f"height='{height * c / max(counts):.1f}' fill='#4a7'/>" for i, c in enumerate(counts))
    return f"<svg width='{width}' height='{height}'>{rects}</svg>"


def _feature_cells(feature) -> List[str]:
    """[count, missing, summary, picture] cells of one feature's statistics."""
    kind = feature.WhichOneof("stats")
    stats = getattr(feature, kind)
    common = stats.common_stats
    total = common.num_non_missing + common.num_missing
    missing = f"{100 * common.num_missing / total:.1f}%" if total else ""
    if kind == "num_stats":
        summary = (f"mean {stats.mean:.4g}, sd {stats.std_dev:.4g}, min {stats.min:.4g}, "
                   f"max {stats.max:.4g}, zeros {stats.num_zeros}")
        standard = [h for h in stats.histograms if h.type == h.STANDARD]
        picture = _histogram_svg(standard[0].buckets) if standard else ""
    else:
        top = ", ".join(f"{html.escape(v.value)} ({int(v.frequency)})" for v in stats.top_values[:5])
        summary = f"{stats.unique} unique; top: {top}"
        ranks = stats.rank_histogram.buckets[:20]
        picture = _histogram_svg(ranks)
    return [str(common.num_non_missing), missing, summary, picture]


def statistics_html(statistics_uri: str, splits=("train", "eval")) -> str:
    """Per-feature statistics of a span's splits side by side, with histograms (no external assets)."""
    import tensorflow_data_validation as tfdv
    by_split = {}
    for split in splits:
        stats = tfdv.load_stats_binary(os.path.join(statistics_uri, f"Split-{split}", "FeatureStats.pb"))
        by_split[split] = {f.path.step[0]: f for f in stats.datasets[0].features}
    names = sorted(set().union(*[set(v) for v in by_split.values()]))
    header = "".join(f"<th>{s}: count</th><th>{s}: missing</th><th>{s}: summary</th><th>{s}</th>"
                     for s in splits)
    rows = []
    for name in names:
        cells = []
        for split in splits:
            feature = by_split[split].get(name)
            cells += _feature_cells(feature) if feature is not None else ["", "", "absent", ""]
        rows.append(f"<tr><td>{html.escape(name)}</td>{''.join(f'<td>{c}</td>' for c in cells)}</tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Statistics</title><style>"
            "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:3px 6px;font-size:13px}</style></head><body>"
            f"<h1>Statistics by split</h1><p>{html.escape(statistics_uri)}</p>"
            f"<table><tr><th>feature</th>{header}</tr>{''.join(rows)}</table></body></html>")


def _bar(value: Optional[float], threshold: Optional[float] = None) -> str:
    if value is None:
        return ""
    width = max(0.0, min(1.0, value)) * 120
    mark = (f"<line x1='{threshold * 120:.1f}' x2='{threshold * 120:.1f}' y1='0' y2='14' stroke='#c00'/>"
            if threshold is not None else "")
    return (f"<svg width='124' height='14'><rect width='{width:.1f}' height='14' fill='#4a7'/>{mark}</svg> "
            f"{value:.3f}")


def evaluation_html(evaluation_uri: str, min_auc: Optional[float] = None, title: str = "") -> str:
    """Table of the headline metrics per slice, AUC drawn as bars against the blessing floor."""
    rows = metrics_by_slice(evaluation_uri)
    header = "".join(f"<th>{html.escape(m)}</th>" for m in SLICE_METRICS)
    body = []
    for row in rows:
        cells = []
        for metric in SLICE_METRICS:
            value = row.get(metric)
            if metric == "auc":
                cells.append(f"<td>{_bar(value, min_auc)}</td>")
            elif metric == "example_count":
                cells.append(f"<td>{int(value) if value is not None else ''}</td>")
            else:
                cells.append(f"<td>{'' if value is None else f'{value:.3f}'}</td>")
        body.append(f"<tr><td>{html.escape(row['slice'])}</td>{''.join(cells)}</tr>")
    floor = f" (red line: blessing floor AUC {min_auc})" if min_auc is not None else ""
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Evaluation by slice</title><style>"
            "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:3px 8px;text-align:right}td:first-child{text-align:left}</style></head><body>"
            f"<h1>Evaluation by slice {html.escape(title)}</h1><p>Eval split, decision threshold 0.5{floor}.</p>"
            f"<table><tr><th>slice</th>{header}</tr>{''.join(body)}</table></body></html>")


def write_run_reports(summary: Dict, output_root: str, min_auc: Optional[float] = None) -> Dict[str, str]:
    """Writes statistics.html and evaluation.html under <output_root>/reports/<run id>/; returns paths."""
    folder = os.path.join(output_root, "reports", summary["run_id"].replace(":", "-"))
    os.makedirs(folder, exist_ok=True)
    written = {}
    if summary.get("statistics_uri"):
        written["statistics"] = os.path.join(folder, "statistics.html")
        with open(written["statistics"], "w") as f:
            f.write(statistics_html(summary["statistics_uri"]))
    if summary.get("evaluation_uri"):
        written["evaluation"] = os.path.join(folder, "evaluation.html")
        with open(written["evaluation"], "w") as f:
            f.write(evaluation_html(summary["evaluation_uri"], min_auc, f"(run {summary['run_id']})"))
    return written
