"""LocalDagRunner: Importers (model, examples) -> LocalInfraValidator -> Pusher(infra_blessing)."""
import os
import shutil

import pytest
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from tfx import v1 as tfx

from components.infra_validator import LocalInfraValidator
from components.infra_validator import make_request_spec
from components.infra_validator import make_serving_spec
from components.infra_validator import make_validation_spec
from data import contract
from serving.server import command as local_server
from tensorflow_serving.apis import prediction_log_pb2
from tests.components.infra_validator import testdata

pytestmark = pytest.mark.e2e


def _model_uri(root, name, saved_model_dir):
    """A Trainer-like model output dir: <uri>/Format-Serving/<SavedModel>."""
    uri = os.path.join(root, name)
    shutil.copytree(saved_model_dir, os.path.join(uri, "Format-Serving"))
    return uri


def _run(tmp_path, model_uri, examples_uri, serving_dir):
    model = tfx.dsl.Importer(
        source_uri=model_uri, artifact_type=tfx.types.standard_artifacts.Model,
        # Marks the payload layout as current (Format-Serving); importers set no tfx_version.
        custom_properties={"tfx_version": "1.16.0"}).with_id("model_importer")
    examples = tfx.dsl.Importer(
        source_uri=examples_uri, artifact_type=tfx.types.standard_artifacts.Examples,
        properties={"split_names": '["eval"]'}).with_id("examples_importer")
    validator = LocalInfraValidator(
        model=model.outputs["result"], examples=examples.outputs["result"],
        serving_spec=make_serving_spec(model_name=contract.MODEL_NAME),
        request_spec=make_request_spec(num_examples=3, signature_names=[contract.EXAMPLES_SIGNATURE]),
        validation_spec=make_validation_spec(max_loading_time_seconds=120, num_tries=1),
        server_command=local_server.COMMAND)
    pusher = tfx.components.Pusher(
        infra_blessing=validator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_dir)))
    metadata_path = str(tmp_path / "metadata.sqlite")
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="iv_e2e", pipeline_root=str(tmp_path / "root"),
        components=[model, examples, validator, pusher], enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            metadata_path)))
    store = metadata_store.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path))
    latest = lambda t: max(store.get_artifacts_by_type(t), key=lambda a: a.id)  # noqa: E731
    return latest("InfraBlessing"), latest("PushedModel")


def _versions(serving_dir):
    return sorted(os.listdir(serving_dir)) if os.path.isdir(serving_dir) else []


def test_blessed_model_is_pushed_warmed_and_unblessed_is_not(tmp_path, model_templates,
                                                             examples_dir):
    serving_dir = str(tmp_path / "serving" / contract.MODEL_NAME)

    good = _model_uri(str(tmp_path / "models"), "good", model_templates[testdata.GOOD])
    blessing, pushed = _run(tmp_path, good, examples_dir, serving_dir)
    assert blessing.custom_properties["blessed"].int_value == 1
    assert blessing.custom_properties["has_model"].int_value == 1
    assert os.path.exists(os.path.join(blessing.uri, "INFRA_BLESSED"))
    assert pushed.custom_properties["pushed"].int_value == 1
    versions = _versions(serving_dir)
    assert len(versions) == 1 and versions[0].isdigit()
    pushed_dir = os.path.join(serving_dir, versions[0])
    assert pushed.custom_properties["pushed_destination"].string_value == pushed_dir
    warmup = os.path.join(pushed_dir, "assets.extra", "tf_serving_warmup_requests")
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(warmup)]
    assert len(logs) == 3
    assert {log.predict_log.request.model_spec.signature_name for log in logs} == {
        contract.EXAMPLES_SIGNATURE}
    assert {log.predict_log.request.model_spec.name for log in logs} == {contract.MODEL_NAME}
    signatures = tf.saved_model.load(pushed_dir).signatures
    assert {contract.SERVING_SIGNATURE, contract.EXAMPLES_SIGNATURE} <= set(signatures)
    pushed_pb = open(os.path.join(pushed_dir, "saved_model.pb"), "rb").read()

    broken_src = str(tmp_path / "broken_src")
    shutil.copytree(model_templates[testdata.GOOD], broken_src)
    testdata.corrupt_variables(broken_src)
    broken = _model_uri(str(tmp_path / "models"), "broken", broken_src)
    blessing, pushed = _run(tmp_path, broken, examples_dir, serving_dir)
    assert blessing.custom_properties["blessed"].int_value == 0
    assert os.path.exists(os.path.join(blessing.uri, "INFRA_NOT_BLESSED"))
    assert pushed.custom_properties["pushed"].int_value == 0
    assert _versions(serving_dir) == versions  # the previously pushed version stays, alone
    assert open(os.path.join(pushed_dir, "saved_model.pb"), "rb").read() == pushed_pb
    assert os.path.exists(warmup)
