"""The calibration runner of the flight drift policy (on 5% samples of the real months)."""
import json

from components.drift_validator import drift
from pipeline.dag import configs
from pipeline.tools import drift_calibration


def test_json_output_is_one_document_with_every_transition_and_margin(capsys):
    assert drift_calibration.main(["--sample", "0.05", "--json"]) == 0  # 0: no real transition blocks
    out = json.loads(capsys.readouterr().out)
    assert [t["transition"] for t in out["transitions"]] == [f"{n}->{n + 1}" for n in range(1, 12)]
    assert all(t["blocking"] == {} for t in out["transitions"])
    rows = {(r["check"], r["feature"]): r for r in out["table"]}
    assert {("distribution", f) for f in configs.DRIFT_FEATURE_THRESHOLDS} <= set(rows)
    temp = rows[("distribution", "temp")]
    assert temp["block"] == configs.DRIFT_FEATURE_THRESHOLDS["temp"]["block"]
    assert temp["margin"] == temp["block"] - temp["max"] > 0
    assert rows[("label_rate", "late")]["max"] > 0.1  # Nov -> Dec really moves the late rate


def test_the_runner_uses_the_config_the_pipeline_passes():
    p = configs.DRIFT_VALIDATOR
    recorded = drift.DriftConfig.from_json(
        json.dumps(p["feature_thresholds"]), json.dumps(list(p["blocking_features"])), p["label_key"],
        p["label_shift_threshold"], json.dumps(p["dataset_checks"]))
    assert drift_calibration.flight_drift_config() == recorded
    assert recorded.levels == drift_calibration.flight_drift_config().levels


def test_the_train_split_is_the_one_of_create_pipeline(tmp_path):
    from google.protobuf import json_format  # pylint: disable=import-outside-toplevel
    from tfx.proto import example_gen_pb2  # pylint: disable=import-outside-toplevel
    from pipeline.dag.pipeline import create_pipeline, split_config  # pylint: disable=import-outside-toplevel
    pipeline = create_pipeline(str(tmp_path / "root"), drift_calibration.DATA_ROOT, drift_calibration.SCHEMA_PATH,
                               str(tmp_path / "serving"), span=1)
    [example_gen] = [c for c in pipeline.components if c.id == "CsvExampleGen"]
    output = json_format.Parse(example_gen.exec_properties["output_config"], example_gen_pb2.Output())
    assert output.split_config == split_config()
    frame = drift_calibration.read_frame("tests/fixtures/spans", 1)
    train = drift_calibration.train_rows(frame)
    days, eval_days = set(train[configs.SPLIT_PARTITION_FEATURE]), set(frame.drop(train.index)[configs.SPLIT_PARTITION_FEATURE])
    assert max(days) < min(eval_days)  # train days first, the last days for eval
    assert 0.7 < len(train) / len(frame) < 0.8
