"""Delivery through a real nginx in front of real model servers on loopback: canary share, shadow,
blue/green switch and rollback under load, and the registry's agreement with GetModelStatus."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner

from components.infra_validator.model_server_process import child_env, free_ports, port_open
from pipeline.lineage import query
from pipeline.lineage.cli import lineage
from data.mlmd_store import open_store
from serving import cli
from data import contract
from serving.delivery import nginx, registry
from serving.server import request_log
from tests.serving.conftest import logged, logging_config, write_config, write_monitoring_config
from tests.serving.mlmd_pushes import record_push
from tests.serving.server_process import REPO_ROOT, ServerProcess
from tests.serving.traffic import ROWS, Answers, Load, send_many, write_labels

MODEL = "flight"
ROUTED = f"/v1/models/{MODEL}:predict"
METRICS_PATH = "/monitoring/prometheus/metrics"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("deployments")


@pytest.fixture(scope="module")
def servers(library, root):
    """Two deployments, blue and green, each serving versions 1, 2, 3 and 4 (= 1 retrained to the same
    answers) with Prometheus metrics on, logging every request under <root>/request-logs."""
    monitoring = write_monitoring_config(str(root), METRICS_PATH)
    started = {}
    try:
        for name in ("blue", "green"):
            base = str(root / name / MODEL)
            for version in (1, 2, 3):
                library.push(library.contract[version], base, version)
            library.push(library.contract[1], base, 4)
            config = write_config(str(root / name / "models.config"), {
                MODEL: (base, "all {}", {}, logging_config(str(root / "request-logs" / name)))})
            # The local server even where the binary is installed: the canary analysis reads the servers'
            # request logs, and the binary refuses any logging_config (serving/README.md).
            server = ServerProcess(str(root / name), [f"--model_config_file={config}",
                                                      f"--monitoring_config_file={monitoring}"], local=True)
            started[name] = server
            server.start([MODEL])
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def answers(library):
    return Answers(library)


class World:
    """A fresh registry (versions 1-4 pushed) and proxy directory; nginx once `start_proxy()` is called."""

    def __init__(self, root, servers):
        self.metadata = str(root / "metadata.sqlite")
        store = open_store(self.metadata)
        for version in (1, 2, 3, 4):
            record_push(store, MODEL, version)
        self.prefix = str(root / "proxy")
        self.listen = f"127.0.0.1:{free_ports(1)[0]}"
        self.servers = servers
        self.deployments = [f"--deployment={n}=127.0.0.1:{s.rest_port},{s.grpc_target}" for n, s in servers.items()]
        self.proxy = None

    def run(self, *args, ok=True):
        result = CliRunner().invoke(cli.main, ["rollout", "--metadata", self.metadata, "--model-name", MODEL, *args])
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    def init(self, version=1, on="blue", *args):
        return self.run("init", "--proxy-dir", self.prefix, "--listen", self.listen, *self.deployments,
                        "--stable", str(version), "--on", on, *args)

    def start_proxy(self):
        self.proxy = nginx.NginxProcess(self.prefix).start(self.listen)

    def served(self):
        return registry.served(open_store(self.metadata), MODEL)

    def check_agreement(self, stable, canary=None, shadow=None):
        """The registry and `lineage trace served` name these versions, and every deployment they are
        routed to reports them AVAILABLE (GetModelStatus)."""
        store = open_store(self.metadata)
        state = registry.served(store, MODEL)
        assert (state["stable"], state["canary"], state["shadow"]) == (stable, canary, shadow)
        pushed = registry.pushed_versions(store)
        assert query.served_model(store).id == pushed[stable].id
        targets = {state["routing"]["deployments"][state["routing"][s]["deployment"]]["grpc"]
                   for s in ("stable", "canary", "shadow") if state["routing"].get(s)}
        for target in targets:
            live = query.served_state(store, target)
            assert live["mismatches"] == [], live
            for stage, version in registry.served_by(state, target).items():
                assert live["server_states"][version] == "AVAILABLE"
        result = CliRunner().invoke(lineage, ["trace", "served", "--metadata", self.metadata, "--format", "json",
                                              "--server", next(iter(targets))])
        assert result.exit_code == 0, result.output
        traced = json.loads(result.output)
        assert traced["target"]["id"] == pushed[stable].id and traced["served"]["mismatches"] == []


@pytest.fixture
def world(tmp_path, servers):
    w = World(tmp_path, servers)
    yield w
    if w.proxy is not None:
        w.proxy.stop()


def _versions(answers, got):
    return [answers.version_of(a["row"], a["probability"]) if a["status"] == 200 else None for a in got]


def test_canary_gets_its_share_of_2000_requests(world, answers):
    world.init(1, "blue")
    world.start_proxy()
    world.check_agreement(stable=1)
    out = world.run("canary", "2", "--percent", "10", "--reason", "try v2")
    assert "canary v2 on blue (10%)" in out
    world.check_agreement(stable=1, canary=2)
    got = send_many(world.listen, ROUTED, 2000)
    versions = _versions(answers, got)
    assert [a for a in got if a["status"] != 200] == []
    share = versions.count(2) / len(versions)
    print(f"\ncanary share measured: {share:.2%} of {len(versions)} requests (target 10%)")
    assert versions.count(1) + versions.count(2) == 2000
    assert 0.07 <= share <= 0.13
    # The header nginx adds names the version that answered.
    assert all(a["route"] == ("canary v2 blue" if v == 2 else "stable v1 blue") for a, v in zip(got, versions))
    # Label URLs are pinned to one stage.
    assert set(_versions(answers, send_many(world.listen, f"/v1/models/{MODEL}/labels/canary:predict", 40))) == {2}
    assert set(_versions(answers, send_many(world.listen, f"/v1/models/{MODEL}/labels/stable:predict", 40))) == {1}
    state = world.served()
    assert state["traffic"] == {1: 0.9, 2: 0.1} and state["routing"]["canary"]["percent"] == 10.0
    # The access log has one JSON line per request with the stage that answered.
    lines = [json.loads(x) for x in open(os.path.join(world.prefix, "access.log"))]
    routed = [x for x in lines if x["uri"] == ROUTED]
    assert len(routed) == 2000 and sum(x["route"].startswith("canary") for x in routed) == versions.count(2)

    world.run("promote", "--reason", "canary healthy")
    world.check_agreement(stable=2)
    assert set(_versions(answers, send_many(world.listen, ROUTED, 50))) == {2}
    assert world.served()["traffic"] == {2: 1.0}
    assert registry.current(open_store(world.metadata), MODEL)["stages"] == {1: "archived", 2: "stable",
                                                                             3: "candidate", 4: "candidate"}


def _lines(path):
    return sum(1 for _ in open(path)) if os.path.exists(path) else 0


def _ok_count(server, status="OK"):
    """request_count{model_name=MODEL,status} from a server's Prometheus exposition."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}{METRICS_PATH}", timeout=10).read().decode()
    wanted = f':tensorflow:serving:request_count{{model_name="{MODEL}",status="{status}"}}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(wanted))


def test_shadow_gets_a_copy_of_every_request_and_changes_no_answer(world, answers, servers):
    world.init(1, "blue")
    world.start_proxy()
    out = world.run("shadow", "3", "--on", "green", "--reason", "compare v3 on live traffic")
    assert "shadow v3 on green (mirrored)" in out
    world.check_agreement(stable=1, shadow=3)
    before = _ok_count(servers["green"])
    got = send_many(world.listen, ROUTED, 300) + send_many(world.listen, f"/v1/models/{MODEL}/labels/stable:predict", 100)
    assert [a for a in got if a["status"] != 200] == []
    assert set(_versions(answers, got)) == {1}  # every answer is stable's, bit for bit
    deadline = time.monotonic() + 30  # mirrored subrequests may finish after the client's answer
    while _ok_count(servers["green"]) - before < 400 and time.monotonic() < deadline:
        time.sleep(0.1)
    mirrored = _ok_count(servers["green"]) - before
    print(f"\nshadow: {mirrored:.0f} mirrored requests on green for 400 sent")
    assert mirrored == 400, open(os.path.join(world.prefix, "shadow.log")).read()[-2000:]
    # shadow.log has one line per mirrored copy, with the version URL the shadow was asked on.
    deadline = time.monotonic() + 30
    while _lines(os.path.join(world.prefix, "shadow.log")) < 400 and time.monotonic() < deadline:
        time.sleep(0.1)
    shadow_lines = [json.loads(x) for x in open(os.path.join(world.prefix, "shadow.log"))]
    assert len(shadow_lines) == 400 and {x["status"] for x in shadow_lines} == {200}, shadow_lines[:3]
    assert world.served()["traffic"] == {1: 1.0}
    # A shadow becomes a canary on the same deployment; rollback drops it.
    world.run("canary", "3", "--percent", "20")
    state = world.served()
    assert (state["shadow"], state["canary"], state["routing"]["canary"]["deployment"]) == (None, 3, "green")
    world.run("rollback", "--reason", "v3 not wanted")
    world.check_agreement(stable=1)
    assert registry.current(open_store(world.metadata), MODEL)["stages"][3] == "archived"


def test_blue_green_switch_and_rollback_under_load_fail_no_request(world, answers):
    world.init(1, "blue")
    world.start_proxy()
    steps = []
    with Load(world.listen, ROUTED, threads=4) as load:
        for args, expected in ((("switch", "green", "--version", "2", "--reason", "release v2"), (2, "green")),
                               (("rollback", "--reason", "back to blue"), (1, "blue")),
                               (("switch", "green", "--version", "2"), (2, "green"))):
            start = load.count()
            while load.count() < start + 150:
                time.sleep(0.02)
            world.run(*args)
            after = load.count()  # requests sent from now on see the new routing
            world.check_agreement(stable=expected[0])
            assert world.served()["routing"]["stable"] == {"version": expected[0], "deployment": expected[1]}
            while load.count() < after + 150:
                time.sleep(0.02)
            steps.append((after, expected[0]))
    got = load.answers
    failed = [a for a in got if a["status"] != 200]
    print(f"\nblue/green: {len(got)} requests during 3 switches, {len(failed)} failed")
    assert failed == []
    versions = _versions(answers, got)
    assert None not in versions and set(versions) == {1, 2}
    for after, version in steps:  # the 4 threads' requests in flight during the reload may see the old routing
        assert set(versions[after + 4:after + 150]) == {version}
    changes = registry.history(open_store(world.metadata), MODEL)
    assert [c["change"] for c in changes] == ["init: stable v1 on blue", "switch: stable v2 on green",
                                              "rollback: stable v1 on blue", "switch: stable v2 on green"]
    assert changes[2]["reason"] == "back to blue"


def test_refused_steps_change_nothing(world, servers, tmp_path):
    world.init(1, "blue")
    world.start_proxy()
    config = open(os.path.join(world.prefix, "nginx.conf")).read()
    count = len(registry.history(open_store(world.metadata), MODEL))
    for args, message in ((("canary", "7", "--percent", "10"), "version 7 of 'flight' was never pushed"),
                          (("canary", "2", "--percent", "100"), "use promote for 100%"),
                          (("canary", "2", "--percent", "5", "--on", "purple"), "unknown deployment 'purple'"),
                          (("switch", "green", "--version", "2", "--deployment", "green=127.0.0.1:1,127.0.0.1:1"),
                           "stable v2: unreachable"),
                          (("promote",), "no canary to promote"),
                          (("rollback",), "nothing to roll back to")):
        out = world.run(*args, ok=False)
        assert message in out and "nothing changed" in out, out
    assert open(os.path.join(world.prefix, "nginx.conf")).read() == config
    assert len(registry.history(open_store(world.metadata), MODEL)) == count
    assert nginx.answered_id(world.listen) == nginx.config_id(config)


def _analyze(world, labels, *args):
    """`rollout analyze` over a 4-second window of load, on the servers' request logs and `labels`."""
    with Load(world.listen, ROUTED, threads=4):
        out = world.run("analyze", "--window", "4", "--request-logs", world.request_logs, "--labels", labels,
                        "--min-requests", "80", "--json", *args)
    return json.loads(out[out.index("{"):])


def test_canary_analysis_promotes_a_healthy_canary_and_rolls_back_a_shifted_one(world, answers, root):
    world.init(1, "blue")
    world.start_proxy()
    world.request_logs = str(root / "request-logs")
    labels = write_labels(str(root / "labels.csv"), answers.expected[1])  # labels drawn from version 1's probabilities
    world.run("canary", "4", "--percent", "30")  # on the stable's deployment: no per-version metrics
    assert "run the canary on a deployment of its own" in world.run("analyze", "--window", "0", ok=False)
    world.run("canary", "4", "--percent", "30", "--on", "green")
    send_many(world.listen, f"/v1/models/{MODEL}/labels/canary:predict", 40)  # warm the new version up first
    result = _analyze(world, labels)
    print(f"\nhealthy canary: {result['requests']}, decision {result['decision']}, "
          f"p-values { {k: round(c['p_value'], 3) for k, c in result['checks'].items() if 'p_value' in c} }, "
          f"latency shares above stable p99 {result['checks']['latency_p99']['stable_share_above']:.3f} / "
          f"{result['checks']['latency_p99']['canary_share_above']:.3f}")
    assert result["decision"] == "promote", result
    assert set(result["checks"]) == {"error_rate", "latency_p99", "predictions", "auc"}
    assert result["errors"] == {"stable": 0, "canary": 0}
    world.check_agreement(stable=4)
    change = registry.history(open_store(world.metadata), MODEL)[-1]
    assert change["change"] == "canary analysis: promote v4"
    assert change["metrics"]["checks"]["error_rate"]["test"] == "one-sided Fisher exact"
    assert change["metrics"]["requests"] == result["requests"]

    world.run("canary", "3", "--percent", "30", "--on", "blue")  # version 3 answers higher probabilities
    send_many(world.listen, f"/v1/models/{MODEL}/labels/canary:predict", 40)
    result = _analyze(world, labels)
    assert result["decision"] == "rollback" and "predictions" in result["failed"], result
    assert result["checks"]["predictions"]["canary_mean"] > result["checks"]["predictions"]["stable_mean"]
    world.check_agreement(stable=4)
    stages = registry.current(open_store(world.metadata), MODEL)["stages"]
    assert (stages[3], stages[4]) == ("archived", "stable")
    assert registry.history(open_store(world.metadata), MODEL)[-1]["change"] == "canary analysis: rollback v3"


def test_a_proxy_logger_writes_every_routed_request_with_the_version_nginx_chose(world, answers, tmp_path):
    """For servers that cannot log (the binary): nginx mirrors each predict request to `proxy-logger`, which
    writes it as a PredictionLog without the answer, its version from the route nginx chose."""
    port = free_ports(1)[0]
    logs = str(tmp_path / "proxy-logs")
    command = [sys.executable, "-m", "serving", "proxy-logger", "--listen", f"127.0.0.1:{port}",
               "--filename-prefix", os.path.join(logs, "proxy")]
    logger = subprocess.Popen(command, env=child_env(command), stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "proxy-logger.log", "wb"), start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not port_open(port) and time.monotonic() < deadline:
            assert logger.poll() is None, open(tmp_path / "proxy-logger.log").read()
            time.sleep(0.1)
        world.init(1, "blue", "--request-log", f"127.0.0.1:{port}")
        world.start_proxy()
        world.run("canary", "2", "--percent", "30", "--on", "green")
        got = send_many(world.listen, ROUTED, 200) + send_many(world.listen, f"/v1/models/{MODEL}/labels/canary:predict", 20)
        sent = sorted((a["row"], answers.version_of(a["row"], a["probability"])) for a in got)
        assert all(a["status"] == 200 for a in got) and {v for _, v in sent} == {1, 2}
        records, deadline = [], time.monotonic() + 60
        while len(records) < len(got) and time.monotonic() < deadline:
            time.sleep(0.2)
            records = logged(logs)
    finally:
        logger.terminate()
        logger.wait(30)
    row_of = {contract.natural_key(row): i for i, row in enumerate(ROWS)}
    seen = sorted((row_of[contract.natural_key(row)], record.log_metadata.model_spec.version.value)
                  for record in records for row, outputs in request_log.rows(record) if not outputs)
    assert seen == sent
    assert all(not r.predict_log.HasField("response") and r.predict_log.request.model_spec.version.value
               for r in records)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_every_way_of_stopping_the_proxy_stops_its_nginx(world, how):
    world.init(1, "blue")
    proxy = subprocess.Popen([sys.executable, "-m", "serving", "proxy", "--metadata", world.metadata,
                              "--model-name", MODEL], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while nginx.answered_id(world.listen) is None:
            assert proxy.poll() is None and time.monotonic() < deadline, proxy.stderr.read()
            time.sleep(0.2)
        master = nginx.running_pid(world.prefix)
        workers = [int(x) for x in open(f"/proc/{master}/task/{master}/children").read().split()]
        proxy.send_signal(how)
        proxy.wait(60)
    finally:
        if proxy.poll() is None:
            proxy.kill()
    deadline = time.monotonic() + 30  # after SIGKILL the kernel signals nginx (PR_SET_PDEATHSIG)
    while any(_alive(pid) for pid in [master] + workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in [master] + workers if _alive(pid)] == []
    assert nginx.answered_id(world.listen) is None  # nothing listens any more


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    return state != "Z"
