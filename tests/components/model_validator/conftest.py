"""Session fixtures: one SavedModel per variant, a generated eval split, schemas."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import pytest  # noqa: E402

from tests.components.model_validator import testdata  # noqa: E402


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("mv_models")
    return {v: testdata.build_saved_model(str(root / v), v) for v in testdata.VARIANTS}


@pytest.fixture(scope="session")
def eval_pattern(tmp_path_factory):
    """400 generated examples, 100 per carrier, in two gzipped TFRecord shards."""
    split = tmp_path_factory.mktemp("mv_examples") / "Split-eval"
    testdata.write_split(str(split), testdata.generated_rows(400))
    return str(split / "*")


@pytest.fixture(scope="session")
def schema_features():
    from components.model_validator import behavior  # pylint: disable=g-import-not-at-top
    return behavior.serving_features_from_schema(testdata.make_schema())
