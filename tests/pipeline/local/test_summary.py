"""The run summary against what MLMD and the artifacts hold, on a real pipeline history (see conftest.py)."""
import os

import pytest
import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2 as pb

from data import mlmd_store
from pipeline.dag import configs
from pipeline.dag.pipeline import BASELINE_RESOLVER_ID
from pipeline.local import summary

pytestmark = pytest.mark.e2e


def outputs_of_run(store, run_id):
    """{(node id, output key): artifact} and {node id: state name} of a run, read straight from MLMD."""
    ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    node_type = store.get_context_type("node").id
    states, produced = {}, {}
    for execution in store.get_executions_by_context(ctx.id):
        node = next(c.name.split(".", 1)[1] for c in store.get_contexts_by_execution(execution.id)
                    if c.type_id == node_type)
        states[node] = pb.Execution.State.Name(execution.last_known_state)
        for event in store.get_events_by_execution_ids([execution.id]):
            if event.type == pb.Event.OUTPUT:
                [artifact] = store.get_artifacts_by_id([event.artifact_id])
                produced[(node, event.path.steps[0].key)] = artifact
    return states, produced


@pytest.fixture(scope="module")
def history(pipeline_history):
    store = mlmd_store.open_store(pipeline_history["metadata"], read_only=True)
    return pipeline_history, store


def test_nodes_states_and_counts_are_mlmds(history):
    h, store = history
    for result in h["runs"]:
        s = summary.summarize_run(h["metadata"], result.run_id)
        states, _ = outputs_of_run(store, result.run_id)
        assert {n["node"]: n["state"] for n in s["nodes"]} == states
        assert s["executed"] == list(states.values()).count("COMPLETE")
        assert s["cached"] == list(states.values()).count("CACHED")
        assert s["failed"] == []
        ctx = store.get_context_by_type_and_name("pipeline_run", result.run_id)
        assert summary.run_nodes(store, ctx) == s["nodes"]
    first, again, _ = (summary.summarize_run(h["metadata"], r.run_id) for r in h["runs"])
    assert first["cached"] == 0  # on a cached re-run only the resolvers run
    assert {n["node"] for n in again["nodes"] if n["state"] == "COMPLETE"} == {
        BASELINE_RESOLVER_ID, configs.EVALUATION_RESOLVER_ID}


def test_spans_metrics_and_verdicts_are_the_artifacts(history):
    h, store = history
    result = h["runs"][2]
    s = summary.summarize_run(h["metadata"], result.run_id)
    _, produced = outputs_of_run(store, result.run_id)
    assert s["spans"] == [2] and s["training_spans"] == [2] and s["splits"] == ["train", "eval"]
    assert s["examples_uri"] == produced[("CsvExampleGen", "examples")].uri
    assert s["statistics_uri"] == produced[("StatisticsGen", "statistics")].uri
    evaluation = produced[("Evaluator", "evaluation")]
    assert s["evaluation_uri"] == evaluation.uri
    [overall] = [m for m in tfma.load_metrics(evaluation.uri) if not m.slice_key.single_slice_keys]
    candidate = {kv.key.name: kv.value.double_value.value for kv in overall.metric_keys_and_values
                 if kv.key.model_name != "baseline" and not kv.key.is_diff and kv.value.HasField("double_value")}
    assert s["metrics"] == {k: candidate[k] for k in summary.HEADLINE_METRICS if k in candidate}
    assert s["metrics"]["example_count"] > 0
    blessing = produced[("Evaluator", "blessing")]
    assert s["blessed"] is bool(blessing.custom_properties["blessed"].int_value)
    assert s["validation"]["ok"] is bool(tfma.load_validation_result(evaluation.uri).validation_ok)
    drift = produced[("DriftValidator", "drift_report")]
    assert s["drift"]["verdict"] == drift.custom_properties["verdict"].string_value != "NO_BASELINE"
    assert s["drift"]["report"] == os.path.join(drift.uri, "drift_report.html")
    report = produced[("BehaviorValidator", "report")]
    assert s["behavior"]["checks_passed"] is bool(report.custom_properties["behavior_checks_passed"].int_value)
    infra = produced[("LocalInfraValidator", "blessing")]
    assert s["infra_blessed"] is bool(infra.custom_properties["blessed"].int_value)
    pushed = produced[("Pusher", "pushed_model")]
    assert s["pushed"] is bool(pushed.custom_properties["pushed"].int_value)
    if s["pushed"]:
        assert s["pushed_version"] == pushed.custom_properties["pushed_version"].string_value
        assert os.path.isdir(s["pushed_destination"])


def test_first_span_has_no_drift_baseline_and_cached_rerun_pushes_nothing_new(history):
    h, _ = history
    first, again, _ = (summary.summarize_run(h["metadata"], r.run_id) for r in h["runs"])
    assert first["drift"]["verdict"] == "NO_BASELINE"
    assert first["anomalies"] == {}  # the fixture span fits the schema
    text = summary.format_summary(again)
    assert f"Run {again['run_id']}: 2 node(s) executed, {again['cached']} cached" in text  # the resolvers
    if first["pushed"]:
        assert again["pushed_version"] == first["pushed_version"]
        assert f"Pushed: nothing new (cache hit; version {first['pushed_version']}" in text
    assert "Schema anomalies (ExampleValidator): none" in text
    assert f"Metadata store: {mlmd_store.describe(h['metadata'])}" in text


def test_format_summary_states_each_verdict(history):
    h, _ = history
    s = summary.summarize_run(h["metadata"], h["runs"][2].run_id)
    text = summary.format_summary(s, wall_seconds=12.34)
    lines = text.splitlines()
    assert lines[0].endswith(", 12.3s")
    assert "Span ingested and evaluated: [2] (splits train, eval); trained on span(s) [2]" in lines
    assert f"auc={s['metrics']['auc']:.4f}" in text and f"example_count={int(s['metrics']['example_count'])}" in text
    assert f"Drift vs previous span: {s['drift']['verdict']} - " in text
    assert ("Behaviour checks: passed" if s["behavior"]["checks_passed"] else "Behaviour checks: FAILED") in text
    # span 2 against the model of span 1, on the eval days of both (the behaviour validator's pool)
    auc = s["behavior"]["auc_vs_baseline"]
    assert s["behavior"]["eval_spans"] == [1, 2] and auc["drop_ci95"][0] <= auc["auc_drop"] <= auc["drop_ci95"][1]
    assert (f"  AUC vs the serving model on the eval days of span(s) [1, 2] ({auc['groups']} days, "
            f"{auc['examples']} flights): {auc['auc']:.4f} vs {auc['baseline_auc']:.4f}") in text
    assert ("Evaluator blessed: yes (all thresholds met)" if s["blessed"] else "Evaluator blessed: NO (") in text


def test_unknown_run_is_a_lookup_error_naming_the_store(history):
    h, _ = history
    with pytest.raises(LookupError, match=r"no pipeline run 'nope' in .*metadata.sqlite"):
        summary.summarize_run(h["metadata"], "nope")


def test_latest_pushed_model_dir_is_the_highest_version(tmp_path):
    for version in ("7", "12", "notes"):
        (tmp_path / version).mkdir()
    assert summary.latest_pushed_model_dir(str(tmp_path)) == str(tmp_path / "12")
    assert summary.latest_pushed_model_dir(str(tmp_path / "missing")) is None
