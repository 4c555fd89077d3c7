"""HTML page of a drift report: what fired, baseline vs current pictures (inline SVG), every measurement."""
import html
import math
from typing import Any, Dict, List, Mapping, Optional

BASELINE_COLOR = "#5b8def"
CURRENT_COLOR = "#f08c2e"
_STATUS_CSS = {"ok": "ok", "warn": "warn", "block": "block", "not_measured": "block", "no_baseline": "none"}

e = html.escape


def _fmt(value) -> str:
    if value is None or isinstance(value, bool) or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return f"{value:.4f}"
    return e(str(value))


def _threshold(value) -> str:
    return "yes" if value is True else _fmt(value)


def fired(report: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Every warning or blocking item of the report as {check, feature, value, warn, block, status, detail}."""
    items = []
    for f in report["features"]:
        if f["status"] in ("warn", "block") or (f["status"] == "not_measured" and f["blocking"]):
            items.append({"check": f"distribution ({f['comparator']})", "feature": f["feature"],
                          "value": f["distance"], "warn": f.get("warn_threshold"),
                          "block": f.get("block_threshold"),
                          "status": "block" if f["status"] == "not_measured" else f["status"],
                          "detail": f["description"] or f["status"]})
    label = report.get("label")
    if label and label["status"] == "block":
        items.append({"check": "label_rate", "feature": label["feature"], "value": label["abs_change"],
                      "warn": None, "block": label["threshold"], "status": "block",
                      "detail": f"mean {label['baseline_rate']:.4f} -> {label['current_rate']:.4f}"})
    items += [c for c in report.get("checks", []) if c["status"] != "ok"]
    return sorted(items, key=lambda i: (i["status"] != "block", i["check"], i["feature"] or ""))


def svg_categorical(picture: Mapping[str, Any], width: int = 560) -> str:
    """Horizontal bar pairs: share of each category in the baseline and in the current data."""
    labels = picture["labels"]
    top = max([*picture["baseline"], *picture["current"], 1e-9])
    row, left, right = 22, 110, 100
    height = row * len(labels) + 30
    scale = (width - left - right) / top
    parts = [f'<svg width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">', _legend(left)]
    for i, label in enumerate(labels):
        y = 24 + i * row
        b, c = picture["baseline"][i], picture["current"][i]
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{e(str(label))}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{b * scale:.1f}" height="8" fill="{BASELINE_COLOR}"/>')
        parts.append(f'<rect x="{left}" y="{y + 9}" width="{c * scale:.1f}" height="8" fill="{CURRENT_COLOR}"/>')
        parts.append(f'<text x="{left + max(b, c) * scale + 4:.1f}" y="{y + 13}" fill="#444">'
                     f'{b:.1%} → {c:.1%}</text>')
    parts.append("</svg>")
    extra = picture.get("other_categories") or 0
    return "".join(parts) + (f"<div><small>{extra} smaller categories not drawn</small></div>" if extra else "")


def svg_numeric(picture: Mapping[str, Any], width: int = 560, height: int = 170) -> str:
    """Overlaid histograms (shares per bin on a common grid) of the baseline and the current data."""
    edges, base, cur = picture["edges"], picture["baseline"], picture["current"]
    left, bottom, top_margin = 40, 24, 22
    plot_w, plot_h = width - left - 10, height - bottom - top_margin
    top = max([*base, *cur, 1e-9])
    bin_w = plot_w / len(base)
    parts = [f'<svg width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">', _legend(left)]
    for series, color in ((base, BASELINE_COLOR), (cur, CURRENT_COLOR)):
        for i, share in enumerate(series):
            h = share / top * plot_h
            parts.append(f'<rect x="{left + i * bin_w:.1f}" y="{top_margin + plot_h - h:.1f}" '
                         f'width="{bin_w - 1:.1f}" height="{h:.1f}" fill="{color}" fill-opacity="0.55"/>')
    y_axis = top_margin + plot_h
    parts.append(f'<line x1="{left}" y1="{y_axis}" x2="{left + plot_w}" y2="{y_axis}" stroke="#888"/>')
    for x, value, anchor in ((left, edges[0], "start"), (left + plot_w / 2, (edges[0] + edges[-1]) / 2, "middle"),
                             (left + plot_w, edges[-1], "end")):
        parts.append(f'<text x="{x:.1f}" y="{y_axis + 14}" text-anchor="{anchor}">{value:.4g}</text>')
    parts.append(f'<text x="{left - 4}" y="{top_margin + 8}" text-anchor="end">{top:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_pair(label: str, baseline: float, current: float, fmt: str = "{:.4g}", width: int = 420) -> str:
    """Two bars: a scalar (rows, a rate) in the baseline and in the current data."""
    top = max(baseline, current, 1e-9)
    left, scale = 70, (width - 70 - 90) / top
    parts = [f'<svg width="{width}" height="62" '
             f'font-family="sans-serif" font-size="11">']
    for i, (name, value, color) in enumerate((("baseline", baseline, BASELINE_COLOR),
                                              ("current", current, CURRENT_COLOR))):
        y = 6 + i * 26
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{name}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{value * scale:.1f}" height="18" fill="{color}"/>')
        parts.append(f'<text x="{left + value * scale + 4:.1f}" y="{y + 13}">{e(fmt.format(value))} {e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(x: int) -> str:
    return (f'<rect x="{x}" y="4" width="10" height="10" fill="{BASELINE_COLOR}"/>'
            f'<text x="{x + 14}" y="13">baseline</text>'
            f'<rect x="{x + 80}" y="4" width="10" height="10" fill="{CURRENT_COLOR}"/>'
            f'<text x="{x + 94}" y="13">current</text>')


def _picture(picture: Optional[Mapping[str, Any]]) -> str:
    if not picture:
        return "<p><small>no distribution in the statistics</small></p>"
    return svg_categorical(picture) if picture["kind"] == "categorical" else svg_numeric(picture)


def _pictures_html(report: Mapping[str, Any], items: List[Mapping[str, Any]]) -> str:
    by_feature: Dict[Optional[str], List[Mapping[str, Any]]] = {}
    for item in items:
        by_feature.setdefault(item["feature"], []).append(item)
    blocks = []
    for feature, found in by_feature.items():
        what = "; ".join(f"<b class='{i['status']}'>{e(i['status'])}</b> {e(i['check'])} = {_fmt(i['value'])}"
                         for i in found)
        if feature is None:  # dataset-level: row count, duplicates, dataset anomalies
            pictures = []
            for i in found:
                if i["check"] == "row_count" and report.get("baseline_num_examples"):
                    pictures.append(svg_pair("rows", report["baseline_num_examples"], report["num_examples"], "{:,.0f}"))
            blocks.append(f"<div class='pic'><h3>dataset</h3><p>{what}</p>{''.join(pictures)}</div>")
            continue
        picture = report.get("pictures", {}).get(feature)
        extra = ""
        label = report.get("label")
        if label and feature == label["feature"] and label["baseline_rate"] is not None:
            extra = svg_pair("mean", label["baseline_rate"], label["current_rate"], "{:.3f}")
        missing = [i for i in found if i["check"] == "missing_rate"]
        for i in missing:
            extra += svg_pair("missing", i["baseline_value"], i["baseline_value"] + i["value"], "{:.1%}")
        blocks.append(f"<div class='pic'><h3>{e(feature)}</h3><p>{what}</p>{extra}{_picture(picture)}</div>")
    return "".join(blocks)


def render(report: Mapping[str, Any], title: str = "Drift report") -> str:
    """A self-contained HTML page (inline CSS and SVG, no scripts) of a report from `validate_drift`."""
    items = fired(report)
    fired_rows = "".join(
        f"<tr class='{i['status']}'><td>{e(i['status'])}</td><td>{e(i['check'])}</td>"
        f"<td>{e(i['feature'] or '(dataset)')}</td><td class='num'>{_fmt(i['value'])}</td>"
        f"<td class='num'>{_threshold(i['warn'])}</td><td class='num'>{_threshold(i['block'])}</td>"
        f"<td>{e(str(i['detail']))}</td></tr>" for i in items)
    fired_html = ("<h2>What fired</h2><table><tr><th>verdict</th><th>check</th><th>feature</th><th>value</th>"
                  f"<th>warn at</th><th>block at</th><th>detail</th></tr>{fired_rows}</table>"
                  "<h2>Baseline vs current</h2>" + _pictures_html(report, items)) if items else ""
    feature_rows = []
    for f in report["features"]:
        css = "warn" if f["status"] == "not_measured" and not f["blocking"] else _STATUS_CSS.get(f["status"], "none")
        feature_rows.append(
            f"<tr class='{css}'><td>{e(f['feature'])}</td><td>{e(f['comparator'])}</td>"
            f"<td class='num'>{_fmt(f['distance'])}</td><td class='num'>{_fmt(f.get('warn_threshold'))}</td>"
            f"<td class='num'>{_fmt(f.get('block_threshold'))}</td><td>{e(f['status'])}</td>"
            f"<td>{e(f.get('description', ''))}</td></tr>")
    label = report.get("label")
    label_html = ""
    if label:
        label_html = (
            "<h2>Label rate</h2><table><tr><th>label</th><th>current rate</th><th>baseline rate</th>"
            "<th>|change|</th><th>block above</th><th>verdict</th></tr>"
            f"<tr class='{_STATUS_CSS.get(label['status'], 'none')}'><td>{e(label['feature'])}</td>"
            f"<td class='num'>{_fmt(label['current_rate'])}</td><td class='num'>{_fmt(label['baseline_rate'])}</td>"
            f"<td class='num'>{_fmt(label['abs_change'])}</td><td class='num'>{_fmt(label['threshold'])}</td>"
            f"<td>{e(label['status'])}</td></tr></table>")
    check_rows = "".join(
        f"<tr class='{_STATUS_CSS.get(c['status'], 'none')}'><td>{e(c['check'])}</td>"
        f"<td>{e(c['feature'] or '(dataset)')}</td><td class='num'>{_fmt(c['value'])}</td>"
        f"<td class='num'>{_threshold(c['warn'])}</td><td class='num'>{_threshold(c['block'])}</td>"
        f"<td>{e(c['status'])}</td><td>{e(str(c['detail']))}</td></tr>" for c in report.get("checks", []))
    checks_html = ("<h2>Dataset checks</h2><table><tr><th>check</th><th>feature</th><th>value</th>"
                   "<th>warn at</th><th>block at</th><th>verdict</th><th>detail</th></tr>"
                   f"{check_rows}</table>") if check_rows else ""
    verdict_css = {"BLOCKED": "block", "WARN": "warn", "PASS": "ok"}.get(report["verdict"], "none")
    meta = (f"current examples: {report['num_examples']}; baseline examples: "
            f"{report['baseline_num_examples'] if report['baseline_num_examples'] is not None else '–'}; "
            f"component version {report['component_version']}; created {report['created_utc']}")
    for key in ("split", "statistics_uri", "baseline_uri"):
        if report.get(key):
            meta += f"; {key}: {report[key]}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #bbb; padding: 4px 8px; text-align: left; }}
th {{ background: #eee; }}
td.num {{ text-align: right; font-family: monospace; }}
tr.ok td {{ background: #e8f5e9; }} tr.warn td {{ background: #fff8e1; }}
tr.block td {{ background: #ffebee; }} tr.none td {{ background: #f5f5f5; }}
b.block {{ color: #c62828; }} b.warn {{ color: #b26a00; }}
.pic {{ display: inline-block; vertical-align: top; border: 1px solid #ddd; padding: 6px 10px; margin: 0 12px 12px 0; }}
.pic h3 {{ margin: 2px 0; }} .pic p {{ margin: 2px 0 6px 0; font-size: 0.9em; }}
.verdict {{ display: inline-block; padding: 6px 12px; font-weight: bold; border: 1px solid #888; }}
.verdict.ok {{ background: #c8e6c9; }} .verdict.warn {{ background: #ffecb3; }}
.verdict.block {{ background: #ffcdd2; }} .verdict.none {{ background: #e0e0e0; }}
</style></head><body>
<h1>{e(title)}</h1>
<p><span class="verdict {verdict_css}">{e(report['verdict'])} (blessed={report['blessed']})</span></p>
<p>{e(report['summary'])}</p>
<p><small>{e(meta)}</small></p>
{fired_html}
{label_html}
<h2>Features</h2>
<table><tr><th>feature</th><th>comparator</th><th>distance</th><th>warn at</th><th>block at</th>
<th>verdict</th><th>TFDV detail</th></tr>
{''.join(feature_rows)}
</table>
{checks_html}
</body></html>
"""
