"""Delivery strategies: shadow, canary, promote, rollback and blue/green switch, as routings that nginx
applies (serving/delivery/nginx.py) and the model registry records (serving/delivery/registry.py, property `routing`).

A routing:
  {"proxy": {"listen": "127.0.0.1:8080", "prefix": "/srv/proxy", "request_log": "127.0.0.1:8090"},  (logger optional)
   "deployments": {"blue": {"rest": "127.0.0.1:8501", "grpc": "127.0.0.1:8500"}, "green": {...}},
   "stable": {"version": 1, "deployment": "blue"},
   "canary": {"version": 2, "deployment": "blue", "percent": 10.0},   (optional)
   "shadow": {"version": 2, "deployment": "green"}}                    (optional)
A deployment is one model server (its REST and gRPC host:port). Every change is checked before it is
made: the registry accepts the stages, each routed version is AVAILABLE on its deployment
(GetModelStatus), `nginx -t` accepts the config; then nginx reloads gracefully and the change is recorded.
"""
import copy
from typing import Dict, List, Optional

from serving import client
from serving.delivery import nginx, registry


class RolloutError(ValueError):
    """A rollout step refused (the message says which version, deployment or share)."""


def parse_deployment(text: str) -> Dict[str, Dict[str, str]]:
    """NAME=REST_HOST:PORT,GRPC_HOST:PORT -> {NAME: {"rest", "grpc"}}."""
    name, _, where = text.partition("=")
    rest, _, grpc = where.partition(",")
    if not name or not rest or not grpc or ":" not in rest or ":" not in grpc:
        raise RolloutError(f"deployment {text!r}: expected NAME=REST_HOST:PORT,GRPC_HOST:PORT")
    return {name: {"rest": rest, "grpc": grpc}}


def current(store, model_name: str) -> Dict:
    """The routing of the latest recorded change (RolloutError when none was recorded)."""
    routing = registry.served(store, model_name)["routing"]
    if not routing.get("stable"):
        raise RolloutError(f"no routing recorded for {model_name!r}: start with `python -m serving rollout init`")
    return copy.deepcopy(routing)


def initial(listen: str, prefix: str, deployments: Dict, version: int, deployment: str,
            request_log: Optional[str] = None) -> Dict:
    """request_log: HOST:PORT of a proxy request logger (serving/delivery/proxy_logger.py) to mirror to."""
    routing = {"proxy": {"listen": listen, "prefix": prefix}, "deployments": dict(deployments),
               "stable": {"version": int(version), "deployment": deployment}}
    if request_log:
        routing["proxy"]["request_log"] = request_log
    _check_names(routing)
    return routing


def _check_names(routing: Dict) -> None:
    for stage in registry.DEPLOYED:
        where = routing.get(stage, {}).get("deployment") if routing.get(stage) else None
        if where is not None and where not in routing["deployments"]:
            raise RolloutError(f"{stage}: unknown deployment {where!r} (known: "
                               f"{', '.join(sorted(routing['deployments'])) or 'none'}; add it with --deployment)")


def with_shadow(routing: Dict, version: int, deployment: Optional[str] = None) -> Dict:
    """Mirror every request to `version` (on `deployment`, default the stable one)."""
    routing = copy.deepcopy(routing)
    if int(version) == routing["stable"]["version"]:
        raise RolloutError(f"version {version} is already stable")
    routing["shadow"] = {"version": int(version), "deployment": deployment or routing["stable"]["deployment"]}
    _check_names(routing)
    return routing


def with_canary(routing: Dict, version: int, percent: float, deployment: Optional[str] = None) -> Dict:
    """Send `percent` % of the requests to `version`; a shadow of that version becomes the canary."""
    routing = copy.deepcopy(routing)
    if not 0 < percent < 100:
        raise RolloutError(f"canary share {percent:g}% is not in (0, 100): use promote for 100%")
    if int(version) == routing["stable"]["version"]:
        raise RolloutError(f"version {version} is already stable")
    if routing.get("shadow", {}) and routing["shadow"]["version"] == int(version):
        deployment = deployment or routing.pop("shadow")["deployment"]
    routing["canary"] = {"version": int(version), "deployment": deployment or routing["stable"]["deployment"],
                         "percent": float(percent)}
    _check_names(routing)
    return routing


def promoted(routing: Dict) -> Dict:
    """The canary takes all the traffic (its deployment becomes the live one)."""
    routing = copy.deepcopy(routing)
    if not routing.get("canary"):
        raise RolloutError("no canary to promote (start one: rollout canary VERSION --percent P)")
    canary = routing.pop("canary")
    routing["stable"] = {"version": canary["version"], "deployment": canary["deployment"]}
    if routing.get("shadow", {}).get("version") == canary["version"]:
        routing.pop("shadow")
    return routing


def rolled_back(routing: Dict, changes: List[Dict]) -> Dict:
    """Without its canary and shadow; with neither, the stable version and deployment before the
    current one (from the registry's history)."""
    routing = copy.deepcopy(routing)
    if routing.get("canary") or routing.get("shadow"):
        routing.pop("canary", None)
        routing.pop("shadow", None)
        return routing
    now = routing["stable"]
    for change in reversed(changes):
        before = change["routing"].get("stable")
        if before and before != now:
            routing["stable"] = dict(before)
            return routing
    raise RolloutError(f"nothing to roll back to: stable v{now['version']} on {now['deployment']} is the first "
                       "recorded routing")


def switched(routing: Dict, deployment: str, version: Optional[int] = None) -> Dict:
    """Blue/green: all traffic to `deployment` at once (its `version`, default the stable version)."""
    routing = copy.deepcopy(routing)
    routing.pop("canary", None)
    if version is not None and routing.get("shadow", {}).get("version") == int(version):
        routing.pop("shadow")
    routing["stable"] = {"version": int(version if version is not None else routing["stable"]["version"]),
                         "deployment": deployment}
    _check_names(routing)
    return routing


def stages_and_traffic(previous: Dict[int, str], routing: Dict):
    """The registry's stage map and traffic shares for `routing` (versions deployed before and routed
    no more are archived)."""
    stages = {v: ("archived" if s in registry.DEPLOYED else s) for v, s in previous.items()}
    stable = routing["stable"]["version"]
    traffic = {stable: 1.0}
    if routing.get("shadow"):
        stages[routing["shadow"]["version"]] = "shadow"
    if routing.get("canary"):
        share = routing["canary"]["percent"] / 100.0
        stages[routing["canary"]["version"]] = "canary"
        traffic = {stable: round(1.0 - share, 6), routing["canary"]["version"]: share}
    stages[stable] = "stable"
    return stages, traffic


def unavailable(routing: Dict, model_name: str) -> List[str]:
    """Routed versions that their deployment's server does not report AVAILABLE (GetModelStatus)."""
    problems = []
    for stage in ("stable", "canary", "shadow"):
        if not routing.get(stage):
            continue
        version, name = routing[stage]["version"], routing[stage]["deployment"]
        target = routing["deployments"][name]["grpc"]
        try:
            state = client.version_states(target, model_name).get(version, "NOT_LOADED")
        except client.ServingClientError as exc:
            state = f"unreachable ({exc})"
        if state != "AVAILABLE":
            problems.append(f"{stage} v{version}: {state} on deployment {name} ({target})")
    return problems


def apply(store, model_name: str, routing: Dict, *, change: str, reason: str,
          metrics: Optional[Dict] = None) -> int:
    """Check, write the nginx config, reload nginx if it runs, record the change; the execution id."""
    if routing.get("canary") and routing.get("shadow") and routing["canary"]["version"] == routing["shadow"]["version"]:
        raise RolloutError(f"version {routing['canary']['version']} cannot be canary and shadow at once")
    stages, traffic = stages_and_traffic(registry.current(store, model_name)["stages"], routing)
    registry.record(store, model_name, stages, change=change, reason=reason, traffic=traffic, dry_run=True)
    problems = unavailable(routing, model_name)
    if problems:
        raise RolloutError("not routed (load the versions first): " + "; ".join(problems))
    prefix, listen = routing["proxy"]["prefix"], routing["proxy"]["listen"]
    nginx.write_checked(prefix, nginx.render(routing, model_name, prefix))
    if nginx.running_pid(prefix) is not None:
        nginx.reload(prefix, listen)
    return registry.record(store, model_name, stages, change=change, reason=reason, traffic=traffic,
                           metrics=metrics, routing=routing)


def describe(routing: Dict) -> str:
    """One line: where each stage goes."""
    parts = [f"stable v{routing['stable']['version']} on {routing['stable']['deployment']}"]
    if routing.get("canary"):
        c = routing["canary"]
        parts.append(f"canary v{c['version']} on {c['deployment']} ({c['percent']:g}%)")
    if routing.get("shadow"):
        parts.append(f"shadow v{routing['shadow']['version']} on {routing['shadow']['deployment']} (mirrored)")
    return ", ".join(parts) + f"  via nginx {routing['proxy']['listen']}"
