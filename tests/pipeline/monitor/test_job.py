"""Decay with late labels, end to end: the served model's answers on the next month scored against that month's
labels: no alert with the real labels (what a month later looks like), an alert when the labels say the model
is wrong on most days."""
import pytest

from pipeline.dag import configs
from pipeline.monitor import job

pytestmark = pytest.mark.e2e


def test_decay_alerts_only_when_the_drop_is_real(served, request_logs, tmp_path):
    real = job.run(request_logs["later"], served["metadata"], labels_path=request_logs["labels_real"],
                   output_dir=str(tmp_path / "real"))
    drop = job.run(request_logs["later"], served["metadata"], labels_path=request_logs["labels_drop"],
                   output_dir=str(tmp_path / "drop"))
    margin = configs.MONITOR_DECAY["margins"]["auc"]
    for result in (real, drop):
        assert result["decay"]["labelled_rows"] == result["logs"]["rows"]  # every flight joined on its key
        assert result["decay"]["days"] >= configs.MONITOR_DECAY["min_days"]
        assert not result["skew_alert"]  # the next real month is no skew
    auc = real["decay"]["metrics"]["auc"]
    assert not real["decay"]["alert"] and not real["alert"]
    assert auc["interval"][1] >= -margin
    assert auc["reference"] == drop["decay"]["metrics"]["auc"]["reference"]  # the same validation figure
    dropped = drop["decay"]["metrics"]["auc"]
    assert drop["decay"]["alert"] and drop["alert"]
    assert dropped["live"] < auc["live"] - 0.1 and dropped["interval"][1] < 0  # significantly lower
    fired = [name for name, metric in drop["decay"]["metrics"].items() if metric.get("alert")]
    named = [r.removeprefix("decay: ").split(", ") for r in drop["reasons"] if r.startswith("decay: ")]
    assert fired and named == [fired]  # one reason naming every metric that fired
    assert "Live AUC over time" in open(drop["page"]).read()
