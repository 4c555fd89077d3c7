"""Lineage questions over synthetic TFX-shaped stores (written through the MLMD API), SQLite and MariaDB."""
import json
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from data import mlmd_store
from pipeline.lineage import query, render
from pipeline.lineage.cli import lineage
from pipeline.tools.naive_lineage import collect_naive
from pipeline.tools.synthetic_lineage import SyntheticPipeline, pipeline_dag
from pipeline.dag.configs import EVALUATION_RESOLVER_ID
from pipeline.dag.pipeline import BASELINE_RESOLVER_ID, PIPELINE_NAME, TRAINER_RUN_FN
from tests.conftest import BACKENDS

DAG = pipeline_dag()
COMPONENTS = {n.id for n in DAG.nodes if not n.is_resolver}
RESOLVERS = len(DAG.nodes) - len(COMPONENTS)
VALIDATORS = {"ExampleValidator", "DriftValidator", "Evaluator", "LocalInfraValidator", "BehaviorValidator"}


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    """r2 fully cached, r4 fails validation, r5 re-trains span 2 (served), r6 fails in Trainer, r7's drift
    blocks training."""
    if request.param == "sqlite":
        spec = str(tmp_path_factory.mktemp("lineage") / "metadata.sqlite")
    else:
        spec = request.getfixturevalue("mariadb_server").new_database("lineage")
    store = mlmd_store.open_store(spec)
    p = SyntheticPipeline(store)
    runs = {
        "r1": p.run(1, "r1", auc=0.70),
        "r2": p.run(1, "r2", auc=0.70),
        "r3": p.run(2, "r3", auc=0.80, epochs=5),
        "r4": p.run(3, "r4", auc=0.50, anomalies=True),
        "r5": p.run(2, "r5", auc=0.75, epochs=7, code_version="def456"),
        "r6": p.run(3, "r6", fail_at="Trainer"),
        "r7": p.run(4, "r7", drift_ok=False),
    }
    return spec, store, runs


def _spans_of_examples(result):
    return sorted(e["span"] for e in result["examples"])


def test_trace_served_model(world):
    _, store, runs = world
    t = query.trace(store, "served")
    assert t["target"]["id"] == runs["r5"]["pushed_model"]
    assert t["serving"] is True
    assert t["model"]["id"] == runs["r5"]["model"]
    # Trained on span 2; judged (behaviour validator) on the eval splits of spans 1 and 2 as well.
    assert t["spans"] == [1, 2] and t["training_spans"] == [2]
    # r5 re-used r3's (cached) examples; span 1's are r1's (r2's ExampleGen was cached)
    assert [e["id"] for e in t["examples"]] == runs["r1"]["examples"] + runs["r3"]["examples"]
    assert t["runs"] == ["r5"]
    # its time range is r5's own, not from r3's ExampleGen (whose output r5's cache hit re-used)
    r5 = store.get_executions_by_context(store.get_context_by_type_and_name("pipeline_run", "r5").id)
    r5_ms = (min(e.create_time_since_epoch for e in r5), max(e.last_update_time_since_epoch for e in r5))
    assert t["times"]["seconds"] == round((r5_ms[1] - r5_ms[0]) / 1000.0, 3)
    assert t["pipeline"] == PIPELINE_NAME
    assert t["trainer"]["parameters_flat"]["custom_config.hparams.epochs"] == 7
    assert t["trainer"]["code_version"] == "def456"
    assert t["trainer"]["module_file"] == TRAINER_RUN_FN
    assert t["metrics"]["auc"] == pytest.approx(0.75)
    assert t["blessed"] is True
    assert t["pushed"]["pushed"] is True and t["pushed"]["version"]
    assert [p["artifact"] for p in t["pushes"] if p["serving"]] == [t["target"]["id"]]
    verdicts = {v["node"]: v["blessed"] for v in t["validators"]}
    assert verdicts == {v: True for v in VALIDATORS}  # and not the baseline resolver
    data_validators = [v for v in t["validators"] if v["node"] in ("ExampleValidator", "DriftValidator")]
    # span 2's data: cached in r5, the verdict is r3's; span 1's (in the behaviour validator's pool): r1's
    assert sorted(r for v in data_validators for r in v["runs"]) == ["r1", "r1", "r3", "r3"]
    # the model served before span 2 (r1's; r3's is of the same span)
    assert [b["id"] for b in t["baseline_models"]] == [runs["r1"]["model"]]
    # neither cache hits nor the baseline model's own lineage
    assert all(e["state"] != "CACHED" for e in t["executions"])
    # (span 1's examples are in the graph as eval data of the behaviour validator, not as the baseline's)
    assert runs["r1"]["model"] not in {int(n["id"][1:]) for n in t["graph"]["nodes"] if n["id"][0] == "a"}
    assert {e["node"] for e in t["executions"]} == COMPONENTS


def test_trace_failed_model_by_id_and_latest(world):
    _, store, runs = world
    t = query.trace(store, runs["r4"]["model"])
    assert t["target"]["type"] == "Model" and t["serving"] is False
    assert t["spans"] == [3]
    assert t["blessed"] is False
    assert [p["pushed"] for p in t["pushes"]] == [False]
    verdicts = {v["node"]: v["blessed"] for v in t["validators"]}
    assert verdicts["ExampleValidator"] is False and verdicts["DriftValidator"] is True
    assert query.trace(store, "latest")["model"]["id"] == runs["r5"]["model"]


@pytest.mark.parametrize("ref", ["served", "latest"])
def test_lineage_api_and_naive_walk_agree(world, ref):
    _, store, _ = world
    assert query.trace(store, ref) == query.trace(store, ref, collector=collect_naive)


@pytest.mark.parametrize("span", [1, 2, 3])
def test_impact_api_and_naive_walk_agree(world, span):
    _, store, _ = world
    assert query.impact(store, span) == query.impact(store, span, collector=collect_naive)


def test_impact_of_span(world):
    _, store, runs = world
    i2 = query.impact(store, "2")
    models = {m["artifact"]: m for m in i2["models"]}
    assert set(models) == {runs["r3"]["model"], runs["r5"]["model"]}
    assert i2["serving"] is True
    assert models[runs["r5"]["model"]]["serving"] is True
    assert models[runs["r3"]["model"]]["serving"] is False
    assert [p["pushed"] for p in models[runs["r3"]["model"]]["pushes"]] == [True]
    i1 = query.impact(store, "span:1")
    assert [m["artifact"] for m in i1["models"]] == [runs["r1"]["model"]]  # not r3's (r1 is only its baseline)
    assert i1["serving"] is False
    i3 = query.impact(store, 3)
    assert [m["artifact"] for m in i3["models"]] == [runs["r4"]["model"]]
    assert [p["pushed"] for p in i3["models"][0]["pushes"]] == [False]
    assert {v["node"]: v["blessed"] for v in i3["validators"]}["ExampleValidator"] is False


def test_impact_of_artifact_id_and_errors(world):
    _, store, runs = world
    i = query.impact(store, f"id:{runs['r3']['model']}")
    assert [m["artifact"] for m in i["models"]] == [runs["r3"]["model"]]
    with pytest.raises(query.LineageError, match=r"no Examples artifact with span 99 .*known spans: \[1, 2, 3, 4\]"):
        query.impact(store, 99)
    with pytest.raises(query.LineageError, match="bad data reference"):
        query.impact(store, "januray")


def test_runs_history(world):
    _, store, runs = world
    rows = {r["run_id"]: r for r in query.runs(store)["runs"]}
    assert list(rows) == ["r7", "r6", "r5", "r4", "r3", "r2", "r1"]  # newest first, like the report's index
    assert (rows["r1"]["executed"], rows["r1"]["cached"]) == (len(DAG.nodes), 0)
    assert (rows["r2"]["executed"], rows["r2"]["cached"]) == (RESOLVERS, len(COMPONENTS))  # resolvers always run
    # new parameters: the Trainer and everything after it execute, the data half is cached
    assert (rows["r5"]["executed"], rows["r5"]["cached"]) == (RESOLVERS + 5, 5)
    assert rows["r2"]["pushed"]["cached"] is True
    assert rows["r4"]["pushed"] is None and rows["r4"]["verdicts"]["ExampleValidator"] is False
    assert rows["r5"]["pushed"]["artifact"] == runs["r5"]["pushed_model"]
    assert rows["r3"]["metrics"]["auc"] == pytest.approx(0.8)
    assert rows["r6"]["failed"] == ["Trainer"]
    assert rows["r7"]["verdicts"]["DriftValidator"] is False and rows["r7"]["models"] == []  # the Cond
    assert "Trainer" not in {n["node"] for n in rows["r7"]["nodes"]}
    # the spans a run read: its own, and the earlier ones whose eval splits the behaviour validator pooled
    # (r6 failed before it, r7's drift gate stopped it); newest run first
    assert [r["spans"] for r in rows.values()] == [[4], [3], [1, 2], [1, 2, 3], [1, 2], [1], [1]]
    assert [r["run_id"] for r in query.runs(store, limit=2)["runs"]] == ["r7", "r6"]
    assert len(query.runs(store, pipeline=PIPELINE_NAME)["runs"]) == 7
    with pytest.raises(query.LineageError, match="no pipeline 'nope'"):
        query.runs(store, pipeline="nope")


def test_diff(world):
    _, store, runs = world
    d = query.diff(store, "r3", "r5")
    assert "param custom_config.hparams.epochs" in d["changed"]
    assert "spans" not in d["changed"] and "schema" not in d["changed"]
    d = query.diff(store, "r1", "r4")
    assert "spans" in d["changed"] and "verdict ExampleValidator" in d["changed"]
    # models resolve to the runs that trained them
    d = query.diff(store, str(runs["r3"]["model"]), "served")
    assert (d["a"]["run_id"], d["b"]["run_id"]) == ("r3", "r5")
    with pytest.raises(query.LineageError, match="neither a pipeline run id nor a model reference"):
        query.diff(store, "r1", "no-such-run")


def test_renderers(world):
    _, store, _ = world
    t = query.trace(store)
    dot = render.to_dot(t["graph"])
    assert dot.startswith("digraph") and dot.count("->") == len(t["graph"]["edges"])
    page = render.to_html(t, "trace")
    assert "<svg" in page and page.count("<rect") == len(t["graph"]["nodes"])
    assert "Examples span 2" in page
    svg = ElementTree.fromstring(render.to_svg(t["graph"]))  # well-formed, one box per node
    assert len(svg.findall("{http://www.w3.org/2000/svg}g")) == len(t["graph"]["nodes"])
    assert "Validators" in render.to_text(t)
    json.loads(render.to_json(query.runs(store)))
    # top to bottom, scaled to the page: every edge points down
    top = {g.get("data-id"): float(g.find("{http://www.w3.org/2000/svg}rect").get("y"))
           for g in svg.findall("{http://www.w3.org/2000/svg}g")}
    assert all(top[e["from"]] < top[e["to"]] for e in t["graph"]["edges"])
    assert svg.get("width") == "100%" and svg.get("viewBox").startswith("0 0 ")
    assert "<h3>Validators</h3>" in page and "<h3>Examples</h3>" in page  # details as tables


def test_run_graph_tells_resolvers_and_validators_apart(world):
    _, store, runs = world
    g = query.run_graph(store, "r5")
    roles = {g.node_of(e): g.role_of(e) for e in g.executions}
    assert roles == {n.id: ("resolver" if n.is_resolver else "validator" if n.id in VALIDATORS else "component")
                     for n in DAG.nodes}
    resolver = next(e for e in g.executions if g.node_of(e) == BASELINE_RESOLVER_ID)
    assert {a for a, _ in g.resolved[resolver]} == {runs["r1"]["model"], runs["r1"]["pushed_model"]}
    pooled = next(e for e in g.executions if g.node_of(e) == EVALUATION_RESOLVER_ID)
    assert {a for a, _ in g.resolved[pooled]} == {*runs["r1"]["examples"], *runs["r3"]["examples"]}
    drawn = g.to_dict()
    assert sorted(e["from"] for e in drawn["edges"] if e.get("resolved")) == sorted(
        [f"e{resolver}"] * 2 + [f"e{pooled}"] * 2)


def test_cli(world, tmp_path):
    spec, _, runs = world
    runner = CliRunner()
    r = runner.invoke(lineage, ["trace", "--metadata", spec, "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["spans"] == [1, 2]  # trained on 2, judged on the eval splits of 1 and 2
    r = runner.invoke(lineage, ["impact", "2", "--metadata", spec])
    assert r.exit_code == 0 and "serving now: model #%d" % runs["r5"]["model"] in r.output
    r = runner.invoke(lineage, ["runs", "--metadata", spec])
    assert r.exit_code == 0 and "r6" in r.output and f"{RESOLVERS}/{len(COMPONENTS)}" in r.output
    r = runner.invoke(lineage, ["diff", "r3", "r5", "--metadata", spec])
    assert r.exit_code == 0 and "custom_config.hparams.epochs" in r.output
    out = tmp_path / "t.html"
    r = runner.invoke(lineage, ["trace", "--metadata", spec, "--format", "html", "-o", str(out)])
    assert r.exit_code == 0 and "<svg" in out.read_text()
    r = runner.invoke(lineage, ["trace", "424242", "--metadata", spec])
    assert r.exit_code == 1 and "no artifact with id 424242" in r.output


def test_cli_missing_store_is_a_clear_error(tmp_path):
    r = CliRunner().invoke(lineage, ["runs", "--metadata", str(tmp_path / "none.sqlite")])
    assert r.exit_code == 1 and "does not exist" in r.output
    assert not (tmp_path / "none.sqlite").exists()
    r = CliRunner().invoke(lineage, ["runs", "--metadata", "mysql://u:topsecret@h/db"])
    assert r.exit_code == 1 and "topsecret" not in r.output
