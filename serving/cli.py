"""`python -m serving ...`: registers the command families and holds the client's own commands.

- `serve` (serving/server/cli.py): start a model server on the pushed models;
- `predict`, `status` (here): talk to a running server over REST or gRPC;
- `replay` (here): send a span's rows to a server as live traffic (serving/replay.py);
- `labels promote|rollback|set` (serving/delivery/cli.py): move version labels in models.config;
- `registry`, `deploy`, `rollout ...`, `proxy`, `proxy-logger` (serving/delivery/cli.py): the model registry,
  starting a deployment of registry versions, delivery through nginx (and request logs for servers that
  cannot log).
"""
import json
import sys

import click

from serving import client as serving_client
from serving.cli_support import fail as _fail, model_option
from serving.server.command import LOCAL_GRPC, LOCAL_REST


@click.group()
def main():
    """Serve pushed flight-delay models with TF Serving's API, talk to a server, deliver new versions."""


def _rows(csv_path, json_path, limit):
    if bool(csv_path) == bool(json_path):
        raise click.UsageError("give exactly one of --csv or --json")
    path = csv_path or json_path
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    try:
        rows = (serving_client.rows_from_csv(text, limit) if csv_path
                else serving_client.rows_from_json(text)[:limit or None])
    except ValueError as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    if not rows:
        raise click.ClickException(f"{path}: no rows")
    return rows


@main.command()
@click.option("--csv", "csv_path", help="CSV with the contract's feature columns (a span file works; '-' = stdin).")
@click.option("--json", "json_path", help="JSON object / list of objects / {\"instances\": [...]}.")
@click.option("--rows", "limit", default=10, show_default=True, help="Predict at most this many rows (0 = all).")
@click.option("--protocol", type=click.Choice(["rest", "grpc"]), default="rest", show_default=True)
@click.option("--examples/--raw-features", default=False,
              help="Send tf.Examples to serving_tf_example instead of raw features to serving_default.")
@click.option("--server", default=None, help="host:port of the REST or gRPC API (default 127.0.0.1:8501 for REST,"
                                             " 127.0.0.1:8500 for gRPC); REST also takes http(s)://host:port.")
@model_option
@click.option("--version", type=int, default=None)
@click.option("--label", default=None)
def predict(csv_path, json_path, limit, protocol, examples, server, model_name, version, label):
    """Predict late_probability for CSV/JSON rows; prints one JSON line per row."""
    from data import contract
    rows = _rows(csv_path, json_path, limit)
    try:
        if protocol == "rest":
            rest = serving_client.RestClient(server or LOCAL_REST, model_name)
            if examples:
                import base64
                instances = [{"b64": base64.b64encode(serving_client.example_from_row(r).SerializeToString())
                              .decode()} for r in rows]
                answer = rest.predict(instances=instances, signature_name=contract.EXAMPLES_SIGNATURE,
                                      version=version, label=label)
            else:
                answer = rest.predict(instances=rows, version=version, label=label)
            probabilities = answer["predictions"]
        else:
            grpc_client = serving_client.GrpcClient(server or LOCAL_GRPC, model_name)
            outputs = (grpc_client.predict_examples(rows, version, label) if examples else
                       grpc_client.predict(serving_client.columns_from_rows(rows), version=version, label=label))
            probabilities = outputs[contract.PREDICTION_KEY].tolist()
    except serving_client.ServingClientError as exc:
        _fail(exc)
    for row, p in zip(rows, probabilities):
        p = p[contract.PREDICTION_KEY] if isinstance(p, dict) else p
        click.echo(json.dumps({contract.PREDICTION_KEY: p, "late": int(p >= contract.DECISION_THRESHOLD),
                               "carrier": row["carrier"], "flight": row["flight"]}))


@main.command()
@click.option("--protocol", type=click.Choice(["rest", "grpc"]), default="rest", show_default=True)
@click.option("--server", default=None, help="host:port of the REST or gRPC API (REST also takes http(s)://host:port).")
@model_option
@click.option("--metadata", is_flag=True, help="Print the signature metadata instead of the version status.")
def status(protocol, server, model_name, metadata):
    """Version states (or metadata) of a served model."""
    from google.protobuf import json_format
    try:
        if protocol == "rest":
            rest = serving_client.RestClient(server or LOCAL_REST, model_name)
            answer = rest.metadata() if metadata else rest.status()
        else:
            grpc_client = serving_client.GrpcClient(server or LOCAL_GRPC, model_name)
            answer = json_format.MessageToDict(
                grpc_client.metadata() if metadata else grpc_client.status(), preserving_proto_field_name=True)
    except serving_client.ServingClientError as exc:
        _fail(exc)
    click.echo(json.dumps(answer, indent=1))


@main.command()
@click.option("--csv", "csv_path", required=True, help="A span file (data/spans/span-N/flights.csv) or any CSV"
              " with the contract's feature columns.")
@click.option("--rate", type=float, default=10.0, show_default=True, help="Requests per second (one row each).")
@click.option("--protocol", type=click.Choice(["rest", "grpc"]), default="rest", show_default=True)
@click.option("--target", default=None, help="HOST:PORT of the server's REST or gRPC port; loopback only"
              " (default 127.0.0.1:8501 for REST, 127.0.0.1:8500 for gRPC).")
@click.option("--limit", type=int, default=0, show_default=True, help="Send at most this many rows (0 = all).")
@click.option("--max-seconds", type=float, default=600.0, show_default=True, help="Stop sending after this long.")
@click.option("--concurrency", type=int, default=4, show_default=True, help="Requests in flight at most (<= 8).")
@click.option("--labels-out", default=None, help="Write the natural key and label of every row sent here (CSV),"
              " to join with the request logs once the labels are known.")
@model_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def replay(csv_path, rate, protocol, target, limit, max_seconds, concurrency, labels_out, model_name, as_json):
    """Send a span's rows to a model server as requests at --rate, bounded by --limit and --max-seconds;
    progress on stderr. Exit 1 when a request failed."""
    from serving import replay as replayer
    target = target or (LOCAL_REST.split("//", 1)[1] if protocol == "rest" else LOCAL_GRPC)
    try:
        replayer.loopback_target(target)
        replayer.check_rate(rate)
        rows = replayer.read_rows(csv_path, limit, with_labels=bool(labels_out))
        result = replayer.replay(rows, target, protocol, rate, model_name, max_seconds, concurrency,
                                 progress=replayer.progress_to_stderr)
    except replayer.ReplayError as exc:
        _fail(exc)
    if labels_out:
        replayer.write_labels(labels_out, [rows[i] for i in result["sent_rows"]])
        result["labels_out"] = labels_out
    del result["sent_rows"]
    if as_json:
        click.echo(json.dumps(result, indent=1))
    else:
        click.echo(f"replayed {result['sent']} of {result['rows']} row(s) of {csv_path} to {target} ({protocol})"
                   f" in {result['seconds']:.1f}s ({result['rate']} req/s): {result['ok']} ok, {result['failed']}"
                   f" failed{' ' + json.dumps(result['errors']) if result['errors'] else ''}; latency p50"
                   f" {result['latency_ms_p50']} ms, p99 {result['latency_ms_p99']} ms"
                   + ("; stopped by --max-seconds" if result["stopped_by_time"] else "")
                   + (f"; labels: {labels_out}" if labels_out else ""))
    if result["failed"]:
        sys.exit(1)


def _register():
    from serving.delivery.cli import deploy, labels, proxy, proxy_logger, registry, rollout
    from serving.server.cli import serve
    for command in (serve, labels, registry, deploy, rollout, proxy, proxy_logger):
        main.add_command(command)


_register()
