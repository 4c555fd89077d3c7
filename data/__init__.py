"""Flight data: column contract, spans, schema. Importing it makes the project's Keras choice."""
from data import keras_choice  # noqa: F401  (first: before anything imports TensorFlow)
