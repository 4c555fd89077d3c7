"""report.json and a self-contained report.html for a ValidationResult; `decisions` reads one back
(without TensorFlow: run summaries use it)."""
import datetime
import html
import json
import math
import os
from typing import Any, Dict, Mapping

from components.behavior_validator import constants as c
from components.behavior_validator.results import CheckResult, ValidationResult

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.4em 0 1em}td,th{border:1px solid #ccc;padding:.2em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}.PASS{color:#0a0;font-weight:bold}
.FAIL{color:#c00;font-weight:bold}.SKIPPED{color:#888;font-weight:bold}
h2{margin-top:1.6em;border-bottom:1px solid #ddd}code{background:#f6f6f6}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return "" if v is None else str(v)


def _cell(v: Any, key: str = "") -> str:
    if key.endswith("_ci95") and isinstance(v, list) and len(v) == 2:
        v = f"[{_fmt(v[0])}, {_fmt(v[1])}]"  # a 95% interval
    text = html.escape(_fmt(v))
    return f'<td class="{text}">{text}</td>' if text in (c.PASS, c.FAIL, c.SKIPPED) else \
        f"<td>{text}</td>"


def _kv_table(d: dict) -> str:
    if not d:
        return "<p><i>none</i></p>"
    return "<table>" + "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v, str(k))}</tr>"
                               for k, v in d.items()) + "</table>"


def _rows_table(rows: list) -> str:
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(_cell(r.get(k), k) for k in keys) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _check_html(r: CheckResult) -> str:
    return (f'<h2 id="{html.escape(r.name)}">{html.escape(r.name)}: '
            f'<span class="{r.verdict}">{r.verdict}</span></h2>'
            f"<p>{html.escape(r.summary)}</p><h3>Thresholds</h3>{_kv_table(r.thresholds)}"
            f"<h3>Figures</h3>{_kv_table(r.figures)}{_rows_table(r.rows)}")


def render_html(result: ValidationResult) -> str:
    verdict = c.BLESSED_FILE_NAME if result.blessed else c.NOT_BLESSED_FILE_NAME
    cls = c.PASS if result.blessed else c.FAIL
    summary = _rows_table([{"check": r.name, "verdict": r.verdict, "summary": r.summary}
                           for r in result.checks])
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Model behaviour validation: "
        f"{verdict}</title><style>{_CSS}</style></head><body>"
        f"<h1>Model behaviour validation: <span class='{cls}'>{verdict}</span></h1>"
        f"<p>Behaviour checks: {'passed' if result.behavior_checks_passed else 'FAILED'}. The blessing "
        f"is given when they pass and the upstream blessing (when recorded as "
        f"<code>{c.CHECK_UPSTREAM_BLESSING}</code>) is blessed.</p>"
        f"<p>Model <code>{html.escape(result.model_path)}</code><br>Baseline "
        f"<code>{html.escape(result.baseline_model_path or 'none')}</code><br>Generated {when}</p>"
        f"<p>Examples are not independent: every test resamples or aggregates whole groups of "
        f"<code>{html.escape('/'.join(result.config.group_by_features))}</code> (the unit of independence), "
        f"and reports 95% intervals; the tests form one Holm-corrected family at alpha {result.config.alpha}.</p>"
        f"{summary}{''.join(_check_html(r) for r in result.checks)}"
        f"<h2>Configuration</h2><pre>{html.escape(result.config.to_json())}</pre>"
        "</body></html>")


def _json_safe(v: Any) -> Any:
    """Strict JSON: non-finite floats become the strings "inf", "-inf", "nan"."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


# Per statistical check: the row's estimate and the key of its 95% interval.
_ESTIMATES = {c.CHECK_DIRECTIONAL: ("mean_delta", "mean_delta_ci95"),
              c.CHECK_SLICE_RECALL: ("recall", "recall_ci95"),
              c.CHECK_SLICE_REGRESSION: ("recall_drop", "drop_ci95")}


def decisions(report: Mapping[str, Any]) -> Dict[str, Any]:
    """A report.json's decisions on differences, compact (for run summaries): the AUC test versus the
    baseline and every statistical test that FAILed, each with its estimate, 95% interval and
    Holm-adjusted p."""
    checks = {ch["name"]: ch for ch in report.get("checks", [])}
    auc = checks.get(c.CHECK_AUC_REGRESSION)
    out: Dict[str, Any] = {"failed_tests": []}
    if auc is not None:
        keep = ("auc", "baseline_auc", "auc_drop", "drop_ci95", "p_value", "p_adjusted", "groups", "examples")
        out[c.CHECK_AUC_REGRESSION] = {"verdict": auc["verdict"], "summary": auc["summary"],
                                       "max_auc_drop": auc["thresholds"].get("max_auc_drop"),
                                       **{k: auc["figures"][k] for k in keep if k in auc["figures"]}}
    slice_feature = (report.get("config") or {}).get("slice_feature", "slice")
    for name, (estimate, interval) in _ESTIMATES.items():
        for row in (checks.get(name) or {}).get("rows", []):
            if row.get("verdict") == c.FAIL:
                on = (f"perturbation {row['perturbation']}" if "perturbation" in row
                      else f"{slice_feature} {row.get(slice_feature)}")
                out["failed_tests"].append({"check": name, "on": on, estimate: row.get(estimate),
                                            "ci95": row.get(interval), "p_adjusted": row.get("p_adjusted"),
                                            "groups": row.get("groups")})
    return out


def read_decisions(out_dir: str) -> Dict[str, Any]:
    """`decisions` of the report.json in out_dir (a local BehaviorValidationReport's uri)."""
    with open(os.path.join(out_dir, c.REPORT_JSON_FILE_NAME)) as f:
        return decisions(json.load(f))


def write_report(result: ValidationResult, out_dir: str) -> None:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  # gfile: any filesystem
    tf.io.gfile.makedirs(out_dir)
    with tf.io.gfile.GFile(os.path.join(out_dir, c.REPORT_JSON_FILE_NAME), "w") as f:
        f.write(json.dumps(_json_safe(result.to_dict()), indent=1, sort_keys=True, allow_nan=False))
    with tf.io.gfile.GFile(os.path.join(out_dir, c.REPORT_HTML_FILE_NAME), "w") as f:
        f.write(render_html(result))
