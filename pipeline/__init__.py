"""Flight-delay TFX pipeline: the DAG (dag/), the model (model/), local runs (local/), ML-Metadata readers
(mlmd/), lineage questions (lineage/), continuous training (ct/), report pages (pages/), Vertex (vertex/),
benchmarks and studies (tools/), and the `python -m pipeline` commands. Importing it makes the Keras choice."""
from data import keras_choice  # noqa: F401  (first: before anything imports TensorFlow)
