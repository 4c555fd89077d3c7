"""Model registry in ML-Metadata: a stage for every pushed version and the history of deployment changes.

Stages: candidate (pushed, not deployed yet), shadow, canary, stable, archived (deployed before, not now).
Each change is one execution of type `ModelDeployment`, associated with the context `<model name>` of
type `ModelRegistry`, with an INPUT event to the PushedModel artifact of every version it names, and
the properties: `stages` (the whole {version: stage} map after the change, JSON), `traffic`
({version: share of live requests}, JSON), `change` (what was done), `reason`, `metrics` (the figures
it was decided on, JSON), `routing` (where the proxy sends each stage, JSON; see serving/delivery/rollout.py).
The execution's create time is when. The current state is the latest
execution's map; a pushed version it does not name is a candidate.
"""
import json
import os
from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

STAGES = ("candidate", "shadow", "canary", "stable", "archived")
DEPLOYED = ("shadow", "canary", "stable")
# A label of models.config -> the stage it serves (stable wins when one version has several labels).
LABEL_STAGES = {"stable": "stable", "canary": "canary", "shadow": "shadow"}
EXECUTION_TYPE = "ModelDeployment"
CONTEXT_TYPE = "ModelRegistry"
PUSHED_MODEL_TYPE = "PushedModel"  # TFX's standard_artifacts.PushedModel.TYPE_NAME
_PROPERTIES = ("model_name", "change", "stages", "traffic", "reason", "metrics", "routing")


class RegistryError(ValueError):
    """A change the registry refuses (the message names the version, stage or share at fault)."""


def is_pushed(artifact) -> bool:
    """Whether a PushedModel artifact records a successful push (TFX's Pusher sets `pushed` = 1)."""
    props = artifact.custom_properties
    return "pushed" in props and props["pushed"].int_value == 1


def pushed_version(artifact) -> Optional[int]:
    """The version a PushedModel was pushed as (`pushed_version`: a string in TFX 1.16, an int in older
    stores), or None."""
    value = artifact.custom_properties.get("pushed_version")
    return int(value.string_value or value.int_value) if value is not None else None


def pushed_versions(store) -> Dict[int, object]:
    """{version: PushedModel artifact} of every successful push."""
    result = {}
    for artifact in store.get_artifacts_by_type(PUSHED_MODEL_TYPE):
        version = pushed_version(artifact)
        if is_pushed(artifact) and version is not None:
            result[version] = artifact
    return dict(sorted(result.items()))


def push_destination(artifact) -> str:
    """Where the Pusher wrote a version (<push directory of the model>/<version>); '' if unrecorded."""
    destination = artifact.custom_properties.get("pushed_destination")
    return destination.string_value if destination is not None else ""


def _execution_type_id(store) -> int:
    execution_type = metadata_store_pb2.ExecutionType(name=EXECUTION_TYPE)
    for name in _PROPERTIES:
        execution_type.properties[name] = metadata_store_pb2.STRING
    return store.put_execution_type(execution_type, can_add_fields=True)  # stores made before `routing`


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
            "reason": props.get("reason", ""), "metrics": json.loads(props.get("metrics") or "{}"),
            "routing": json.loads(props.get("routing") or "{}")})
    return result


def current(store, model_name: str) -> Dict:
    """{"stages": {version: stage} of every pushed or recorded version, "traffic", "since_ms", "deployment_id"}."""
    changes = history(store, model_name)
    last = changes[-1] if changes else {"stages": {}, "traffic": {}, "time_ms": None, "id": None}
    stages = {v: "candidate" for v in pushed_versions(store)}
    stages.update(last["stages"])
    return {"stages": dict(sorted(stages.items())), "traffic": last["traffic"], "since_ms": last["time_ms"],
            "deployment_id": last["id"]}


def model_names(store) -> List[str]:
    """Names of the models the registry has recorded changes for."""
    return sorted(c.name for c in store.get_contexts_by_type(CONTEXT_TYPE)) if _has_type(store) else []


def served(store, model_name: Optional[str] = None) -> Dict:
    """What is served: {"model_name", "stable", "canary", "shadow" (versions or None), "traffic",
    "routing", "since_ms", "deployment_id", "source"}.

    source "registry": the latest recorded change. Without one, "latest push": a server on the push
    directory serves its newest version (TF Serving's default policy), so that version is stable.
    """
    names = model_names(store)
    if model_name is None and len(names) > 1:
        raise RegistryError(f"the registry holds several models ({', '.join(names)}): name one")
    model_name = model_name or (names[0] if names else None)
    changes = history(store, model_name) if model_name else []
    result = {"model_name": model_name, "stable": None, "canary": None, "shadow": None, "traffic": {},
              "routing": {}, "since_ms": None, "deployment_id": None, "source": "registry"}
    if changes:
        last = changes[-1]
        for version, stage in last["stages"].items():
            if stage in DEPLOYED:
                result[stage] = version
        result.update(traffic=last["traffic"], routing=last["routing"], since_ms=last["time_ms"],
                      deployment_id=last["id"])
        return result
    pushed = pushed_versions(store)
    if pushed:
        latest = max(pushed)
        result.update(stable=latest, traffic={latest: 1.0}, source="latest push")
        if model_name is None:  # the Pusher's destination is <push directory of the model>/<version>
            destination = push_destination(pushed[latest])
            if destination:
                result["model_name"] = os.path.basename(os.path.dirname(destination.rstrip("/")))
    return result


def served_by(state: Dict, server: Optional[str] = None) -> Dict[str, int]:
    """{stage: version} of the served versions; with `server` (a gRPC target), only those the recorded
    routing sends to that server (all of them when no routing was recorded)."""
    deployments = state["routing"].get("deployments", {})
    result = {}
    for stage in ("stable", "canary", "shadow"):
        version = state[stage]
        if version is None:
            continue
        where = state["routing"].get(stage, {}).get("deployment")
        if server is None or not deployments or deployments.get(where, {}).get("grpc") == server:
            result[stage] = version
    return result


def live_mismatches(state: Dict, server: str, live: Dict[int, str]) -> List[str]:
    """Disagreements between what `state` (served()) says `server` serves and its GetModelStatus
    ({version: state name}): every version served there must be AVAILABLE."""
    expected = served_by(state, server)
    if not expected and state["routing"].get("deployments"):
        return [f"no served version of {state['model_name']!r} is routed to {server}"]
    return [f"version {v} is {stage} in the registry but {live.get(v, 'NOT_LOADED')} on {server}"
            for stage, v in sorted(expected.items(), key=lambda x: x[1]) if live.get(v) != "AVAILABLE"]


def describe(state: Dict) -> str:
    """One line for a person: served() (plus the server check of `lineage trace --server`)."""
    if state.get("stable") is None and not served_by(state):
        return f"nothing ({state['source']})"
    parts = [f"{stage} v{v} ({state['traffic'].get(v, 0.0):.0%} of traffic)" if stage != "shadow"
             else f"shadow v{v} (mirrored)" for stage, v in served_by(state).items()]
    text = f"{state['model_name'] or 'model'}: " + ", ".join(parts) + f"  [from the {state['source']}]"
    if state.get("server"):
        text += (f"; {state['server']} disagrees: " + "; ".join(state["mismatches"]) if state["mismatches"]
                 else f"; {state['server']} agrees (GetModelStatus)")
    return text


def record(store, model_name: str, stages: Dict[int, str], *, change: str, reason: str,
           traffic: Optional[Dict[int, float]] = None, metrics: Optional[Dict] = None,
           routing: Optional[Dict] = None, dry_run: bool = False) -> Optional[int]:
    """Record a deployment change (the whole stage map after it); returns the execution id.

    Every named version must have been pushed; at most one version is stable; traffic shares are
    in [0, 1], sum to at most 1 and go only to deployed versions (default: all to the stable one).
    routing: where the proxy sends each stage (serving/delivery/rollout.py), recorded as given.
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
              "metrics": json.dumps(metrics or {}, sort_keys=True),
              "routing": json.dumps(routing or {}, sort_keys=True)}
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
