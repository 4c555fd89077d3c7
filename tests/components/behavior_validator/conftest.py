"""Session fixtures: one SavedModel per variant, a generated eval split, schemas, validation runs."""
import pytest

from data import contract
from tests.components.behavior_validator import testdata

# Latency is checked separately with explicit budgets: figures on a shared machine are noisy.
LENIENT_LATENCY = {"latency_budget_ms": 60_000.0}


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("bv_models")
    return {v: testdata.build_saved_model(str(root / v), v) for v in testdata.VARIANTS}


@pytest.fixture(scope="session")
def eval_pattern(tmp_path_factory):
    """400 generated examples, 100 per carrier, in two gzipped TFRecord shards."""
    split = tmp_path_factory.mktemp("bv_examples") / "Split-eval"
    testdata.write_split(str(split), testdata.generated_rows(400))
    return str(split / "*")


@pytest.fixture(scope="session")
def schema_features():
    from components.behavior_validator import scoring  # pylint: disable=import-outside-toplevel
    return scoring.serving_features_from_schema(testdata.make_schema(), contract.LABEL_KEY)


@pytest.fixture(scope="session")
def run(models, eval_pattern, schema_features, tmp_path_factory):
    """validate_model(variant, baseline variant, **config changes) on the generated split, each
    combination run once."""
    from components.behavior_validator import validate  # pylint: disable=import-outside-toplevel
    cache = {}
    cfg = testdata.config(**LENIENT_LATENCY)

    def _run(variant, baseline=None, **overrides):
        key = (variant, baseline, tuple(sorted(overrides.items())))
        if key not in cache:
            work = tmp_path_factory.mktemp(f"work_{variant}_{baseline}")
            cache[key] = validate.validate_model(
                models[variant], eval_pattern, schema_features, str(work), cfg.replace(**overrides),
                baseline_model_path=models[baseline] if baseline else None)
        return cache[key]
    return _run
