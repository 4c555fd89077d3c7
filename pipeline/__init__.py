"""Flight-delay TFX pipeline: DAG, local runner, CLI, lineage. Importing it makes the Keras choice."""
from pipeline import keras_choice  # noqa: F401  (first: before anything imports TensorFlow)
