"""Canary analysis decisions on figures with a known answer: noise passes, real differences fail."""
import numpy as np
import pytest

from data import contract
from serving.delivery import canary_analysis as ca
from serving.server.monitoring import Metrics

BOUNDS = [100.0, 1000.0, 10000.0, float("inf")]


def figures(requests, errors, fast_share=1.0):
    """server_figures-like: `fast_share` of the requests under 1 ms, the rest under 10 ms."""
    fast = int(round(requests * fast_share))
    buckets = [(100.0, 0), (1000.0, fast), (10000.0, requests), (float("inf"), requests)]
    return {"requests": requests, "errors": errors, "latency_buckets": buckets}


def records(rng, n, shift=0.0, informative=True):
    labels = rng.integers(0, 2, n)
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + (1.5 * labels if informative else 0) + shift)))
    return [{"prediction": float(p), "label": int(y)} for p, y in zip(scores, labels)]


def test_noise_alone_promotes():
    rng = np.random.default_rng(1)
    result = ca.analyse(figures(2000, 2, 0.995), figures(400, 1, 0.99),
                        {"stable": records(rng, 2000), "canary": records(rng, 400)})
    assert result["decision"] == "promote", result
    assert set(result["checks"]) == {"error_rate", "latency_p99", "predictions", "auc"}
    assert result["checks"]["error_rate"]["p_value"] > 0.01


def test_each_real_difference_rolls_back_naming_its_check():
    rng = np.random.default_rng(2)
    stable = {"stable": records(rng, 2000)}
    cases = {
        "error_rate": (figures(400, 40, 0.99), {"canary": records(rng, 400)}),
        "latency_p99": (figures(400, 0, 0.7), {"canary": records(rng, 400)}),
        "predictions": (figures(400, 0, 0.99), {"canary": records(rng, 400, shift=1.5)}),
        "auc": (figures(400, 0, 0.99), {"canary": records(rng, 400, informative=False)}),
    }
    for check, (canary, predictions) in cases.items():
        result = ca.analyse(figures(2000, 1, 0.995), canary, {**stable, **predictions})
        assert result["decision"] == "rollback" and check in result["failed"], (check, result["checks"])
    # A significant but immaterial difference (below the margin) passes: 0.5% more errors.
    result = ca.analyse(figures(20000, 0), figures(20000, 100), {})
    assert result["checks"]["error_rate"]["p_value"] < 0.01 and result["decision"] == "promote"


def test_too_few_requests_waits():
    assert ca.analyse(figures(2000, 0), figures(40, 20), {})["decision"] == "wait"


def test_server_figures_from_the_local_server_exposition():
    metrics = Metrics()
    before = ca.parse_metrics(metrics.exposition().decode())
    for status, n in (("OK", 7), ("INVALID_ARGUMENT", 3)):
        for _ in range(n):
            metrics.request_count.labels("flight", status).inc()
            metrics.request_latency.labels("flight", "predict", "REST").observe(500.0)
    metrics.request_count.labels("other", "OK").inc()
    result = ca.server_figures(before, ca.parse_metrics(metrics.exposition().decode()), "flight")
    assert (result["requests"], result["errors"]) == (10, 3)
    assert dict(result["latency_buckets"])[612.0] == 10 and dict(result["latency_buckets"])[340.0] == 0


def _predict_log(model, version, when, rows, probabilities, answered=True):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2
    record = prediction_log_pb2.PredictionLog()
    for spec in (record.log_metadata.model_spec, record.predict_log.request.model_spec):
        spec.name, spec.version.value, spec.signature_name = model, version, contract.SERVING_SIGNATURE
    record.log_metadata.timestamp_secs = when
    for feature in contract.FEATURE_KEYS:
        record.predict_log.request.inputs[feature].CopyFrom(
            tf.make_tensor_proto([r[feature] for r in rows], dtype=contract.tf_dtype(feature)))
    if answered:
        record.predict_log.response.outputs[contract.PREDICTION_KEY].CopyFrom(
            tf.make_tensor_proto(probabilities, dtype=tf.float32))
    return record


def test_request_logs_give_one_record_per_row_by_stage_within_the_window_with_labels_joined(tmp_path):
    from serving.server import request_log
    from serving.tools.contract_model import example_row
    rows = [example_row(i) for i in range(3)]
    collector = request_log.TFRecordCollector(str(tmp_path / "logs" / "requests"), lambda *_: None)
    for record in (_predict_log("flight", 1, 5, rows[:2], [0.2, 0.3]),  # stable, 2 rows, the first labelled
                   _predict_log("flight", 2, 6, rows[2:], [0.4]),        # canary
                   _predict_log("flight", 2, 99, rows[2:], [0.5]),       # after the window
                   _predict_log("other", 1, 5, rows[:1], [0.6]),         # another model
                   _predict_log("flight", 3, 5, rows[:1], [0.7]),        # neither stage
                   _predict_log("flight", 1, 5, rows[:1], [], answered=False)):  # the proxy's: no answer
        collector.collect(record.log_metadata.model_spec.name, lambda when, r=record: r)
    collector.close()
    labels = {contract.natural_key(rows[0]): 1}
    grouped = ca.read_request_logs(str(tmp_path / "logs"), 4.5, 10, {1: "stable", 2: "canary"}, "flight", labels)
    assert grouped == {"stable": [{"time": 5, "version": 1, "prediction": pytest.approx(0.2), "label": 1},
                                  {"time": 5, "version": 1, "prediction": pytest.approx(0.3)}],
                       "canary": [{"time": 6, "version": 2, "prediction": pytest.approx(0.4)}]}
    with pytest.raises(FileNotFoundError, match="no request log files"):
        ca.read_request_logs(str(tmp_path / "nothing"), 0, 10, {1: "stable"}, "flight")
