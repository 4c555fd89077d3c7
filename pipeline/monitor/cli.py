"""`python -m pipeline monitor --logs DIR --metadata STORE [--labels CSV] [--output DIR] [--json] [--retrain]`.

Exit status: 0 without an alert, 3 with one, 1 on bad input (one line naming the file). With --json stdout is
one JSON object; progress goes to stderr, TensorFlow's and Beam's own output to <output>/monitor.log.
"""
import json
import os
import sys

import click

from pipeline.monitor.window import BadInput, default_output, window_id

ALERT_EXIT = 3
BAD_INPUT_EXIT = 1


@click.command("monitor")
@click.option("--logs", "logs_dir", required=True, help="Folder of request logs (TFRecord files of PredictionLog).")
@click.option("--metadata", required=True, help="MLMD store of the pipeline: SQLite path or mysql://user@host:port/db.")
@click.option("--labels", "labels_path", default=None,
              help="Labels that arrived later: a span CSV (or a replay's labels file), joined on the flight's key.")
@click.option("--output", "output_dir", default=None,
              help="Folder of this window's page, statistics and JSON (default: <store folder>/monitoring/<window>).")
@click.option("--version", "version", type=int, default=None,
              help="Monitor this model version (default: the one that answered most logged requests).")
@click.option("--retrain", is_flag=True, help="On an alert, retrain on the newest span (or print the command).")
@click.option("--data", "data_root", default=None, type=click.Path(file_okay=False),
              help="Span folders for --retrain (default: data/spans).")
@click.option("--pipeline-output", default=None,
              help="The pipeline's output folder for --retrain (default: the one the served version was pushed from).")
@click.option("--verbose", "-v", is_flag=True, help="Also show TensorFlow's and Beam's output on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def monitor(logs_dir, metadata, labels_path, output_dir, version, retrain, data_root, pipeline_output, verbose,
            as_json):
    """Skew, drift, prediction drift and decay of the served model from its request logs."""
    from pipeline.local import runner
    window = window_id()
    output_dir = os.path.abspath(output_dir or default_output(metadata, window))
    try:
        with runner.captured_output(os.path.join(output_dir, "monitor.log"), verbose) as show:
            from pipeline.monitor import job  # TensorFlow's start-up lines go to the log
            result = job.run(logs_dir, metadata, labels_path=labels_path, output_dir=output_dir, version=version,
                             retrain=retrain, window=window, data_root=data_root, pipeline_output=pipeline_output,
                             progress=show)
    except BadInput as e:
        click.echo(f"ERROR: {' '.join(str(e).split())}", err=True)
        sys.exit(BAD_INPUT_EXIT)
    if as_json:
        click.echo(json.dumps(result, sort_keys=True, default=str))
    else:
        click.echo(summary(result))
    sys.exit(ALERT_EXIT if result["alert"] else 0)


def summary(result) -> str:
    lines = [("ALERT: " + "; ".join(result["reasons"])) if result["alert"] else "No alert.",
             f"Model {result['model_name']} v{result['model_version']} "
             f"(trained on spans {result['training']['spans']}), "
             f"{result['logs']['rows']} logged rows."]
    for name in ("skew", "drift"):
        fired = [f for f in result[name] if f["status"] != "ok"]
        lines.append(f"{name}: " + (", ".join(f"{f['feature'] or f['check']} {f['distance']:.3f} "
                                                f"({f['status']}, block > {f['threshold']})" for f in fired
                                                if f["distance"] is not None) or "nothing beyond a threshold"))
    p = result.get("prediction_drift")
    if p:
        lines.append(f"prediction drift: JSD {p['distance']:.3f} (block > {p['threshold']}), mean answer "
                     f"{p['live_mean']:.3f} vs {p['reference_mean']:.3f} on the eval split")
    d = result.get("decay")
    if d:
        for k, m in d["metrics"].items():
            if m["live"] is not None and m["reference"] is not None:
                lines.append(f"decay {k}: live {m['live']:.4f} vs eval split {m['reference']:.4f}, "
                             f"interval {[round(x, 4) for x in m['interval']]}" + (" ALERT" if m["alert"] else ""))
    r = result.get("retrain")
    if r:
        lines.append(f"retrain: {r}")
    lines.append(f"Page: {result['page']}")
    return "\n".join(lines)
