"""Continuous training (pipeline/ct/replay.py): the replay on the fixture spans, its MLMD records and report.

The e2e tests share one replay of spans 1-2 and then a deliberately weakened candidate on span 3.
"""
import json
import os
import re
import subprocess
import sys

import pytest

from data.contract import MODEL_NAME
from pipeline.ct import replay as ct, report as ct_report
from data import mlmd_store
from pipeline.local.runner import REPO_ROOT

FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")
FAST = {"epochs": 2}
# Untrained (learning rate 0, no warm start): scores carry no signal, AUC ~0.5 < the 0.60 floor.
WEAKENED = {"epochs": 1, "learning_rate": 0.0, "warm_start": False}


# ---- fast unit tests ----------------------------------------------------------------------------
def test_window_parsing_and_capping():
    assert ct.parse_window("3") == 3 and ct.parse_window(2) == 2 and ct.parse_window("ALL") == "all"
    for bad in ("0", "-1", "last", ""):
        with pytest.raises(ValueError, match="--window"):
            ct.parse_window(bad)
    assert ct.window_for(5, 3) == 3
    assert ct.window_for(2, 6) == 2          # capped at the spans that exist
    assert ct.window_for(7, "all") == 7


def test_gates_and_reasons_name_what_stopped_a_push():
    summary = {"drift": {"verdict": "PASS"}, "blessed": False,
               "validation": {"failures": ["auc = 0.55 on overall, required >= 0.6"]},
               "behavior": {"checks_passed": False, "failed_checks": "slice_regression_vs_baseline"},
               "infra_blessed": True}
    gates = ct._gates(summary)
    assert gates == {"drift": "PASS", "evaluator": "FAIL", "behavior": "FAIL", "infra": "PASS"}
    reasons = ct._reasons(summary, gates, pushed=False)
    assert any("auc = 0.55" in r for r in reasons)
    assert any("slice_regression_vs_baseline" in r for r in reasons)
    # The behaviour gate's reasons carry the failed tests' intervals (from the validator's report).
    summary["behavior"].update(
        failed_checks="slice_regression_vs_baseline,auc_vs_baseline", eval_spans=[4, 5, 6],
        auc_vs_baseline={"verdict": "FAIL", "summary": "...", "max_auc_drop": 0.01, "auc": 0.61,
                         "baseline_auc": 0.68, "auc_drop": 0.07, "drop_ci95": [0.04, 0.1], "p_value": 1e-4,
                         "p_adjusted": 0.002, "groups": 23, "examples": 20000},
        failed_tests=[{"check": "slice_regression_vs_baseline", "on": "carrier EV", "recall_drop": 0.136,
                       "ci95": [0.06, 0.3], "p_adjusted": 0.03, "groups": 22}])
    [behaviour] = [r for r in ct._reasons(summary, gates, pushed=False) if r.startswith("behaviour")]
    assert behaviour == (
        "behaviour checks failed: slice_regression_vs_baseline,auc_vs_baseline (AUC vs the serving model on the "
        "eval days of span(s) [4, 5, 6] (23 days, 20000 flights): 0.6100 vs 0.6800, drop +0.0700, 95% interval "
        "[+0.0400, +0.1000], Holm-adjusted p 0.002: FAIL (fails when significantly above 0.01); "
        "slice_regression_vs_baseline on carrier EV: recall_drop +0.1360, 95% interval [+0.0600, +0.3000], "
        "Holm-adjusted p 0.03 (22 days))")
    blocked = {"drift": {"verdict": "BLOCKED", "summary": "blocking feature drift: carrier"}}
    gates = ct._gates(blocked)
    assert gates["evaluator"] == gates["behavior"] == gates["infra"] == "SKIPPED"
    assert ct._reasons(blocked, gates, pushed=False) == ["drift blocked training: blocking feature drift: carrier"]


def test_records_round_trip_through_a_real_store(tmp_path):
    store = mlmd_store.open_store(mlmd_store.prepare_store(str(tmp_path / "m.sqlite")))
    from ml_metadata.proto import metadata_store_pb2 as pb
    type_id = store.put_artifact_type(pb.ArtifactType(name="Model"))
    model_id, examples_id = store.put_artifacts([pb.Artifact(type_id=type_id, uri="/m"),
                                                 pb.Artifact(type_id=type_id, uri="/e")])
    context = ct.replay_context(store, "r1")
    assert ct.replay_context(store, "r1").id == context.id
    ct.record_forward(store, context, span=2, role=ct.SERVED, model_id=model_id, examples_id=examples_id,
                      metrics={"auc": 0.71, "example_count": 900}, version=17)
    row = {"span": 2, "pushed": False, "pushed_version": None, "serving_version": 17, "run_id": "run-2",
           "gates": {"evaluator": "FAIL"}, "reasons": ["Evaluator: auc"], "trained_on": [1, 2],
           "drift": "PASS", "seconds": 3.5}
    ct.record_decision(store, context, row, candidate_id=examples_id, serving_id=model_id)
    replay = ct.read_replay(store, "r1")
    assert replay["forward"] == [{"span": 2, "role": "served", "model_id": model_id, "version": 17,
                                  "auc": 0.71, "example_count": 900}]
    decision = replay["decisions"][0]
    assert decision["gates"] == {"evaluator": "FAIL"} and decision["trained_on"] == [1, 2]
    assert decision["pushed"] == 0 and decision["serving_version"] == 17
    # the artifacts the records point at are untouched (events only, no artifact rewrite)
    assert [a.uri for a in store.get_artifacts_by_id([model_id, examples_id])] == ["/m", "/e"]
    with pytest.raises(LookupError, match="no continuous-training replay 'nope'"):
        ct.read_replay(store, "nope")


def test_summary_figures_compare_pushes_with_the_model_they_replaced():
    replay = {"decisions": [{"span": 1, "pushed": 1, "pushed_version": 10},
                            {"span": 2, "pushed": 1, "pushed_version": 20, "serving_version": 10},
                            {"span": 3, "pushed": 0, "serving_version": 20}],
              "forward": [{"span": 2, "role": "served", "auc": 0.70}, {"span": 2, "role": "candidate", "auc": 0.70},
                          {"span": 2, "role": "frozen", "auc": 0.70},
                          {"span": 3, "role": "served", "auc": 0.74}, {"span": 3, "role": "candidate", "auc": 0.74},
                          {"span": 3, "role": "frozen", "auc": 0.66}, {"span": 3, "role": "replaced", "auc": 0.66}]}
    figures = ct_report.summary_figures(replay)
    assert figures["common_spans"] == [2, 3]
    assert figures["mean_forward_auc"]["served"] == pytest.approx(0.72)
    assert figures["mean_forward_auc"]["frozen"] == pytest.approx(0.68)
    assert figures["pushes"] == 2
    assert figures["pushed_forward"] == [{"pushed_after_span": 2, "version": 20, "forward_auc": 0.74,
                                          "replaced_forward_auc": 0.66, "delta": pytest.approx(0.08)}]


# ---- end to end on the fixture spans ------------------------------------------------------------
@pytest.fixture(scope="module")
def replay_dir(tmp_path_factory):
    """`python -m pipeline ct --from 1 --to 2 --json` in a child process (stdout must be only JSON)."""
    out = tmp_path_factory.mktemp("ct")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "ct", "--from", "1", "--to", "2", "--data", FIXTURES,
         "--output", str(out), "--epochs", "2", "--name", "replay-1-2", "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})  # as a user starts it
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.mark.e2e
def test_ct_json_is_one_document_with_the_documented_fields(replay_dir):
    _, proc = replay_dir
    rows = json.loads(proc.stdout)
    assert [r["span"] for r in rows] == [1, 2]
    for row in rows:
        assert {"span", "trained_on", "candidate", "serving_version", "serving", "drift", "gates", "pushed",
                "pushed_version", "reasons", "forward"} <= set(row)
        assert isinstance(row["reasons"], list) and row["reasons"]
    first, second = rows
    assert first["trained_on"] == [1] and first["pushed"] is True and first["serving_version"] is None
    assert second["trained_on"] == [1, 2]  # default window: all spans so far
    assert second["serving_version"] == int(first["pushed_version"])
    assert second["serving"] is not None and 0 < second["serving"]["auc"] <= 1  # TFMA's baseline metrics
    # The behaviour gate's paired, day-aware AUC test on the pooled eval days, with its interval.
    assert second["behavior"]["eval_spans"] == [1, 2]
    auc = second["behavior"]["auc_vs_baseline"]
    assert auc["drop_ci95"][0] <= auc["auc_drop"] <= auc["drop_ci95"][1]
    assert set(second["forward"]) >= {ct.SERVED, ct.FROZEN, ct.PREVIOUS_CANDIDATE}
    assert "Span" not in proc.stdout and "Epoch" not in proc.stdout
    # stderr: one line per node and per span, the report; TF's C++ log lines go to the runs' logs or nowhere
    assert not re.search(r"^\d{4}-\d\d-\d\d [\d:.]+: [IWEF] ", proc.stderr, re.M), proc.stderr[:2000]


@pytest.mark.e2e
def test_ct_records_decisions_and_forward_figures_in_mlmd(replay_dir):
    out, proc = replay_dir
    rows = json.loads(proc.stdout)
    store = mlmd_store.open_store(str(out / "metadata.sqlite"))
    replay = ct.read_replay(store, "replay-1-2")
    assert [d["span"] for d in replay["decisions"]] == [1, 2]
    assert [bool(d["pushed"]) for d in replay["decisions"]] == [r["pushed"] for r in rows]
    served = [f for f in replay["forward"] if f["role"] == ct.SERVED]
    assert [f["span"] for f in served] == [2]
    assert served[0]["auc"] == pytest.approx(rows[1]["forward"][ct.SERVED]["auc"])
    # the forward evaluation scored the pushed model of span 1 on all of span 2's rows (both splits)
    assert served[0]["example_count"] == 1500
    assert served[0]["version"] == int(rows[0]["pushed_version"])


@pytest.mark.e2e
def test_trainer_warm_started_from_the_serving_model(replay_dir):
    out, proc = replay_dir
    rows = json.loads(proc.stdout)
    store = mlmd_store.open_store(str(out / "metadata.sqlite"))
    from pipeline.lineage import query
    from pipeline.dag.resolvers import pushed_models
    served_model_id = pushed_models(store)[0]["model_id"]
    record = query.read_run(store, rows[1]["run_id"])
    trainer = [e for e in record.executions if record.node_of[e.id] == "Trainer"][0]
    base = record.inputs[trainer.id]["base_model"]
    assert [a.id for a in base] == [served_model_id]
    assert rows[1]["trainer_start"]["start"] == "warm", rows[1]["trainer_start"]
    assert rows[0]["trainer_start"]["start"] == "cold"


@pytest.mark.e2e
def test_report_holds_the_per_span_figures(replay_dir):
    out, proc = replay_dir
    rows = json.loads(proc.stdout)
    page = (out / "ct" / "report.html").read_text()
    assert (out / "ct" / "forward_auc.png").stat().st_size > 1000
    assert (out / "ct" / "drift_heatmap.png").exists()
    assert f"{rows[1]['forward'][ct.SERVED]['auc']:.3f}" in page
    assert f"pushed v{rows[0]['pushed_version']}" in page
    assert page.count("<tr>") == 1 + len(rows)


@pytest.mark.e2e
def test_weakened_candidate_is_not_pushed_and_the_serving_model_stays(replay_dir):
    out, proc = replay_dir
    rows = json.loads(proc.stdout)
    serving_dir = out / "serving_model" / MODEL_NAME
    before = sorted(os.listdir(serving_dir))
    result = ct.replay(3, 3, output_dir=str(out), data_root=FIXTURES, hparams=WEAKENED, replay_name="weak")
    row = result["spans"][0]
    assert row["pushed"] is False
    assert row["trained_on"] == [1, 2, 3]
    # The behaviour validator's paired, day-aware AUC test names it (TFMA's bounds are only sanity bounds).
    assert row["gates"]["behavior"] == "FAIL"
    assert any(r.startswith("behaviour checks failed:") and "auc_vs_baseline" in r for r in row["reasons"]), \
        row["reasons"]
    assert sorted(os.listdir(serving_dir)) == before
    latest = max(int(v) for v in before)
    assert row["serving_version"] == latest
    store = mlmd_store.open_store(str(out / "metadata.sqlite"))
    assert ct._serving_model(store).version == latest
    assert ct.read_replay(store, "weak")["decisions"][0]["pushed"] == 0


def test_markdown_table_states_the_targets():
    replay = {"decisions": [{"span": 1, "trained_on": [1], "pushed": 1, "pushed_version": 10, "drift": "NO_BASELINE",
                             "reasons": ["all gates passed: pushed"]},
                            {"span": 2, "trained_on": [1, 2], "pushed": 0, "serving_version": 10, "drift": "PASS",
                             "reasons": ["Evaluator: auc change = -0.03 | x"]}],
              "forward": [{"span": 2, "role": r, "auc": a} for r, a in
                          (("served", 0.70), ("candidate", 0.71), ("frozen", 0.66))]}
    text = ct_report.markdown_table(replay)
    rows = [line for line in text.splitlines() if line.startswith("| 2 ")]
    assert rows == ["| 2 | 1-2 | 10 | 0.700 | 0.710 | 0.660 | PASS | kept | Evaluator: auc change = -0.03 / x |"]
    assert "served - candidates = -0.0100; target >= -0.005" in text
    assert "served - frozen = +0.0400; target >= +0.03" in text
