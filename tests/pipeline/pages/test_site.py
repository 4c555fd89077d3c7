"""The report site rendered from a real pipeline history (see conftest.py): every run listed, the numbers those of
MLMD and the artifacts, the curves drawn from TFMA's plots, the lineage graph one box per execution/artifact."""
import csv
import json
import os
import re
from xml.etree import ElementTree

import pytest
import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from click.testing import CliRunner
from ml_metadata.proto import metadata_store_pb2 as pb

from data import mlmd_store
from pipeline.dag import configs
from pipeline.pages import site as report_site
from tests.pipeline.conftest import FIXTURE_SPANS

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def site(pipeline_history, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("site"))
    written = report_site.build_site(pipeline_history["metadata"], out)
    store = mlmd_store.open_store(pipeline_history["metadata"], read_only=True)
    return pipeline_history, store, written


def read(path):
    with open(path) as f:
        return f.read()


def run_outputs(store, run_id):
    """{(node id, output key): artifact}, [executions] of a run, straight from MLMD."""
    ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    node_type = store.get_context_type("node").id
    executions = store.get_executions_by_context(ctx.id)
    produced = {}
    for execution in executions:
        node = next(c.name.split(".", 1)[1] for c in store.get_contexts_by_execution(execution.id)
                    if c.type_id == node_type)
        for event in store.get_events_by_execution_ids([execution.id]):
            if event.type == pb.Event.OUTPUT:
                produced[(node, event.path.steps[0].key)] = store.get_artifacts_by_id([event.artifact_id])[0]
    return produced, executions


def svgs(page):
    return [ElementTree.fromstring(m) for m in re.findall(r"<svg class=\"(?:chart|lineage)\".*?</svg>", page, re.S)]


@pytest.mark.e2e
def test_index_lists_every_run_with_mlmds_numbers(site):
    history, store, written = site
    index = read(written["index"])
    assert "http" not in index.replace("http://www.w3.org/2000/svg", "")  # self-contained
    assert "<script>" in index and "id='filter'" in index and "class='sortable'" in index
    rows = re.findall(r"<tr><td class='id'.*?</tr>", index, re.S)
    assert len(rows) == len(history["runs"])
    for result in history["runs"]:
        [row] = [r for r in rows if f">{result.run_id}<" in r]
        produced, executions = run_outputs(store, result.run_id)
        states = [e.last_known_state for e in executions]
        assert f"{states.count(pb.Execution.COMPLETE)} ran, {states.count(pb.Execution.CACHED)} cached" in row
        evaluation = produced[("Evaluator", "evaluation")]
        [overall] = [m for m in tfma.load_metrics(evaluation.uri) if not m.slice_key.single_slice_keys]
        auc = next(kv.value.double_value.value for kv in overall.metric_keys_and_values
                   if kv.key.name == "auc" and kv.key.model_name != "baseline")
        assert f"data-v='{auc}'>{auc:.4f}</td>" in row
        pushed = produced[("Pusher", "pushed_model")]
        if pushed.custom_properties["pushed"].int_value:
            assert f"v{pushed.custom_properties['pushed_version'].string_value}" in row
        drift = produced[("DriftValidator", "drift_report")].custom_properties["verdict"].string_value
        assert f">{drift}</span>" in row
        for page in ("statistics", "evaluation", "drift", "behavior", "lineage"):
            assert os.path.exists(written["runs"][result.run_id][page])


@pytest.mark.e2e
def test_statistics_count_empty_cells_apart_from_missing(site):
    history, store, written = site
    run_id = history["runs"][0].run_id
    page = read(written["runs"][run_id]["statistics"])
    produced, _ = run_outputs(store, run_id)
    uri = produced[("StatisticsGen", "statistics")].uri
    empty_total = 0
    for split in ("train", "eval"):
        dataset = tfdv.load_stats_binary(os.path.join(uri, f"Split-{split}", "FeatureStats.pb")).datasets[0]
        [table] = re.findall(rf"<table class='stats' data-split='{split}'>.*?</table>", page, re.S)
        [gust] = [r for r in re.findall(r"<tr>.*?</tr>", table, re.S) if r.startswith("<tr><td>wind_gust</td>")]
        present, empty, missing = [int(c.split(" ")[0]) for c in re.findall(r"<td class='n[^']*'>(.*?)</td>", gust)]
        assert present + empty + missing == dataset.num_examples
        feature = next(f for f in dataset.features if f.path.step[0] == "wind_gust")
        assert present == feature.num_stats.common_stats.tot_num_values
        empty_total += empty
    with open(os.path.join(FIXTURE_SPANS, "span-1", "flights.csv")) as f:
        empty_cells = sum(1 for row in csv.DictReader(f) if row["wind_gust"] == "")
    assert empty_total == empty_cells > 0  # every empty CSV cell, none counted as present


@pytest.mark.e2e
def test_evaluation_curves_are_tfmas_plots_with_the_gates(site):
    history, store, written = site
    run_id = history["runs"][2].run_id  # span 2: the span-1 model (if pushed) is the baseline
    page = read(written["runs"][run_id]["evaluation"])
    produced, _ = run_outputs(store, run_id)
    uri = produced[("Evaluator", "evaluation")].uri
    [overall] = [p for p in tfma.load_plots(uri) if not p.slice_key.single_slice_keys]
    expected = {}
    for kv in overall.plot_keys_and_values:
        if kv.value.HasField("confusion_matrix_at_thresholds"):
            model = "baseline" if kv.key.model_name == "baseline" else "candidate"
            expected[model] = [(round(1000 * m.false_positives / (m.false_positives + m.true_negatives), 1),
                                round(1000 * (1 - m.true_positives / (m.true_positives + m.false_negatives)), 1))
                               for m in kv.value.confusion_matrix_at_thresholds.matrices]
    assert "candidate" in expected
    overall_html = page.split("data-slice='overall'>", 1)[1].split("<details", 1)[0]
    roc = next(s for s in svgs(overall_html) if s.find(f"{SVG}title").text.startswith("ROC"))
    drawn = {p.get("data-series"): [tuple(float(v) for v in xy.split(",")) for xy in p.get("points").split()]
             for p in roc.iter(f"{SVG}polyline")}
    assert set(drawn) == set(expected)
    for model, points in expected.items():
        assert drawn[model] == points
    markers = [c.get("data-label") for c in roc.iter(f"{SVG}circle")]
    assert any(m.startswith("candidate at threshold 0.5: FPR ") for m in markers)
    assert f"(gate >= {configs.MIN_AUC:g})" in roc.find(f"{SVG}title").text
    assert f"auc &gt;= {configs.MIN_AUC:g}" in page
    assert f"auc change vs baseline &gt;= {-configs.MAX_AUC_DROP:g}" in page
    titles = [s.find(f"{SVG}title").text.split(" ")[0] for s in svgs(overall_html)]
    assert titles == ["ROC", "Precision-recall", "Calibration"]
    sliced = re.findall(r"<details class='slice' data-slice='(.*?)'>", page)
    assert "origin=EWR" in sliced and any(s.startswith("carrier=") for s in sliced)


@pytest.mark.e2e
def test_drift_and_behaviour_pages_show_the_reports(site):
    history, store, written = site
    run_id = history["runs"][2].run_id
    produced, _ = run_outputs(store, run_id)
    drift = produced[("DriftValidator", "drift_report")]
    report = json.loads(read(os.path.join(drift.uri, "drift_report.json")))
    page = read(written["runs"][run_id]["drift"])
    assert f">{drift.custom_properties['verdict'].string_value}</span>" in page
    [features] = re.findall(r"<table class='drift'>.*?</table>", page, re.S)
    assert features.count("<tr>") == 1 + len(report["features"])
    behavior = json.loads(read(os.path.join(produced[("BehaviorValidator", "report")].uri, "report.json")))
    page = read(written["runs"][run_id]["behavior"])
    for check in behavior["checks"]:
        assert f"<td>{check['name']}</td>" in page
        assert f"{check['name']}: {check['verdict']}</summary>" in page or not (
            check.get("figures") or check.get("rows") or check.get("thresholds"))


@pytest.mark.e2e
def test_a_run_without_baselines_says_so_in_neutral_colours(site):
    history, store, written = site
    run_id = history["runs"][0].run_id  # span 1 on a fresh store: no baseline statistics, no baseline model
    for page in (read(written["runs"][run_id]["drift"]), read(written["index"])):
        assert "<span class='neutral'>NO_BASELINE</span>" in page
        assert "<span class='pass'>NO_BASELINE</span>" not in page
    page = read(written["runs"][run_id]["evaluation"])
    assert "not applied (no baseline model: none trained on an earlier span had been pushed" in page
    assert "<td class='note'>none</td>" in page


@pytest.mark.e2e
def test_lineage_page_draws_each_execution_and_artifact_once(site):
    history, store, written = site
    run_id = history["runs"][2].run_id
    page = read(written["runs"][run_id]["lineage"])
    _, executions = run_outputs(store, run_id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    [graph] = svgs(page)
    boxes = {g.get("data-id"): g.get("class").split() for g in graph.iter(f"{SVG}g")}
    assert {k for k in boxes if k.startswith("e")} == {f"e{e.id}" for e in executions}
    assert {k for k in boxes if k.startswith("a")} == {f"a{ev.artifact_id}" for ev in events}
    roles = {k: v[1] for k, v in boxes.items() if v[0] == "execution"}
    resolvers = [e for e in executions if store.get_execution_types_by_id([e.type_id])[0].name.endswith("Resolver")]
    assert resolvers and [roles.pop(f"e{r.id}") for r in resolvers] == ["resolver"] * len(resolvers)
    assert {"validator", "component"} == set(roles.values())
    assert graph.get("width") == "100%" and graph.get("viewBox")  # fits the page
    assert "auc_precision_recall" in page  # the metrics, read from TFMA's files


def test_unreachable_or_missing_store_is_one_line_naming_it(tmp_path):
    spec = "mysql://u@127.0.0.1:1/db"
    result = CliRunner().invoke(report_site.report, ["--metadata", spec, "--output", str(tmp_path / "site")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and spec in result.output and "Traceback" not in result.output
    missing = str(tmp_path / "none.sqlite")
    result = CliRunner().invoke(report_site.report, ["--metadata", missing, "--output", str(tmp_path / "site")])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "none.sqlite" in result.output
    assert not os.path.exists(missing)


def test_runs_whose_artifact_files_are_gone_are_still_listed_from_mlmd(tmp_path):
    """Synthetic runs (the real DAG, no files behind the artifacts): index and lineage come from MLMD alone."""
    from pipeline.tools.synthetic_lineage import SyntheticPipeline
    spec = str(tmp_path / "metadata.sqlite")
    p = SyntheticPipeline(mlmd_store.open_store(spec))
    runs = [p.run(1, "s1"), p.run(1, "s2"), p.run(2, "s3", drift_ok=False)]
    written = report_site.build_site(spec, str(tmp_path / "site"))
    index = read(written["index"])
    rows = re.findall(r"<tr><td class='id'.*?</tr>", index, re.S)
    assert [re.search(r"data-v='(.*?)'", r).group(1) for r in rows] == ["s3", "s2", "s1"]  # newest first
    assert "0 cached" in rows[2] and " 10 cached" in rows[1]
    assert "artifact files unreadable" in read(written["runs"]["s1"]["index"])
    [graph] = svgs(read(written["runs"]["s3"]["lineage"]))
    drawn = {g.get("data-id") for g in graph.iter(f"{SVG}g") if g.get("class").startswith("execution")}
    store = mlmd_store.open_store(spec, read_only=True)
    ctx = store.get_context_by_type_and_name("pipeline_run", "s3")
    assert drawn == {f"e{e.id}" for e in store.get_executions_by_context(ctx.id)}
    labels = [g.find(f"{SVG}title").text for g in graph.iter(f"{SVG}g") if g.get("class").startswith("execution")]
    assert "DriftValidator" in " ".join(labels) and "Trainer" not in " ".join(labels)  # the drift Cond
    assert runs[0]["model"] and "model" not in runs[2]
