"""Run a compiled Vertex pipeline job here, task by task, the way Vertex's launcher does.

For each task, in dependency order: its inputs are the artifacts its producer tasks output; its
trigger condition is evaluated on them (false: SKIPPED, and so is every task that needs a skipped
task's outputs); a resolver task is answered from the local ML-Metadata store with its filter
queries (latest LIVE artifact matching); a container task gets the ExecutorInput JSON for `{{$}}`
(and its other placeholders filled), runs its pre-cache-check command (ExampleGen's driver) and then
its command + args as a local process (`python` = this interpreter, in place of the image's), and
its ExecutorOutput updates the output artifacts. Executions, artifacts and events go to the store.
Differences from Vertex: no caching, no container isolation (this machine's environment is the image).
"""
import ast
import datetime
import json
import os
import re
import subprocess
import sys
import uuid
from typing import Callable, Dict, List, Optional

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2 as pb
from ml_metadata.proto import metadata_store_pb2 as mlmd

from data import mlmd_store
from pipeline.mlmd import records as R
from pipeline.vertex import spec as vertex_spec

CONTAINER_EXECUTION = "system.ContainerExecution"
# The store is written in the shape of a local TFX run (context types pipeline / pipeline_run / node, TFX
# artifact type names, resolvers typed as TFX's Resolver), so `lineage`, the registry and `report` read it.
RESOLVER_EXECUTION = "tfx.dsl.components.common.resolver" + R.RESOLVER_TYPE_SUFFIX
COMPLETE, SKIPPED, FAILED = "COMPLETE", "SKIPPED", "FAILED"
_PLACEHOLDER = re.compile(r"\{\{\$(?P<path>[^}]*)\}\}")


class TaskFailed(RuntimeError):
    """A task's process failed; names the task, the exit code and its log."""


class _Attrs(dict):
    """A dict whose keys read as attributes too (for trigger conditions: inputs.artifacts['k'].artifacts[0])."""
    __getattr__ = dict.__getitem__


def _metadata(artifact: pb.RuntimeArtifact) -> Dict:
    return json_format.MessageToDict(artifact.metadata)


def evaluate_condition(condition: str, inputs: Dict[str, List[pb.RuntimeArtifact]],
                       parameters: Dict[str, object]) -> bool:
    """A trigger condition (the CEL subset the compiler writes: comparisons, &&, ||, !, artifact metadata
    and parameters) on the task's inputs."""
    text = re.sub(r"&&", " and ", condition)
    text = re.sub(r"\|\|", " or ", text)
    text = re.sub(r"!(?!=)", " not ", text)
    text = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", text))
    tree = ast.parse(text.strip(), mode="eval")
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Eq, ast.NotEq,
               ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Subscript, ast.Attribute, ast.Name, ast.Constant, ast.Load)
    for node in ast.walk(tree):
        if not isinstance(node, allowed) or (isinstance(node, ast.Name) and node.id != "inputs"):
            raise ValueError(f"trigger condition {condition!r}: unsupported {type(node).__name__}")
    scope = _Attrs(artifacts=_Attrs({k: _Attrs(artifacts=[_Attrs(metadata=_metadata(a)) for a in v])
                                     for k, v in inputs.items()}),
                   parameter_values=_Attrs(parameters), parameters=_Attrs(parameters))
    try:
        return bool(eval(compile(tree, "<condition>", "eval"), {"__builtins__": {}}, {"inputs": scope}))
    except (KeyError, IndexError):
        return False  # a missing artifact or property does not satisfy the condition


def fill_placeholders(arg: str, executor_input: pb.ExecutorInput) -> str:
    """`{{$}}` -> the ExecutorInput JSON; `{{$.inputs.parameters['p']}}`, `{{$.inputs|outputs.artifacts['k'].uri}}`,
    `{{$.outputs.parameters['p'].output_file}}`, `{{$.outputs.output_file}}` -> their values."""
    def value(match: re.Match) -> str:
        path = match.group("path")
        if path == "":
            return json_format.MessageToJson(executor_input, sort_keys=True)
        m = re.fullmatch(r"\.inputs\.parameters\['([^']+)'\]", path)
        if m:
            field = executor_input.inputs.parameter_values.get(m.group(1))
            if field is not None:
                return str(json_format.MessageToDict(field))
            return executor_input.inputs.parameters[m.group(1)].string_value
        m = re.fullmatch(r"\.(inputs|outputs)\.artifacts\['([^']+)'\]\.uri", path)
        if m:
            return getattr(executor_input, m.group(1)).artifacts[m.group(2)].artifacts[0].uri
        m = re.fullmatch(r"\.outputs\.parameters\['([^']+)'\]\.output_file", path)
        if m:
            return executor_input.outputs.parameters[m.group(1)].output_file
        if path == ".outputs.output_file":
            return executor_input.outputs.output_file
        raise ValueError(f"placeholder {match.group(0)!r} is not supported by run-local")
    return _PLACEHOLDER.sub(value, arg)


class _Store:
    """The local ML-Metadata store as Vertex ML Metadata: artifacts by schema title, runtime names."""

    def __init__(self, spec: str, pipeline_name: str, run_id: str):
        from ml_metadata import metadata_store
        self.store: metadata_store.MetadataStore = mlmd_store.open_store(mlmd_store.prepare_store(spec))
        self.ids: Dict[str, int] = {}  # runtime artifact name -> MLMD id
        self.pipeline_name = pipeline_name
        self.contexts = [self._context(R.PIPELINE_CONTEXT, pipeline_name), self._context(R.RUN_CONTEXT, run_id)]
        self.store.put_parent_contexts([mlmd.ParentContext(child_id=self.contexts[1].id,
                                                           parent_id=self.contexts[0].id)])

    def _context(self, type_name: str, name: str) -> mlmd.Context:
        type_id = self.store.put_context_type(mlmd.ContextType(name=type_name))
        existing = self.store.get_context_by_type_and_name(type_name, name)
        if existing:
            return existing
        context = mlmd.Context(type_id=type_id, name=name)
        [context.id] = self.store.put_contexts([context])
        return context

    def latest(self, query: str, inputs: Dict[str, List[pb.RuntimeArtifact]]) -> List[pb.RuntimeArtifact]:
        """The latest artifact meeting every `field=value` clause of a resolver's filter query
        (schema_title, state, name, metadata.KEY.number_value; values may be input placeholders)."""
        clauses = {}
        for clause in query.split(" AND "):
            field, _, wanted = clause.partition("=")
            wanted = wanted.strip().strip('"')
            m = _PLACEHOLDER.fullmatch(wanted)
            if m:
                path = re.fullmatch(r"\.inputs\.artifacts\['([^']+)'\]\.metadata\['([^']+)'\]", m.group("path"))
                given = inputs.get(path.group(1)) if path else None
                if not given or path.group(2) not in _metadata(given[0]):
                    return []  # nothing to look for (e.g. no blessed model yet)
                wanted = str(_metadata(given[0])[path.group(2)])
            clauses[field.strip()] = wanted
        schema_title = clauses.pop("schema_title")
        candidates = self.store.get_artifacts_by_type(artifact_type_name(schema_title))
        for field, wanted in clauses.items():
            if field == "state":
                candidates = [a for a in candidates if mlmd.Artifact.State.Name(a.state) == wanted]
            elif field == "name":
                candidates = [a for a in candidates if a.name == wanted]
            elif field.startswith("metadata.") and field.endswith(".number_value"):
                key = field.split(".")[1]
                candidates = [a for a in candidates if key in a.custom_properties
                              and isinstance(_plain(a.custom_properties[key]), (int, float))
                              and float(_plain(a.custom_properties[key])) == float(wanted)]
            else:
                raise ValueError(f"resolver filter {query!r}: {field!r} is not supported by run-local")
        if not candidates:
            return []
        latest = max(candidates, key=lambda a: (a.create_time_since_epoch, a.id))
        return [self._runtime(latest, schema_title)]

    def _runtime(self, artifact: mlmd.Artifact, schema_title: str) -> pb.RuntimeArtifact:
        runtime = pb.RuntimeArtifact(name=artifact.name, uri=artifact.uri)
        runtime.type.schema_title = schema_title
        runtime.metadata.update({k: _plain(v) for k, v in artifact.custom_properties.items()})
        self.ids[artifact.name] = artifact.id
        return runtime

    def record(self, task: str, execution_type: str, state: int, properties: Dict[str, str],
               inputs: Dict[str, List[pb.RuntimeArtifact]], outputs: Dict[str, List[pb.RuntimeArtifact]]) -> int:
        type_id = self.store.put_execution_type(mlmd.ExecutionType(name=execution_type))
        execution = mlmd.Execution(type_id=type_id, name=f"{self.contexts[1].name}/{task}", last_known_state=state)
        node = self._context(R.NODE_CONTEXT, f"{self.pipeline_name}.{task}")
        for key, value in dict(properties, task_name=task).items():
            execution.custom_properties[key].string_value = value
        events = []
        for kind, artifacts_by_key in ((mlmd.Event.INPUT, inputs), (mlmd.Event.OUTPUT, outputs)):
            for key, artifacts in artifacts_by_key.items():
                for index, runtime in enumerate(artifacts):
                    if kind == mlmd.Event.OUTPUT:
                        artifact = self._mlmd_artifact(runtime)
                    elif runtime.name in self.ids:
                        [artifact] = self.store.get_artifacts_by_id([self.ids[runtime.name]])
                    else:
                        continue
                    event = mlmd.Event(type=kind)
                    event.path.steps.add().key = key
                    event.path.steps.add().index = index
                    events.append((artifact, event))
        execution_id, artifact_ids, _ = self.store.put_execution(execution, events, self.contexts + [node])
        for (artifact, _), artifact_id in zip(events, artifact_ids):
            if artifact.name:
                self.ids[artifact.name] = artifact_id
        return execution_id

    def _mlmd_artifact(self, runtime: pb.RuntimeArtifact) -> mlmd.Artifact:
        type_id = self.store.put_artifact_type(mlmd.ArtifactType(name=artifact_type_name(runtime.type.schema_title)))
        artifact = mlmd.Artifact(type_id=type_id, name=runtime.name, uri=runtime.uri, state=mlmd.Artifact.LIVE)
        metadata = _metadata(runtime)
        for key, value in metadata.items():
            if key.startswith("custom:"):  # the entrypoint's name for a custom property that is also a property
                key = key[len("custom:"):]
                if key in metadata:
                    continue
            prop = artifact.custom_properties[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                prop.string_value = value if isinstance(value, str) else json.dumps(value)
            elif float(value).is_integer():
                prop.int_value = int(value)
            else:
                prop.double_value = float(value)
        return artifact


def artifact_type_name(schema_title: str) -> str:
    """'tfx.PushedModel' -> 'PushedModel': TFX's type name, as a local run records it."""
    return schema_title[len("tfx."):] if schema_title.startswith("tfx.") else schema_title


def _pushed(outputs: Dict[str, Dict[str, List[pb.RuntimeArtifact]]], states: Dict[str, str]) -> Dict:
    """What the Pusher task did: {"version", "destination"} of a push, or {"version": None, "why": ...}."""
    pushers = [t for t, by_key in outputs.items() if any(
        a.type.schema_title == "tfx.PushedModel" for arts in by_key.values() for a in arts)]
    skipped = [t for t, state in states.items() if state == SKIPPED and "Pusher" in t]
    for task in pushers:
        for artifact in (a for arts in outputs[task].values() for a in arts):
            meta = _metadata(artifact)
            if meta.get("pushed") in (1, 1.0):
                return {"version": str(meta.get("pushed_version")), "destination": meta.get("pushed_destination"),
                        "task": task}
        return {"version": None, "why": f"{task} ran and did not push (its model was not blessed)", "task": task}
    if skipped:
        return {"version": None, "why": f"{skipped[0]} skipped (a gate before it did not pass)", "task": skipped[0]}
    return {"version": None, "why": "no Pusher task in this spec", "task": None}


def _plain(value: mlmd.Value):
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def run(job: vertex_spec.Job, work_dir: str, *, metadata: Optional[str] = None,
        progress: Callable[[str], None] = print, python: str = sys.executable) -> Dict:
    """Runs every task of the job; returns {run_id, metadata, tasks: {task: COMPLETE|SKIPPED}, pipeline_root,
    pushed: {version, destination} or {version: None, why}}."""
    work_dir = os.path.abspath(work_dir)
    os.makedirs(os.path.join(work_dir, "logs"), exist_ok=True)
    pipeline_root = job.job.runtime_config.gcs_output_directory or os.path.join(work_dir, "pipeline_root")
    if "://" in pipeline_root:
        raise vertex_spec.SpecError(f"{job.path}: pipeline root {pipeline_root} is not local: compile with "
                                    "`vertex compile --local-paths` for run-local")
    name = job.spec.pipeline_info.name or job.job.display_name
    run_id = f"{name}-{datetime.datetime.now().strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
    metadata = metadata or os.path.join(work_dir, "metadata.sqlite")
    store = _Store(metadata, name, run_id)
    outputs: Dict[str, Dict[str, List[pb.RuntimeArtifact]]] = {}
    states: Dict[str, str] = {}
    order = job.order()
    for position, task_name in enumerate(order, start=1):
        task, component, executor = job.tasks[task_name], job.component(task_name), job.executor(task_name)
        inputs, skipped_by = {}, None
        for key, spec in task.inputs.artifacts.items():
            producer = spec.task_output_artifact.producer_task
            if states.get(producer) == SKIPPED:
                skipped_by = producer
            inputs[key] = list(outputs.get(producer, {}).get(spec.task_output_artifact.output_artifact_key, []))
        parameters = vertex_spec.constant_parameters(task)
        if skipped_by or (task.trigger_policy.condition
                          and not evaluate_condition(task.trigger_policy.condition, inputs, parameters)):
            states[task_name] = SKIPPED
            progress(f"[{position}/{len(order)}] {task_name} skipped "
                     f"({'needs ' + skipped_by if skipped_by else 'condition false'})")
            continue
        if executor.HasField("resolver"):
            outputs[task_name] = {
                key: store.latest(query.filter, inputs) for key, query in executor.resolver.output_artifact_queries.items()}
            store.record(task_name, RESOLVER_EXECUTION, mlmd.Execution.COMPLETE, {}, inputs, outputs[task_name])
        elif executor.HasField("container"):
            outputs[task_name] = _run_container(task_name, component, executor.container, inputs, task,
                                                pipeline_root, run_id, work_dir, python, store)
        else:
            raise vertex_spec.SpecError(f"{job.path}: task {task_name}: executor kind "
                                        f"{executor.WhichOneof('spec')} is not supported by run-local")
        states[task_name] = COMPLETE
        progress(f"[{position}/{len(order)}] {task_name} {COMPLETE}")
    return {"run_id": run_id, "metadata": mlmd_store.describe(metadata), "tasks": states,
            "pipeline_root": pipeline_root, "pushed": _pushed(outputs, states)}


def _run_container(task_name: str, component: pb.ComponentSpec, container, inputs, task: pb.PipelineTaskSpec,
                   pipeline_root: str, run_id: str, work_dir: str, python: str, store: _Store):
    task_root = os.path.join(pipeline_root, run_id, f"{task_name}_{uuid.uuid4().hex[:8]}")
    executor_input = pb.ExecutorInput()
    for key, artifacts in inputs.items():
        executor_input.inputs.artifacts[key].artifacts.extend(artifacts)
    for key, parameter in task.inputs.parameters.items():
        value = parameter.runtime_value
        if value.HasField("constant"):
            executor_input.inputs.parameter_values[key].CopyFrom(value.constant)
        elif value.HasField("constant_value"):
            executor_input.inputs.parameters[key].CopyFrom(value.constant_value)
    for key, spec in component.output_definitions.artifacts.items():
        artifact = executor_input.outputs.artifacts[key].artifacts.add(
            name=f"{run_id}/{task_name}/{key}", uri=os.path.join(task_root, key))
        artifact.type.schema_title = vertex_spec.schema_title(spec)
    for key in component.output_definitions.parameters:
        executor_input.outputs.parameters[key].output_file = os.path.join(task_root, "parameters", key)
    executor_input.outputs.output_file = os.path.join(task_root, "executor_output.json")
    os.makedirs(task_root, exist_ok=True)
    log_path = os.path.join(work_dir, "logs", f"{task_name}.log")
    steps = []
    if container.lifecycle.HasField("pre_cache_check"):
        steps.append(("driver", container.lifecycle.pre_cache_check))
    steps.append(("executor", container))
    properties = {"image": container.image,
                  "executor_class_path": vertex_spec.executor_class_path(container) or ""}
    with open(log_path, "w") as log:
        for step, exec_spec in steps:
            command = [python if c == "python" else c for c in exec_spec.command]
            args = [fill_placeholders(a, executor_input) for a in exec_spec.args]
            log.write(f"$ {' '.join(command)} ({step}, {len(args)} args)\n")
            log.flush()
            completed = subprocess.run(command + args, stdout=log, stderr=subprocess.STDOUT, cwd=work_dir,
                                       stdin=subprocess.DEVNULL)
            if completed.returncode != 0:
                store.record(task_name, CONTAINER_EXECUTION, mlmd.Execution.FAILED, properties, inputs, {})
                with open(log_path, errors="replace") as f:
                    tail = f.read()[-1500:]
                raise TaskFailed(f"task {task_name}: {step} exited with code {completed.returncode}; "
                                 f"log {log_path}:\n{tail}")
            _apply_executor_output(executor_input)
    outputs = {key: list(a.artifacts) for key, a in executor_input.outputs.artifacts.items()}
    store.record(task_name, CONTAINER_EXECUTION, mlmd.Execution.COMPLETE, properties, inputs, outputs)
    return outputs


def _apply_executor_output(executor_input: pb.ExecutorInput) -> None:
    """What the launcher does with a step's ExecutorOutput: output artifacts' metadata and uri updated,
    parameters (e.g. ExampleGen's span from its driver) passed to the next step."""
    path = executor_input.outputs.output_file
    if not os.path.exists(path):
        return
    output = pb.ExecutorOutput()
    with open(path) as f:
        json_format.Parse(f.read(), output, ignore_unknown_fields=True)
    for key, artifact_list in output.artifacts.items():
        for given, produced in zip(executor_input.outputs.artifacts[key].artifacts, artifact_list.artifacts):
            if produced.uri:
                given.uri = produced.uri
            given.metadata.update(json_format.MessageToDict(produced.metadata))
    old_style = len(executor_input.inputs.parameters) > 0  # pipeline spec 2.0: parameters are kfp Values
    for key, value in output.parameter_values.items():
        if not old_style:
            executor_input.inputs.parameter_values[key].CopyFrom(value)
            continue
        kind = value.WhichOneof("kind")
        target = executor_input.inputs.parameters[key]
        if kind == "number_value" and float(value.number_value).is_integer():
            target.int_value = int(value.number_value)
        elif kind == "number_value":
            target.double_value = value.number_value
        else:
            target.string_value = value.string_value if kind == "string_value" else json_format.MessageToJson(value)

