"""Local runner: one call of `run_local` = one pipeline run (LocalDagRunner) with per-node progress,
its output in a log file, and a summary read back from ML-Metadata (spans, metrics, blessing, push).
"""
import contextlib
import dataclasses
import datetime
import hashlib
import logging
import os
import sys
import threading
import time
import uuid
from typing import Callable, Dict, Iterator, List, Optional, TextIO

from absl import logging as absl_logging

from data.paths import REPO_ROOT, SCHEMA_PATH, SPANS_DIR, OutputLayout  # noqa: F401 (runner.OutputLayout)
from pipeline.dag import configs
from pipeline.dag.window import Window, window_for
from pipeline.local import span_check

BEAM_MODES = ("in_process", "multi_processing", "multi_threading")
DEFAULT_DATA_ROOT = SPANS_DIR
DEFAULT_SCHEMA = SCHEMA_PATH
MODEL_NAME = configs.MODEL_NAME
# The files whose content is the model code (part of the Trainer's cache key).
MODEL_CODE = tuple(os.path.join(REPO_ROOT, *p) for p in (
    ("pipeline", "model", "trainer.py"), ("pipeline", "model", "gbt.py"), ("pipeline", "model", "families.py"),
    ("data", "contract.py")))


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
    for path in MODEL_CODE:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def new_run_id() -> str:
    return f"{datetime.datetime.now().isoformat(timespec='seconds')}-{uuid.uuid4().hex[:6]}"


class Terminal:
    """Progress lines on the terminal's stderr. A line ending in " ..." (a node starting) is transient:
    on a TTY the next line overwrites it, elsewhere it is not shown (the log file has it)."""

    def __init__(self, stream: TextIO, transient: bool = True):
        self.stream, self.tty = stream, transient and stream.isatty()
        self._pending = False

    def show(self, line: str) -> None:
        if line.endswith(" ...") and not self.tty:
            return
        if self._pending:
            self.stream.write("\r\x1b[K")
        self._pending = line.endswith(" ...")
        self.stream.write(line if self._pending else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._pending:
            self.stream.write("\n")
            self._pending = False
        self.stream.flush()


@contextlib.contextmanager
def captured_output(log_path: str, verbose: bool = False) -> Iterator[Callable[[str], None]]:
    """Sends everything written to fd 1 and 2 meanwhile (TF's C++ logs, Keras epoch lines, Python
    warnings, absl, Beam workers' output) to log_path, and with `verbose` also to the terminal's stderr;
    stdout stays clean. Yields `show(line)`: a progress line for the terminal (and the log)."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal_stream = os.fdopen(os.dup(saved_err), "w", buffering=1)
    terminal = Terminal(terminal_stream, transient=not verbose)
    log = open(log_path, "a", buffering=1, errors="replace")
    lock = threading.Lock()
    read_end, write_end = os.pipe()

    def pump() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            for chunk in iter(lambda: pipe.read(65536), b""):
                text = chunk.decode("utf-8", errors="replace")
                with lock:
                    log.write(text)
                    if verbose:
                        terminal_stream.write(text)
                        terminal_stream.flush()

    reader = threading.Thread(target=pump, name="captured-output", daemon=True)
    reader.start()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    # Python's own streams onto fds 1 and 2 too, even where they had been replaced (e.g. under pytest).
    saved_streams = sys.stdout, sys.stderr
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="replace")
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="replace")

    def show(line: str) -> None:
        with lock:
            log.write(line + "\n")
            terminal.show(line)

    try:
        yield show
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved_streams
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        # EOF once every writer is gone; a stray child still holding the pipe must not block us.
        reader.join(timeout=5)
        with lock:
            terminal.close()
            log.close()
        terminal_stream.close()


@contextlib.contextmanager
def _program_name_only_in_argv() -> Iterator[None]:
    """TFX's Beam executors parse sys.argv as absl flags (base_beam_executor), where a caller's `-v`
    is absl's --verbosity: they see the program name only."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


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

    @property
    def log_path(self) -> str:
        return self.layout.log_path(self.run_id)


class PipelineRunError(RuntimeError):
    """A pipeline run failed; names the failing node and says what was (not) pushed."""


def run_local(data_root: str = DEFAULT_DATA_ROOT, output_dir: str = "outputs", *,
              span: Optional[int] = None, window: Window = 1, schema_path: str = DEFAULT_SCHEMA,
              beam_mode: str = "in_process", workers: Optional[int] = None,
              metadata: Optional[str] = None, hparams: Optional[Dict] = None,
              model_family: str = configs.MODEL_FAMILY, enable_cache: bool = True, min_auc: float = configs.MIN_AUC,
              verbose: bool = False,
              progress: Optional[Callable[[str], None]] = None, run_id: Optional[str] = None) -> RunResult:
    """Checks the span, runs the pipeline with LocalDagRunner and returns its summary.

    `window` (K spans up to `span`, or "all": 1..span): the window's earlier spans that the metadata
    store lacks are ingested first, one small run each (ExampleGen; StatisticsGen too for the span
    before `span`, the drift baseline).

    Everything the run prints (TFX, TF, Keras, Beam) goes to `<output>/logs/<run id>.log`, and with
    `verbose` to stderr as well, never to stdout. Progress lines go to `progress` (default: stderr).
    Raises span_check.BadSpanError before any node runs, PipelineRunError naming a failed node.
    """
    layout = OutputLayout(os.path.abspath(output_dir))
    run_id = run_id or new_run_id()
    with captured_output(layout.log_path(run_id), verbose) as show, _program_name_only_in_argv():
        result = _run(layout, run_id, show if progress is None else progress, os.path.abspath(data_root),
                      span=span, window=window, schema_path=schema_path, beam_mode=beam_mode, workers=workers,
                      metadata=metadata, hparams=hparams, model_family=model_family, enable_cache=enable_cache,
                      min_auc=min_auc)
    result.summary["log"] = result.log_path
    return result


def _run(layout: OutputLayout, run_id: str, progress: Callable[[str], None], data_root: str, *,
         span: Optional[int], window: Window, schema_path: str, beam_mode: str, workers: Optional[int],
         metadata: Optional[str], hparams: Optional[Dict], model_family: str, enable_cache: bool,
         min_auc: float) -> RunResult:
    span_dir = span_check.select_span(data_root, span)
    progress(f"Checking {span_dir} against {schema_path} ...")
    span_check.check_span(span_dir, schema_path)
    span = span_check.span_number(span_dir)
    window = window_for(span, window)
    spans = list(range(span - window + 1, span + 1))
    available = span_check.list_spans(data_root)
    absent = [s for s in spans if s not in available]
    if absent:
        raise span_check.BadSpanError(f"{data_root}: the training window {spans[0]}..{span} needs span(s) "
                                      f"{absent}, which have no span-N folder (available: {sorted(available)})")

    from tfx.dsl.compiler import compiler, constants
    from tfx.orchestration.portable import runtime_parameter_utils

    from data import mlmd_store
    from pipeline.pages import run_pages as reports
    from pipeline.local import summary as run_summary
    from pipeline.dag.pipeline import EXAMPLE_GEN_ID, PIPELINE_NAME, create_pipeline, ingest_pipeline
    from pipeline.dag.resolvers import ingested_spans

    metadata_spec = metadata or layout.metadata_path
    try:
        metadata_config = mlmd_store.prepare_store(metadata_spec)
        # The window's earlier spans that no run ingested yet: this run ingests them first.
        ingested = ingested_spans(mlmd_store.open_store(metadata_config), PIPELINE_NAME, EXAMPLE_GEN_ID)
    except RuntimeError as e:  # unreachable server, unwritable file: nothing ran
        raise PipelineRunError(f"{e}; no node ran") from e
    to_ingest = [s for s in spans[:-1] if s not in ingested]
    for s in to_ingest:  # every span this run reads is checked before any node runs
        progress(f"Checking {available[s]} against {schema_path} ...")
        span_check.check_span(available[s], schema_path)

    def compiled(pipeline_def, pipeline_run_id: str):
        ir = compiler.Compiler().compile(pipeline_def)
        runtime_parameter_utils.substitute_runtime_parameter(
            ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: pipeline_run_id})
        return ir

    beam_args = beam_pipeline_args(beam_mode, workers)
    for position, s in enumerate(to_ingest, start=1):
        ingest_id = f"{run_id}-ingest-span-{s}"
        progress(f"[ingest {position}/{len(to_ingest)}] span {s} is not in the metadata store: ingesting it ...")
        # Statistics only for the span before this run's: its drift baseline.
        statistics = s == span - 1
        ir = compiled(ingest_pipeline(layout.pipeline_root, data_root, s, statistics=statistics,
                                      metadata_connection_config=metadata_config, beam_pipeline_args=beam_args,
                                      enable_cache=enable_cache), ingest_id)
        ingest_start = time.monotonic()
        _execute(ir, ingest_id, layout, lambda line: None)
        progress(f"[ingest {position}/{len(to_ingest)}] span {s} ingested "
                 f"({'ExampleGen, StatisticsGen' if statistics else 'ExampleGen'}) in "
                 f"{time.monotonic() - ingest_start:.1f}s")

    ir = compiled(create_pipeline(
        pipeline_root=layout.pipeline_root, data_root=data_root, schema_path=os.path.abspath(schema_path),
        serving_model_dir=layout.serving_model_dir,
        metadata_connection_config=metadata_config,
        span=span, window=window, beam_pipeline_args=beam_args,
        hparams=hparams, model_family=model_family, code_version=code_version(), min_auc=min_auc,
        enable_cache=enable_cache), run_id)
    progress(f"Run {run_id}: {len(ir.nodes)} nodes, metadata at {mlmd_store.describe(metadata_spec)}, "
             f"log at {layout.log_path(run_id)}")
    start = time.monotonic()
    durations = _execute(ir, run_id, layout, progress)
    wall = time.monotonic() - start
    summary = run_summary.summarize_run(metadata_spec, run_id)
    summary["reports"] = reports.write_run_reports(summary, layout.root, min_auc)
    if to_ingest:
        summary["ingested_first"] = to_ingest
    return RunResult(run_id, layout, wall, durations, summary)


def _execute(ir, run_id: str, layout: OutputLayout, progress: Callable[[str], None]) -> Dict[str, float]:
    """Runs a compiled pipeline with LocalDagRunner, one progress line per node; returns node durations.
    Raises PipelineRunError naming the failed node."""
    from tfx import v1 as tfx

    node_ids = [n.pipeline_node.node_info.id for n in ir.nodes]
    handler = NodeProgress(node_ids, progress)
    absl_logger = logging.getLogger("absl")  # TFX logs through absl
    to_log = logging.StreamHandler(sys.stderr)  # fd 2: the run's log (and the terminal with verbose)
    to_log.setFormatter(logging.Formatter("%(levelname).1s %(asctime)s %(module)s] %(message)s"))
    saved = (absl_logging.get_verbosity(), absl_logger.propagate)
    # absl's verbosity, not just the logger level: TF's SavedModel export saves and restores it.
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger.propagate = False
    absl_logger.addHandler(handler)
    absl_logger.addHandler(to_log)
    try:
        tfx.orchestration.LocalDagRunner().run_with_ir(ir)
    except Exception as e:  # report which node failed; nothing downstream (Pusher) ran
        raise PipelineRunError(
            f"node {handler.current or '?'} failed in run {run_id}: {type(e).__name__}: {e}\n"
            f"Nothing was pushed by this run; {layout.serving_model_dir} is unchanged. "
            f"Log: {layout.log_path(run_id)}") from e
    finally:
        absl_logger.removeHandler(handler)
        absl_logger.removeHandler(to_log)
        absl_logging.set_verbosity(saved[0])
        absl_logger.propagate = saved[1]
    return dict(handler.durations)
