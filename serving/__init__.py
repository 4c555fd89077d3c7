"""Model serving: the TF-Serving-compatible model server (server/), delivery of new versions (delivery/:
labels, registry, nginx rollouts, canary analysis), REST/gRPC clients (client.py), benchmarks (tools/),
production config files (deploy/) and the `python -m serving` commands. Importing it makes the Keras choice."""
from data import keras_choice  # noqa: F401  (first: before anything imports TensorFlow)
