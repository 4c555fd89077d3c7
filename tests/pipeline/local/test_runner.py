"""pipeline/local/runner.py without a full pipeline run: output capture, progress lines, layout, early errors."""
import logging
import os
import subprocess
import sys

import pytest

from pipeline.local import runner, span_check
from pipeline.local.runner import REPO_ROOT

FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")
CHILD = ("import sys; print('child stdout line'); print('child stderr line', file=sys.stderr)")


def noisy_run(show):
    """What a run does to the process's fds: Python prints, fd-level writes, a child process, progress."""
    print("python stdout line")
    print("python stderr line", file=sys.stderr)
    os.write(1, b"fd1 line\n")
    subprocess.run([sys.executable, "-c", CHILD], check=True)
    show("[1/2] Node done in 0.1s")


@pytest.mark.parametrize("verbose", [False, True])
def test_captured_output_keeps_stdout_clean_and_logs_everything(tmp_path, capfd, verbose):
    log_path = str(tmp_path / "logs" / "run.log")
    with runner.captured_output(log_path, verbose) as show:
        noisy_run(show)
    out, err = capfd.readouterr()
    assert out == ""
    noise = ("python stdout line", "python stderr line", "fd1 line", "child stdout line", "child stderr line")
    log = open(log_path).read()
    for line in noise + ("[1/2] Node done in 0.1s",):
        assert line in log
    assert "[1/2] Node done in 0.1s" in err
    for line in noise:
        assert (line in err) is verbose, line
    # fds are restored afterwards
    print("after")
    assert capfd.readouterr().out == "after\n"


def test_terminal_drops_transient_lines_when_not_a_tty(tmp_path):
    with open(tmp_path / "t", "w") as stream:
        terminal = runner.Terminal(stream)
        for line in ("[1/2] A ...", "[1/2] A done in 1.0s", "[2/2] B ..."):
            terminal.show(line)
        terminal.close()
    assert open(tmp_path / "t").read() == "[1/2] A done in 1.0s\n"


def test_terminal_overwrites_transient_lines_on_a_tty():
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as stream:
        terminal = runner.Terminal(stream)
        for line in ("[1/2] A ...", "[1/2] A done in 1.0s", "[2/2] B ..."):
            terminal.show(line)
        terminal.close()
    chunks = []
    while True:  # everything written, until the closed follower side reads as EOF (EIO on Linux)
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    written = b"".join(chunks).decode()
    # the tty turns "\n" into "\r\n"
    assert written == "[1/2] A ...\r\x1b[K[1/2] A done in 1.0s\r\n[2/2] B ...\r\n"


def test_node_progress_turns_tfx_log_lines_into_progress_lines():
    lines = []
    handler = runner.NodeProgress(["CsvExampleGen", "Trainer"], lines.append)
    logger = logging.getLogger("test_runner.progress")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("Component %s is running.", "Trainer")
        logger.info("unrelated line")
        logger.info("Component %s is finished.", "Trainer")
    finally:
        logger.removeHandler(handler)
    assert lines[0] == "[2/2] Trainer ..."
    assert lines[1].startswith("[2/2] Trainer done in ") and lines[1].endswith("s")
    assert len(lines) == 2 and handler.current == "Trainer" and set(handler.durations) == {"Trainer"}


def test_beam_args():
    assert runner.beam_pipeline_args()[:2] == ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    assert runner.beam_pipeline_args("multi_processing", 3)[:2] == [
        "--direct_running_mode=multi_processing", "--direct_num_workers=3"]
    assert all(a.startswith("--setup_file=") for a in runner.beam_pipeline_args()[2:])
    with pytest.raises(ValueError, match="--beam-mode must be one of"):
        runner.beam_pipeline_args("dataflow")


def test_code_version_covers_the_model_code():
    assert [os.path.relpath(p, REPO_ROOT) for p in runner.MODEL_CODE] == [
        "pipeline/model/trainer.py", "pipeline/model/gbt.py", "pipeline/model/families.py", "data/contract.py"]
    version = runner.code_version()
    assert len(version) == 16 and version == runner.code_version()


def test_layout_and_log_path(tmp_path):
    layout = runner.OutputLayout(str(tmp_path))
    assert layout.serving_model_dir == str(tmp_path / "serving_model" / runner.MODEL_NAME)
    path = layout.log_path("2026-12-01T08:00:00-abcdef")
    assert path == str(tmp_path / "logs" / "2026-12-01T08-00-00-abcdef.log")


def test_bad_span_fails_before_anything_runs(tmp_path, capfd):
    span_dir = tmp_path / "spans" / "span-1"
    span_dir.mkdir(parents=True)
    lines = open(os.path.join(FIXTURES, "span-1", "flights.csv")).read().splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index("temp")] = "warm"
    lines[3] = ",".join(row)
    (span_dir / "flights.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(span_check.BadSpanError, match=r"flights.csv: line 4, column 'temp': value 'warm'"):
        runner.run_local(str(tmp_path / "spans"), str(tmp_path / "out"), run_id="2026-12-01T08:00:00-bad000")
    assert capfd.readouterr().out == ""
    log = open(runner.OutputLayout(str(tmp_path / "out")).log_path("2026-12-01T08:00:00-bad000")).read()
    assert f"Checking {span_dir} against" in log
    assert not (tmp_path / "out" / "metadata.sqlite").exists()
