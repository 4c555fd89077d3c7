"""A small real gradient-boosted SavedModel (pipeline/model/gbt.py) trained on the fixture spans, shared
by the tests of the trainer, the model server and the behaviour validator (session fixture `gbt_model`
in tests/conftest.py)."""
import dataclasses
import os
from typing import List

from data.paths import REPO_ROOT

FIXTURE_SPANS = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")
SCHEMA = os.path.join(REPO_ROOT, "data", "schema", "schema.pbtxt")
HPARAMS = {"num_trees": 60}


@dataclasses.dataclass
class GbtModel:
    path: str              # the exported SavedModel
    train_files: List[str]  # gzipped tf.Examples it was trained on (fixture spans 1 and 2)
    eval_files: List[str]   # fixture span 3
    summary: dict
    model: object           # the fitted forest in memory (the training path)


def train(root: str) -> GbtModel:
    from pipeline.model import gbt
    from pipeline.tools import model_selection
    files = {s: model_selection.write_examples(FIXTURE_SPANS, s, root) for s in (1, 2, 3)}
    path = os.path.join(root, "gbt")
    model, summary = gbt.fit([files[1], files[2]], HPARAMS)  # what train_and_export does, keeping the model
    gbt.export(model, summary, path)
    return GbtModel(path, [files[1], files[2]], [files[3]], summary, model)
