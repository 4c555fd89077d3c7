"""TF-DF's ops are registered only for a model that needs them, and the model server serves a
gradient-boosted model (pipeline/model/gbt.py) with the answers it gives in-process."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from data import contract
from serving import client as serving_client
from serving.server import custom_ops
from serving.tools import contract_model
from tests.serving.server_process import REPO_ROOT

ROWS = [contract_model.example_row(i) for i in range(4)]
_PROBE = ("import json, sys; from serving.server import custom_ops; modules = custom_ops.ensure_ops(sys.argv[1]); "
          "custom_ops.load(sys.argv[1]); "
          "print(json.dumps([modules, 'tensorflow_decision_forests' in sys.modules]))")


def _probe(path):
    """(modules ensure_ops imported, whether TF-DF ended up imported) in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _PROBE, path], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_core_ops_model_loads_without_importing_tf_df(library):
    assert _probe(library.contract[1]) == [[], False]


def test_a_gradient_boosted_model_imports_tf_df_to_load(gbt_model):
    assert _probe(gbt_model.path) == [["tensorflow_decision_forests"], True]
    assert {"SimpleMLInferenceOpWithHandle", "SimpleMLCreateModelResource"} <= custom_ops.saved_model_ops(gbt_model.path)


def test_an_op_of_no_known_module_is_named(tmp_path, library):
    """A SavedModel whose graph names an op nobody registers: one clear error naming the op."""
    from tensorflow.core.protobuf import saved_model_pb2
    import shutil
    path = str(tmp_path / "odd")
    shutil.copytree(library.contract[1], path)
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    saved_model.meta_graphs[0].graph_def.node.add(name="odd", op="NoSuchOpAnywhere")
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(saved_model.SerializeToString())
    with pytest.raises(ValueError, match=f"{path}: the SavedModel uses ops this process cannot run: NoSuchOpAnywhere"):
        custom_ops.ensure_ops(path)


def test_the_model_server_serves_a_gradient_boosted_model(library, gbt_model, start_server, tmp_path):
    base = str(tmp_path / "flight")
    library.push(gbt_model.path, base, 1)
    server = start_server(["--model_name=flight", f"--model_base_path={base}"], ["flight"])
    loaded = tf.saved_model.load(gbt_model.path)
    inputs = {k: tf.constant([r[k] for r in ROWS], dtype=contract.tf_dtype(k)) for k in contract.FEATURE_KEYS}
    expected = loaded.signatures[contract.SERVING_SIGNATURE](**inputs)[contract.PREDICTION_KEY].numpy()
    rest = serving_client.RestClient(server.rest_url, "flight").predict(instances=ROWS)["predictions"]
    grpc_answer = serving_client.GrpcClient(server.grpc_target, "flight").predict(
        serving_client.columns_from_rows(ROWS))[contract.PREDICTION_KEY]
    np.testing.assert_allclose(rest, expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(grpc_answer, dtype=np.float64), expected, atol=1e-6)
    assert len(set(np.round(expected, 6))) > 1  # the rows get different scores: the forest answered
