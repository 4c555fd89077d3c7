"""The Trainer's model families: name -> module whose `train_and_export` fits and exports that model.

Every family takes the same arguments (training files, schema, export directory, hparams, log dir,
base model) and exports the serving contract of data/contract.py. The pipeline's family is
`pipeline/dag/configs.py` MODEL_FAMILY, passed to the Trainer in its custom config.
"""
import importlib
from typing import Callable

FAMILIES = {"keras": "pipeline.model.trainer", "gbt": "pipeline.model.gbt"}
DEFAULT = "keras"  # what a Trainer without a family in its custom config trains


def train_fn(family: str) -> Callable:
    """The family's `train_and_export`; ValueError naming the known families for another name."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}: one of {sorted(FAMILIES)}")
    return importlib.import_module(FAMILIES[family]).train_and_export
