"""The project's one Keras choice: legacy Keras (tf_keras 2.16), which TFX 1.16 and TFMA 0.47 are built for.

TF 2.16 gives Keras 3 for `tf.keras` unless TF_USE_LEGACY_KERAS=1, and importing tensorflow_transform
sets it only when unset, so without one decision a parent and its children (Beam workers, the model
server) could load different Kerases. Importing this module makes the decision for the whole process
tree: the package __init__ of pipeline, serving and data import it first, so every entry point
(`python -m pipeline|serving|data...`, the trainer module TFX loads, pytest via tests/conftest.py) has it
before any TensorFlow import, and child processes inherit it through the environment. An inherited
other value is overridden: the project is not tested on Keras 3.
"""
import os

VARIABLE = "TF_USE_LEGACY_KERAS"
VALUE = "1"
# What the process started with (the pipeline image must set it: TFX's own executors do not import us).
INHERITED = os.environ.get(VARIABLE)

os.environ[VARIABLE] = VALUE
