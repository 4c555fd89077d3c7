"""Continuous monitoring of the served model from its request logs (`python -m pipeline monitor`): skew against
the training data, drift against the previous window, prediction drift, decay with late labels, recorded in
ML-Metadata, and the retraining an alert starts."""
