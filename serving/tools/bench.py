"""Latency/throughput of the model server (REST and gRPC) next to the same SavedModel called in-process.

    python -m serving.tools.bench [--model-base-path DIR] [--requests 300] [--batch-sizes 1,64]

Starts `tensorflow_model_server` when it is on PATH (or TF_SERVING_BINARY), else
`python -m serving.server.model_server` (serving/server/command.py), on free loopback ports; --concurrency
client threads per case.
Without a pushed model under --model-base-path it exports the tiny contract model (serving/tools/contract_model.py).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import click  # noqa: E402

from components.infra_validator import model_server_process  # noqa: E402
from data import contract  # noqa: E402
from serving import client as serving_client  # noqa: E402
from serving.server import command as local_server  # noqa: E402
from serving.server import custom_ops  # noqa: E402
from serving.cli_support import DEFAULT_PUSH_DIR  # noqa: E402
from data.paths import REPO_ROOT  # noqa: E402



def synthetic_rows(count: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        row = {"carrier": rng.choice(["UA", "AA", "B6", "DL", "EV", "WN"]),
               "origin": rng.choice(["EWR", "JFK", "LGA"]), "dest": rng.choice(["ORD", "ATL", "LAX", "BOS"]),
               "month": rng.randint(1, 12), "day": rng.randint(1, 28), "day_of_week": rng.randint(0, 6),
               "sched_dep_hour": rng.randint(5, 23), "sched_dep_minute": rng.randint(0, 59),
               "sched_arr_hour": rng.randint(0, 23), "flight": rng.randint(1, 6000),
               "distance": rng.randint(80, 4983)}
        for k in contract.FLOAT_FEATURES:
            row[k] = round(rng.uniform(0, 100), 1)
        rows.append(row)
    return rows


def percentile(values: list, q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[index]


def measure(fn, requests_count: int, warmup: int = 10, concurrency: int = 1) -> dict:
    """Latency percentiles and throughput of `requests_count` calls spread over `concurrency` threads."""
    import threading
    for _ in range(warmup):
        fn()
    latencies = []
    per_thread = max(1, requests_count // concurrency)

    def loop():
        mine = []
        for _ in range(per_thread):
            t0 = time.perf_counter()
            fn()
            mine.append((time.perf_counter() - t0) * 1000)
        latencies.extend(mine)
    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    requests_count = len(latencies)
    return {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "req_per_s": requests_count / elapsed}


def start_server(base_path: str, model_name: str, log_path: str, extra_flags=()):
    """The model server (real binary or local) on free ports, once `model_name` has an AVAILABLE version."""
    command = local_server.server_command()
    server = model_server_process.ModelServerProcess(
        command, model_server_process.model_flags(model_name, base_path, extra=extra_flags), log_path).start()
    try:
        server.wait_until_settled([model_name], time.monotonic() + 120)
        if not any(s.state == model_server_process.AVAILABLE
                   for s in server.model_status(model_name).model_version_status):
            raise model_server_process.ServerNotReady(f"no version of {model_name} loaded")
    except Exception as exc:
        server.stop()
        raise click.ClickException(f"model server did not come up ({exc}); log: {log_path}") from None
    grpc_client = serving_client.GrpcClient(server.grpc_target, model_name)
    rest = serving_client.RestClient(server.rest_url, model_name)
    kind = "tensorflow_model_server" if model_server_process.is_real_binary(command) else "serving.server.model_server"
    return server, grpc_client, rest, kind


@click.command()
@click.option("--model-base-path", default=DEFAULT_PUSH_DIR, show_default=True)
@click.option("--model-name", default=contract.MODEL_NAME, show_default=True)
@click.option("--requests", "requests_count", default=300, show_default=True, help="Timed requests per case.")
@click.option("--batch-sizes", default="1,64", show_default=True)
@click.option("--concurrency", default=1, show_default=True, help="Client threads per case.")
@click.option("--enable-batching", is_flag=True,
              help="Start the server with --enable_batching and serving/deploy/batching_parameters.txt.")
@click.option("--json-out", default=None, help="Also write the figures as JSON here.")
def main(model_base_path, model_name, requests_count, batch_sizes, concurrency, enable_batching, json_out):
    """Print p50/p99 latency and throughput: in-process vs gRPC vs REST."""
    import numpy as np
    import tensorflow as tf

    from serving.server.server_core import list_versions
    workdir = tempfile.mkdtemp(prefix="serving-bench-")
    try:
        if not list_versions(model_base_path):
            from serving.tools import contract_model
            model_base_path = os.path.join(workdir, model_name)
            os.makedirs(model_base_path)
            contract_model.write_contract_model(os.path.join(model_base_path, "1"))
            click.echo(f"no pushed model found: benchmarking the tiny contract model in {model_base_path}",
                       err=True)
        version = list_versions(model_base_path)[-1]
        loaded = custom_ops.load(os.path.join(model_base_path, str(version)))  # a TF-DF model too
        fn = loaded.signatures[contract.SERVING_SIGNATURE]
        extra = []
        if enable_batching:
            extra = ["--enable_batching", "--batching_parameters_file="
                     + os.path.join(REPO_ROOT, "serving", "deploy", "batching_parameters.txt")]
        server, grpc_client, rest, server_kind = start_server(
            model_base_path, model_name, os.path.join(workdir, "server.log"), extra)
        results = []
        try:
            for batch in [int(b) for b in batch_sizes.split(",")]:
                rows = synthetic_rows(batch)
                columns = serving_client.columns_from_rows(rows)
                request = grpc_client.predict_request(columns)
                body = json.dumps({"instances": rows})
                tensors = {k: tf.constant(v, dtype=serving_client.tf_dtype(k)) for k, v in columns.items()}
                reference = fn(**tensors)[contract.PREDICTION_KEY].numpy()
                served = np.array(rest.post("predict", body)["predictions"])
                assert np.allclose(served, reference, rtol=1e-5), "REST answers differ from in-process"
                count = max(20, requests_count // (1 if batch == 1 else 3))
                cases = {
                    "in-process": lambda: fn(**tensors),
                    "gRPC": lambda: grpc_client.prediction.Predict(request, timeout=30),
                    "REST": lambda: rest.post("predict", body),
                }
                base = None
                for name, call in cases.items():
                    figures = measure(call, count, concurrency=concurrency)
                    base = base or figures["p50_ms"]
                    figures.update(case=name, batch=batch, requests=count, rows_per_s=figures["req_per_s"] * batch,
                                   overhead_p50=figures["p50_ms"] / base)
                    results.append(figures)
        finally:
            server.stop()
        click.echo(f"server: {server_kind}{' (batching)' if enable_batching else ''}, model version {version},"
                   f" {concurrency} client thread(s), {os.cpu_count()} cores")
        click.echo(f"{'case':<11}{'batch':>6}{'reqs':>6}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'rows/s':>10}"
                   f"{'x in-proc':>11}")
        for r in results:
            click.echo(f"{r['case']:<11}{r['batch']:>6}{r['requests']:>6}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                       f"{r['req_per_s']:>9.1f}{r['rows_per_s']:>10.0f}{r['overhead_p50']:>11.2f}")
        if json_out:
            with open(json_out, "w", encoding="utf-8") as handle:
                json.dump({"server": server_kind, "results": results}, handle, indent=1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
