"""Renders lineage answers as text tables, JSON, Graphviz DOT or a self-contained HTML page (inline SVG).

The HTML page lays the graph out itself (layers by longest path), so it needs neither the ``dot``
binary nor a browser library; :func:`to_svg_with_dot` uses Graphviz when ``dot`` is installed.
"""
from __future__ import annotations

import html
import json
import shutil
import subprocess
from typing import Any, Dict, List, Optional, Sequence, Tuple

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


BOX_W, BOX_H, GAP_X, GAP_Y, LANE_W = 180, 32, 16, 44, 8  # px; LANE_W: a long edge's slot in a layer it crosses


def _drawn_nodes(graph: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """(ids drawn, labels of nodes left out): a resolver that picked nothing has no edge and is named below
    the graph instead of floating in it."""
    linked = {e["from"] for e in graph["edges"]} | {e["to"] for e in graph["edges"]}
    drawn, left_out = [], []
    for n in graph["nodes"]:
        if n["id"] in linked or n.get("role") != "resolver":
            drawn.append(n["id"])
        else:
            left_out.append(n["label"])
    return drawn, left_out


def layout(graph: Dict[str, Any], ids: Optional[List[str]] = None) -> Dict[str, Any]:
    """A layered layout (Sugiyama): layers top to bottom (a source sits just above its first reader), an
    edge spanning several layers passes through a lane (a dummy slot) in each layer it crosses, and nodes
    and lanes are ordered by barycentre sweeps to cut crossings. Boxes and lanes never overlap and an edge
    only runs vertically inside its lanes, so no edge crosses a box.

    Returns {"order": [[id or lane id, ...] per layer], "layer": {id: layer}, "chains": {(from, to): [lane ids]}}.
    """
    ids = [n["id"] for n in graph["nodes"]] if ids is None else ids
    known = set(ids)
    edges = list(dict.fromkeys((e["from"], e["to"]) for e in graph["edges"] if e["from"] in known and e["to"] in known))
    preds: Dict[str, List[str]] = {i: [] for i in ids}
    succs: Dict[str, List[str]] = {i: [] for i in ids}
    for a, b in edges:
        preds[b].append(a)
        succs[a].append(b)
    layer: Dict[str, int] = {}

    def depth(i, stack=()):
        if i not in layer:
            if i in stack:  # cycles cannot happen in MLMD lineage; be safe anyway
                return 0
            layer[i] = 1 + max((depth(p, stack + (i,)) for p in preds[i]), default=-1)
        return layer[i]

    for i in ids:
        depth(i)
    for i in ids:  # sources (e.g. an earlier run's artifact) just above their first reader
        if not preds[i] and succs[i]:
            layer[i] = max(layer[i], min(layer[s] for s in succs[i]) - 1)
    levels = max(layer.values(), default=-1) + 1
    order: List[List[str]] = [[] for _ in range(levels)]
    for i in ids:
        order[layer[i]].append(i)
    up: Dict[str, List[str]] = {i: list(preds[i]) for i in ids}  # with lanes: neighbours one layer up/down
    down: Dict[str, List[str]] = {i: [] for i in ids}
    chains: Dict[tuple, List[str]] = {}
    for a, b in edges:
        chain, prev = [], a
        for level in range(layer[a] + 1, layer[b]):
            lane = f"~{a}@{level}"  # one lane per source and layer: its edges run down one trunk, then branch
            if lane not in layer:
                order[level].append(lane)
                layer[lane] = level
                up[lane], down[lane] = [prev], []
                down[prev].append(lane)
            chain.append(lane)
            prev = lane
        if chain:
            up[b] = [chain[-1] if p == a else p for p in up[b]]
        down[prev].append(b)
        chains[(a, b)] = chain
    for i in list(down):
        down[i] = list(dict.fromkeys(d for d in down[i] if layer.get(d, -1) == layer[i] + 1))

    def sweep(levels_in_order, neighbours):
        for level in levels_in_order:
            rank = {}
            for row in order:
                for k, i in enumerate(row):
                    rank[i] = k
            def key(item):
                k, i = item
                near = [rank[n] for n in neighbours[i] if n in rank]
                return (sum(near) / len(near) if near else k, k)
            order[level] = [i for _, i in sorted(enumerate(order[level]), key=key)]

    for _ in range(4):
        sweep(range(1, levels), up)
        sweep(range(levels - 2, -1, -1), down)
    return {"order": order, "layer": layer, "chains": chains}


def _width(i: str) -> int:
    return LANE_W if i.startswith("~") else BOX_W


def to_svg(graph: Dict[str, Any]) -> str:
    """The graph layered top to bottom (see layout): it scales to the width of the page (viewBox) and no edge
    crosses a box; tooltips give uris and keys. A resolver that picked nothing is named below it."""
    drawn, left_out = _drawn_nodes(graph)
    placed = layout(graph, drawn)
    order = placed["order"]
    nodes = {n["id"]: n for n in graph["nodes"]}
    row_width = [sum(_width(i) for i in row) + GAP_X * max(len(row) - 1, 0) for row in order]
    width = 20 + max(row_width or [BOX_W])
    x: Dict[str, float] = {}
    for level, row in enumerate(order):
        left = (width - row_width[level]) / 2  # each layer centred
        for i in row:
            x[i] = left
            left += _width(i) + GAP_X
    top = {i: 12 + placed["layer"][i] * (BOX_H + GAP_Y) for i in x}
    height = 24 + len(order) * (BOX_H + GAP_Y) - GAP_Y
    parts = [f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
             f'width="100%" style="max-width:{width:.0f}px" font-family="Helvetica,Arial,sans-serif" font-size="11">',
             '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
             'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    # Where each edge leaves and enters a box: spread along its bottom/top edge in the order of the other end.
    ends: Dict[tuple, float] = {}
    for attach, mine, other in (("out", 0, 1), ("in", 1, 0)):
        by_node: Dict[str, List[tuple]] = {}
        for e in graph["edges"]:
            if (e["from"], e["to"]) in placed["chains"]:
                chain = [e["from"]] + placed["chains"][(e["from"], e["to"])] + [e["to"]]
                near = chain[1] if attach == "out" else chain[-2]
                by_node.setdefault((e["from"], e["to"])[mine], []).append((x[near] + _width(near) / 2, e))
        for node, items in by_node.items():
            items.sort(key=lambda t: t[0])
            for k, (_, e) in enumerate(items):
                ends[(attach, e["from"], e["to"], e["label"])] = x[node] + BOX_W * (k + 1) / (len(items) + 1)
    for e in graph["edges"]:
        chain = placed["chains"].get((e["from"], e["to"]))
        if chain is None:
            continue
        points = [(ends[("out", e["from"], e["to"], e["label"])], top[e["from"]] + BOX_H)]
        for lane in chain:  # straight down through each lane of a layer it crosses
            cx = x[lane] + LANE_W / 2
            points += [(cx, top[lane]), (cx, top[lane] + BOX_H)]
        points.append((ends[("in", e["from"], e["to"], e["label"])], top[e["to"]]))
        d = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
        for k in range(1, len(points)):
            (x1, y1), (x2, y2) = points[k - 1], points[k]
            if x1 == x2 or k % 2 == 0 and chain:  # inside a lane: a vertical line
                d.append(f"L{x2:.1f},{y2:.1f}")
            else:  # between two layers: a curve within the gap
                my = (y1 + y2) / 2
                d.append(f"C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} {x2:.1f},{y2:.1f}")
        dash = ' stroke-dasharray="5 4"' if e.get("resolved") else ""
        parts.append(f'<path d="{" ".join(d)}" fill="none" stroke="#888"{dash} marker-end="url(#arr)">'
                     f'<title>{html.escape(e["label"])}</title></path>')
    for i in drawn:
        n, left, y = nodes[i], x[i], top[i]
        rx = 3 if n["kind"] == "execution" else 16
        _, stroke, dash = ROLE_STYLE.get(n.get("role"), ROLE_STYLE["component"]) if n["kind"] == "execution" \
            else ("", "#445", "")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        tip = html.escape(str(n.get("uri") or n.get("type") or ""))
        text = n["label"] + (" (cached)" if n.get("state") == "CACHED" else "")
        label = html.escape(text if len(text) <= 30 else text[:29] + "…")
        role = n.get("role") or n["kind"]
        parts.append(f'<g class="{n["kind"]} {role}" data-id="{html.escape(i)}"><title>{html.escape(n["label"])}\n'
                     f'{tip}</title><rect x="{left:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="{rx}" '
                     f'fill="{_color(n)}" stroke="{stroke}"{dash_attr}/>'
                     f'<text x="{left + BOX_W / 2:.1f}" y="{y + BOX_H / 2 + 4:.1f}" text-anchor="middle">{label}</text></g>')
    parts.append("</svg>")
    if left_out:
        parts.append(f"<p class='note'>Not drawn (picked nothing): {html.escape(', '.join(left_out))}.</p>")
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
