"""Model registry in ML-Metadata: a stage for every pushed version and the history of deployment changes.

Stages: candidate (pushed, not deployed yet), shadow, canary, stable, archived (deployed before, not now).
Each change is one execution of type `ModelDeployment`, associated with the context `<model name>` of
type `ModelRegistry`, with an INPUT event to the PushedModel artifact of every version it names, and
the properties: `stages` (the whole {version: stage} map after the change, JSON), `traffic`
({version: share of live requests}, JSON), `change` (what was done), `reason`, `metrics` (the figures
it was decided on, JSON). The execution's create time is when. The current state is the latest
execution's map; a pushed version it does not name is a candidate.
"""
import json
from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

STAGES = ("candidate", "shadow", "canary", "stable", "archived")
DEPLOYED = ("shadow", "canary", "stable")
# A label of models.config -> the stage it serves (stable wins when one version has several labels).
LABEL_STAGES = {"stable": "stable", "canary": "canary", "shadow": "shadow"}
EXECUTION_TYPE = "ModelDeployment"
CONTEXT_TYPE = "ModelRegistry"
PUSHED_MODEL_TYPE = "PushedModel"  # TFX's standard_artifacts.PushedModel.TYPE_NAME
_PROPERTIES = ("model_name", "change", "stages", "traffic", "reason", "metrics")


class RegistryError(ValueError):
    """A change the registry refuses (the message names the version, stage or share at fault)."""


def pushed_versions(store) -> Dict[int, object]:
    """{version: PushedModel artifact} of every successful push (custom property pushed = 1)."""
    result = {}
    for artifact in store.get_artifacts_by_type(PUSHED_MODEL_TYPE):
        props = artifact.custom_properties
        if "pushed" not in props or props["pushed"].int_value != 1 or "pushed_version" not in props:
            continue
        value = props["pushed_version"]
        result[int(value.string_value or value.int_value)] = artifact
    return dict(sorted(result.items()))


def _execution_type_id(store) -> int:
    execution_type = metadata_store_pb2.ExecutionType(name=EXECUTION_TYPE)
    for name in _PROPERTIES:
        execution_type.properties[name] = metadata_store_pb2.STRING
    return store.put_execution_type(execution_type)


def _context(store, model_name: str, create: bool):
    found = store.get_context_by_type_and_name(CONTEXT_TYPE, model_name) if _has_type(store) else None
    if found is not None or not create:
        return found
    type_id = store.put_context_type(metadata_store_pb2.ContextType(name=CONTEXT_TYPE))
    [context_id] = store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name=model_name)])
    return store.get_contexts_by_id([context_id])[0]


def _has_type(store) -> bool:
    return any(t.name == CONTEXT_TYPE for t in store.get_context_types())


def history(store, model_name: str) -> List[Dict]:
    """Every recorded change of `model_name`, oldest first."""
    context = _context(store, model_name, create=False)
    if context is None:
        return []
    executions = sorted(store.get_executions_by_context(context.id),
                        key=lambda e: (e.create_time_since_epoch, e.id))
    result = []
    for execution in executions:
        props = {k: execution.properties[k].string_value for k in _PROPERTIES if k in execution.properties}
        result.append({
            "id": execution.id, "time_ms": execution.create_time_since_epoch, "change": props.get("change", ""),
            "stages": {int(v): s for v, s in json.loads(props.get("stages") or "{}").items()},
            "traffic": {int(v): f for v, f in json.loads(props.get("traffic") or "{}").items()},
            "reason": props.get("reason", ""), "metrics": json.loads(props.get("metrics") or "{}")})
    return result


def current(store, model_name: str) -> Dict:
    """{"stages": {version: stage} of every pushed or recorded version, "traffic", "since_ms", "deployment_id"}."""
    changes = history(store, model_name)
    last = changes[-1] if changes else {"stages": {}, "traffic": {}, "time_ms": None, "id": None}
    stages = {v: "candidate" for v in pushed_versions(store)}
    stages.update(last["stages"])
    return {"stages": dict(sorted(stages.items())), "traffic": last["traffic"], "since_ms": last["time_ms"],
            "deployment_id": last["id"]}


def record(store, model_name: str, stages: Dict[int, str], *, change: str, reason: str,
           traffic: Optional[Dict[int, float]] = None, metrics: Optional[Dict] = None,
           dry_run: bool = False) -> Optional[int]:
    """Record a deployment change (the whole stage map after it); returns the execution id.

    Every named version must have been pushed; at most one version is stable; traffic shares are
    in [0, 1], sum to at most 1 and go only to deployed versions (default: all to the stable one).
    dry_run: only check (RegistryError), write nothing.
    """
    pushed = pushed_versions(store)
    stages = {int(v): s for v, s in stages.items()}
    for version, stage in stages.items():
        if stage not in STAGES:
            raise RegistryError(f"version {version}: unknown stage {stage!r} (stages: {', '.join(STAGES)})")
        if version not in pushed:
            raise RegistryError(f"version {version} of {model_name!r} was never pushed "
                                f"(pushed versions in MLMD: {sorted(pushed) or 'none'})")
    stable = [v for v, s in stages.items() if s == "stable"]
    if len(stable) > 1:
        raise RegistryError(f"{model_name!r}: more than one stable version: {sorted(stable)}")
    if traffic is None:
        traffic = {stable[0]: 1.0} if stable else {}
    traffic = {int(v): float(f) for v, f in traffic.items()}
    for version, share in traffic.items():
        if not 0.0 <= share <= 1.0:
            raise RegistryError(f"version {version}: traffic share {share} is not in [0, 1]")
        if stages.get(version) not in DEPLOYED:
            raise RegistryError(f"version {version}: traffic share {share} for a version that is "
                                f"{stages.get(version, 'not named')}, not one of {', '.join(DEPLOYED)}")
    if sum(traffic.values()) > 1.0 + 1e-9:
        raise RegistryError(f"traffic shares sum to {sum(traffic.values()):g} > 1: {traffic}")
    if dry_run:
        return None
    execution = metadata_store_pb2.Execution(type_id=_execution_type_id(store),
                                             last_known_state=metadata_store_pb2.Execution.COMPLETE)
    values = {"model_name": model_name, "change": change, "reason": reason,
              "stages": json.dumps({str(v): s for v, s in sorted(stages.items())}),
              "traffic": json.dumps({str(v): f for v, f in sorted(traffic.items())}),
              "metrics": json.dumps(metrics or {}, sort_keys=True)}
    for key, value in values.items():
        execution.properties[key].string_value = value
    context = _context(store, model_name, create=True)
    events = [(metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT), pushed[v]) for v in sorted(stages)]
    for event, artifact in events:
        event.path.steps.add().key = "deployed_version"
        event.path.steps.add().index = 0
    execution_id, _, _ = store.put_execution(
        execution, [(artifact, event) for event, artifact in events], [context])
    return execution_id


def set_stage(store, model_name: str, version: int, stage: str, *, reason: str,
              metrics: Optional[Dict] = None) -> int:
    """Move one version to `stage` (a new stable archives the previous one); records the change."""
    stages = current(store, model_name)["stages"]
    if stage == "stable":
        stages = {v: ("archived" if s == "stable" else s) for v, s in stages.items()}
    stages[int(version)] = stage
    return record(store, model_name, stages, change=f"set-stage {version} {stage}", reason=reason, metrics=metrics)


def stages_from_labels(previous: Dict[int, str], labels: Dict[str, int]) -> Dict[int, str]:
    """Stage map after a models.config label change: labelled versions take their label's stage
    (stable > canary > shadow), versions deployed before and labelled no more are archived."""
    order = {"stable": 0, "canary": 1, "shadow": 2}
    labelled: Dict[int, str] = {}
    for label, version in labels.items():
        stage, version = LABEL_STAGES.get(label), int(version)
        if stage and (version not in labelled or order[stage] < order[labelled[version]]):
            labelled[version] = stage
    result = {}
    for version, stage in previous.items():
        result[version] = "archived" if stage in DEPLOYED else stage
    result.update(labelled)
    return result
