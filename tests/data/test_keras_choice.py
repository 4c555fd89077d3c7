"""The Keras choice (data/keras_choice.py) reaches every process: each entry package makes it on
import, and a child process and a Beam worker started afterwards load the same Keras as the parent."""
import json
import os
import subprocess
import sys

import pytest

from data import keras_choice
from pipeline.local.runner import REPO_ROOT

PROBE = """
import json, os, sys
def probe(_):
    import json, os
    import tensorflow as tf
    return json.dumps({"pid": os.getpid(), "env": os.environ.get("TF_USE_LEGACY_KERAS"),
                       "keras": tf.keras.Model.__module__.split(".")[0]})
"""

# Parent: imports `data` only (no TensorFlow yet), then a child process and a multi-processing Beam
# worker report what they see.
PARENT = PROBE + """
import data
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
out = sys.argv[1]
import subprocess
child = subprocess.run(
    [sys.executable, "-c", PROBE_SOURCE + "print(probe(None))"], capture_output=True, text=True, check=True)
with open(os.path.join(out, "child.json"), "w") as f:
    f.write(child.stdout.strip().splitlines()[-1])

def write(line, folder):
    import os
    with open(os.path.join(folder, "worker.json"), "w") as f:
        f.write(line)

options = PipelineOptions(["--direct_running_mode=multi_processing", "--direct_num_workers=1"])
with beam.Pipeline(options=options) as p:
    _ = p | beam.Create([0]) | beam.Map(probe) | beam.Map(write, out)
print(probe(None))
"""


@pytest.mark.parametrize("package", ["pipeline", "serving", "data"])
def test_importing_an_entry_package_makes_the_choice(package):
    env = {k: v for k, v in os.environ.items() if k != keras_choice.VARIABLE}
    completed = subprocess.run(
        [sys.executable, "-c", f"import os, sys, {package}; "
         f"print(os.environ.get({keras_choice.VARIABLE!r}), 'tensorflow' in sys.modules)"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split() == [keras_choice.VALUE, "False"]


def test_an_inherited_other_value_is_overridden():
    env = dict(os.environ, **{keras_choice.VARIABLE: "0"})
    completed = subprocess.run(
        [sys.executable, "-c", f"import os, pipeline; print(os.environ[{keras_choice.VARIABLE!r}])"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert completed.stdout.strip() == keras_choice.VALUE, completed.stderr[-2000:]


def test_child_process_and_beam_worker_see_the_same_keras(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != keras_choice.VARIABLE}
    source = PARENT.replace("PROBE_SOURCE", repr(PROBE))
    completed = subprocess.run([sys.executable, "-c", source, str(tmp_path)], capture_output=True, text=True,
                               env=env, cwd=REPO_ROOT, timeout=540)
    assert completed.returncode == 0, completed.stderr[-3000:]
    parent = json.loads(completed.stdout.strip().splitlines()[-1])
    child = json.loads((tmp_path / "child.json").read_text())
    worker = json.loads((tmp_path / "worker.json").read_text())
    assert len({parent["pid"], child["pid"], worker["pid"]}) == 3  # three processes
    for seen in (parent, child, worker):
        assert seen["env"] == keras_choice.VALUE
        assert seen["keras"] == "tf_keras", seen  # legacy Keras 2.16, not Keras 3 ("keras")
