"""Request logging's cost: p50/p99 latency with logging on and off, side by side in one run.

    python -m serving.tools.log_bench [--requests 2000] [--rounds 40] [--batch-sizes 1,64] [--concurrency 1]
                                      [--sampling-rate 1]

One local model server (the real binary cannot log) serves the same SavedModel twice: `flight_off`
without and `flight_on` with a logging_config (sampling rate 1: every request written; 0: an A/A
control, the same configs with nothing sampled). The cases
alternate in rounds (off/on, then on/off, ...), so a change of machine load hits both alike.
Printed figures only; the target is at most +10% p50 with logging on.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import click  # noqa: E402

from components.infra_validator import model_server_process  # noqa: E402
from serving import client as serving_client  # noqa: E402
from serving.server import command as local_server  # noqa: E402
from serving.server import request_log  # noqa: E402
from serving.tools.bench import percentile, synthetic_rows  # noqa: E402

METRICS_PATH = "/monitoring/prometheus/metrics"
MODELS = {"off": "flight_off", "on": "flight_on"}


def write_configs(workdir: str, base_path: str, log_prefix: str, sampling_rate: float = 1.0) -> tuple:
    """(models.config, monitoring.config): two models on one base path, the second logged."""
    models = os.path.join(workdir, "models.config")
    with open(models, "w", encoding="utf-8") as handle:
        handle.write("model_config_list {\n")
        for case, name in MODELS.items():
            logging = (f' logging_config {{ log_collector_config {{ type: "tfrecord" filename_prefix: "{log_prefix}" }}'
                       f" sampling_config {{ sampling_rate: {sampling_rate} }} }}" if case == "on" else "")
            handle.write(f'  config {{ name: "{name}" base_path: "{base_path}" model_platform: "tensorflow"{logging} }}\n')
        handle.write("}\n")
    monitoring = os.path.join(workdir, "monitoring.config")
    with open(monitoring, "w", encoding="utf-8") as handle:
        handle.write(f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}\n')
    return models, monitoring


def timed(call, count: int, concurrency: int) -> list:
    """Latencies (ms) of `count` calls over `concurrency` threads."""
    latencies, lock = [], threading.Lock()

    def loop(n):
        mine = []
        for _ in range(n):
            started = time.perf_counter()
            call()
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)
    threads = [threading.Thread(target=loop, args=(count // concurrency,)) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def log_counts(rest_url: str) -> dict:
    from serving.delivery.canary_analysis import parse_metrics
    with urllib.request.urlopen(f"{rest_url}{METRICS_PATH}", timeout=10) as answer:
        samples = parse_metrics(answer.read().decode())
    return {labels["status_code"]: int(value) for name, labels, value in samples
            if name == ":tensorflow:serving:request_log_count" and labels.get("model_name") == MODELS["on"]}


@click.command()
@click.option("--requests", "requests_count", default=2000, show_default=True,
              help="Timed requests per case (protocol x batch x logging), spread over the rounds.")
@click.option("--rounds", default=40, show_default=True, help="Alternations of logging off and on.")
@click.option("--batch-sizes", default="1,64", show_default=True)
@click.option("--concurrency", default=1, show_default=True, help="Client threads.")
@click.option("--sampling-rate", type=float, default=1.0, show_default=True,
              help="flight_on's sampling rate (0: an A/A control, nothing written).")
@click.option("--json-out", default=None, help="Also write the figures as JSON here.")
def main(requests_count, rounds, batch_sizes, concurrency, sampling_rate, json_out):
    """Print p50/p99 latency of REST and gRPC predict with request logging off and on."""
    from serving.tools import contract_model
    workdir = tempfile.mkdtemp(prefix="log-bench-")
    load = os.getloadavg()
    try:
        base_path = os.path.join(workdir, "model")
        os.makedirs(base_path)
        contract_model.write_contract_model(os.path.join(base_path, "1"))
        log_dir = os.path.join(workdir, "logs")
        models, monitoring = write_configs(workdir, base_path, os.path.join(log_dir, "requests"), sampling_rate)
        command = model_server_process.resolve_command(local_server.COMMAND)
        server = model_server_process.ModelServerProcess(
            command, [f"--model_config_file={models}", f"--monitoring_config_file={monitoring}"],
            os.path.join(workdir, "server.log")).start()
        try:
            server.wait_until_settled(list(MODELS.values()), time.monotonic() + 120)
            results = run_cases(server, [int(b) for b in batch_sizes.split(",")], requests_count, rounds,
                                concurrency)
            time.sleep(1.5)  # let the writer drain before counting
            counts = log_counts(server.rest_url)
        finally:
            server.stop()
        records = sum(1 for _ in request_log.read_logs(log_dir)) if request_log.log_files(log_dir) else 0
        files = len(request_log.log_files(log_dir))
        click.echo(f"server: serving.server.model_server (local; the binary cannot log), contract model,"
                   f" {concurrency} client thread(s), {os.cpu_count()} cores, {rounds} alternating rounds,"
                   f" sampling rate {sampling_rate:g};"
                   f" load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
        click.echo(f"{'protocol':<9}{'batch':>6}{'reqs':>6}{'p50 off':>9}{'p50 on':>9}{'p50 +%':>8}"
                   f"{'p99 off':>9}{'p99 on':>9}{'p99 +%':>8}")
        for r in results:
            click.echo(f"{r['protocol']:<9}{r['batch']:>6}{r['requests']:>6}{r['p50_off_ms']:>9.2f}{r['p50_on_ms']:>9.2f}"
                       f"{r['p50_change_pct']:>+8.1f}{r['p99_off_ms']:>9.2f}{r['p99_on_ms']:>9.2f}"
                       f"{r['p99_change_pct']:>+8.1f}")
        click.echo(f"request log: {records} records in {files} file(s); request_log_count {counts}")
        if json_out:
            with open(json_out, "w", encoding="utf-8") as handle:
                json.dump({"results": results, "records": records, "files": files, "log_counts": counts},
                          handle, indent=1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_cases(server, batches: list, requests_count: int, rounds: int, concurrency: int) -> list:
    clients = {case: (serving_client.RestClient(server.rest_url, name),
                      serving_client.GrpcClient(server.grpc_target, name)) for case, name in MODELS.items()}
    results = []
    per_round = max(concurrency, requests_count // rounds)
    for batch in batches:
        rows = synthetic_rows(batch)
        body = json.dumps({"instances": rows})
        for protocol in ("REST", "gRPC"):
            calls = {}
            for case, (rest, grpc_client) in clients.items():
                if protocol == "REST":
                    calls[case] = (lambda r: lambda: r.post("predict", body))(rest)
                else:
                    request = grpc_client.predict_request(serving_client.columns_from_rows(rows))
                    calls[case] = (lambda g, q: lambda: g.prediction.Predict(q, timeout=30))(grpc_client, request)
            latencies = {"off": [], "on": []}
            for call in calls.values():
                timed(call, 20, 1)  # warm-up
            for i in range(rounds):
                for case in (("off", "on") if i % 2 == 0 else ("on", "off")):
                    latencies[case] += timed(calls[case], per_round, concurrency)
            figures = {f"{q}_{case}_ms": percentile(latencies[case], int(q[1:]))
                       for q in ("p50", "p99") for case in ("off", "on")}
            results.append({"protocol": protocol, "batch": batch, "requests": len(latencies["on"]), **figures,
                            "p50_change_pct": 100 * (figures["p50_on_ms"] / figures["p50_off_ms"] - 1),
                            "p99_change_pct": 100 * (figures["p99_on_ms"] / figures["p99_off_ms"] - 1)})
    return results


if __name__ == "__main__":
    main()
