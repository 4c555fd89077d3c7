"""--enable_batching: concurrent Predict calls are merged, answers stay per request."""
import os
import threading

import numpy as np
import pytest
import requests

from data import contract
from serving import client as serving_client
from serving.server import errors
from serving.server.batching import BatchingOptions
from serving.server.servable import Servable
from serving.tools import contract_model
from serving.client import tf_dtype

ROWS = [contract_model.example_row(i) for i in range(8)]


def _concurrently(fn, count: int) -> list:
    results, barrier = [None] * count, threading.Barrier(count)

    def worker(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # returned, then asserted on
            results[i] = exc
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _feeds(rows):
    import tensorflow as tf
    return {k: np.array([r[k] for r in rows], dtype=tf_dtype(k).as_numpy_dtype
                        if contract.tf_dtype_name(k) != "string" else object)
            for k in contract.FEATURE_KEYS}


def test_servable_batches_concurrent_predicts(library):
    batches = []
    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=300_000, allowed_batch_sizes=(4, 8),
                              on_batch=batches.append)
    servable = Servable("m", 1, library.contract[1], batching=options)
    expected = library.expected(1, ROWS)
    results = _concurrently(lambda i: servable.predict("", _feeds([ROWS[i]]))[1], len(ROWS))
    for i, result in enumerate(results):
        assert not isinstance(result, Exception), result
        assert result[contract.PREDICTION_KEY].shape == (1,)
        assert result[contract.PREDICTION_KEY][0] == pytest.approx(expected[i], rel=1e-6)
    assert all(b in (4, 8) for b in batches)  # padded to allowed sizes
    assert len(batches) < len(ROWS)  # some requests shared a signature call
    with pytest.raises(errors.ServingError, match="Task size 9 is larger than maximum input batch size 8"):
        servable.predict("", _feeds(ROWS + ROWS[:1]))
    with pytest.raises(ValueError, match="Last entry in allowed_batch_sizes must match max_batch_size"):
        BatchingOptions(max_batch_size=8, allowed_batch_sizes=(4,)).validate()


def test_server_with_batching_answers_each_request(library, start_server, tmp_path):
    base = str(tmp_path / "flight")
    library.push(library.contract[2], base, 1)
    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 8 }\nbatch_timeout_micros { value: 200000 }\n"
                      "num_batch_threads { value: 2 }\nallowed_batch_sizes: 4\nallowed_batch_sizes: 8\n")
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }\n')
    server = start_server(["--model_name=flight", f"--model_base_path={base}", "--enable_batching",
                           f"--batching_parameters_file={params}", f"--monitoring_config_file={monitoring}"],
                          ["flight"])
    expected = library.expected(2, ROWS)
    grpc_client = serving_client.GrpcClient(server.grpc_target, "flight")
    rest = serving_client.RestClient(server.rest_url, "flight")

    def one(i):
        if i % 2:
            return rest.predict(instances=[ROWS[i]])["predictions"][0]
        return float(grpc_client.predict(serving_client.columns_from_rows([ROWS[i]]))[contract.PREDICTION_KEY][0])
    results = _concurrently(one, len(ROWS))
    for i, result in enumerate(results):
        assert not isinstance(result, Exception), result
        assert result == pytest.approx(expected[i], rel=1e-6)
    with pytest.raises(serving_client.ServingClientError) as info:
        rest.predict(instances=ROWS + ROWS[:1])
    assert info.value.code == 400 and "larger than maximum input batch size 8" in info.value.message
    if server.is_local:
        metrics = requests.get(server.rest_url + "/monitoring/prometheus/metrics", timeout=10).text
        count = [line for line in metrics.splitlines()
                 if line.startswith(":tensorflow:serving:batching_session:processed_batch_size_count")]
        assert count and 1 <= float(count[0].split()[-1]) < len(ROWS)
    assert os.path.exists(server.log_path) and server.alive()
