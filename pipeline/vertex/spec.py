"""Reading a compiled pipeline job JSON strictly (kfp's PipelineJob and PipelineSpec protos): tasks,
their executors, the order they run in, the Python code their containers import."""
import dataclasses
import json
import re
from typing import Dict, List, Optional, Set

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2 as pb

RUN_EXECUTOR_FLAG = "--executor_class_path"
_TITLE = re.compile(r"^title:\s*(\S+)", re.M)


class SpecError(ValueError):
    """The file is not a pipeline job this project can read."""


@dataclasses.dataclass
class Job:
    path: str
    job: pb.PipelineJob
    spec: pb.PipelineSpec
    deployment: pb.PipelineDeploymentConfig

    @property
    def tasks(self) -> Dict[str, pb.PipelineTaskSpec]:
        return dict(self.spec.root.dag.tasks)

    def component(self, task: str) -> pb.ComponentSpec:
        return self.spec.components[self.tasks[task].component_ref.name]

    def executor(self, task: str) -> pb.PipelineDeploymentConfig.ExecutorSpec:
        return self.deployment.executors[self.component(task).executor_label]

    def upstream(self, task: str) -> Set[str]:
        """The tasks a task waits for: its dependent tasks and the producers of its inputs (a resolver
        task fed by another one lists no dependent task)."""
        spec = self.tasks[task]
        return set(spec.dependent_tasks) | {a.task_output_artifact.producer_task
                                            for a in spec.inputs.artifacts.values()
                                            if a.task_output_artifact.producer_task}

    def order(self) -> List[str]:
        """Task names in an order where every task comes after the tasks it waits for."""
        tasks, done, order = self.tasks, set(), []
        while len(order) < len(tasks):
            ready = sorted(n for n in tasks if n not in done and self.upstream(n) <= done)
            if not ready:
                raise SpecError(f"{self.path}: dependency cycle among {sorted(set(tasks) - done)}")
            order += ready
            done.update(ready)
        return order


def load(path: str) -> Job:
    """Parses the file strictly: an unknown field or a wrong type is an error naming the file."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise SpecError(f"{path}: not readable as JSON: {e}") from None
    job, spec, deployment = pb.PipelineJob(), pb.PipelineSpec(), pb.PipelineDeploymentConfig()
    try:
        json_format.ParseDict(raw, job)
        json_format.ParseDict(raw["pipelineSpec"], spec)
        json_format.ParseDict(raw["pipelineSpec"]["deploymentSpec"], deployment)
    except (json_format.ParseError, KeyError, TypeError) as e:
        raise SpecError(f"{path}: not a Vertex pipeline job: {e}") from None
    return Job(path, job, spec, deployment)


def executor_class_path(container: pb.PipelineDeploymentConfig.PipelineContainerSpec) -> Optional[str]:
    args = list(container.args)
    return args[args.index(RUN_EXECUTOR_FLAG) + 1] if RUN_EXECUTOR_FLAG in args else None


def python_module(command: List[str]) -> Optional[str]:
    """`M` of a `python -m M` command."""
    return command[command.index("-m") + 1] if "-m" in command else None


def constant_parameters(task: pb.PipelineTaskSpec) -> Dict[str, str]:
    """The task's parameters that are compile-time constants, as strings."""
    values = {}
    for name, parameter in task.inputs.parameters.items():
        value = parameter.runtime_value
        if value.HasField("constant"):
            values[name] = value.constant.string_value
        elif value.HasField("constant_value"):
            values[name] = value.constant_value.string_value
    return values


def schema_title(artifact_spec: pb.ComponentInputsSpec.ArtifactSpec) -> str:
    """An input/output definition's artifact type title (e.g. tfx.Model)."""
    if artifact_spec.artifact_type.schema_title:
        return artifact_spec.artifact_type.schema_title
    match = _TITLE.search(artifact_spec.artifact_type.instance_schema)
    return match.group(1) if match else "system.Artifact"
