"""A shifted copy of the traffic alerts naming the shifted features; with --retrain the alert runs the
continuous-training step on the newest span, the run is linked to the alert in MLMD, `lineage trace` shows it
and the report site links the monitoring page."""
import json

import pytest
from click.testing import CliRunner

from data import mlmd_store
from pipeline.lineage import query
from pipeline.lineage.cli import lineage
from pipeline.monitor import cli

pytestmark = pytest.mark.e2e


def test_shifted_traffic_alerts_and_retrains(served, request_logs, tmp_path):
    result = CliRunner(mix_stderr=False).invoke(cli.monitor, [
        "--logs", request_logs["shifted"], "--metadata", served["metadata"], "--output", str(tmp_path / "w"),
        "--json", "--retrain", "--data", served["data"]])
    assert result.exit_code == cli.ALERT_EXIT, result.stderr
    doc = json.loads(result.stdout)
    # Only the features shifted (°F -> °C) alert: temp; dewp's shift on the 1,500-flight fixture measures about
    # 0.65, under its 0.7 block level (on a real month both measure 1.0: README).
    assert doc["alert"] and "temp" in doc["skew_alert"] and set(doc["skew_alert"]) <= {"dewp", "temp"}
    fired = {f["feature"]: f for f in doc["skew"] if f["alert"]}
    assert set(fired) == set(doc["skew_alert"])
    assert all(f["distance"] > f["threshold"] for f in fired.values())
    # [] when no earlier window passed; else the shifted features (against the previous window dewp also moves
    # beyond its block level)
    assert doc["drift_alert"] == [] or ("temp" in doc["drift_alert"] and set(doc["drift_alert"]) <= {"dewp", "temp"})

    retrain = doc["retrain"]
    assert retrain["ran"] and retrain["span"] == 2 and retrain["trained_on"] == [1, 2]
    assert "--span 2 --window 2" in retrain["command"]
    store = mlmd_store.open_store(served["metadata"])
    record = query.read_run(store, retrain["run_id"])
    model = record.node_output("Trainer", "model")
    trace = query.trace(store, model.id)
    [trigger] = trace["triggered_by"]
    assert trigger["alert"] == doc["metadata"]["report"] and trigger["served_version"] == served["version"]
    assert trigger["reasons"] == doc["reasons"]

    shown = CliRunner(mix_stderr=False).invoke(lineage, ["trace", str(model.id), "--metadata", served["metadata"]])
    assert shown.exit_code == 0, shown.stderr
    assert f"triggered by: monitoring alert MonitoringReport #{doc['metadata']['report']}" in shown.stdout

    from pipeline.pages import site
    written = site.build_site(served["metadata"], str(tmp_path / "site"))
    index = open(written["index"]).read()
    assert "Monitoring windows" in index and retrain["run_id"] in index
    assert any(doc["window"] in path for path in written["monitoring"])
