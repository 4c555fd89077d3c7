"""The monitoring page: one self-contained HTML file (inline SVG and PNG) per window. What fired, then per
feature the serving data against the training span (the DriftValidator's pictures), the answers' histogram
against the model's answers on its eval split, and live AUC day by day and window by window."""
import base64
import html
import io
from typing import Any, Dict, List, Optional

from components.drift_validator import checks as drift_checks
from components.drift_validator import drift, report_html
from data import contract
from pipeline.pages.shell import page


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(rows: List[Dict[str, Any]], columns) -> str:
    if not rows:
        return "<p class='note'>nothing compared</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        css = "fail" if r.get("alert") else "warn" if r.get("status") == "warn" else ""
        body.append(f"<tr class='{css}'>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return f"<img alt='live AUC over time' src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}'>"


def auc_over_time(result: Dict[str, Any], history: List[Dict[str, Any]]) -> Optional[str]:
    """Live AUC per labelled day of this window and per earlier window, with the validation AUC and its margin."""
    decay = result.get("decay")
    earlier = [w for w in history if w.get("live_auc") is not None]
    if decay is None and not earlier:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (by_day, by_window) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [2, 1]})
    if decay is not None:
        auc = decay["metrics"]["auc"]
        days = [d for d in decay["per_day"] if d["auc"] is not None]
        by_day.plot(range(len(days)), [d["auc"] for d in days], "o-", label="live AUC per day")
        by_day.axhline(auc["reference"], color="#d9822b", label="eval split (validation)")
        by_day.axhline(auc["reference"] - auc["margin"], color="#d9822b", ls=":", label="alert margin")
        by_day.axhline(auc["live"], color="#1f6fb2", ls="--", label="live AUC, whole window")
        by_day.set_xticks(range(len(days)))
        by_day.set_xticklabels([f"{d['day'] // 100}/{d['day'] % 100}" for d in days], rotation=90, fontsize=7)
        by_day.set_title(f"this window: {decay['days']} labelled day(s)")
        by_day.legend(fontsize=7, loc="lower left")
    by_day.set_ylabel("AUC")
    windows = earlier + ([{"window": result["window"], "live_auc": decay["metrics"]["auc"]["live"],
                           "live_auc_interval": decay["metrics"]["auc"]["interval"],
                           "reference_auc": decay["metrics"]["auc"]["reference"]}] if decay else [])
    xs = list(range(len(windows)))
    by_window.plot(xs, [w["live_auc"] for w in windows], "o-", label="live AUC")
    bounds = [(x, w) for x, w in zip(xs, windows) if w.get("live_auc_interval") and w.get("reference_auc")]
    if bounds:  # the day-level bootstrap interval of live - validation, around the live figure
        by_window.errorbar([x for x, _ in bounds], [w["live_auc"] for _, w in bounds], fmt="none", capsize=4,
                           yerr=[[w["live_auc"] - (w["reference_auc"] + w["live_auc_interval"][0]) for _, w in bounds],
                                 [w["reference_auc"] + w["live_auc_interval"][1] - w["live_auc"] for _, w in bounds]])
    by_window.plot(xs, [w.get("reference_auc") for w in windows], "s:", label="validation AUC")
    by_window.set_xticks(xs)
    by_window.set_xticklabels([str(w["window"])[:16] for w in windows], rotation=90, fontsize=7)
    by_window.set_title("windows")
    by_window.legend(fontsize=7, loc="lower left")
    text = _png(fig)
    plt.close(fig)
    return text


def feature_pictures(serving_stats, training_stats, skew: List[Dict[str, Any]]) -> str:
    """Per feature: serving (current) against the training span's train split (baseline); alerting features
    first, then those that warn."""
    serving = drift_checks.features_by_name(serving_stats.datasets[0])
    training = drift_checks.features_by_name(training_stats.datasets[0])
    rank = {}
    for f in skew:
        rank[f["feature"]] = min(rank.get(f["feature"], 2), 0 if f["alert"] else 1 if f["status"] != "ok" else 2)
    blocks = []
    for name in sorted(contract.FEATURE_KEYS, key=lambda n: rank.get(n, 2)):
        picture = drift.distributions(serving.get(name), training.get(name))
        if picture is None:
            continue
        svg = (report_html.svg_categorical(picture, width=420) if picture["kind"] == "categorical"
               else report_html.svg_numeric(picture, width=420, height=150))
        blocks.append(f"<div class='pic' data-feature='{html.escape(name)}'><h3>{html.escape(name)}</h3>{svg}</div>")
    return "<div class='charts'>" + "".join(blocks) + "</div>"


def write(path: str, result: Dict[str, Any], serving_stats, training_stats, prediction: Optional[Dict],
          history: List[Dict[str, Any]]) -> str:
    """Writes the page; returns its path."""
    columns = ("feature", "check", "distance", "warn_threshold", "threshold", "status")
    verdict = ("<span class='fail'>ALERT</span>: " + html.escape("; ".join(result["reasons"]))
               if result["alert"] else "<span class='pass'>no alert</span>")
    t = result["training"]
    body = [f"<p>{verdict}</p>",
            f"<p class='note'>{result['logs']['rows']} logged rows ({result['logs']['records']} records, "
            f"{result['logs']['files']} file(s), {html.escape(result['logs']['folder'])}) answered by "
            f"{html.escape(result['model_name'])} version {result['model_version']} "
            f"({html.escape(result['version_source'])}), trained on span(s) {t['spans']}; skew is measured "
            f"against span {t['span']}'s {t['split']} split statistics ({html.escape(t['statistics'])}), drift "
            f"against the previous window without an alert ({_fmt(result['previous_window'])}). An alert is a "
            f"finding beyond the DriftValidator's block threshold (the level that stops training); warnings "
            f"are shown, they do not page.</p>",
            "<h2>Training/serving skew</h2>", _table(result["skew"], columns),
            "<h2>Input drift against the previous window</h2>",
            _table(result["drift"], columns) if result["previous_window"] else
            "<p class='note'>no earlier window without an alert: nothing to compare</p>"]
    body.append("<h2>Prediction drift</h2>")
    if prediction:
        body.append(_table([result["prediction_drift"]], columns + ("live_mean", "reference_mean"))
                    + "<p class='note'>baseline = the model's answers on its eval split, current = the logged "
                    "answers</p>")
        if prediction.get("picture"):
            body.append(report_html.svg_numeric(prediction["picture"], width=560))
    else:
        body.append("<p class='note'>the logs hold no answers (a proxy's log): no prediction drift</p>")
    decay = result.get("decay")
    body.append("<h2>Decay (labels)</h2>")
    if decay:
        rows = [{"metric": k, "live": m["live"], "reference (eval split)": m["reference"],
                 "difference": m["difference"], "interval": m["interval"] and
                 f"[{m['interval'][0]:.4f}, {m['interval'][1]:.4f}]", "margin": m["margin"], "alert": m["alert"]}
                for k, m in decay["metrics"].items()]
        body.append(f"<p class='note'>{decay['labelled_rows']} labelled rows over {decay['days']} day(s) against "
                    f"{decay['reference_examples']} eval-split rows over {decay['reference_days']} day(s); "
                    f"{html.escape(decay['test'])}, {decay['confidence']:.0%} bound, {decay['resamples']} resamples. "
                    f"A metric alerts when the whole one-sided interval lies below -margin; calibration is "
                    f"reported, not gated.</p>"
                    + _table(rows, ("metric", "live", "reference (eval split)", "difference", "interval", "margin",
                                    "alert")))
    else:
        body.append("<p class='note'>no --labels given</p>")
    chart = auc_over_time(result, history)
    if chart:
        body.append("<h2>Live AUC over time</h2>" + chart)
    body.append(f"<h2>Per feature: serving (current) against training span {t['span']} (baseline)</h2>"
                + feature_pictures(serving_stats, training_stats, result["skew"]))
    style = "<style>.pic{display:inline-block;vertical-align:top;margin:4px 8px}.pic h3{margin:2px 0;font-size:14px}" \
            "tr.fail td{background:#fde7ea}tr.warn td{background:#fff4e0}</style>"
    text = page(f"Monitoring: {result['model_name']} v{result['model_version']}, window {result['window']}",
                          style + "".join(body))
    with open(path, "w") as f:
        f.write(text)
    return path
