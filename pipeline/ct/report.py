"""The continuous-training decision report: `DIR/ct/report.html` plus PNG plots (matplotlib).

Everything comes from ML-Metadata (the replay's `ct.Decision` / `ct.ForwardEvaluation` executions, read
by `ct.read_replay`) and the artifacts those point at (each run's drift report), not from logs.
"""
import base64
import html
import io
import json
import os
from typing import Dict, List, Optional

from pipeline.ct import replay as ct
from pipeline.pages import shell


def _forward_series(forward: List[Dict], spans: List[int]) -> Dict[str, List[Optional[float]]]:
    by = {(f["span"], f["role"]): f["auc"] for f in forward}
    return {role: [by.get((s, role)) for s in spans] for role in ct.ROLES}


def summary_figures(replay: Dict) -> Dict:
    """Mean forward AUC per role over the spans where all three were scored, and push-quality figures."""
    decisions, forward = replay["decisions"], replay["forward"]
    spans = [d["span"] for d in decisions]
    series = _forward_series(forward, spans)
    common = [i for i in range(len(spans)) if all(series[r][i] is not None for r in ct.ROLES)]
    means = {r: (sum(series[r][i] for i in common) / len(common) if common else None) for r in ct.ROLES}
    # A push after span N: the new model (served on N+1) against the one it replaced, both on N+1.
    by = {(f["span"], f["role"]): f["auc"] for f in forward}
    replaced = []
    for d in decisions:
        new, old = by.get((d["span"] + 1, ct.SERVED)), by.get((d["span"] + 1, ct.REPLACED))
        if d.get("pushed") and new is not None and old is not None:
            replaced.append({"pushed_after_span": d["span"], "version": d.get("pushed_version"),
                             "forward_auc": new, "replaced_forward_auc": old, "delta": new - old})
    return {"spans": spans, "common_spans": [spans[i] for i in common], "mean_forward_auc": means,
            "pushes": sum(1 for d in decisions if d.get("pushed")), "pushed_forward": replaced}


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def plot_forward(replay: Dict) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    spans = [d["span"] for d in replay["decisions"]]
    series = _forward_series(replay["forward"], spans)
    labels = {ct.SERVED: "served model (what production saw)",
              ct.PREVIOUS_CANDIDATE: "last span's candidate (push every candidate)",
              ct.FROZEN: "frozen first-span model"}
    fig, ax = plt.subplots(figsize=(8, 3.6))
    # served last and widest: where it equals the candidate line (a push), both stay visible
    for role, style, width in ((ct.FROZEN, "^:", 1.5), (ct.PREVIOUS_CANDIDATE, "s--", 1.5), (ct.SERVED, "o-", 2.5)):
        points = [(s, v) for s, v in zip(spans, series[role]) if v is not None]
        if points:
            ax.plot(*zip(*points), style, lw=width, label=labels[role], alpha=0.85)
    for d in replay["decisions"]:
        if d.get("pushed"):
            ax.axvline(d["span"] + 0.5, color="#2a7", alpha=0.25, lw=3)
    ax.set_xlabel("span (month) scored, all of its flights; green bars: a push after the span")
    ax.set_ylabel("forward AUC")
    ax.set_xticks(spans)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, frameon=False)
    data = _png(fig)
    plt.close(fig)
    return data


def drift_matrix(replay: Dict, store) -> Dict:
    """{"features": [...], "spans": [...], "distance": [[...]], "status": [[...]]} from each run's drift report."""
    from pipeline.lineage import query
    features, per_span = [], {}
    for d in replay["decisions"]:
        record = query.read_run(store, d["run_id"])
        report = record.node_output("DriftValidator", "drift_report")
        path = os.path.join(report.uri, "drift_report.json") if report is not None else None
        if not path or not os.path.exists(path):
            continue
        with open(path) as f:
            doc = json.load(f)
        entries = {e["feature"]: e for e in doc.get("features", [])}
        per_span[d["span"]] = entries
        features += [name for name in entries if name not in features]
    spans = sorted(per_span)
    return {"features": features, "spans": spans,
            "distance": [[per_span[s].get(n, {}).get("distance") for s in spans] for n in features],
            "status": [[per_span[s].get(n, {}).get("status") for s in spans] for n in features]}


def plot_drift(matrix: Dict) -> Optional[bytes]:
    if not matrix["spans"] or not matrix["features"]:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    values = np.array([[np.nan if v is None else v for v in row] for row in matrix["distance"]], dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * len(matrix["spans"]), 0.8 + 0.28 * len(matrix["features"])))
    image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=max(0.5, np.nanmax(values) if np.isfinite(values).any() else 0.5))
    ax.set_xticks(range(len(matrix["spans"])), [str(s) for s in matrix["spans"]])
    ax.set_yticks(range(len(matrix["features"])), matrix["features"], fontsize=8)
    for i, row in enumerate(matrix["status"]):
        for j, status in enumerate(row):
            if status in ("block", "warn"):
                ax.text(j, i, "B" if status == "block" else "w", ha="center", va="center", color="white", fontsize=7)
    ax.set_xlabel("span, vs the previous span (w = warn, B = block)")
    fig.colorbar(image, ax=ax, label="distance (L-inf / JSD)")
    data = _png(fig)
    plt.close(fig)
    return data


def _img(data: Optional[bytes], alt: str) -> str:
    if not data:
        return f"<p><em>{html.escape(alt)}: nothing to plot</em></p>"
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _auc(metrics) -> str:
    return f"{metrics['auc']:.3f}" if metrics and metrics.get("auc") is not None else "-"


def write_report(store, replay_name: str, output_dir: str) -> Dict[str, str]:
    """Writes DIR/ct/report.html, forward_auc.png and drift_heatmap.png; returns their paths."""
    replay = ct.read_replay(store, replay_name)
    out = os.path.join(output_dir, "ct")
    os.makedirs(out, exist_ok=True)
    forward_png, drift_png = plot_forward(replay), plot_drift(drift_matrix(replay, store))
    paths = {"html": os.path.join(out, "report.html"), "forward_png": os.path.join(out, "forward_auc.png")}
    with open(paths["forward_png"], "wb") as f:
        f.write(forward_png)
    if drift_png:
        paths["drift_png"] = os.path.join(out, "drift_heatmap.png")
        with open(paths["drift_png"], "wb") as f:
            f.write(drift_png)
    figures = summary_figures(replay)
    forward = {(f["span"], f["role"]): f for f in replay["forward"]}
    rows = []
    for d in replay["decisions"]:
        s = d["span"]
        cells = [str(s), html.escape(", ".join(map(str, d.get("trained_on") or [])) or "-"),
                 html.escape(str(d.get("serving_version") or "-")),
                 _auc(forward.get((s, ct.SERVED))), _auc(forward.get((s, ct.PREVIOUS_CANDIDATE))),
                 _auc(forward.get((s, ct.FROZEN))), html.escape(str(d.get("drift"))),
                 html.escape(", ".join(f"{k} {v}" for k, v in (d.get("gates") or {}).items())),
                 ("pushed v" + html.escape(str(d.get("pushed_version")))) if d.get("pushed") else "kept",
                 html.escape("; ".join(d.get("reasons") or []))]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    means = figures["mean_forward_auc"]
    mean_line = ", ".join(f"{role}: {v:.4f}" for role, v in means.items() if v is not None) or "not enough spans"
    body = f"""<p>Spans {figures['spans'][0] if figures['spans'] else '-'}..{figures['spans'][-1] if figures['spans'] else '-'};
{figures['pushes']} push(es). Mean forward AUC over spans {html.escape(str(figures['common_spans']))}: {html.escape(mean_line)}.</p>
<h2>Forward AUC per span</h2>
<p>Each span's flights (both splits; no model below saw them) scored by the model serving when the span
arrived, by the previous span's candidate, and by the model frozen after the first span.</p>
{_img(forward_png, "forward AUC per span")}
<h2>Drift per feature per span</h2>
{_img(drift_png, "drift heatmap")}
<h2>Decisions</h2>
<table><tr><th>span</th><th>trained on</th><th>serving version when it arrived</th><th>forward AUC: served</th>
<th>previous candidate</th><th>frozen</th><th>drift</th><th>gates</th><th>decision</th><th>reasons</th></tr>
{''.join(rows)}</table>
"""
    page = shell.page(f"Continuous training {replay_name}", body,
                      heading=f"Continuous training replay <code>{html.escape(replay_name)}</code>")
    with open(paths["html"], "w") as f:
        f.write(page)
    return paths


def markdown_table(replay: Dict) -> str:
    """The replay as a Markdown table (one row per span) plus the headline figures, for the README."""
    forward = {(f["span"], f["role"]): f["auc"] for f in replay["forward"]}
    lines = ["| span | trained on | served version (when the span arrived) | its forward AUC | last span's candidate | "
             "frozen span-1 model | drift | decision | reasons |", "|---|---|---|---:|---:|---:|---|---|---|"]

    def fmt(value):
        return f"{value:.3f}" if value is not None else "-"
    for d in replay["decisions"]:
        s = d["span"]
        trained = d.get("trained_on") or []
        lines.append(
            f"| {s} | {trained[0]}-{trained[-1] if trained else ''} | {d.get('serving_version') or '-'} | "
            f"{fmt(forward.get((s, ct.SERVED)))} | {fmt(forward.get((s, ct.PREVIOUS_CANDIDATE)))} | "
            f"{fmt(forward.get((s, ct.FROZEN)))} | {d.get('drift')} | "
            f"{'pushed ' + str(d.get('pushed_version')) if d.get('pushed') else 'kept'} | "
            f"{'; '.join(d.get('reasons') or []).replace('|', '/')} |")
    figures = summary_figures(replay)
    means = figures["mean_forward_auc"]
    lines.append("")
    if all(means[r] is not None for r in ct.ROLES):
        lines.append(f"Mean forward AUC over spans {figures['common_spans'][0]}-{figures['common_spans'][-1]}: "
                     f"served {means[ct.SERVED]:.4f}, push every candidate {means[ct.PREVIOUS_CANDIDATE]:.4f} "
                     f"(served - candidates = {means[ct.SERVED] - means[ct.PREVIOUS_CANDIDATE]:+.4f}; target >= -0.005), "
                     f"frozen first-span model {means[ct.FROZEN]:.4f} (served - frozen = "
                     f"{means[ct.SERVED] - means[ct.FROZEN]:+.4f}; target >= +0.03).")
    if figures["pushed_forward"]:
        worst = min(figures["pushed_forward"], key=lambda p: p["delta"])
        lines.append(f"{len(figures['pushed_forward'])} push(es) scored against the model they replaced on the next "
                     f"span: worst delta {worst['delta']:+.4f} (push after span {worst['pushed_after_span']}; target >= -0.01).")
    return "\n".join(lines)


def transitions_table(rows: List[Dict], margin: float) -> str:
    """A/A on real data: for each span N after the first, what the gates decided for N's candidate and how it
    did on span N+1 (all its flights) against the model it would replace (the model serving when N
    arrived), from `ct --json` rows. "not worse" = the candidate's forward AUC is at most `margin` below;
    such a candidate should pass. The behaviour validator's paired day-block AUC interval is shown."""
    by_span = {r["span"]: r for r in rows}
    lines = ["| span N | decision | gates | AUC vs serving model, pooled eval days (drop, 95% interval) | "
             "candidate on N+1 | incumbent on N+1 | difference | not worse? | agrees |",
             "|---|---|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        nxt = by_span.get(r["span"] + 1)
        if r.get("serving_version") is None or nxt is None:
            continue
        forward = nxt.get("forward") or {}
        incumbent = forward.get(ct.REPLACED if r["pushed"] else ct.SERVED) or {}
        candidate = forward.get(ct.PREVIOUS_CANDIDATE) or {}
        if candidate.get("auc") is None or incumbent.get("auc") is None:
            continue
        diff = candidate["auc"] - incumbent["auc"]
        not_worse = diff >= -margin
        test = ((r.get("behavior") or {}).get("auc_vs_baseline") or {})
        interval = test.get("drop_ci95")
        shown = (f"{test['auc_drop']:+.4f} [{interval[0]:+.4f}, {interval[1]:+.4f}], {test['groups']} days"
                 if test.get("auc_drop") is not None and interval and None not in interval
                 else test.get("verdict") or "-")
        gates = ", ".join(f"{k} {v}" for k, v in (r.get("gates") or {}).items())
        lines.append(f"| {r['span']} | {'pushed' if r['pushed'] else 'kept'} | {gates} | {shown} | "
                     f"{candidate['auc']:.3f} | {incumbent['auc']:.3f} | {diff:+.3f} | "
                     f"{'yes' if not_worse else 'no'} | {'yes' if r['pushed'] == not_worse else 'NO'} |")
    return "\n".join(lines)
