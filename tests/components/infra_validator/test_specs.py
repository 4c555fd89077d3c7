"""Pure logic: spec helpers and the signature check (no server)."""
import os
import shutil

import pytest
from tfx.components.infra_validator import request_builder
from tfx.proto import infra_validator_pb2

from components.infra_validator import specs
from components.infra_validator.signature_check import find_request_problem
from data import contract
from tests.components.infra_validator import testdata


def test_default_serving_spec_is_tagged_local_process():
    spec = specs.make_serving_spec(model_name="m")
    assert list(spec.tensorflow_serving.tags) == [specs.LOCAL_PROCESS_TAG]
    assert spec.model_name == "m"
    assert specs.is_local_process(spec)


@pytest.mark.parametrize("platform, field", [
    (infra_validator_pb2.LocalDockerConfig(), "local_docker"),
    (infra_validator_pb2.KubernetesConfig(active_deadline_seconds=600), "kubernetes"),
])
def test_platform_configs_select_tfx_runners(platform, field):
    spec = specs.make_serving_spec(tags=["2.16.1"], platform=platform)
    assert spec.WhichOneof("serving_platform") == field
    assert not specs.is_local_process(spec)


def test_bad_specs_are_rejected_with_the_field_named():
    with pytest.raises(TypeError, match="platform must be"):
        specs.make_serving_spec(platform="docker")
    with pytest.raises(ValueError, match="tags and .digests are both empty"):
        specs.make_serving_spec(tags=[])
    with pytest.raises(ValueError, match="tensorflow_serving must be set"):
        specs.check_serving_spec(infra_validator_pb2.ServingSpec())
    digest_only = infra_validator_pb2.ServingSpec(
        tensorflow_serving=infra_validator_pb2.TensorFlowServing(digests=["sha256:abc"]))
    specs.check_serving_spec(digest_only)  # accepted
    with pytest.raises(ValueError, match="num_examples must be >= 1, got 0"):
        specs.make_request_spec(num_examples=0)


def test_request_spec_targets_the_examples_signature():
    spec = specs.make_request_spec(signature_names=[contract.EXAMPLES_SIGNATURE])
    assert list(spec.tensorflow_serving.signature_names) == [contract.EXAMPLES_SIGNATURE]
    assert spec.split_name == "eval" and spec.make_warmup
    # No project default: an unnamed signature list is TFX's (serving_default).
    assert list(specs.make_request_spec().tensorflow_serving.signature_names) == []


def test_serving_spec_has_no_project_model_name():
    assert specs.make_serving_spec().model_name == ""  # TFX serves it as "infra-validation-model"


def test_signature_check_accepts_contract_model(model_templates):
    assert find_request_problem(model_templates[testdata.GOOD],
                                signature_names=[contract.EXAMPLES_SIGNATURE]) is None


def test_signature_check_reasons(model_templates, tmp_path):
    no_sig = model_templates[testdata.NO_EXAMPLES_SIGNATURE]
    problem = find_request_problem(no_sig, signature_names=[contract.EXAMPLES_SIGNATURE])
    assert f"signature {contract.EXAMPLES_SIGNATURE!r} not found" in problem
    assert os.path.join(no_sig, "saved_model.pb") in problem

    problem = find_request_problem(no_sig)  # default: serving_default, one input per feature
    assert "exactly one input" in problem and f"it has {len(contract.FEATURE_KEYS)}" in problem

    problem = find_request_problem(no_sig, tag_set=["gpu"])
    assert "no MetaGraph with tags ['gpu']" in problem

    broken = str(tmp_path / "broken")
    shutil.copytree(model_templates[testdata.GOOD], broken)
    testdata.corrupt_saved_model_pb(broken)
    assert "cannot read SavedModel" in find_request_problem(broken)


def test_signature_check_agrees_with_tfx_request_builder(model_templates):
    """Where our check finds a problem, TFX's parser/builder raises (and vice versa)."""
    for variant, names in [(testdata.GOOD, [contract.EXAMPLES_SIGNATURE]),
                           (testdata.NO_EXAMPLES_SIGNATURE, [contract.EXAMPLES_SIGNATURE])]:
        path = model_templates[variant]
        ours = find_request_problem(path, signature_names=names)
        try:
            request_builder._parse_saved_model_signatures(path, [], names)  # pylint: disable=protected-access
            theirs = None
        except ValueError as e:
            theirs = str(e)
        assert (ours is None) == (theirs is None), (variant, ours, theirs)
