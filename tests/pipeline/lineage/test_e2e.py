"""Lineage over the real pipeline (pipeline.local.runner.run_local) on the fixture spans: SQLite and MariaDB.

SQLite: the suite's shared history (tests/pipeline/conftest.py: span 1, span 1 again, span 2; 2 epochs).
MariaDB: each pipeline run happens in a fresh spawned process, so two runs can write to one store at the
same time.
"""
import contextlib
import multiprocessing
import os

import pytest
from click.testing import CliRunner

from data import mlmd_store
from pipeline.lineage import query
from pipeline.lineage.cli import lineage
from pipeline.tools.naive_lineage import collect_naive

pytestmark = pytest.mark.e2e

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SPANS = os.path.join(REPO, "tests", "fixtures", "spans")
EPOCHS = 2


RUN_FIELDS = ("executed", "cached", "failed", "spans", "pushed", "pushed_version", "blessed")


def _reported(result):
    """What run_local reports about one run: its id and the summary fields the tests compare."""
    return {"run_id": result.run_id, **{k: result.summary.get(k) for k in RUN_FIELDS}}


def _run(args):
    """Child process: one pipeline run; returns what run_local reports."""
    span, output_dir, spec = args
    from pipeline.local import runner
    # 2 epochs, as tests/pipeline/conftest.py: with 1 the span-1 model can miss the AUC gate (then nothing
    # is pushed and there is no served model to trace)
    return _reported(runner.run_local(SPANS, output_dir, span=span, metadata=spec, hparams={"epochs": EPOCHS},
                                      progress=lambda m: None))


@contextlib.contextmanager
def _pool(n):
    """Spawned workers, one pipeline run each; closed and joined, never terminated (SIGTERM to a
    process that ran TF/Beam/the model server can hang Pool.terminate)."""
    pool = multiprocessing.get_context("spawn").Pool(n, maxtasksperchild=1)
    try:
        yield pool
    finally:
        pool.close()
        pool.join()


@pytest.fixture(scope="module")
def sqlite_world(pipeline_history):
    """The shared history's store (its runs: span 1, span 1 again, span 2) and what each run reported."""
    spec = pipeline_history["metadata"]
    runs = [_reported(result) for result in pipeline_history["runs"]]
    assert pipeline_history["hparams"]["epochs"] == EPOCHS
    return spec, mlmd_store.open_store(spec, read_only=True), runs


@pytest.fixture(scope="module")
def mariadb_world(mariadb_server, tmp_path_factory):
    spec = mariadb_server.new_database("e2e")
    mlmd_store.prepare_store(spec)  # create the MLMD schema once, before concurrent writers
    outs = {span: str(tmp_path_factory.mktemp(f"e2e-mariadb-{span}")) for span in (1, 2)}
    with _pool(2) as pool:  # two pipeline runs at once against one store
        concurrent = pool.map(_run, [(span, outs[span], spec) for span in (1, 2)])
        rerun = pool.apply(_run, ((1, outs[1], spec),))
    return spec, mlmd_store.open_store(spec), concurrent + [rerun]


def _latest_push(runs):
    pushed = [r for r in runs if r["pushed"]]
    return pushed[-1] if pushed else None


def test_sqlite_runs_history_shows_executed_and_cached(sqlite_world):
    _, store, runs = sqlite_world
    assert [r["failed"] for r in runs] == [[], [], []]
    rows = {r["run_id"]: r for r in query.runs(store)["runs"]}
    assert list(rows) == [r["run_id"] for r in reversed(runs)]  # newest first
    first, again, other = (rows[r["run_id"]] for r in runs)
    assert first["cached"] == 0 and first["executed"] == runs[0]["executed"]
    assert again["cached"] == runs[1]["cached"] and again["cached"] >= 6
    cached_nodes = {n["node"] for n in again["nodes"] if n["state"] == "CACHED"}
    assert {"CsvExampleGen", "Trainer", "Evaluator"} <= cached_nodes
    # span 2's run also read span 1's eval split (the behaviour validator's pool of the last spans)
    assert [first["spans"], again["spans"], other["spans"]] == [[1], [1], [1, 2]]


def test_sqlite_trace_of_served_model_names_its_span(sqlite_world):
    _, store, runs = sqlite_world
    pushed = _latest_push([runs[0], runs[2]])  # runs[1] was a cache hit: it pushed nothing new
    assert pushed is not None, "no run pushed a model: nothing to trace"
    t = query.trace(store, "served")
    assert t["serving"] and t["pushed"]["version"] == pushed["pushed_version"]
    assert t["training_spans"] == pushed["spans"] and set(pushed["spans"]) <= set(t["spans"])
    assert pushed["run_id"] in t["runs"]
    nodes = {e["node"] for e in t["executions"]}
    assert {"CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "Trainer",
            "Evaluator", "Pusher"} <= nodes
    assert all(e["state"] == "COMPLETE" for e in t["executions"])
    assert {v["node"] for v in t["validators"]} >= {"ExampleValidator", "Evaluator"}
    assert t["trainer"]["parameters_flat"]["custom_config.hparams.epochs"] == EPOCHS
    assert t["trainer"]["code_version"]


def test_sqlite_trace_latest_model_ignores_baseline_lineage(sqlite_world):
    _, store, runs = sqlite_world
    t = query.trace(store, "latest")
    assert t["runs"] == [runs[2]["run_id"]]
    assert t["spans"] == [2] and t["training_spans"] == [2]  # a Model's upstream: its training data
    if runs[0]["blessed"]:  # span 1's model was the baseline of span 2's evaluation
        assert len(t["baseline_models"]) == 1
    # span 2's drift check compared against span 1's statistics: listed, but not a training span
    assert any(b["input"] == "baseline_statistics" for b in t["baselines"])
    assert t == query.trace(store, "latest", collector=collect_naive)


def test_sqlite_impact_lists_the_model_trained_on_a_span(sqlite_world):
    _, store, runs = sqlite_world
    by_run = {r["run_id"]: r for r in query.runs(store)["runs"]}
    for span, run in ((1, runs[0]), (2, runs[2])):
        i = query.impact(store, span)
        assert [m["artifact"] for m in i["models"]] == by_run[run["run_id"]]["models"]
        assert i["models"][0]["runs"] == [run["run_id"]]
        assert any(p["pushed"] for p in i["models"][0]["pushes"]) == bool(run["pushed"])
        assert i == query.impact(store, span, collector=collect_naive)
    served = query.trace(store, "served")["model"]["id"]
    assert sum(m["serving"] for s in (1, 2) for m in query.impact(store, s)["models"]) == 1
    assert any(m["serving"] and m["artifact"] == served for m in query.impact(store, served and
               query.trace(store, "served")["training_spans"][0])["models"])


def test_sqlite_diff_shows_the_changed_span(sqlite_world):
    _, store, runs = sqlite_world
    d = query.diff(store, runs[0]["run_id"], runs[2]["run_id"])
    assert "spans" in d["changed"]
    assert (d["a"]["spans"], d["b"]["spans"]) == ([1], [1, 2])
    assert "schema" not in d["changed"]  # ImportSchemaGen was cached: same Schema artifact


def test_sqlite_cli_outputs(sqlite_world, tmp_path):
    spec, _, runs = sqlite_world
    r = CliRunner().invoke(lineage, ["runs", "--metadata", spec])
    assert r.exit_code == 0 and all(x["run_id"] in r.output for x in runs)
    page = tmp_path / "trace.html"
    r = CliRunner().invoke(lineage, ["trace", "latest", "--metadata", spec, "--format", "html", "-o", str(page)])
    assert r.exit_code == 0 and "<svg" in page.read_text() and "Examples span 2" in page.read_text()
    r = CliRunner().invoke(lineage, ["diff", runs[0]["run_id"], runs[2]["run_id"], "--metadata", spec,
                                     "--read-files"])
    assert r.exit_code == 0 and "metric auc" in r.output  # TFMA metrics read from the evaluation folder


@pytest.mark.mariadb
def test_mariadb_concurrent_runs_have_complete_lineage(mariadb_world):
    _, store, runs = mariadb_world
    first, second, rerun = runs
    assert [r["failed"] for r in runs] == [[], [], []]
    rows = {r["run_id"]: r for r in query.runs(store)["runs"]}
    assert set(rows) == {r["run_id"] for r in runs}
    # The re-run of span 1 reuses what cannot have changed. Its window and baseline resolvers pick the newest
    # span-1 Examples: when span 2's concurrent run ingested span 1 itself (its ExampleGen ran before span 1's
    # finished), those are another artifact and the nodes after them run again; which one wins is a race.
    rerun_nodes = {n["node"]: n["state"] for n in rows[rerun["run_id"]]["nodes"]}
    assert all(rerun_nodes[n] == "CACHED" for n in ("CsvExampleGen", "ImportSchemaGen", "StatisticsGen"))
    assert rows[rerun["run_id"]]["spans"] == [1]
    for run, span in ((first, 1), (second, 2)):
        row = rows[run["run_id"]]
        # (span 2's run pooled span 1's eval split when span 1's ExampleGen had finished first)
        assert row["spans"][-1] == span and len(row["models"]) == 1
        states = {n["node"]: n["state"] for n in row["nodes"]}
        # (the shared ImportSchemaGen may be a cache hit of the other, concurrent run)
        assert all(states[n] == "COMPLETE" for n in ("CsvExampleGen", "StatisticsGen", "Trainer", "Evaluator"))
        t = query.trace(store, row["models"][0])
        assert t["runs"] == [run["run_id"]] and t["training_spans"] == [span] and span in t["spans"]
        assert t["statistics"] and t["schema"] and t["trainer"]
        assert {v["node"] for v in t["validators"]} >= {"ExampleValidator", "Evaluator"}
        assert {e["node"] for e in t["executions"]} >= {"CsvExampleGen", "StatisticsGen", "Trainer", "Evaluator"}
        i = query.impact(store, span)
        assert [m["artifact"] for m in i["models"]] == row["models"]


@pytest.mark.mariadb
def test_mariadb_diff_and_cli(mariadb_world):
    spec, store, runs = mariadb_world
    d = query.diff(store, runs[0]["run_id"], runs[1]["run_id"])
    assert "spans" in d["changed"]
    r = CliRunner().invoke(lineage, ["trace", "latest", "--metadata", spec, "--format", "json"])
    assert r.exit_code == 0, r.output
