"""InfraValidator without Docker that also compiles for Vertex.

    from components.infra_validator import (SYS_EXECUTABLE, LocalInfraValidator,
                                            make_request_spec, make_serving_spec,
                                            make_validation_spec)
    infra_validator = LocalInfraValidator(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        serving_spec=make_serving_spec(model_name="my_model"),  # no platform = local process
        request_spec=make_request_spec(signature_names=["serving_tf_example"]),  # eval split, warmup
        validation_spec=make_validation_spec(),
        # used when tensorflow_model_server is not installed; takes the binary's flags
        server_command=[SYS_EXECUTABLE, "-m", "my_project.model_server"])
    pusher = tfx.components.Pusher(                 # no `model=`: pushes the warmed (stamped) model
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"],
        push_destination=...)
"""
import importlib

# Names -> defining module, imported on first use: `model_server_process` (stdlib only) stays cheap
# to import for callers that only launch servers (no TFX import).
_EXPORTS = {
    "LocalInfraValidator": "component",
    "SYS_EXECUTABLE": "model_server_process",
    "LOCAL_PROCESS_TAG": "specs",
    "check_serving_spec": "specs",
    "is_local_process": "specs",
    "make_request_spec": "specs",
    "make_serving_spec": "specs",
    "make_validation_spec": "specs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
