"""Model registry in a real MLMD store (SQLite): stages, deployment history, CLI, and a live server."""
import json

import pytest
from click.testing import CliRunner
from ml_metadata.proto import metadata_store_pb2

from data.mlmd_store import open_store
from serving import cli
from serving.delivery import registry
from serving import client as serving_client
from tests.serving.conftest import write_config
from tests.serving.mlmd_pushes import record_push

MODEL = "flight"


def _push(store, version, pushed=1):
    return record_push(store, MODEL, version, pushed)


@pytest.fixture
def metadata(tmp_path):
    path = str(tmp_path / "metadata.sqlite")
    store = open_store(path)
    for version in (1, 2, 3):
        _push(store, version)
    _push(store, 9, pushed=0)  # a push that did not happen
    return path


def test_pushed_versions_start_as_candidates(metadata):
    store = open_store(metadata)
    assert sorted(registry.pushed_versions(store)) == [1, 2, 3]
    assert registry.current(store, MODEL) == {"stages": {1: "candidate", 2: "candidate", 3: "candidate"},
                                              "traffic": {}, "since_ms": None, "deployment_id": None}
    assert registry.history(store, MODEL) == []


def test_changes_are_executions_with_events_to_the_pushed_versions(metadata):
    store = open_store(metadata)
    first = registry.set_stage(store, MODEL, 1, "stable", reason="first deployment", metrics={"auc": 0.78})
    second = registry.record(store, MODEL, {1: "stable", 2: "canary"}, change="canary 10%", reason="try v2",
                             traffic={1: 0.9, 2: 0.1}, metrics={"auc": 0.79})
    third = registry.set_stage(store, MODEL, 2, "stable", reason="canary healthy")
    state = registry.current(store, MODEL)
    assert state["stages"] == {1: "archived", 2: "stable", 3: "candidate"}
    assert state["traffic"] == {2: 1.0} and state["deployment_id"] == third
    changes = registry.history(store, MODEL)
    assert [c["id"] for c in changes] == [first, second, third]
    assert [c["reason"] for c in changes] == ["first deployment", "try v2", "canary healthy"]
    assert changes[1]["traffic"] == {1: 0.9, 2: 0.1} and changes[1]["metrics"] == {"auc": 0.79}
    assert changes[0]["stages"] == {1: "stable", 2: "candidate", 3: "candidate"}
    # Lineage: each deployment reads the PushedModel artifacts of the versions it names.
    pushed = {a.id: v for v, a in registry.pushed_versions(store).items()}
    events = store.get_events_by_execution_ids([second])
    assert sorted(pushed[e.artifact_id] for e in events if e.type == metadata_store_pb2.Event.INPUT) == [1, 2]
    context = store.get_context_by_type_and_name(registry.CONTEXT_TYPE, MODEL)
    assert {e.id for e in store.get_executions_by_context(context.id)} == {first, second, third}
    assert registry.history(store, "other_model") == []


@pytest.mark.parametrize("stages, traffic, message", [
    ({9: "stable"}, None, "version 9 of 'flight' was never pushed (pushed versions in MLMD: [1, 2, 3])"),
    ({1: "live"}, None, "version 1: unknown stage 'live'"),
    ({1: "stable", 2: "stable"}, None, "more than one stable version: [1, 2]"),
    ({1: "stable", 2: "canary"}, {1: 0.9, 2: 0.2}, "traffic shares sum to 1.1 > 1"),
    ({1: "stable", 2: "candidate"}, {1: 0.9, 2: 0.1}, "version 2: traffic share 0.1 for a version that is candidate"),
    ({1: "stable"}, {1: 1.5}, "version 1: traffic share 1.5 is not in [0, 1]"),
])
def test_refused_changes_name_the_fault_and_record_nothing(metadata, stages, traffic, message):
    store = open_store(metadata)
    with pytest.raises(registry.RegistryError) as info:
        registry.record(store, MODEL, stages, change="x", reason="y", traffic=traffic)
    assert message in str(info.value)
    assert registry.history(store, MODEL) == []


def test_stages_from_labels():
    previous = {1: "stable", 2: "canary", 3: "candidate", 4: "archived"}
    assert registry.stages_from_labels(previous, {"stable": 2, "canary": 2}) == {
        1: "archived", 2: "stable", 3: "candidate", 4: "archived"}
    assert registry.stages_from_labels(previous, {"stable": 1, "canary": 3, "shadow": 3, "other": 4}) == {
        1: "stable", 2: "archived", 3: "canary", 4: "archived"}


def test_cli_lists_and_sets_stages(metadata):
    runner = CliRunner()
    base = ["registry", "--metadata", metadata, "--model-name", MODEL]
    result = runner.invoke(cli.main, base + ["set-stage", "2", "stable", "--reason", "by hand",
                                             "--metrics", '{"auc": 0.8}'])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli.main, base + ["--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [(v["version"], v["stage"], v["traffic"]) for v in doc["versions"]] == [
        (1, "candidate", 0.0), (2, "stable", 1.0), (3, "candidate", 0.0)]
    assert [(c["change"], c["reason"], c["metrics"]) for c in doc["history"]] == [
        ("set-stage 2 stable", "by hand", {"auc": 0.8})]
    text = runner.invoke(cli.main, base).output
    assert "3 pushed version(s)" in text and "set-stage 2 stable  [2=stable]  by hand" in text
    for args, message in ((["set-stage", "9", "stable", "--reason", "r"], "was never pushed"),
                          (["set-stage", "1", "stable", "--reason", "r", "--metrics", "[1]"], "JSON object")):
        result = runner.invoke(cli.main, base + args)
        assert result.exit_code != 0 and message in result.output, result.output
    result = runner.invoke(cli.main, ["registry", "--metadata", metadata + ".missing"])
    assert result.exit_code != 0 and "no metadata store" in result.output


def test_label_changes_are_recorded_and_agree_with_the_server(library, start_server, metadata, tmp_path):
    base = str(tmp_path / "flight")
    for v in (1, 2, 3):
        library.push(library.contract[v], base, v)
    config = write_config(str(tmp_path / "models.config"), {
        MODEL: (base, "specific { versions: 1 versions: 2 }", {"stable": 1, "canary": 2})})
    server = start_server([f"--model_config_file={config}", "--file_system_poll_wait_seconds=1",
                           "--max_num_load_retries=0", "--allow_version_labels_for_unavailable_models"], [MODEL])
    runner = CliRunner()
    common = ["--config", config, "--server", server.grpc_target, "--model-name", MODEL, "--metadata", metadata]
    listing = ["registry", "--metadata", metadata, "--model-name", MODEL, "--server", server.grpc_target, "--json"]

    result = runner.invoke(cli.main, ["labels", "set"] + common + ["canary", "2", "--reason", "start canary"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli.main, ["labels", "promote"] + common + ["--reason", "canary healthy"])
    assert result.exit_code == 0, result.output
    doc = json.loads(runner.invoke(cli.main, listing).output)
    assert [(v["version"], v["stage"], v["server_state"]) for v in doc["versions"]] == [
        (1, "archived", "AVAILABLE"), (2, "stable", "AVAILABLE"), (3, "candidate", "NOT_LOADED")]
    assert [c["change"] for c in doc["history"]] == ["label canary -> 2", "promote: stable 1 -> 2"]
    assert doc["mismatches"] == []
    stable = serving_client.GrpcClient(server.grpc_target, MODEL).predict(
        serving_client.columns_from_rows(library_rows()), label="stable", raw=True).model_spec.version.value
    assert stable == 2  # what the registry calls stable is what the server answers on the label

    result = runner.invoke(cli.main, ["labels", "rollback"] + common + ["--reason", "bad latency"])
    assert result.exit_code == 0, result.output
    doc = json.loads(runner.invoke(cli.main, listing).output)
    assert [v["stage"] for v in doc["versions"]] == ["stable", "canary", "candidate"]
    assert doc["history"][-1]["reason"] == "bad latency"

    # A label on a version MLMD never saw pushed is refused before the server or the file change.
    before = open(config).read()
    result = runner.invoke(cli.main, ["labels", "set"] + common + ["canary", "7"])
    assert result.exit_code != 0 and "was never pushed" in result.output
    assert open(config).read() == before and len(json.loads(runner.invoke(cli.main, listing).output)["history"]) == 3

    # The registry says canary for a version the server does not serve: the cross-check fails.
    assert runner.invoke(cli.main, ["registry", "--metadata", metadata, "--model-name", MODEL, "set-stage", "3",
                                    "canary", "--reason", "by hand"]).exit_code == 0
    result = runner.invoke(cli.main, listing)
    assert result.exit_code != 0
    assert "version 3 is canary in the registry but NOT_LOADED" in result.output


def library_rows():
    from serving.tools.contract_model import example_row
    return [example_row(i) for i in range(3)]


def test_served_is_the_registry_stable_and_canary_not_the_latest_push(metadata):
    store = open_store(metadata)
    state = registry.served(store)
    assert (state["source"], state["stable"], state["canary"]) == ("latest push", 3, None)
    registry.record(store, MODEL, {1: "stable", 2: "canary"}, change="canary", reason="r", traffic={1: 0.9, 2: 0.1})
    state = registry.served(store)
    assert (state["source"], state["model_name"], state["stable"], state["canary"]) == ("registry", MODEL, 1, 2)
    assert registry.served_by(state) == {"stable": 1, "canary": 2}
    assert registry.describe(state) == (f"{MODEL}: stable v1 (90% of traffic), canary v2 (10% of traffic)"
                                        "  [from the registry]")
    routing = {"deployments": {"blue": {"grpc": "h:1"}, "green": {"grpc": "h:2"}},
               "stable": {"deployment": "blue"}, "canary": {"deployment": "green"}}
    registry.record(store, MODEL, {1: "stable", 2: "canary"}, change="canary", reason="r", routing=routing)
    state = registry.served(store)
    assert registry.served_by(state, "h:2") == {"canary": 2}
    assert registry.live_mismatches(state, "h:2", {1: "AVAILABLE", 2: "LOADING"}) == [
        "version 2 is canary in the registry but LOADING on h:2"]
    assert registry.live_mismatches(state, "h:1", {1: "AVAILABLE"}) == []
    assert registry.live_mismatches(state, "h:3", {1: "AVAILABLE"}) == [f"no served version of {MODEL!r} is routed to h:3"]


def _trace(metadata, *args):
    from pipeline.lineage.cli import lineage
    result = CliRunner().invoke(lineage, ["trace", *args, "--metadata", metadata, "--format", "json"])
    return result, (json.loads(result.output[:result.output.rindex("}") + 1]) if "{" in result.output else None)


def test_lineage_trace_served_follows_the_registry_and_checks_the_server(library, start_server, metadata, tmp_path):
    base = str(tmp_path / MODEL)
    for v in (1, 2):
        library.push(library.contract[v], base, v)
    config = write_config(str(tmp_path / "models.config"), {MODEL: (base, "specific { versions: 1 versions: 2 }", {})})
    server = start_server([f"--model_config_file={config}"], [MODEL])
    store = open_store(metadata)
    pushed = registry.pushed_versions(store)

    result, doc = _trace(metadata)  # no deployment recorded: the latest push, not served by this server
    assert result.exit_code == 0, result.output
    assert doc["target"]["id"] == pushed[3].id and doc["serving"] and doc["served"]["source"] == "latest push"
    result, doc = _trace(metadata, "--server", server.grpc_target)
    assert result.exit_code != 0 and "version 3 is stable in the registry but NOT_LOADED" in result.output

    registry.record(store, MODEL, {1: "stable", 2: "canary", 3: "candidate"}, change="canary", reason="r",
                    traffic={1: 0.9, 2: 0.1})
    result, doc = _trace(metadata, "served", "--server", server.grpc_target)
    assert result.exit_code == 0, result.output
    assert doc["target"]["id"] == pushed[1].id and doc["serving"]
    assert (doc["served"]["stable"], doc["served"]["canary"], doc["served"]["mismatches"]) == (1, 2, [])
    assert doc["served"]["server_states"] == {"1": "AVAILABLE", "2": "AVAILABLE"}
    result, doc = _trace(metadata, "canary")
    assert result.exit_code == 0 and doc["target"]["id"] == pushed[2].id and doc["serving"]

    registry.set_stage(store, MODEL, 2, "archived", reason="rolled back")  # after a rollback: v1 alone
    result, doc = _trace(metadata, "canary")
    assert result.exit_code != 0 and "nothing is served as canary" in result.output
    from pipeline.lineage.cli import lineage
    text = CliRunner().invoke(lineage, ["trace", "--metadata", metadata, "--server", server.grpc_target]).output
    assert f"served: {MODEL}: stable v1 (100% of traffic)  [from the registry]; {server.grpc_target} agrees" in text
