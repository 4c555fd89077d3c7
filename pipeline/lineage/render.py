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
def _color(node: Dict[str, Any]) -> str:
    if node["kind"] == "execution":
        return "#dbe8f7"
    return {True: "#d4f4d4", False: "#f8d0d0"}.get(node.get("verdict"), "#fff6d5")


def to_dot(graph: Dict[str, Any], title: str = "lineage") -> str:
    q = lambda s: '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
    lines = [f"digraph {q(title)} {{", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    for n in graph["nodes"]:
        shape = "box" if n["kind"] == "execution" else "ellipse"
        tip = n.get("uri") or n.get("type", "")
        lines.append(f"  {q(n['id'])} [label={q(n['label'])}, shape={shape}, style=filled, "
                     f"fillcolor={q(_color(n))}, tooltip={q(tip)}];")
    for e in graph["edges"]:
        lines.append(f"  {q(e['from'])} -> {q(e['to'])} [label={q(e['label'])}, fontsize=8];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def has_dot() -> bool:
    return shutil.which("dot") is not None


def to_svg_with_dot(dot_text: str) -> str:
    return subprocess.run(["dot", "-Tsvg"], input=dot_text, capture_output=True, text=True, check=True).stdout


def layout(graph: Dict[str, Any]) -> Dict[str, tuple]:
    """Node id -> (layer, row): layer = longest path from a source."""
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
    rows: Dict[int, int] = {}
    pos = {}
    for i in ids:
        r = rows.get(layer[i], 0)
        pos[i] = (layer[i], r)
        rows[layer[i]] = r + 1
    return pos


def to_svg(graph: Dict[str, Any]) -> str:
    pos = layout(graph)
    w, h, gx, gy = 190, 34, 60, 22
    nodes = {n["id"]: n for n in graph["nodes"]}
    xy = {i: (20 + l * (w + gx), 20 + r * (h + gy)) for i, (l, r) in pos.items()}
    width = 40 + (max((l for l, _ in pos.values()), default=0) + 1) * (w + gx)
    height = 40 + (max((r for _, r in pos.values()), default=0) + 1) * (h + gy)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="Helvetica,Arial,sans-serif" font-size="11">',
             '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
             'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for e in graph["edges"]:
        if e["from"] not in xy or e["to"] not in xy:
            continue
        (x1, y1), (x2, y2) = xy[e["from"]], xy[e["to"]]
        x1, y1, x2, y2 = x1 + w, y1 + h / 2, x2, y2 + h / 2
        mx = (x1 + x2) / 2
        parts.append(f'<path d="M{x1},{y1} C{mx},{y1} {mx},{y2} {x2},{y2}" fill="none" stroke="#777" '
                     f'marker-end="url(#arr)"><title>{html.escape(e["label"])}</title></path>')
    for i, (x, y) in xy.items():
        n = nodes[i]
        rx = 4 if n["kind"] == "execution" else 16
        tip = html.escape(str(n.get("uri") or n.get("type") or ""))
        label = html.escape(n["label"] if len(n["label"]) <= 30 else n["label"][:29] + "…")
        parts.append(f'<g class="{n["kind"]}"><title>{html.escape(n["label"])}\n{tip}</title>'
                     f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{rx}" fill="{_color(n)}" stroke="#445"/>'
                     f'<text x="{x + w / 2}" y="{y + h / 2 + 4}" text-anchor="middle">{label}</text></g>')
    parts.append("</svg>")
    return "\n".join(parts)


def to_html(result: Dict[str, Any], title: str) -> str:
    graph = result.get("graph") or {"nodes": [], "edges": []}
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:Helvetica,Arial,sans-serif;margin:20px} pre{background:#f6f6f6;padding:10px;"
            "overflow:auto} .legend span{padding:2px 8px;margin-right:6px;border:1px solid #445}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            "<p class='legend'><span style='background:#dbe8f7'>execution</span>"
            "<span style='background:#fff6d5'>artifact</span><span style='background:#d4f4d4'>passed</span>"
            "<span style='background:#f8d0d0'>failed</span></p>"
            f"{to_svg(graph)}\n<h2>Details</h2><pre>{html.escape(to_text(result))}</pre></body></html>\n")
