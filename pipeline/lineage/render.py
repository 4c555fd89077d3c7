"""Renders lineage answers as text tables, JSON, Graphviz DOT or a self-contained HTML page (inline SVG).

The HTML page lays the graph out itself (layers by longest path), so it needs neither the ``dot``
binary nor a browser library; :func:`to_svg_with_dot` uses Graphviz when ``dot`` is installed.
"""
from __future__ import annotations

import html
import json
import shutil
import subprocess
from typing import Any, Dict, List, Sequence

FORMATS = ("table", "json", "dot", "html")


def to_json(result: Dict[str, Any]) -> str:
    return json.dumps(result, indent=2, sort_keys=False, default=str)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(_fmt(x) for x in v) if v else "-"
    if isinstance(v, dict):
        return " ".join(f"{k}={_fmt(x)}" for k, x in v.items()) if v else "-"
    return str(v)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 60) -> str:
    cells = [[_fmt(c) for c in r] for r in rows]
    cells = [[c if len(c) <= max_width else c[:max_width - 1] + "…" for c in r] for r in cells]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _verdict(v) -> str:
    return {True: "PASS", False: "FAIL", None: "?"}[v]


def trace_text(t: Dict[str, Any]) -> str:
    tgt = t["target"]
    out = [f"Trace of {tgt['type']} #{tgt['id']} ({t['reference']}){'  [SERVING]' if t['serving'] else ''}",
           f"  uri: {tgt['uri']}"]
    if t.get("served"):
        from serving.delivery.registry import describe
        out.append(f"  served: {describe(t['served'])}")
    if t.get("pushed"):
        p = t["pushed"]
        out.append(f"  pushed: {_fmt(p['pushed'])}  version {_fmt(p['version'])} -> {_fmt(p['destination'])}")
    if t.get("model"):
        out.append(f"  model: #{t['model']['id']} {t['model']['uri']}")
        pushes = [f"v{p['version']}" + (" [SERVING]" if p["serving"] else "") if p["pushed"] else "not pushed"
                  for p in t.get("pushes", [])]
        out.append(f"  pushes of this model: {', '.join(pushes) or 'none'}")
    out.append(f"  pipeline: {_fmt(t['pipeline'])}  run(s): {_fmt(t['runs'])}  "
               f"from {_fmt(t['times']['started'])} to {_fmt(t['times']['finished'])}")
    out.append(f"  spans: {_fmt(t['spans'])}   (training spans: {_fmt(t['training_spans'])})")
    for trigger in t.get("triggered_by") or []:
        out.append(f"  triggered by: monitoring alert MonitoringReport #{trigger['alert']} on version "
                   f"{_fmt(trigger['served_version'])} ({'; '.join(trigger['reasons'] or [])}); retraining "
                   f"MonitorRetrain #{trigger['execution']} on span {_fmt(trigger['span'])}; "
                   f"page {_fmt(trigger['page'])}")
    out.append("\nExamples")
    out.append(table(["id", "span", "splits", "producer", "used by", "uri"],
                     [[e["id"], e["span"], e["splits"], e["producer"], e["used_by"], e["uri"]] for e in t["examples"]]))
    if t["statistics"] or t["schema"]:
        out.append("\nStatistics / schema")
        out.append(table(["id", "type", "producer", "uri"],
                         [[a["id"], a["type"], a["producer"], a["uri"]] for a in t["statistics"] + t["schema"]]))
    out.append("\nValidators")
    out.append(table(["node", "verdict", "checked", "output", "details", "report uri"],
                     [[v["node"], _verdict(v["blessed"]), v["checked"], f"{v['type']} #{v['artifact']}",
                       v.get("details") or "-", v["report_uri"]]
                      for v in t["validators"]], max_width=70) if t["validators"] else "  (none recorded)")
    if t.get("trainer"):
        tr = t["trainer"]
        out.append(f"\nTrainer ({tr['node']} #{tr['id']}, {tr['state']}, {_fmt(tr['seconds'])}s)"
                   f"  module: {_fmt(tr['module_file'])}  code version: {_fmt(tr['code_version'])}")
        out.append(table(["parameter", "value"], sorted(tr["parameters_flat"].items()), max_width=80))
    out.append(f"\nEvaluation: blessed {_fmt(t['blessed'])}  metrics: {_fmt(t['metrics'])}")
    for ev in t["evaluations"]:
        out.append(f"  {ev['type']} #{ev['artifact']} ({ev['node']}): blessed {_fmt(ev['blessed'])}  {ev['uri']}")
    if t["baselines"]:
        out.append("  compared against: " + ", ".join(f"{b['input']} #{b['id']}" for b in t["baselines"]))
    out.append("\nExecutions (CACHED ones skipped)")
    out.append(table(["id", "node", "state", "run", "started", "seconds"],
                     [[e["id"], e["node"], e["state"], e["runs"], e["started"], e["seconds"]] for e in t["executions"]]))
    return "\n".join(out)


def impact_text(r: Dict[str, Any]) -> str:
    what = f"span {r['value']}" if r["kind"] == "span" else f"artifact #{r['value']}"
    models = r["models"]
    serving = [m for m in models if m["serving"]]
    out = [f"Impact of {what}: {len(r['starts'])} start artifact(s) {[a['id'] for a in r['starts']]}",
           f"  {len(models)} model(s) trained downstream; serving now: "
           + (", ".join(f"model #{m['artifact']} (version {p['version']})" for m in serving for p in m["pushes"]
                        if p["serving"]) if serving else "none of them")]
    out.append("\nModels")
    out.append(table(["model", "run", "trained by", "metrics", "blessings", "pushes", "serving"],
                     [[m["artifact"], m["runs"], m["trained_by"], m["metrics"],
                       " ".join(f"{b['node']}:{_verdict(b['blessed'])}" for b in m["blessings"]) or "-",
                       " ".join((f"v{p['version']}" if p["pushed"] else "not-pushed") for p in m["pushes"]) or "-",
                       m["serving"]] for m in models]) if models else "  (no model used this data)")
    if r["statistics"]:
        out.append("\nStatistics: " + ", ".join(f"#{a['id']}" for a in r["statistics"]))
    if r["validators"]:
        out.append("\nVerdicts")
        out.append(table(["node", "verdict", "output", "run"],
                         [[v["node"], _verdict(v["blessed"]), f"{v['type']} #{v['artifact']}", v["runs"]]
                          for v in r["validators"]]))
    return "\n".join(out)


def runs_text(r: Dict[str, Any]) -> str:
    rows = []
    for x in r["runs"]:
        fails = [k for k, v in x["verdicts"].items() if v is False]
        verdict = "all pass" if x["verdicts"] and not fails else ("FAIL " + ",".join(fails) if fails else "-")
        pushed = "-"
        if x["pushed"]:
            pushed = f"v{x['pushed']['version']}" + (" (cached)" if x["pushed"]["cached"] else "")
        rows.append([x["run_id"], x["started"], x["seconds"], f"{x['executed']}/{x['cached']}",
                     ",".join(x["failed"]) or "-", x["spans"],
                     {k: v for k, v in x["metrics"].items() if k in ("auc", "example_count")} or x["metrics"],
                     verdict, pushed])
    return table(["run", "started", "secs", "exec/cached", "failed", "spans", "metrics", "verdicts", "pushed"], rows)


def diff_text(d: Dict[str, Any]) -> str:
    out = [table(["", "field", "A", "B"], [["*" if r["changed"] else "", r["field"], r["a"], r["b"]]
                                         for r in d["rows"]], max_width=50)]
    sc = d.get("schema_changes")
    if sc:
        out.append(f"\nSchema: added {_fmt(sc['added'])}; removed {_fmt(sc['removed'])}; changed {_fmt(sc['changed'])}")
    out.append(f"\n{len(d['changed'])} field(s) differ: {', '.join(d['changed']) or 'none'}")
    return "\n".join(out)


TEXT = {"trace": trace_text, "impact": impact_text, "runs": runs_text, "diff": diff_text}


def to_text(result: Dict[str, Any]) -> str:
    return TEXT[result["question"]](result)


# --- graphs -----------------------------------------------------------------------------------
ROLE_STYLE = {  # fill, stroke, dash: executions by role, artifacts by verdict
    "component": ("#dbe8f7", "#445", ""),
    "validator": ("#e6dcf5", "#5a3d8a", ""),
    "resolver": ("#eeeeee", "#777", "6 4"),
}
LEGEND = ("<p class='legend'><span style='background:#dbe8f7'>component</span>"
          "<span style='background:#e6dcf5;border-color:#5a3d8a'>validator</span>"
          "<span style='background:#eee;border-style:dashed'>resolver (picks existing artifacts)</span>"
          "<span style='background:#fff6d5;border-radius:9px'>artifact</span>"
          "<span style='background:#d4f4d4;border-radius:9px'>verdict: passed</span>"
          "<span style='background:#f8d0d0;border-radius:9px'>verdict: failed</span></p>")


def _color(node: Dict[str, Any]) -> str:
    if node["kind"] == "execution":
        return ROLE_STYLE.get(node.get("role"), ROLE_STYLE["component"])[0]
    return {True: "#d4f4d4", False: "#f8d0d0"}.get(node.get("verdict"), "#fff6d5")


def to_dot(graph: Dict[str, Any], title: str = "lineage") -> str:
    q = lambda s: '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
    lines = [f"digraph {q(title)} {{", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    for n in graph["nodes"]:
        shape = "box" if n["kind"] == "execution" else "ellipse"
        style = "filled,dashed" if n.get("role") == "resolver" else "filled"
        tip = n.get("uri") or n.get("type", "")
        lines.append(f"  {q(n['id'])} [label={q(n['label'])}, shape={shape}, style={q(style)}, "
                     f"fillcolor={q(_color(n))}, tooltip={q(tip)}];")
    for e in graph["edges"]:
        style = ", style=dashed" if e.get("resolved") else ""
        lines.append(f"  {q(e['from'])} -> {q(e['to'])} [label={q(e['label'])}, fontsize=8{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def has_dot() -> bool:
    return shutil.which("dot") is not None


def to_svg_with_dot(dot_text: str) -> str:
    return subprocess.run(["dot", "-Tsvg"], input=dot_text, capture_output=True, text=True, check=True).stdout


def layout(graph: Dict[str, Any]) -> Dict[str, tuple]:
    """Node id -> (layer, position in layer): layer = longest path from a source; within a layer, nodes sit in
    the mean position of their predecessors (fewer crossings)."""
    ids = [n["id"] for n in graph["nodes"]]
    preds: Dict[str, List[str]] = {i: [] for i in ids}
    for e in graph["edges"]:
        if e["to"] in preds and e["from"] in preds:
            preds[e["to"]].append(e["from"])
    layer: Dict[str, int] = {}

    def depth(i, stack=()):
        if i in layer:
            return layer[i]
        if i in stack:  # cycles cannot happen in MLMD lineage; be safe anyway
            return 0
        layer[i] = 1 + max((depth(p, stack + (i,)) for p in preds[i]), default=-1)
        return layer[i]

    for i in ids:
        depth(i)
    pos: Dict[str, tuple] = {}
    for level in range(max(layer.values(), default=-1) + 1):
        members = [i for i in ids if layer[i] == level]
        placed = {i: (sum(pos[p][1] for p in preds[i]) / len(preds[i]) if preds[i] else k)
                  for k, i in enumerate(members)}
        for k, i in enumerate(sorted(members, key=lambda i: (placed[i], ids.index(i)))):
            pos[i] = (level, k)
    return pos


def to_svg(graph: Dict[str, Any]) -> str:
    """The graph layered top to bottom; scales to the width of the page (viewBox), tooltips give uris and keys."""
    pos = layout(graph)
    w, h, gx, gy = 200, 36, 24, 34
    nodes = {n["id"]: n for n in graph["nodes"]}
    widest = max([sum(1 for l, _ in pos.values() if l == level) for level in {l for l, _ in pos.values()}] or [1])
    width = 20 + widest * (w + gx)
    xy = {}
    for i, (level, k) in pos.items():
        in_layer = sum(1 for l, _ in pos.values() if l == level)
        left = (width - in_layer * (w + gx) + gx) / 2  # each layer centred
        xy[i] = (left + k * (w + gx), 14 + level * (h + gy))
    height = 28 + (max((l for l, _ in pos.values()), default=0) + 1) * (h + gy) - gy
    parts = [f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
             f'width="100%" style="max-width:{width:.0f}px" font-family="Helvetica,Arial,sans-serif" font-size="12">',
             '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
             'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for e in graph["edges"]:
        if e["from"] not in xy or e["to"] not in xy:
            continue
        (x1, y1), (x2, y2) = xy[e["from"]], xy[e["to"]]
        x1, y1, x2, y2 = x1 + w / 2, y1 + h, x2 + w / 2, y2
        my = (y1 + y2) / 2
        dash = ' stroke-dasharray="5 4"' if e.get("resolved") else ""
        parts.append(f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} {x2:.1f},{y2:.1f}" '
                     f'fill="none" stroke="#888"{dash} marker-end="url(#arr)">'
                     f'<title>{html.escape(e["label"])}</title></path>')
    for i, (x, y) in xy.items():
        n = nodes[i]
        rx = 3 if n["kind"] == "execution" else 16
        _, stroke, dash = ROLE_STYLE.get(n.get("role"), ROLE_STYLE["component"]) if n["kind"] == "execution" \
            else ("", "#445", "")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        tip = html.escape(str(n.get("uri") or n.get("type") or ""))
        text = n["label"] + (" (cached)" if n.get("state") == "CACHED" else "")
        label = html.escape(text if len(text) <= 30 else text[:29] + "…")
        role = n.get("role") or n["kind"]
        parts.append(f'<g class="{n["kind"]} {role}" data-id="{html.escape(i)}"><title>{html.escape(n["label"])}\n'
                     f'{tip}</title><rect x="{x:.1f}" y="{y:.1f}" width="{w}" height="{h}" rx="{rx}" '
                     f'fill="{_color(n)}" stroke="{stroke}"{dash_attr}/>'
                     f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle">{label}</text></g>')
    parts.append("</svg>")
    return "\n".join(parts)


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; cells are escaped text (via _fmt), except ``Markup`` cells."""
    def cell(v):
        return str(v) if isinstance(v, Markup) else html.escape(_fmt(v))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


class Markup(str):
    """HTML that a table cell takes as is."""


def verdict_html(v) -> Markup:
    return Markup({True: "<span class='pass'>PASS</span>", False: "<span class='fail'>FAIL</span>"}.get(v, "?"))


def trace_html(t: Dict[str, Any]) -> str:
    """The details of a trace as tables."""
    tgt = t["target"]
    out = [f"<p>{html.escape(tgt['type'])} #{tgt['id']} ({html.escape(t['reference'])})"
           f"{' <b>[SERVING]</b>' if t['serving'] else ''} &middot; pipeline {html.escape(_fmt(t['pipeline']))}"
           f" &middot; run(s) {html.escape(_fmt(t['runs']))} &middot; spans {html.escape(_fmt(t['spans']))} "
           f"(training spans {html.escape(_fmt(t['training_spans']))})</p>"]
    if t.get("triggered_by"):
        out.append("<h3>Triggered by a monitoring alert</h3>" + html_table(
            ["alert", "served version", "reasons", "retraining", "span", "page"],
            [[f"MonitoringReport #{x['alert']}", x["served_version"], "; ".join(x["reasons"] or []),
              f"MonitorRetrain #{x['execution']}", x["span"], x["page"]] for x in t["triggered_by"]]))
    if t.get("metrics"):
        out.append("<h3>Metrics</h3>" + html_table(list(t["metrics"]), [list(t["metrics"].values())]))
    out.append("<h3>Validators</h3>" + (html_table(
        ["node", "verdict", "checked", "output", "details", "report uri"],
        [[v["node"], verdict_html(v["blessed"]), v["checked"], f"{v['type']} #{v['artifact']}", v.get("details"),
          v["report_uri"]] for v in t["validators"]]) if t["validators"] else "<p>(none recorded)</p>"))
    if t.get("baselines"):
        out.append("<h3>Compared against / started from (not part of this lineage)</h3>" + html_table(
            ["input", "artifact", "uri", "created"],
            [[b["input"], b["id"], b["uri"], b["created"]] for b in t["baselines"]]))
    out.append("<h3>Examples</h3>" + html_table(
        ["id", "span", "splits", "producer", "used by", "uri"],
        [[e["id"], e["span"], e["splits"], e["producer"], e["used_by"], e["uri"]] for e in t["examples"]]))
    if t.get("trainer"):
        tr = t["trainer"]
        out.append(f"<h3>Trainer #{tr['id']} ({html.escape(tr['state'])}, {html.escape(_fmt(tr['seconds']))} s)</h3>"
                   + html_table(["parameter", "value"], sorted(tr["parameters_flat"].items())))
    out.append("<h3>Evaluations and blessings</h3>" + html_table(
        ["artifact", "type", "node", "blessed", "uri"],
        [[e["artifact"], e["type"], e["node"], verdict_html(e["blessed"]) if e["blessed"] is not None else None,
          e["uri"]] for e in t["evaluations"]]))
    out.append("<h3>Executions (cache hits skipped)</h3>" + html_table(
        ["id", "node", "state", "run", "started", "seconds"],
        [[e["id"], e["node"], e["state"], e["runs"], e["started"], e["seconds"]] for e in t["executions"]]))
    return "".join(out)


def to_html(result: Dict[str, Any], title: str) -> str:
    graph = result.get("graph") or {"nodes": [], "edges": []}
    details = (trace_html(result) if result.get("question") == "trace"
               else f"<pre>{html.escape(to_text(result))}</pre>")
    from pipeline.pages.shell import page
    return page(title, f"{LEGEND}{to_svg(graph)}\n<h2>Details</h2>{details}")
