"""Suite-wide settings and fixtures: the project's Keras choice for the test process and every process it
starts (see data/keras_choice.py), before any test module imports TensorFlow; metadata-store backends; how the
tests are grouped when they run in parallel."""
import os

import pytest

from data import keras_choice  # noqa: F401
from tests import xdist_groups
from tests.mariadb_server import mariadb_server  # noqa: F401,E402  (session fixture)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BACKENDS = ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)]


@pytest.fixture
def new_spec(request, tmp_path_factory):
    """Factory of empty-store specs for the backend named by the test's ``backend`` parameter."""
    def make(backend: str, name: str = "mlmd") -> str:
        if backend == "sqlite":
            return str(tmp_path_factory.mktemp(name) / "metadata.sqlite")
        server = request.getfixturevalue("mariadb_server")
        return server.new_database(name)
    return make


@pytest.fixture(scope="session")
def gbt_model(tmp_path_factory):
    """A gradient-boosted SavedModel trained on the fixture spans (tests/gbt_model.py)."""
    from tests import gbt_model as gbt
    return gbt.train(str(tmp_path_factory.mktemp("gbt_model")))


# Parallel runs (`make test`: pytest-xdist, -n 2 --dist loadgroup; tests/xdist_groups.py). These session fixtures
# cost a pipeline run or trained models: the tests using one of them run in one worker, so each is built once.
SHARED_SESSION_FIXTURES = ("pipeline_history", "served", "request_logs", "models", "run")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    xdist_groups.mark_and_order(config, items, SHARED_SESSION_FIXTURES, heavy_marker="e2e")
