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


# --- parallel runs (pytest-xdist, `make test`: -n 2 --dist loadgroup) ----------------------------------------------
# Session fixtures that cost a pipeline run or a trained model: every test that uses one of them runs in the same
# worker, so each is built once. Other tests run with the rest of their module (module fixtures are built once too).
SHARED_SESSION_FIXTURES = ("pipeline_history", "served", "request_logs", "models", "run")


def _group_names(items) -> dict:
    """nodeid -> xdist group: tests joined by a shared session fixture (transitively), else their module."""
    parent = {}

    def find(key):
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    def union(a, b):
        parent[find(a)] = find(b)

    keys = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        shared = []
        for name in getattr(item, "fixturenames", ()):
            defs = info.name2fixturedefs.get(name) if info else None
            if name in SHARED_SESSION_FIXTURES and defs and defs[-1].scope == "session":
                shared.append(f"{defs[-1].baseid or 'tests'}::{name}")
        module = item.nodeid.split("::")[0]
        keys[item.nodeid] = module
        for key in shared:
            union(module, key)
    return {nodeid: find(module) for nodeid, module in keys.items()}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup`: mark each test with its group, and queue the groups holding the most end-to-end
    tests first, so that the last groups handed out are short (a group's own order is kept)."""
    if not config.pluginmanager.hasplugin("xdist") or config.getoption("dist", "no") != "loadgroup":
        return
    groups = _group_names(items)
    e2e, first = {}, {}
    for index, item in enumerate(items):
        group = groups[item.nodeid]
        e2e[group] = e2e.get(group, 0) + (item.get_closest_marker("e2e") is not None)
        first.setdefault(group, index)
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(group.replace("/", ".").replace("::", ".")))
    order = {item.nodeid: index for index, item in enumerate(items)}
    items.sort(key=lambda item: (-e2e[groups[item.nodeid]], first[groups[item.nodeid]], order[item.nodeid]))
