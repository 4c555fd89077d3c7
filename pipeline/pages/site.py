"""`python -m pipeline report`: a static site of the pipeline's runs, generated from ML-Metadata and the artifacts.

    python -m pipeline report [--metadata STORE] [--output DIR]

``index.html`` lists every run: start time, spans, nodes executed / cached / failed, headline metrics, every
verdict, the pushed version and links; its table sorts (click a header) and filters (type in the box) with a
little plain JavaScript and reads the same without it. ``runs/<run id>/`` holds the run's overview, statistics,
evaluation, drift, behaviour and lineage pages. Below the runs, the monitoring windows (`python -m pipeline
monitor`) link their pages, copied to ``monitoring/<window>.html``. Every page is one self-contained HTML file
(inline CSS and SVG): it opens from disk and can be attached to a ticket.
"""
import html
import json
import os
import shutil
from typing import Dict, List, Optional

import click

from data import contract, mlmd_store
from pipeline.pages import run_pages as reports
from pipeline.pages.shell import page
from pipeline.local import summary
from pipeline.lineage import query, render
from pipeline.mlmd import records as R

PAGES = (("index", "Overview"), ("statistics", "Statistics"), ("evaluation", "Evaluation"), ("drift", "Drift"),
         ("behavior", "Behaviour"), ("lineage", "Lineage"))
INDEX_METRICS = (("auc", "AUC"), ("auc_precision_recall", "AUC-PR"), ("f1_score", "F1"),
                 ("calibration", "calib."), ("example_count", "examples"))
DEFAULT_OUTPUT = os.path.join("outputs", "report")
_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th, i) {
  th.title = (th.title ? th.title + '; ' : '') + 'click to sort'; th.style.cursor = 'pointer';
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], asc = th.dataset.dir !== 'asc';
    th.dataset.dir = asc ? 'asc' : 'desc';
    var key = function (row) {
      var cell = row.cells[i], v = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim();
      return v !== '' && !isNaN(Number(v)) ? [0, Number(v)] : [1, v.toLowerCase()];
    };
    Array.prototype.slice.call(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
      return asc ? c : -c;
    }).forEach(function (row) { body.appendChild(row); });
  });
});
var filter = document.getElementById('filter');
filter.hidden = false;
filter.addEventListener('input', function () {
  var q = filter.value.toLowerCase(), shown = 0, rows = document.querySelectorAll('#runs tbody tr');
  rows.forEach(function (row) {
    row.hidden = q !== '' && row.textContent.toLowerCase().indexOf(q) < 0;
    if (!row.hidden) { shown += 1; }
  });
  document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' runs shown';
});
"""


class ReportError(RuntimeError):
    """The store cannot be read; the message is one line naming it."""


def open_store(metadata_spec: str):
    """(store, description) of an existing store, read-only for SQLite; ReportError naming it otherwise."""
    try:
        store = mlmd_store.open_for_reading(metadata_spec)
    except mlmd_store.StoreUnreadable as e:
        raise ReportError(str(e)) from None
    return store, store.where


# --- pieces ------------------------------------------------------------------------------------------------
def _link(href: str, text: str) -> str:
    return f"<a href='{html.escape(href)}'>{html.escape(text)}</a>"


def _verdict(value, text: Optional[str] = None) -> str:
    if value is None:
        return "<span class='note'>-</span>"
    # A verdict without a comparison (NO_BASELINE) passes but is not a PASS: neutral, not green.
    css = {"NO_BASELINE": "neutral", "WARN": "warn"}.get(text or "", "pass" if value else "fail")
    return f"<span class='{css}'>{html.escape(text or ('PASS' if value else 'FAIL'))}</span>"


def _nav(run_id: Optional[str], here: str) -> str:
    links = [_link("../../index.html" if run_id else "index.html", "All runs")]
    if run_id:
        for name, title in PAGES:
            links.append(f"<b>{html.escape(title)}</b>" if name == here else _link(f"{name}.html", title))
        links.append(f"<span class='note'>run {html.escape(run_id)}</span>")
    return "<nav>" + "".join(links) + "</nav>"


def _relative(path: str, start: str) -> str:
    return os.path.relpath(path, start)


def _load_json(path: str) -> Optional[Dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _report_json(info: Optional[Dict], name: str) -> Optional[Dict]:
    """The JSON a validator wrote next to its HTML page (``info``: the summary's "drift" / "behavior")."""
    return _load_json(os.path.join(os.path.dirname(info["report"]), name)) if info else None


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def _rows_table(rows: List[Dict], css: str = "", first=("feature", "name", "status", "verdict")) -> str:
    """A table of dicts, the union of their keys as columns (``first`` ones first)."""
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    columns = [k for k in first if k in keys] + [k for k in keys if k not in first]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table class='{css}'><tr>{head}</tr>{body}</table>"


# --- a run ---------------------------------------------------------------------------------------------------
class Run:
    """What the pages of one run show: its record, details and summary (MLMD + the artifacts' files)."""

    def __init__(self, record: R.RunRecord, where: str):
        self.record = record
        self.details = query.run_details(record)
        self.problem = None
        try:
            self.summary = summary.summarize(record, where)
        except Exception as e:  # an artifact folder deleted or unreadable: the run is still listed from MLMD
            self.problem = f"artifact files unreadable: {type(e).__name__}: {' '.join(str(e).split())}"
            self.summary = {k: self.details[k] for k in ("run_id", "nodes", "executed", "cached", "failed")}
            self.summary.update(metadata=where, pushed=bool(self.details["pushed"]))
        self.run_id = record.run_id
        self.folder = os.path.join("runs", reports.run_folder(self.run_id))

    def verdicts(self) -> Dict[str, Optional[bool]]:
        return self.details["verdicts"]

    def pushed_text(self) -> str:
        pushed = self.details["pushed"]
        if not pushed:
            return "-"
        return f"v{pushed['version']}" + (" (cached)" if pushed["cached"] else "")


def overview_page(run: Run) -> str:
    s, d = run.summary, run.details
    verdicts = run.verdicts()
    nodes = [[n["node"], n["state"], f"{n['seconds']:.1f}",
              render.verdict_html(verdicts[n["node"]]) if n["node"] in verdicts else ""] for n in d["nodes"]]
    body = [f"<p>Started {html.escape(str(d['started']))} UTC, {_cell(d['seconds'])} s; "
            f"{d['executed']} node(s) executed, {d['cached']} cached"
            + (f", <span class='fail'>failed: {html.escape(', '.join(d['failed']))}</span>" if d["failed"] else "")
            + f". Spans ingested {html.escape(_cell(s.get('spans')))}, trained on "
              f"{html.escape(_cell(s.get('training_spans')) or 'nothing (training did not run)')}. "
              f"Pushed: {html.escape(run.pushed_text())}.</p>",
            f"<p class='fail'>{html.escape(run.problem)}</p>" if run.problem else "",
            "<h2>Nodes</h2>" + render.html_table(["node", "state", "seconds", "verdict"], nodes),
            "<h2>Summary</h2><pre style='white-space:pre-wrap'>" + html.escape(summary.format_summary(s)) + "</pre>"]
    return page(f"Run {run.run_id}", "".join(body), _nav(run.run_id, "index"))


def _missing(run: Run, here: str, what: str) -> str:
    return page(f"{dict(PAGES)[here]}: run {run.run_id}",
                        f"<p class='note'>Not available: {html.escape(what)}.</p>", _nav(run.run_id, here))


def statistics_page(run: Run) -> str:
    uri = run.summary.get("statistics_uri")
    if not uri:
        return _missing(run, "statistics", "StatisticsGen wrote no statistics in this run")
    body = (f"<p class='note'>Span {html.escape(_cell(run.summary.get('spans')))}; {html.escape(uri)}</p>"
            + reports.statistics_section(uri, run.summary.get("splits") or ("train", "eval")))
    return page(f"Statistics: run {run.run_id}", body, _nav(run.run_id, "statistics"))


def evaluation_page(run: Run) -> str:
    uri = run.summary.get("evaluation_uri")
    if not uri:
        return _missing(run, "evaluation", "the Evaluator did not run (training skipped or failed before it)")
    body = (f"<p class='note'>{html.escape(uri)}</p>"
            + reports.evaluation_section(uri, run.summary.get("gates")))
    return page(f"Evaluation: run {run.run_id}", body, _nav(run.run_id, "evaluation"))


def drift_page(run: Run, site_dir: str) -> str:
    drift = run.summary.get("drift")
    report = _report_json(drift, "drift_report.json")
    if not report:
        return _missing(run, "drift", "the DriftValidator wrote no report in this run")
    folder = os.path.join(site_dir, run.folder)
    features = sorted(report.get("features", []), key=lambda f: (not f.get("drifted"), f.get("feature", "")))
    label = report.get("label") or {}
    body = [f"<p>Verdict {_verdict(drift['blessed'], report.get('verdict'))}: {html.escape(report.get('summary', ''))}"
            f"</p><p class='note'>{report.get('num_examples', '?')} examples "
            f"(split {html.escape(str(report.get('split')))})"
            f" compared with {report.get('baseline_num_examples', '-')} of the baseline statistics "
            f"{html.escape(str(report.get('baseline_uri') or 'none (see the verdict)'))}. "
            + _link(_relative(drift["report"], folder), "the validator's own page") + "</p>"]
    if label:
        body.append("<h2>Label rate</h2>" + _rows_table([label], "label"))
    body.append("<h2>Features</h2>" + (_rows_table(features, "drift") or "<p class='note'>no feature compared</p>"))
    return page(f"Drift: run {run.run_id}", "".join(body), _nav(run.run_id, "drift"))


def behavior_page(run: Run, site_dir: str) -> str:
    behavior = run.summary.get("behavior")
    report = _report_json(behavior, "report.json")
    if not report:
        return _missing(run, "behavior", "the BehaviorValidator did not run (training skipped or failed before it)")
    folder = os.path.join(site_dir, run.folder)
    checks = report.get("checks", [])
    passed = behavior["checks_passed"]
    body = [f"<p>Behaviour checks {_verdict(passed, 'passed' if passed else 'FAILED')}"
            + (f": {html.escape(behavior['failed_checks'])}" if behavior["failed_checks"] else "")
            + f"; blessing (checks and the Evaluator's) {_verdict(report.get('blessed'))}. "
            + _link(_relative(behavior["report"], folder), "the validator's own page") + "</p>",
            render.html_table(["check", "verdict", "summary"],
                              [[c.get("name"), render.Markup(_verdict(c.get("verdict") == "PASS", c.get("verdict"))
                                                              if c.get("verdict") != "SKIPPED" else "SKIPPED"),
                                c.get("summary")] for c in checks])]
    for check in checks:
        parts = []
        if check.get("thresholds"):
            parts.append("<b>thresholds</b>" + _rows_table([check["thresholds"]]))
        if check.get("figures"):
            parts.append("<b>figures</b>" + _rows_table([check["figures"]]))
        if check.get("rows"):
            parts.append(_rows_table(check["rows"]))
        if parts:
            opened = " open" if check.get("verdict") == "FAIL" else ""
            body.append(f"<details data-check='{html.escape(str(check.get('name')))}'{opened}><summary>"
                        f"{html.escape(str(check.get('name')))}: {html.escape(str(check.get('verdict')))}</summary>"
                        f"{''.join(parts)}</details>")
    return page(f"Behaviour: run {run.run_id}", "".join(body), _nav(run.run_id, "behavior"))


def lineage_page(run: Run, store) -> str:
    graph = query.run_graph(store, run.record.context)
    drawn = graph.to_dict()
    executions = [graph.execution_summary(e) for e in
                  sorted(graph.executions, key=lambda e: (graph.executions[e].create_time_since_epoch, e))]

    def keyed(pairs):
        return ", ".join(f"{k} #{a}" for a, k in pairs)

    rows = [[e["id"], e["node"], graph.role_of(e["id"]), e["state"], e["seconds"],
             keyed(graph.inputs.get(e["id"], [])),
             keyed(graph.outputs.get(e["id"], []) + graph.resolved.get(e["id"], []))]
            for e in executions]
    artifacts = []
    for a in sorted(graph.artifacts):
        info = graph.artifact_summary(a)
        producers = [graph.node_of(e) for e in graph.producers.get(a, [])
                     if graph.executions[e].last_known_state != R.Execution.CACHED]
        verdict = R.parse_blessed(R.prop(graph.artifacts[a], "blessed"))
        artifacts.append([a, info["type"], ", ".join(producers) or "(earlier run)",
                          render.verdict_html(verdict) if verdict is not None else "",
                          {k: v for k, v in info["properties"].items() if not isinstance(v, dict)}, info["uri"]])
    metrics = run.summary.get("metrics") or {}
    body = [render.LEGEND,
            "<p class='note'>This run's executions and the artifacts they read and wrote, top to bottom; cache hits "
            "re-use the artifacts of the run that made them; a resolver picks existing artifacts (dashed).</p>",
            render.to_svg(drawn),
            "<h2>Metrics (the Evaluator's TFMA output, overall)</h2>"
            + (render.html_table(list(metrics), [list(metrics.values())]) if metrics else "<p class='note'>none</p>"),
            "<h2>Executions</h2>" + render.html_table(
                ["id", "node", "role", "state", "seconds", "inputs (key #artifact)", "outputs / picks"], rows),
            "<h2>Artifacts</h2>" + render.html_table(["id", "type", "made by", "verdict", "properties", "uri"],
                                                     artifacts)]
    return page(f"Lineage: run {run.run_id}", "".join(body), _nav(run.run_id, "lineage"))


# --- the index ---------------------------------------------------------------------------------------------
def monitoring_section(windows: List[Dict]) -> str:
    """The monitoring windows (pipeline/monitor), newest first, each linking its page copied into the site."""
    if not windows:
        return ""
    rows = []
    for w in reversed(windows):
        v = w["values"]
        link = _link(w["href"], str(v.get("window"))) if w.get("href") else html.escape(str(v.get("window")))
        auc = v.get("live_auc")
        retrain = (_link(f"runs/{reports.run_folder(w['retrain'])}/index.html", w["retrain"]) if w.get("retrain")
                   else "-")
        rows.append(f"<tr><td>{link}</td><td>v{html.escape(str(v.get('model_version')))}</td>"
                    f"<td>{html.escape(str(v.get('training_span')))}</td><td class='n'>{v.get('rows')}</td>"
                    f"<td>{_verdict(not v.get('alert'), 'ALERT' if v.get('alert') else 'no alert')}</td>"
                    f"<td class='n'>{'-' if auc is None else f'{auc:.4f}'}</td>"
                    f"<td>{retrain}</td></tr>")
    return ("<h2>Monitoring windows</h2><p class='note'><code>python -m pipeline monitor</code> runs over the "
            "served "
            "model's request logs: skew against its training span, drift against the previous window, prediction "
            "drift, decay with labels.</p><table id='monitoring'><tr><th>window</th><th>version</th>"
            "<th>training span</th>"
            "<th>rows</th><th>verdict</th><th>live AUC</th><th>retraining run</th></tr>" + "".join(rows) + "</table>")


def index_page(runs: List[Run], where: str, windows: Optional[List[Dict]] = None) -> str:
    verdict_nodes = list(dict.fromkeys(node for run in runs for node in run.verdicts()))
    head = ([("run", ""), ("started (UTC)", ""), ("span", "spans ingested"), ("trained on", "training spans"),
             ("nodes", "executed / cached / failed nodes")]
            + [(title, f"{key}: the Evaluator's, eval split, overall") for key, title in INDEX_METRICS]
            + [(node.replace("Validator", "").replace("Local", "") or node, f"verdict of {node}")
               for node in verdict_nodes]
            + [("pushed", "version pushed by this run")])
    rows = []
    for run in reversed(runs):  # newest first
        s, d = run.summary, run.details
        metrics = s.get("metrics") or {}
        nodes = f"{d['executed']} ran, {d['cached']} cached" + (
            f", <span class='fail'>{html.escape(', '.join(d['failed']))} failed</span>" if d["failed"] else "")
        pages = " ".join(_link(f"{run.folder}/{name}.html", short) for (name, _), short
                         in zip(PAGES[1:], ("stats", "eval", "drift", "behaviour", "lineage")))
        cells = [f"<td class='id' data-v='{html.escape(run.run_id)}'>{_link(f'{run.folder}/index.html', run.run_id)}"
                 f"<div class='pages'>{pages}</div></td>",
                 f"<td>{html.escape(str(d['started'] or '').replace('T', ' ').rstrip('Z'))}</td>",
                 f"<td>{html.escape(_cell(s.get('spans')))}</td>",
                 f"<td>{html.escape(_cell(s.get('training_spans')) or '-')}</td>",
                 f"<td data-v='{d['executed']}'>{nodes}</td>"]
        for key, _ in INDEX_METRICS:
            value = metrics.get(key)
            text = "-" if value is None else (str(int(value)) if key == "example_count" else f"{value:.4f}")
            cells.append(f"<td class='n' data-v='{'' if value is None else value}'>{text}</td>")
        drift_verdict = (s.get("drift") or {}).get("verdict")
        for node in verdict_nodes:
            value = run.verdicts().get(node)
            text = drift_verdict if node == "DriftValidator" and drift_verdict and value is not None else None
            if node == "ExampleValidator" and value is False:
                text = f"FAIL ({len(s.get('anomalies') or {})} feature(s))"
            cells.append(f"<td>{_verdict(value, text)}</td>")
        cells.append(f"<td>{html.escape(run.pushed_text())}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head_html = "".join(f"<th title='{html.escape(tip)}'>{html.escape(h)}</th>" for h, tip in head)
    body = (f"<p class='note'>{len(runs)} run(s) in {html.escape(where)}, newest first. Metrics: the Evaluator's "
            f"(eval split, overall, candidate model). Verdicts: each validator's PASS/FAIL as recorded in MLMD "
            f"(DriftValidator: its verdict).</p>"
            f"<p><input id='filter' type='search' placeholder='filter runs (any text in the row)' size='40' hidden> "
            f"<span id='shown' class='note'></span></p>"
            f"<style>#runs td,#runs th{{font-size:12px;white-space:nowrap;padding:3px 5px}}"
            f"#runs .pages{{font-size:11px}}#runs .pages a{{margin-right:5px}}</style>"
            f"<table id='runs' class='sortable'><thead><tr>{head_html}</tr></thead><tbody>{''.join(rows)}</tbody>"
            f"</table><script>{_JS}</script>" + monitoring_section(windows or []))
    return page("Pipeline runs", body, _nav(None, "index"))


def copy_monitoring_pages(store, output_dir: str) -> List[Dict]:
    """The monitoring windows of the store, each page copied to <site>/monitoring/<window>.html (href set when
    the page's file still exists), with the run its alert started."""
    from pipeline.monitor import records as monitor_records
    windows = monitor_records.previous_windows(store, contract.MODEL_NAME)
    retrains = {}
    for trigger in monitor_records.retrains(store, contract.MODEL_NAME):
        retrains[trigger["alert"]] = trigger["run_id"]
    for w in windows:
        source = w["values"].get("page")
        if w["report"] is not None and w["report"].id in retrains:
            w["retrain"] = retrains[w["report"].id]
        if source and os.path.isfile(source):
            target = os.path.join(output_dir, "monitoring", f"{w['values'].get('window')}.html")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
            w["href"] = os.path.relpath(target, output_dir)
    return windows


def build_site(metadata_spec: str, output_dir: str) -> Dict:
    """Writes the site; returns {"index": path, "runs": {run id: {page: path}}}."""
    store, where = open_store(metadata_spec)
    try:
        runs = [Run(record, where) for record in query.read_runs(store)]
    except query.LineageError as e:
        raise ReportError(str(e)) from None
    written: Dict = {"runs": {}}
    for run in runs:
        folder = os.path.join(output_dir, run.folder)
        os.makedirs(folder, exist_ok=True)
        pages = {"index": overview_page(run), "statistics": statistics_page(run), "evaluation": evaluation_page(run),
                 "drift": drift_page(run, output_dir), "behavior": behavior_page(run, output_dir),
                 "lineage": lineage_page(run, store)}
        written["runs"][run.run_id] = {}
        for name, text in pages.items():
            path = os.path.join(folder, f"{name}.html")
            with open(path, "w") as f:
                f.write(text)
            written["runs"][run.run_id][name] = path
    os.makedirs(output_dir, exist_ok=True)
    written["index"] = os.path.join(output_dir, "index.html")
    windows = copy_monitoring_pages(store, output_dir)
    written["monitoring"] = [os.path.join(output_dir, w["href"]) for w in windows if w.get("href")]
    with open(written["index"], "w") as f:
        f.write(index_page(runs, where, windows))
    return written


@click.command("report")
@click.option("--metadata", default=mlmd_store.DEFAULT_SQLITE, show_default=True,
              help="MLMD store: SQLite path or mysql://user@host:port/db (password from $MLMD_MYSQL_PASSWORD).")
@click.option("--output", "output_dir", default=DEFAULT_OUTPUT, show_default=True, help="Folder of the site.")
def report(metadata, output_dir):
    """Static site of the runs: index, and per run statistics, evaluation, drift, behaviour and lineage."""
    from pipeline.local.runner import captured_output
    try:
        open_store(metadata)  # before anything is written
        # TensorFlow's and TFMA's start-up lines go to a log file, not to the terminal
        with captured_output(os.path.join(output_dir, "report.log")):
            written = build_site(metadata, output_dir)
    except ReportError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{len(written['runs'])} run(s): {written['index']}")
