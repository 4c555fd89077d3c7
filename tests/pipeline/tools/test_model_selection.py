"""Forward figures of training choices with the production trainer (pipeline/tools/model_selection.py)."""
import os

import pytest

from pipeline.tools import model_selection
from pipeline.local.runner import REPO_ROOT

FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")


def test_examples_cache_holds_every_row_of_the_span(tmp_path):
    import tensorflow as tf
    path = model_selection.write_examples(FIXTURES, 1, str(tmp_path))
    assert sum(1 for _ in tf.data.TFRecordDataset(path, compression_type="GZIP")) == 1500
    assert model_selection.write_examples(FIXTURES, 1, str(tmp_path)) == path  # cached


@pytest.mark.e2e
def test_each_model_is_scored_on_the_next_span_only(tmp_path):
    result = model_selection.forward_figures(FIXTURES, [1, 2, 3], 1, True, str(tmp_path), hparams={"epochs": 1})
    assert list(result["per_span"]) == [2, 3]
    assert all(0.3 < auc < 1 for auc in result["per_span"].values())
    assert result["mean"] == pytest.approx(sum(result["per_span"].values()) / 2, abs=1e-4)
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("model-")) == ["model-1-warm-1", "model-1-warm-2"]
