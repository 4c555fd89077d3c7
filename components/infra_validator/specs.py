"""ServingSpec / ValidationSpec / RequestSpec helpers (pure proto logic, no TF import).

Platform selection: a `ServingSpec` whose `serving_platform` oneof is unset runs the model server
as a local process (see local_process_runner); `local_docker` and `kubernetes` keep TFX's runners.
"""
from typing import Optional, Sequence, Union

from tfx.proto import infra_validator_pb2

# Tag recorded for the local-process platform. It selects nothing (the binary is whatever is
# installed), but TFX runs one validation per tag: with no tag the model is blessed unchecked.
LOCAL_PROCESS_TAG = "local"
DEFAULT_SPLIT = "eval"

_Platform = Union[infra_validator_pb2.LocalDockerConfig, infra_validator_pb2.KubernetesConfig]


def make_serving_spec(
    model_name: str = "",
    tags: Sequence[str] = (LOCAL_PROCESS_TAG,),
    platform: Optional[_Platform] = None,
) -> infra_validator_pb2.ServingSpec:
    """TF Serving spec; `platform=None` means a local model-server process.

    model_name: the name the model is served under ("" = TFX's "infra-validation-model").
    """
    spec = infra_validator_pb2.ServingSpec(
        model_name=model_name,
        tensorflow_serving=infra_validator_pb2.TensorFlowServing(tags=list(tags)),
    )
    if isinstance(platform, infra_validator_pb2.LocalDockerConfig):
        spec.local_docker.CopyFrom(platform)
    elif isinstance(platform, infra_validator_pb2.KubernetesConfig):
        spec.kubernetes.CopyFrom(platform)
    elif platform is not None:
        raise TypeError(f"platform must be LocalDockerConfig, KubernetesConfig or None, "
                        f"got {type(platform).__name__}")
    check_serving_spec(spec)
    return spec


def make_validation_spec(max_loading_time_seconds: int = 300,
                         num_tries: int = 2) -> infra_validator_pb2.ValidationSpec:
    return infra_validator_pb2.ValidationSpec(
        max_loading_time_seconds=max_loading_time_seconds, num_tries=num_tries)


def make_request_spec(
    split_name: str = DEFAULT_SPLIT,
    num_examples: int = 10,
    signature_names: Sequence[str] = (),
    make_warmup: bool = True,
) -> infra_validator_pb2.RequestSpec:
    """LOAD_AND_QUERY requests: Predict on `signature_names` with serialized tf.Examples of a split.

    signature_names: signatures taking one DT_STRING [None] input of serialized tf.Examples (or
    classify/regress signatures); empty = TFX's default, "serving_default".
    """
    if num_examples < 1:
        raise ValueError(f"RequestSpec.num_examples must be >= 1, got {num_examples}")
    return infra_validator_pb2.RequestSpec(
        tensorflow_serving=infra_validator_pb2.TensorFlowServingRequestSpec(
            signature_names=list(signature_names)),
        split_name=split_name,
        num_examples=num_examples,
        make_warmup=make_warmup,
    )


def is_local_process(serving_spec: infra_validator_pb2.ServingSpec) -> bool:
    """True when no serving platform (local_docker / kubernetes) is set."""
    return serving_spec.WhichOneof("serving_platform") is None


def check_serving_spec(serving_spec: infra_validator_pb2.ServingSpec) -> None:
    """Raise ValueError for specs TFX would accept but validate nothing with."""
    if serving_spec.WhichOneof("serving_binary") != "tensorflow_serving":
        raise ValueError("ServingSpec.tensorflow_serving must be set (the only supported serving "
                         f"binary); got serving_binary={serving_spec.WhichOneof('serving_binary')!r}")
    tfs = serving_spec.tensorflow_serving
    if not tfs.tags and not tfs.digests:
        raise ValueError(
            "ServingSpec.tensorflow_serving.tags and .digests are both empty: TFX would run zero "
            f"validations and bless the model unchecked. Set tags=[{LOCAL_PROCESS_TAG!r}] "
            "(local process) or an image tag (local_docker / kubernetes).")
