"""Session fixtures: SavedModel variants and eval Examples (built once)."""
import pytest

from tests.components.infra_validator import testdata


@pytest.fixture(scope="session")
def model_templates(tmp_path_factory):
    """One SavedModel per variant, built once; copy before mutating."""
    root = tmp_path_factory.mktemp("models")
    return {v: testdata.build_saved_model(str(root / v), v) for v in (
        testdata.GOOD, testdata.NO_EXAMPLES_SIGNATURE, testdata.FAILS_ON_QUERY)}


@pytest.fixture(scope="session")
def examples_dir(tmp_path_factory):
    return testdata.write_examples(str(tmp_path_factory.mktemp("examples")))
