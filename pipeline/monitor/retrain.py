"""An alert's retraining: the continuous-training step for the newest span (the `run` a `ct` replay makes for each
span: window `configs.TRAINING_WINDOW`, whose spans the store lacks the run ingests first; the model being served as
baseline and warm start), linked in ML-Metadata to the alert that started it. Where it cannot run here (no local output
folder to push to) it prints the exact command instead."""
import os
import shlex
import sys
from typing import Any, Callable, Dict, Optional

from data import contract
from data import mlmd_store
from pipeline.dag import configs
from pipeline.dag.window import window_for
from pipeline.mlmd import records as R
from pipeline.monitor import records


def pipeline_output_of(served) -> Optional[str]:
    """The local output folder whose serving_model/ holds the served version (OutputLayout), else None."""
    from pipeline.local import runner
    destination = R.prop(served.pushed, "pushed_destination")
    if not destination:
        return None
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(destination))))
    return root if runner.OutputLayout(root).serving_model_dir == os.path.dirname(os.path.abspath(destination)) \
        else None


def training_window(span: int) -> int:
    """The production window (configs.TRAINING_WINDOW) for `span`; `run` ingests the spans the store lacks."""
    return window_for(span, configs.TRAINING_WINDOW)


def command(span: int, window: int, data_root: str, output: str, metadata: str) -> str:
    return " ".join(shlex.quote(x) for x in (
        "python", "-m", "pipeline", "run", "--span", str(span), "--window", str(window),
        "--data", data_root, "--output", output, "--metadata", metadata))


def retrain(store, metadata: str, served, report_id: int, result: Dict[str, Any], *,
            data_root: Optional[str] = None, pipeline_output: Optional[str] = None,
            progress: Callable[[str], None] = lambda line: None) -> Dict[str, Any]:
    """Runs the pipeline on the newest span of `data_root` (or says the command); records MonitorRetrain."""
    from pipeline.local import runner, span_check
    data_root = os.path.abspath(data_root or runner.DEFAULT_DATA_ROOT)
    output = pipeline_output or pipeline_output_of(served)
    try:
        span = span_check.span_number(span_check.select_span(data_root, None))
    except (span_check.BadSpanError, OSError, ValueError) as e:
        return {"ran": False, "reason": f"no span to train on: {' '.join(str(e).split())}",
                "command": command(0, 1, data_root, output or "OUTPUT", metadata).replace("--span 0", "--span N")}
    window = training_window(span)
    exact = command(span, window, data_root, output or "OUTPUT", metadata)
    if output is None:
        reason = ("the pipeline's output folder is unknown (the served version was not pushed to a local "
                  "<output>/serving_model/ folder): give --pipeline-output")
        print(f"Retraining not started: {reason}. Run: {exact}", file=sys.stderr)
        return {"ran": False, "reason": reason, "command": exact, "span": span}
    progress(f"Alert: retraining on span {span} (window {window}): {exact}")
    try:
        run = runner.run_local(data_root, output, span=span, window=window,
                               metadata=metadata, progress=progress)
    except (span_check.BadSpanError, runner.PipelineRunError) as e:
        message = " ".join(str(e).split())
        store = mlmd_store.open_store(metadata)
        records.record_retrain(store, contract.MODEL_NAME, report_id,
                               {"span": span, "command": exact, "failed": message})
        return {"ran": True, "failed": message, "command": exact, "span": span}
    summary = run.summary
    store = mlmd_store.open_store(metadata)  # the run wrote through its own connection
    values = {"run_id": run.run_id, "span": span, "command": exact, "pushed": bool(summary.get("pushed")),
              "pushed_version": summary.get("pushed_version"), "trained_on": summary.get("training_spans"),
              "training_window": window, "monitoring_window": result["window"]}
    execution = records.record_retrain(store, contract.MODEL_NAME, report_id, values)
    return {"ran": True, **values, "execution": execution, "log": run.log_path}
