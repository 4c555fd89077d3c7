"""Executor.Do with real artifacts, real SavedModels and a real model-server process."""
import json
import logging
import os
import shutil

import docker
import pytest
import tensorflow as tf
from tfx.components.infra_validator import error_types
from tfx.dsl.components.base import base_executor
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as keys
from tfx.utils import proto_utils

from components.infra_validator import executor as executor_lib
from components.infra_validator import specs
from data import contract
from serving.server import command as local_server
from tensorflow_serving.apis import prediction_log_pb2
from tests.components.infra_validator import testdata as fx


def _request_spec(**kwargs):
    """Requests on the contract's tf.Example signature (the flight pipeline's choice)."""
    return specs.make_request_spec(signature_names=[contract.EXAMPLES_SIGNATURE], **kwargs)


def _server_processes_mentioning(text: str):
    """PIDs of live processes whose command line contains `text`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(pid) != os.getpid():
            found.append(int(pid))
    return found


def _run(tmp_path, saved_model_dir, examples_uri=None, request_spec=None,
         serving_spec=None, num_tries=1):
    model = fx.model_artifact(str(tmp_path / "model"), saved_model_dir)
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = str(tmp_path / "blessing")
    os.makedirs(blessing.uri)
    input_dict = {keys.MODEL_KEY: [model]}
    if examples_uri:
        input_dict[keys.EXAMPLES_KEY] = [fx.examples_artifact(examples_uri)]
    exec_properties = {
        keys.SERVING_SPEC_KEY: proto_utils.proto_to_json(
            serving_spec or specs.make_serving_spec(model_name="flights")),
        keys.VALIDATION_SPEC_KEY: proto_utils.proto_to_json(
            specs.make_validation_spec(max_loading_time_seconds=120, num_tries=num_tries)),
        executor_lib.SERVER_COMMAND_KEY: json.dumps(list(local_server.COMMAND)),
    }
    if request_spec:
        exec_properties[keys.REQUEST_SPEC_KEY] = proto_utils.proto_to_json(request_spec)
    tmp_dir = str(tmp_path / "executor_tmp")
    context = base_executor.BaseExecutor.Context(tmp_dir=tmp_dir, unique_id="iv")
    executor_lib.Executor(context).Do(input_dict, {keys.BLESSING_KEY: [blessing]}, exec_properties)
    return blessing, tmp_dir


def _load_failures(caplog):
    """Validation errors logged by TFX's retry loop that say the model did not load."""
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    return [e for e in errors
            if isinstance(e, error_types.JobAborted)  # server exited (real binary does)
            or (isinstance(e, error_types.ValidationFailed) and "failed to load" in str(e))]


def _assert_not_blessed(blessing):
    assert os.path.exists(os.path.join(blessing.uri, "INFRA_NOT_BLESSED"))
    assert not os.path.exists(os.path.join(blessing.uri, "INFRA_BLESSED"))
    assert blessing.get_int_custom_property("blessed") == 0
    assert not os.path.exists(os.path.join(blessing.uri, "stamped_model"))


def test_good_model_is_blessed_with_warmup(tmp_path, model_templates, examples_dir):
    request_spec = _request_spec(num_examples=5)
    blessing, tmp_dir = _run(tmp_path, model_templates[fx.GOOD], examples_dir, request_spec)

    assert os.path.exists(os.path.join(blessing.uri, "INFRA_BLESSED"))
    assert not os.path.exists(os.path.join(blessing.uri, "INFRA_NOT_BLESSED"))
    assert blessing.get_int_custom_property("blessed") == 1
    assert blessing.get_int_custom_property("has_model") == 1
    stamped = os.path.join(blessing.uri, "stamped_model")
    assert tf.saved_model.contains_saved_model(stamped)
    warmup = os.path.join(stamped, "assets.extra", "tf_serving_warmup_requests")
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(warmup)]
    assert len(logs) == 5  # TFX builds one PredictRequest per example (num_examples=5)
    serialized = []
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "flights"
        assert request.model_spec.signature_name == contract.EXAMPLES_SIGNATURE
        serialized.extend(tf.make_ndarray(request.inputs[contract.EXAMPLES_INPUT]))
    assert len(set(serialized)) == 5
    example = tf.train.Example.FromString(serialized[0])
    assert set(contract.FEATURE_KEYS) - set(example.features.feature) <= set(contract.FLOAT_FEATURES)
    # The stamped model still answers in-process like the original.
    loaded = tf.saved_model.load(stamped).signatures[contract.EXAMPLES_SIGNATURE]
    probs = loaded(examples=tf.constant(serialized))[contract.PREDICTION_KEY].numpy()
    assert probs.shape == (5,) and ((probs > 0) & (probs < 1)).all()
    assert _server_processes_mentioning(tmp_dir) == []


def test_gradient_boosted_model_is_blessed(tmp_path, gbt_model, examples_dir):
    """A TF-DF model (pipeline/model/gbt.py): the model server registers its ops, loads and answers it."""
    blessing, _ = _run(tmp_path, gbt_model.path, examples_dir, _request_spec(num_examples=3))
    assert blessing.get_int_custom_property("blessed") == 1
    assert tf.saved_model.contains_saved_model(os.path.join(blessing.uri, "stamped_model"))


def test_unloadable_variables_not_blessed_and_server_stopped(tmp_path, model_templates,
                                                             examples_dir, caplog):
    broken = str(tmp_path / "broken")
    shutil.copytree(model_templates[fx.GOOD], broken)
    fx.corrupt_variables(broken)
    with caplog.at_level(logging.INFO, logger="absl"):
        blessing, tmp_dir = _run(tmp_path, broken, examples_dir, _request_spec())
    _assert_not_blessed(blessing)
    assert _load_failures(caplog)
    assert _server_processes_mentioning(tmp_dir) == []


def test_corrupt_saved_model_pb_not_blessed_load_only(tmp_path, model_templates, caplog):
    """LOAD_ONLY mode: the server itself must fail to load the model."""
    broken = str(tmp_path / "broken")
    shutil.copytree(model_templates[fx.GOOD], broken)
    fx.corrupt_saved_model_pb(broken)
    with caplog.at_level(logging.INFO, logger="absl"):
        blessing, tmp_dir = _run(tmp_path, broken)
    _assert_not_blessed(blessing)
    assert any("Starting model server" in r.getMessage() for r in caplog.records)
    assert _load_failures(caplog)
    assert _server_processes_mentioning(tmp_dir) == []


def test_query_failure_not_blessed_and_server_stopped(tmp_path, model_templates, examples_dir,
                                                      caplog):
    """The model loads, but Predict on serving_tf_example fails (required feature missing)."""
    with caplog.at_level(logging.INFO, logger="absl"):
        blessing, tmp_dir = _run(tmp_path, model_templates[fx.FAILS_ON_QUERY], examples_dir,
                                 _request_spec())
    _assert_not_blessed(blessing)
    assert any("Model is successfully loaded" in r.getMessage() for r in caplog.records)
    assert not _load_failures(caplog)
    assert any(isinstance(r.exc_info[1], error_types.ValidationFailed)
               and "failed to respond" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert _server_processes_mentioning(tmp_dir) == []


def test_missing_examples_signature_not_blessed(tmp_path, model_templates, examples_dir, caplog):
    with caplog.at_level(logging.INFO, logger="absl"):
        blessing, _ = _run(tmp_path, model_templates[fx.NO_EXAMPLES_SIGNATURE], examples_dir,
                           _request_spec())
    _assert_not_blessed(blessing)
    assert any(contract.EXAMPLES_SIGNATURE in r.getMessage() and "not found" in r.getMessage()
               for r in caplog.records)


def test_serving_spec_without_tags_is_rejected(tmp_path, model_templates):
    spec = specs.make_serving_spec()
    spec.tensorflow_serving.ClearField("tags")
    with pytest.raises(ValueError, match="tags and .digests are both empty"):
        _run(tmp_path, model_templates[fx.GOOD], serving_spec=spec)
    assert os.listdir(tmp_path / "blessing") == []


def test_local_docker_spec_is_delegated_to_tfx(tmp_path, model_templates, caplog):
    """No Docker engine here: TFX's LocalDockerRunner fails, so the model is not blessed."""
    from tfx.proto import infra_validator_pb2
    spec = specs.make_serving_spec(
        platform=infra_validator_pb2.LocalDockerConfig(client_base_url="unix:///nonexistent.sock"))
    with caplog.at_level(logging.INFO, logger="absl"):
        blessing, tmp_dir = _run(tmp_path, model_templates[fx.GOOD], serving_spec=spec)
    _assert_not_blessed(blessing)
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert any(isinstance(e, docker.errors.DockerException) for e in errors), errors
    assert not any("Starting model server" in r.getMessage() for r in caplog.records)
