"""Local runner: runs `create_pipeline` with LocalDagRunner, shows per-node progress, and returns a
summary read back from ML-Metadata (spans, metrics, blessing, push destination)."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import dataclasses  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Callable, Dict, List, Optional  # noqa: E402

from absl import logging as absl_logging  # noqa: E402

from pipeline import span_check  # noqa: E402

BEAM_MODES = ("in_process", "multi_processing", "multi_threading")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_ROOT = os.path.join(REPO_ROOT, "data", "spans")
DEFAULT_SCHEMA = os.path.join(REPO_ROOT, "data", "schema", "schema.pbtxt")
MODEL_NAME = "flight_delay"


@dataclasses.dataclass
class OutputLayout:
    """Where one output directory keeps the pipeline root, the metadata store and pushed models."""
    root: str

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.root, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.root, "metadata.sqlite")

    @property
    def serving_model_dir(self) -> str:
        return os.path.join(self.root, "serving_model", MODEL_NAME)


def beam_pipeline_args(mode: str = "in_process", workers: Optional[int] = None) -> List[str]:
    """Beam DirectRunner args: in-process (default, fastest start-up) or multi-processing/threading.

    `--setup_file` names this project's setup.py as the workers' dependencies; without any such flag
    TFX builds an sdist of itself for every Beam node (~1.7 s each), which local workers never use.
    """
    if mode not in BEAM_MODES:
        raise ValueError(f"--beam-mode must be one of {BEAM_MODES}, got {mode!r}")
    dependencies = [f"--setup_file={os.path.join(REPO_ROOT, 'setup.py')}"]
    if mode == "in_process":
        return ["--direct_running_mode=in_memory", "--direct_num_workers=1"] + dependencies
    return [f"--direct_running_mode={mode}", f"--direct_num_workers={workers or os.cpu_count() or 1}"] + dependencies


def code_version() -> str:
    """Digest of the model code, so the Trainer's cache key changes when the code does."""
    digest = hashlib.sha256()
    for module in (os.path.join("pipeline", "trainer.py"), os.path.join("data", "contract.py")):
        with open(os.path.join(REPO_ROOT, module), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


class NodeProgress(logging.Handler):
    """Turns LocalDagRunner's 'Component X is running/finished' log lines into progress lines."""

    def __init__(self, node_ids: List[str], emit: Callable[[str], None]):
        super().__init__(level=logging.INFO)
        self.node_ids, self._emit, self.started, self.durations = node_ids, emit, {}, {}
        self.current: Optional[str] = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for verb in ("running", "finished"):
            prefix, suffix = "Component ", f" is {verb}."
            if message.startswith(prefix) and message.endswith(suffix):
                node = message[len(prefix):-len(suffix)]
                self._on(node, verb)

    def _on(self, node: str, verb: str) -> None:
        position = f"[{self.node_ids.index(node) + 1}/{len(self.node_ids)}]" if node in self.node_ids else "[?]"
        if verb == "running":
            self.current, self.started[node] = node, time.monotonic()
            self._emit(f"{position} {node} ...")
        else:
            self.durations[node] = time.monotonic() - self.started.get(node, time.monotonic())
            self._emit(f"{position} {node} done in {self.durations[node]:.1f}s")


@dataclasses.dataclass
class RunResult:
    run_id: str
    layout: OutputLayout
    wall_seconds: float
    node_seconds: Dict[str, float]
    summary: Dict


class PipelineRunError(RuntimeError):
    """A pipeline run failed; names the failing node and says what was (not) pushed."""


def run_local(data_root: str = DEFAULT_DATA_ROOT, output_dir: str = "outputs", *,
              span: Optional[int] = None, window: int = 1, schema_path: str = DEFAULT_SCHEMA,
              beam_mode: str = "in_process", workers: Optional[int] = None,
              metadata: Optional[str] = None, hparams: Optional[Dict] = None,
              enable_cache: bool = True, min_auc: float = 0.60, verbose: bool = False,
              progress: Callable[[str], None] = print) -> RunResult:
    """Checks the span, runs the pipeline with LocalDagRunner and returns its summary."""
    from tfx import v1 as tfx
    from tfx.dsl.compiler import compiler, constants
    from tfx.orchestration.portable import runtime_parameter_utils

    from pipeline import metadata as mlmd_config
    from pipeline import reports
    from pipeline import summary as run_summary
    from pipeline.pipeline import create_pipeline

    layout = OutputLayout(os.path.abspath(output_dir))
    os.makedirs(layout.root, exist_ok=True)
    data_root = os.path.abspath(data_root)
    span_dir = span_check.select_span(data_root, span)
    progress(f"Checking {span_dir} against {schema_path}")
    span_check.check_span(span_dir, schema_path)

    metadata_spec = metadata or layout.metadata_path
    pipeline_def = create_pipeline(
        pipeline_root=layout.pipeline_root, data_root=data_root, schema_path=os.path.abspath(schema_path),
        serving_model_dir=layout.serving_model_dir,
        metadata_connection_config=mlmd_config.prepare_store(metadata_spec),
        span=span_check.span_number(span_dir), window=window, beam_pipeline_args=beam_pipeline_args(beam_mode, workers),
        hparams=hparams, code_version=code_version(), min_auc=min_auc, enable_cache=enable_cache)
    ir = compiler.Compiler().compile(pipeline_def)
    run_id = f"{datetime.datetime.now().isoformat(timespec='seconds')}-{uuid.uuid4().hex[:6]}"
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    node_ids = [n.pipeline_node.node_info.id for n in ir.nodes]
    progress(f"Run {run_id}: {len(node_ids)} nodes, metadata at {mlmd_config.describe(metadata_spec)}")

    handler = NodeProgress(node_ids, progress)
    absl_logger = logging.getLogger("absl")  # TFX logs through absl
    saved = (absl_logging.get_verbosity(), absl_logger.propagate)
    # absl's verbosity, not just the logger level: TF's SavedModel export saves and restores it.
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger.propagate = verbose
    absl_logger.addHandler(handler)
    start = time.monotonic()
    try:
        tfx.orchestration.LocalDagRunner().run_with_ir(ir)
    except Exception as e:  # report which node failed; nothing downstream (Pusher) ran
        raise PipelineRunError(
            f"node {handler.current or '?'} failed in run {run_id}: {type(e).__name__}: {e}\n"
            f"Nothing was pushed by this run; {layout.serving_model_dir} is unchanged.") from e
    finally:
        absl_logger.removeHandler(handler)
        absl_logging.set_verbosity(saved[0])
        absl_logger.propagate = saved[1]
    wall = time.monotonic() - start
    summary = run_summary.summarize_run(metadata_spec, run_id)
    summary["reports"] = reports.write_run_reports(summary, layout.root, min_auc)
    return RunResult(run_id, layout, wall, dict(handler.durations), summary)
