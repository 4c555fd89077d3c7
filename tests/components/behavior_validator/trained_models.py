"""Real SavedModels of the project's trainer (pipeline/model/trainer.py, and gbt.py for the `gbt_` ones) on
the span-1 fixture, for the A/A and weakened-candidate tests of the statistical gates.

Trained in a child process (`python -m tests.components.behavior_validator.trained_models DIR NAME...`):
the trainer turns on TensorFlow's op determinism, which must not leak into the test process.
"""
import os
import random
import subprocess
import sys
from typing import Dict, List

from tests import gbt_model
from tests.components.behavior_validator import testdata

SPANS_DIR = os.path.dirname(os.path.dirname(testdata.SPAN1_CSV))
SCHEMA = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, "data", "schema",
                      "schema.pbtxt")

SEED_A = "seed_42"               # the span's model
SEED_B = "seed_7"                # same data and hyperparameters, another seed
FIVE_PERCENT = "five_percent"    # 5% of the span (75 flights)
RAIN_ON_TIME = "rain_on_time"    # label bug: every flight with precipitation labelled on time
UA_NEVER_LATE = "ua_never_late"  # label bug: no UA flight labelled late
GBT_SEED_A, GBT_SEED_B = "gbt_seed_42", "gbt_seed_7"  # gradient-boosted trees (TF-DF)
GBT_UA_NEVER_LATE = "gbt_ua_never_late"
# name -> (training rows variant, seed, model family)
MODELS = {SEED_A: ("span", 42, "keras"), SEED_B: ("span", 7, "keras"), FIVE_PERCENT: ("five_percent", 42, "keras"),
          RAIN_ON_TIME: ("rain_on_time", 42, "keras"), UA_NEVER_LATE: ("ua_never_late", 42, "keras"),
          GBT_SEED_A: ("span", 42, "gbt"), GBT_SEED_B: ("span", 7, "gbt"),
          GBT_UA_NEVER_LATE: ("ua_never_late", 42, "gbt")}


def span_rows(span: int) -> List[Dict[str, object]]:
    return testdata.csv_rows(os.path.join(SPANS_DIR, f"span-{span}", "flights.csv"))


def training_rows(variant: str) -> List[Dict[str, object]]:
    rows = [dict(r) for r in span_rows(1)]
    if variant == "five_percent":
        return random.Random(5).sample(rows, len(rows) // 20)
    for r in rows:
        if (variant == "rain_on_time" and (r["precip"] or 0) > 0) or \
                (variant == "ua_never_late" and r["carrier"] == "UA"):
            r["late"] = 0
    return rows


def train(root: str, names=tuple(MODELS)) -> Dict[str, str]:
    """Trains the named models under root (in a child process); returns name -> SavedModel dir."""
    root_dir = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))
    subprocess.run([sys.executable, "-m", __name__, root, *names], check=True, cwd=root_dir,
                   env={**os.environ, "PYTHONPATH": root_dir})
    return {n: os.path.join(root, "models", n) for n in names}


def _main(root: str, names: List[str]) -> None:
    from pipeline.model import families  # pylint: disable=import-outside-toplevel
    for name in names:
        variant, seed, family = MODELS[name]
        split = os.path.join(root, "train", variant)
        if not os.path.exists(split):
            testdata.write_split(split, training_rows(variant), shards=1)
        hparams = {"seed": seed, **(gbt_model.HPARAMS if family == "gbt" else {})}  # few trees: fast
        families.train_fn(family)([os.path.join(split, "*")], SCHEMA, os.path.join(root, "models", name),
                                  hparams=hparams)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2:])
