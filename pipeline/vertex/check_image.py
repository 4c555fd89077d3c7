"""Does this environment (the pipeline image) have everything a compiled spec's tasks run?

Imports every `python -m` module of the containers (TFX's run-executor entry point, ExampleGen's driver),
every executor class path, the class of every artifact type (TFX's run-executor imports a custom type
by its type name) and the Python code the Trainer is given (`run_fn`/`module_path`); checks
that the image's environment itself carries the Keras choice (TFX's own executors never import this
project) and, when asked, that the real `tensorflow_model_server` runs. Returns problems, each naming
what is missing and for which task.
"""
import importlib
import shutil
import subprocess
from typing import List

from data import keras_choice
from pipeline.vertex import spec as vertex_spec
from serving.server import custom_ops

MODEL_SERVER = "tensorflow_model_server"
# Trainer/Tuner parameters that name Python code to import.
CODE_PARAMETERS = ("run_fn", "trainer_fn", "tuner_fn", "module_path")


def artifact_class_path(artifact_spec) -> str:
    """The class TFX's run-executor imports for an artifact: first-party titles map to TFX classes, a
    custom type's title is its class path."""
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    title = vertex_spec.schema_title(artifact_spec)
    return compiler_utils.TITLE_TO_CLASS_PATH.get(title, title)


def _import(dotted: str, attribute: bool) -> None:
    if attribute:
        module, _, name = dotted.rpartition(".")
        getattr(importlib.import_module(module), name)
    else:
        importlib.import_module(dotted)


def _check(problems: List[str], what: str, dotted: str, task: str, attribute: bool) -> None:
    try:
        _import(dotted, attribute)
    except Exception as e:  # ImportError, AttributeError, or whatever the module raises on import
        problems.append(f"{what} {dotted!r} (task {task}): {type(e).__name__}: {e}")


def check(job: vertex_spec.Job, require_model_server: bool = False) -> List[str]:
    problems: List[str] = []
    if keras_choice.INHERITED != keras_choice.VALUE:
        problems.append(f"environment: {keras_choice.VARIABLE}={keras_choice.INHERITED!r}, must be "
                        f"{keras_choice.VALUE!r} (set it in the image: TFX's own executors do not import "
                        "this project)")
    for task in job.order():
        executor = job.executor(task)
        if not executor.HasField("container"):
            continue  # resolver/importer: answered by Vertex itself
        container = executor.container
        commands = [list(container.command)]
        if container.lifecycle.HasField("pre_cache_check"):
            commands.append(list(container.lifecycle.pre_cache_check.command))
        for command in commands:
            module = vertex_spec.python_module(command)
            if module:
                _check(problems, "module", module, task, attribute=False)
        component = job.component(task)
        for definitions in (component.input_definitions.artifacts, component.output_definitions.artifacts):
            for key, artifact_spec in definitions.items():
                _check(problems, f"artifact class of {key!r}", artifact_class_path(artifact_spec), task,
                       attribute=True)
        class_path = vertex_spec.executor_class_path(container)
        if class_path:
            _check(problems, "executor class", class_path, task, attribute=True)
        for name, value in vertex_spec.constant_parameters(job.tasks[task]).items():
            if name in CODE_PARAMETERS and value:
                _check(problems, f"{name}", value, task, attribute=name != "module_path")
    for module in custom_ops.OP_MODULES:  # a model of any family must load in the image (TF-DF's ops)
        _check(problems, "custom ops module", module, "image", attribute=False)
    if require_model_server:
        binary = shutil.which(MODEL_SERVER)
        if not binary:
            problems.append(f"{MODEL_SERVER}: not on PATH (the InfraValidator would fall back to the "
                            "Python server)")
        else:
            completed = subprocess.run([binary, "--version"], capture_output=True, text=True)
            if completed.returncode != 0:
                problems.append(f"{binary} --version failed (exit {completed.returncode}): "
                                f"{completed.stderr.strip()[-300:]}")
    return problems
