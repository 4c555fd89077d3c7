"""Request logs back into typed feature columns: both signatures, missing weather, versions, answers; bad files
are one error naming the file."""
import os

import numpy as np
import pandas as pd
import pytest

from data import contract
from pipeline.local.runner import REPO_ROOT
from pipeline.monitor import logs
from tests.pipeline.monitor import traffic

SPAN = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")


def constant(signature, inputs):
    n = len(next(iter(inputs.values())))
    return np.full(n, 0.25 if signature == contract.SERVING_SIGNATURE else 0.75)


@pytest.fixture(scope="module")
def rows():
    return traffic.read_span(SPAN, 1).iloc[:130]


def test_both_signatures_decode_to_the_span_rows(tmp_path, rows):
    traffic.write_logs(str(tmp_path), rows, constant, version=7, batch_rows=50)
    found = logs.read_logs(str(tmp_path))
    assert found.records == 3 and len(found.frame) == 130
    assert list(found.frame.columns) == list(contract.FEATURE_KEYS)
    expected = rows[list(contract.FEATURE_KEYS)].reset_index(drop=True)
    for name in contract.FEATURE_KEYS:
        if contract.tf_dtype_name(name) == "float32":  # float32 on the wire
            np.testing.assert_allclose(found.frame[name].to_numpy(), expected[name].to_numpy(dtype="float64"),
                                       rtol=1e-6, equal_nan=True)
        else:
            assert found.frame[name].tolist() == expected[name].tolist(), name
    assert found.frame["wind_gust"].isna().sum() == expected["wind_gust"].isna().sum() > 0  # missing stays missing
    # batches alternate: raw signature (0.25), tf.Example signature (0.75), raw again
    assert found.predictions.tolist() == [0.25] * 50 + [0.75] * 50 + [0.25] * 30
    assert set(found.versions.tolist()) == {7} and found.model_names == [contract.MODEL_NAME]
    assert found.days.tolist()[:3] == [101, 101, 101]


def test_a_log_without_version_or_answer(tmp_path, rows):
    from tensorflow_serving.apis import prediction_log_pb2
    import tensorflow as tf
    path = traffic.write_logs(str(tmp_path), rows.iloc[:10], constant, version=None)
    records = [prediction_log_pb2.PredictionLog.FromString(r) for r in tf.compat.v1.io.tf_record_iterator(path)]
    for r in records:
        r.predict_log.response.Clear()  # the proxy's logger sees no answer
    with tf.io.TFRecordWriter(path) as w:
        for r in records:
            w.write(r.SerializeToString())
    found = logs.read_logs(str(tmp_path))
    assert found.versions.tolist() == [-1] * 10
    assert np.isnan(found.predictions).all()


def test_bad_logs_name_the_file(tmp_path, rows):
    with pytest.raises(logs.LogError, match="no request log files"):
        logs.read_logs(str(tmp_path))
    bad = tmp_path / "requests-x.tfrecord"
    bad.write_text("month,day\n1,2\n" * 20)
    with pytest.raises(logs.LogError, match=str(bad)):
        logs.read_logs(str(tmp_path))
    bad.unlink()
    import tensorflow as tf
    with tf.io.TFRecordWriter(str(bad)) as w:
        w.write(b"\x08\x96\x01not a prediction log")
    with pytest.raises(logs.LogError, match=f"{bad}"):
        logs.read_logs(str(tmp_path))


def test_typed_frame_rejects_a_value_of_the_wrong_kind():
    row = {k: 1 for k in contract.FEATURE_KEYS}
    row["distance"] = "far"
    with pytest.raises(logs.LogError, match="distance"):
        logs.typed_frame([row], "x.tfrecord")
    assert isinstance(logs.typed_frame([{k: None for k in contract.FEATURE_KEYS}], "x"), pd.DataFrame)
