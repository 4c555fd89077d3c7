"""Suite-wide settings and fixtures: the project's Keras choice for the test process and every process it
starts (see data/keras_choice.py), before any test module imports TensorFlow; metadata-store backends."""
import os

import pytest

from data import keras_choice  # noqa: F401
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
