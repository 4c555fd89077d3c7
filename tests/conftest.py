"""Suite-wide settings: the project's Keras choice for the test process and every process it starts
(see pipeline/keras_choice.py), before any test module imports TensorFlow."""
import os

from pipeline import keras_choice  # noqa: F401

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
