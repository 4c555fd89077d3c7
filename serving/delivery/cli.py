"""Delivery commands: `labels promote|rollback|set` (version labels in models.config, reloaded into a
server), `registry` (stages and deployment history in MLMD), `deploy` (a model server on registry versions),
`rollout ...` and `proxy` (routing through nginx).

One vocabulary: `promote` makes the canary the stable version, `rollback` returns to the previous stable
one; under `labels` they move models.config labels on one server, under `rollout` they change nginx routing
between deployments.
"""
import json
import os
import signal
import sys

import click

from serving import client as serving_client
from serving.cli_support import DEFAULT_METADATA, fail as _fail, model_option
from serving.delivery import labels as model_labels
from serving.delivery import registry as model_registry
from serving.server import cli as server_cli
from serving.server import protos
from serving.server.command import GRPC_PORT, LOCAL_GRPC, REST_PORT

MONITORING_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy",
                                 "monitoring.config")


@click.group()
def labels():
    """Move version labels (stable, canary) in a models.config and make the server reload it."""


def _apply(config_path, model_name, server, change):
    """Rewrite models.config with `change` and make the server reload it (HandleReloadConfigRequest)."""
    try:
        config = model_labels.read_model_config(config_path)
        result = change(config)
    except (OSError, ValueError) as exc:
        _fail(f"{config_path}: {exc}")
    if server:
        try:
            serving_client.GrpcClient(server, model_name).reload_config(config)
        except serving_client.ServingClientError as exc:
            _fail(f"server {server} rejected the new config (file left unchanged): {exc}")
    model_labels.write_model_config(config_path, config)
    return result


_config_opt = click.option("--config", "config_path", required=True, help="models.config (ModelServerConfig text).")
_server_opt = click.option("--server", default=LOCAL_GRPC, show_default=True,
                           help="gRPC host:port to reload ('' = only rewrite the file).")
_model_opt = model_option


def _registry_opts(fn):
    fn = click.option("--reason", default="", help="Why (recorded in the registry with --metadata).")(fn)
    return click.option("--metadata", default=None,
                        help="MLMD store (SQLite path or mysql://...): record the change in the model registry.")(fn)


def _open_registry(metadata):
    from data.mlmd_store import is_mysql_spec, open_store
    path = metadata[len("sqlite://"):] if metadata.startswith("sqlite://") else metadata
    if not is_mysql_spec(metadata) and not os.path.exists(path):
        _fail(f"no metadata store at {path!r}: run the pipeline (make run) or pass --metadata")
    try:
        return open_store(metadata)
    except (RuntimeError, ValueError) as exc:
        _fail(exc)


def _label_stages(store, model_name, config):
    labels = dict(model_labels.find_model(config, model_name).version_labels)
    return model_registry.stages_from_labels(model_registry.current(store, model_name)["stages"], labels)


def _registry_check(metadata, model_name, config_path, change):
    """The registry store (None without --metadata), once it accepts the labels `change` would give."""
    if not metadata:
        return None
    store = _open_registry(metadata)
    try:
        config = model_labels.read_model_config(config_path)
        change(config)
        model_registry.record(store, model_name, _label_stages(store, model_name, config), change="check",
                              reason="", dry_run=True)
    except (OSError, ValueError) as exc:  # RegistryError is a ValueError
        _fail(f"registry: {exc} (nothing changed)")
    return store


def _record(store, model_name, config_path, change, reason):
    """Record the labels now in `config_path` as the registry's stages (after the server took them)."""
    if store is None:
        return
    stages = _label_stages(store, model_name, model_labels.read_model_config(config_path))
    execution_id = model_registry.record(store, model_name, stages, change=change, reason=reason)
    click.echo(f"registry: deployment {execution_id} recorded ({change})", err=True)


@labels.command()
@_config_opt
@_server_opt
@_model_opt
@_registry_opts
def promote(config_path, server, model_name, metadata, reason):
    """Point 'stable' at the 'canary' version."""
    change = lambda c: model_labels.promote(c, model_name)  # noqa: E731
    store = _registry_check(metadata, model_name, config_path, change)
    old, new = _apply(config_path, model_name, server, change)
    click.echo(f"{model_name}: stable {old} -> {new}")
    _record(store, model_name, config_path, f"promote: stable {old} -> {new}", reason)


@labels.command()
@_config_opt
@_server_opt
@_model_opt
@click.option("--to-version", type=int, default=None, help="Default: the newest version older than stable.")
@_registry_opts
def rollback(config_path, server, model_name, to_version, metadata, reason):
    """Point 'stable' back at an older version."""
    change = lambda c: model_labels.rollback(c, model_name, to_version)  # noqa: E731
    store = _registry_check(metadata, model_name, config_path, change)
    old, new = _apply(config_path, model_name, server, change)
    click.echo(f"{model_name}: stable {old} -> {new}")
    _record(store, model_name, config_path, f"rollback: stable {old} -> {new}", reason)


@labels.command("set")
@_config_opt
@_server_opt
@_model_opt
@click.argument("label")
@click.argument("version", type=int)
@_registry_opts
def set_label(config_path, server, model_name, label, version, metadata, reason):
    """Point LABEL, for example canary, at VERSION (loading VERSION first if the policy lacks it)."""
    store = _registry_check(metadata, model_name, config_path,
                            lambda c: model_labels.set_label(c, model_name, label, version))
    config = model_labels.read_model_config(config_path)
    model = model_labels.find_model(config, model_name)
    policy = model.model_version_policy
    if server and policy.WhichOneof("policy_choice") == "specific" and version not in policy.specific.versions:
        # TF Serving only accepts labels on AVAILABLE versions: load the version, wait, then label it.
        _apply(config_path, model_name, server,
               lambda c: model_labels.find_model(c, model_name).model_version_policy.specific.versions.append(version))
        _wait_available(server, model_name, version)
    _apply(config_path, model_name, server, lambda c: model_labels.set_label(c, model_name, label, version))
    click.echo(f"{model_name}: {label} -> {version}")
    _record(store, model_name, config_path, f"label {label} -> {version}", reason)


def _wait_available(server, model_name, version, timeout=120.0):
    import time
    grpc_client = serving_client.GrpcClient(server, model_name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = grpc_client.status(version).model_version_status
            if states and states[0].state == 30:  # AVAILABLE
                return
            if states and states[0].state == 50:  # END
                _fail(f"version {version} of {model_name} failed to load: {states[0].status.error_message}")
        except serving_client.ServingClientError:
            pass
        time.sleep(0.5)
    _fail(f"version {version} of {model_name} did not become AVAILABLE within {timeout:.0f}s")



@click.group(invoke_without_command=True)
@click.option("--metadata", default=DEFAULT_METADATA, show_default=True, help="MLMD store (SQLite path or mysql://...).")
@_model_opt
@click.option("--server", default=None,
              help="gRPC host:port of a live server: cross-check the stages with its GetModelStatus.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.pass_context
def registry(ctx, metadata, model_name, server, as_json):
    """List pushed versions, their stages and the deployment history (model registry in MLMD)."""
    ctx.obj = {"metadata": metadata, "model_name": model_name}
    if ctx.invoked_subcommand:
        return
    store = _open_registry(metadata)
    state = model_registry.current(store, model_name)
    live, mismatches = {}, []
    if server:
        try:
            live = serving_client.version_states(server, model_name)
        except serving_client.ServingClientError as exc:
            _fail(f"server {server}: {exc}")
        # A version served there must be AVAILABLE; the registry and the server disagree otherwise.
        mismatches = model_registry.live_mismatches(model_registry.served(store, model_name), server, live)
    versions = [{"version": v, "stage": stage, "traffic": state["traffic"].get(v, 0.0),
                 **({"server_state": live.get(v, "NOT_LOADED")} if server else {})}
                for v, stage in state["stages"].items()]
    changes = model_registry.history(store, model_name)
    if as_json:
        click.echo(json.dumps({"model_name": model_name, "versions": versions, "history": changes,
                               "mismatches": mismatches}, indent=1))
    else:
        click.echo(f"{model_name}: {len(versions)} pushed version(s)")
        for v in versions:
            extra = f"  {v['server_state']}" if server else ""
            click.echo(f"  {v['version']:>12}  {v['stage']:<9}  traffic {v['traffic']:>4.0%}{extra}")
        click.echo(f"history ({len(changes)} change(s)):")
        for c in changes:
            when = _iso(c["time_ms"])
            staged = ", ".join(f"{v}={s}" for v, s in c["stages"].items() if s in model_registry.DEPLOYED)
            click.echo(f"  {when}  {c['change']}  [{staged or 'nothing deployed'}]  {c['reason']}")
    if mismatches:
        _fail("registry and server disagree: " + "; ".join(mismatches))


def _iso(ms):
    import datetime
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@registry.command("set-stage")
@click.argument("version", type=int)
@click.argument("stage", type=click.Choice(model_registry.STAGES))
@click.option("--reason", required=True, help="Why (recorded).")
@click.option("--metrics", default="{}", help="JSON object of the figures the decision was made on.")
@click.pass_obj
def set_stage(obj, version, stage, reason, metrics):
    """Record VERSION's new STAGE (a new stable archives the previous one)."""
    try:
        figures = json.loads(metrics)
        if not isinstance(figures, dict):
            raise ValueError("must be a JSON object")
    except ValueError as exc:
        raise click.BadParameter(f"{metrics!r}: {exc}", param_hint="--metrics") from None
    store = _open_registry(obj["metadata"])
    try:
        execution_id = model_registry.set_stage(store, obj["model_name"], version, stage, reason=reason,
                                                metrics=figures)
    except model_registry.RegistryError as exc:
        _fail(exc)
    click.echo(f"{obj['model_name']}: version {version} -> {stage} (deployment {execution_id})")




@click.group()
@click.option("--metadata", default=DEFAULT_METADATA, show_default=True, help="MLMD store (SQLite path or mysql://...).")
@_model_opt
@click.pass_context
def rollout(ctx, metadata, model_name):
    """Deliver a version through nginx: init, shadow, canary, promote, rollback, switch, analyze.

    Each step checks the versions on the servers (GetModelStatus) and the config (nginx -t), reloads
    nginx gracefully and records the change in the model registry.
    """
    ctx.obj = {"metadata": metadata, "model_name": model_name}


_deployment_opt = click.option("--deployment", "deployments", multiple=True, metavar="NAME=REST,GRPC",
                               help="Add or replace a deployment (a model server), e.g. "
                                    "green=127.0.0.1:8601,127.0.0.1:8600. Repeatable.")
_reason_opt = click.option("--reason", default="", help="Why (recorded in the registry).")


def _rollout_step(obj, make, change, reason, deployments=(), metrics=None, first=False):
    """Apply the routing `make(current routing with the added deployments)` (`make(None)` when `first`)."""
    from serving.delivery import nginx, rollout as strategies
    store = _open_registry(obj["metadata"])
    try:
        routing = None
        if not first:
            routing = strategies.current(store, obj["model_name"])
            for text in deployments:
                routing["deployments"].update(strategies.parse_deployment(text))
        routing = make(routing)
        execution_id = strategies.apply(store, obj["model_name"], routing, change=change(routing), reason=reason,
                                        metrics=metrics)
    except (strategies.RolloutError, nginx.NginxError, model_registry.RegistryError) as exc:
        _fail(f"{exc} (nothing changed)")
    click.echo(f"{obj['model_name']}: {strategies.describe(routing)}")
    click.echo(f"registry: deployment {execution_id} recorded ({change(routing)})", err=True)
    return routing


@rollout.command("init")
@click.option("--proxy-dir", required=True, help="nginx prefix directory (nginx.conf, pid, logs).")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="Where nginx listens.")
@_deployment_opt
@click.option("--stable", "version", type=int, required=True, help="The version that takes all the traffic.")
@click.option("--on", "deployment", required=True, help="Its deployment.")
@click.option("--request-log", default=None, help="HOST:PORT of a `proxy-logger` to mirror every routed predict"
              " request to (request logs for servers that cannot log, e.g. tensorflow_model_server).")
@_reason_opt
@click.pass_obj
def rollout_init(obj, proxy_dir, listen, deployments, version, deployment, request_log, reason):
    """First routing: all traffic to one version on one deployment."""
    from serving.delivery import rollout as strategies
    try:
        known = {}
        for text in deployments:
            known.update(strategies.parse_deployment(text))
    except strategies.RolloutError as exc:
        _fail(exc)
    _rollout_step(obj, lambda _: strategies.initial(listen, os.path.abspath(proxy_dir), known, version, deployment,
                                                   request_log),
                  lambda r: f"init: stable v{version} on {deployment}", reason, first=True)


@rollout.command("shadow")
@click.argument("version", type=int)
@click.option("--on", "deployment", default=None, help="Deployment serving it (default: the stable one).")
@_deployment_opt
@_reason_opt
@click.pass_obj
def rollout_shadow(obj, version, deployment, deployments, reason):
    """Mirror every request to VERSION; clients keep getting the stable answers."""
    from serving.delivery import rollout as strategies
    _rollout_step(obj, lambda r: strategies.with_shadow(r, version, deployment),
                  lambda r: f"shadow v{version} on {r['shadow']['deployment']}", reason, deployments)


@rollout.command("canary")
@click.argument("version", type=int)
@click.option("--percent", type=float, required=True, help="Share of the requests that VERSION answers.")
@click.option("--on", "deployment", default=None, help="Deployment serving it (default: the stable one).")
@_deployment_opt
@_reason_opt
@click.pass_obj
def rollout_canary(obj, version, percent, deployment, deployments, reason):
    """Send PERCENT % of the requests to VERSION (split_clients)."""
    from serving.delivery import rollout as strategies
    _rollout_step(obj, lambda r: strategies.with_canary(r, version, percent, deployment),
                  lambda r: f"canary v{version} {percent:g}% on {r['canary']['deployment']}", reason, deployments)


@rollout.command("promote")
@_reason_opt
@click.pass_obj
def rollout_promote(obj, reason):
    """The canary becomes stable and takes all the traffic."""
    from serving.delivery import rollout as strategies
    _rollout_step(obj, strategies.promoted, lambda r: f"promote: stable v{r['stable']['version']}", reason)


@rollout.command("rollback")
@_reason_opt
@click.pass_obj
def rollout_rollback(obj, reason):
    """Drop the canary and shadow; with neither, go back to the previous stable version and deployment."""
    from serving.delivery import rollout as strategies
    store = _open_registry(obj["metadata"])
    changes = model_registry.history(store, obj["model_name"])
    _rollout_step(obj, lambda r: strategies.rolled_back(r, changes),
                  lambda r: f"rollback: stable v{r['stable']['version']} on {r['stable']['deployment']}", reason)


@rollout.command("switch")
@click.argument("deployment")
@click.option("--version", type=int, default=None, help="The version it serves (default: the stable version).")
@_deployment_opt
@_reason_opt
@click.pass_obj
def rollout_switch(obj, deployment, version, deployments, reason):
    """Blue/green: all traffic to DEPLOYMENT at once (one graceful nginx reload)."""
    from serving.delivery import rollout as strategies
    _rollout_step(obj, lambda r: strategies.switched(r, deployment, version),
                  lambda r: f"switch: stable v{r['stable']['version']} on {deployment}", reason, deployments)


@click.command()
@click.option("--metadata", default=DEFAULT_METADATA, show_default=True, help="MLMD store (SQLite path or mysql://...).")
@_model_opt
def proxy(metadata, model_name):
    """Run nginx in the foreground with the registry's routing (`rollout init` first; Ctrl-C stops)."""
    from serving.delivery import nginx, rollout as strategies
    store = _open_registry(metadata)

    def stop_on(signum, frame):
        raise _Stop(signum)

    # Handlers first: a stop signal at any moment, even while nginx starts, takes the one stop path below.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop_on)
    process = None
    try:
        try:
            routing = strategies.current(store, model_name)
            prefix = routing["proxy"]["prefix"]
            nginx.write_checked(prefix, nginx.render(routing, model_name, prefix))
            # die_with_parent: even a SIGKILL of this process stops nginx
            process = nginx.NginxProcess(prefix)
            process.start(routing["proxy"]["listen"], die_with_parent=True)
        except (strategies.RolloutError, nginx.NginxError) as exc:
            _fail(exc)
        click.echo(f"nginx {process.process.pid} on {routing['proxy']['listen']}: {strategies.describe(routing)}",
                   err=True)
        code = process.wait()
    except _Stop as stop:
        click.echo(f"{signal.Signals(stop.args[0]).name}: stopping nginx", err=True)
        if process is not None:
            process.stop()
        code = 0
    sys.exit(code)


class _Stop(Exception):
    """A stop signal reached `proxy` (raised from its handler, so the wait for nginx unwinds)."""


@click.command()
@click.argument("name")
@click.option("--versions", default="", help="Comma-separated versions to load (default: every pushed version).")
@click.option("--metadata", default=DEFAULT_METADATA, show_default=True,
              help="MLMD store whose registry lists the pushed versions (SQLite path or mysql://...).")
@_model_opt
@click.option("--config-dir", default=None,
              help="Where <NAME>.models.config is written (default: the push directory's parent).")
@click.option("--port", default=GRPC_PORT, show_default=True, help="gRPC port.")
@click.option("--rest-api-port", default=REST_PORT, show_default=True, help="REST port.")
@server_cli.bind_option
@click.option("--monitoring-config-file", default=MONITORING_CONFIG, show_default="serving/deploy/monitoring.config",
              help="Prometheus, which `rollout analyze` reads ('' = off).")
@server_cli.binary_option
def deploy(name, versions, metadata, model_name, config_dir, port, rest_api_port, bind_address,
           monitoring_config_file, binary):
    """Start deployment NAME: a model server loading pushed versions named by the registry (blocks).

    Prints the `--deployment NAME=REST,GRPC` argument of `rollout init` on stderr.
    """
    store = _open_registry(metadata)
    pushed = model_registry.pushed_versions(store)
    try:
        wanted = [int(v) for v in versions.split(",") if v.strip()] if versions else list(pushed)
    except ValueError:
        raise click.BadParameter(f"{versions!r}: comma-separated version numbers", param_hint="--versions") from None
    missing = [v for v in wanted if v not in pushed]
    if missing or not wanted:
        _fail(f"version(s) {missing or wanted} not pushed in {metadata} (pushed: {sorted(pushed) or 'none'})")
    base_paths = {os.path.dirname(model_registry.push_destination(pushed[v]).rstrip("/")) for v in wanted}
    if len(base_paths) != 1:
        _fail(f"versions {wanted} were pushed to different directories: {sorted(base_paths)}")
    base_path = base_paths.pop()
    config_path = os.path.join(config_dir or os.path.dirname(base_path), f"{name}.models.config")
    server_cli.write_config(config_path, protos.serving_config(model_name, base_path, wanted))
    click.echo(f"deployment {name}: {model_name} versions {', '.join(map(str, wanted))} from {base_path}; "
               f"config {config_path}", err=True)
    click.echo(f"rollout argument: --deployment {name}={bind_address}:{rest_api_port},{bind_address}:{port}",
               err=True)
    server_cli.exec_server(config_path, port, rest_api_port, bind_address, monitoring_config_file, binary)


@click.command("proxy-logger")
@click.option("--listen", default="127.0.0.1:8090", show_default=True, help="Where nginx sends the copies (loopback).")
@click.option("--filename-prefix", required=True, help="Log files: <prefix>-<UTC start>-<pid>-<seq>.tfrecord.")
@click.option("--sampling-rate", type=float, default=1.0, show_default=True)
@click.option("--max-file-bytes", type=int, default=64 << 20, show_default=True, help="Rotate at this size...")
@click.option("--max-file-seconds", type=float, default=3600, show_default=True, help="... or this age.")
def proxy_logger(listen, filename_prefix, sampling_rate, max_file_bytes, max_file_seconds):
    """Write the requests nginx mirrors here as PredictionLog files (request only: no answer; the version
    from nginx's route). For servers that cannot log (tensorflow_model_server); blocks, Ctrl-C stops."""
    from serving.delivery.proxy_logger import ProxyLogger
    if not 0.0 <= sampling_rate <= 1.0:
        _fail(f"--sampling-rate {sampling_rate}: not in [0, 1]")
    try:
        logger = ProxyLogger(listen, filename_prefix, sampling_rate, max_file_bytes=max_file_bytes,
                             max_file_seconds=max_file_seconds)
    except (OSError, ValueError) as exc:
        _fail(f"--listen {listen}: {exc}")
    click.echo(f"proxy logger on {listen}: {filename_prefix}-*.tfrecord (sampling rate {sampling_rate:g})", err=True)
    import signal
    import threading
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=logger.server.shutdown, daemon=True).start())
    try:
        logger.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        logger.close()


@rollout.command("analyze")
@click.option("--window", type=float, default=60.0, show_default=True, help="Seconds of live traffic to compare.")
@click.option("--request-logs", multiple=True,
              help="The servers' request logs (their logging_config): a directory of *.tfrecord files, a"
                   " filename_prefix or a file; repeat for several. Gives the prediction and live AUC checks.")
@click.option("--labels", "labels_path", default=None,
              help="CSV with the flights' natural key and label (a span file, or `replay --labels-out`) for"
                   " the live AUC.")
@click.option("--metrics-path", default="/monitoring/prometheus/metrics", show_default=True,
              help="Prometheus path of the servers (their --monitoring_config_file).")
@click.option("--alpha", type=float, default=0.01, show_default=True, help="Significance level of each test.")
@click.option("--min-requests", type=int, default=100, show_default=True,
              help="Fewer canary (or stable) requests in the window: wait, change nothing.")
@click.option("--dry-run", is_flag=True, help="Decide and print, change nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.pass_obj
def rollout_analyze(obj, window, request_logs, labels_path, metrics_path, alpha, min_requests, dry_run, as_json):
    """Compare canary with stable over WINDOW seconds (errors, p99 latency, predictions, live AUC);
    promote or roll back, recorded in the registry with the figures."""
    import time
    from data import spans_io
    from serving.delivery import canary_analysis, nginx, rollout as strategies
    store = _open_registry(obj["metadata"])
    try:
        routing = strategies.current(store, obj["model_name"])
    except strategies.RolloutError as exc:
        _fail(exc)
    if not routing.get("canary"):
        _fail("no canary to analyse (start one: rollout canary VERSION --percent P --on DEPLOYMENT)")
    stable, canary = routing["stable"], routing["canary"]
    shared = [(a, b) for a, b in (("canary", "stable"), ("shadow", "canary"), ("shadow", "stable"))
              if (routing.get(a) or {}).get("deployment") and routing[a]["deployment"] == (routing.get(b) or {}).get("deployment")]
    if shared:
        a, b = shared[0]
        _fail(f"{a} and {b} both run on deployment {routing[a]['deployment']!r}: TF Serving's Prometheus metrics are "
              f"per model, not per version; run the canary on a deployment of its own (rollout canary ... --on NAME)"
              + (" and the shadow elsewhere, or roll it back" if "shadow" in (a, b) else ""))
    rest = {stage: routing["deployments"][routing[stage]["deployment"]]["rest"] for stage in ("stable", "canary")}
    if labels_path and not request_logs:
        _fail("--labels needs --request-logs (the labels are joined to the logged requests)")
    try:
        labels = spans_io.read_labels(labels_path) if labels_path else None
    except (OSError, ValueError) as exc:
        _fail(exc)
    try:
        before = {stage: canary_analysis.scrape(where, metrics_path) for stage, where in rest.items()}
        start = time.time()
        time.sleep(window)
        after = {stage: canary_analysis.scrape(where, metrics_path) for stage, where in rest.items()}
        end = time.time()
    except OSError as exc:
        _fail(f"Prometheus metrics at {metrics_path}: {exc}")
    figures = {stage: canary_analysis.server_figures(before[stage], after[stage], obj["model_name"]) for stage in rest}
    predictions = {}
    if request_logs:
        try:
            predictions = canary_analysis.read_request_logs(
                list(request_logs), start, end, {stable["version"]: "stable", canary["version"]: "canary"},
                obj["model_name"], labels)
        except (OSError, ValueError) as exc:
            _fail(exc)
    result = canary_analysis.analyse(figures["stable"], figures["canary"], predictions, alpha=alpha,
                                     min_requests=min_requests)
    result.update(window_seconds=round(end - start, 3), stable_version=stable["version"],
                  canary_version=canary["version"])
    summary = (f"canary v{canary['version']} vs stable v{stable['version']} over {end - start:.0f}s "
               f"({result['requests']['canary']} vs {result['requests']['stable']} requests): {result['decision']}"
               + (f" (failed: {', '.join(result['failed'])})" if result["failed"] else ""))
    if result["decision"] != "wait" and not dry_run:
        make = strategies.promoted if result["decision"] == "promote" else (
            lambda r: strategies.rolled_back(r, model_registry.history(store, obj["model_name"])))
        try:
            new = make(routing)
            result["deployment_id"] = strategies.apply(
                store, obj["model_name"], new, change=f"canary analysis: {result['decision']} v{canary['version']}",
                reason=summary, metrics=result)
        except (strategies.RolloutError, model_registry.RegistryError, nginx.NginxError) as exc:
            _fail(f"{exc} (nothing changed)")
    if as_json:
        click.echo(json.dumps(result, indent=1, default=str))
    else:
        click.echo(summary)
        for name, check in result["checks"].items():
            figures_text = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in check.items()
                                     if k not in ("test", "passed", "margin"))
            click.echo(f"  {name:<12} {'pass' if check['passed'] else 'FAIL'}  {figures_text}  [{check['test']}]")

