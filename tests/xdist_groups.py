"""Groups for pytest-xdist's `--dist loadgroup`, so that a parallel run builds each expensive fixture once.

Use from a conftest.py::

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(config, items):
        xdist_groups.mark_and_order(config, items, ("pipeline_history",), heavy_marker="e2e")

Tests that use one of the named session fixtures (directly or through another fixture) share a group with every
other test using it, transitively; all other tests share a group with the rest of their module, so module fixtures
are built once as well. Groups holding the most `heavy_marker` tests are queued first, so that the groups handed
out last are short; the order inside a group is kept (a test may rely on running after another of its module).
"""
from typing import Dict, Iterable, List

import pytest


def group_names(items: List[pytest.Item], shared_fixtures: Iterable[str]) -> Dict[str, str]:
    """nodeid -> group: joined by a shared session fixture (transitively), else the test's module."""
    shared_fixtures = set(shared_fixtures)
    parent: Dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    modules = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        modules[item.nodeid] = module
        find(module)
        for name in item.fixturenames:
            definitions = item._fixtureinfo.name2fixturedefs.get(name)  # pylint: disable=protected-access
            if name in shared_fixtures and definitions and definitions[-1].scope == "session":
                parent[find(module)] = find(f"{definitions[-1].baseid}::{name}")
    return {nodeid: find(module) for nodeid, module in modules.items()}


def mark_and_order(config: pytest.Config, items: List[pytest.Item], shared_fixtures: Iterable[str],
                   heavy_marker: str) -> None:
    """Under `--dist loadgroup` only: give each unmarked test its `xdist_group`, queue the heavy groups first."""
    # The controller has dist == "loadgroup"; xdist sets a worker's dist to "no" and its `loadgroup` option instead.
    if config.getoption("dist", "no") != "loadgroup" and not getattr(config.option, "loadgroup", False):
        return
    groups = group_names(items, shared_fixtures)
    heavy: Dict[str, int] = {}
    first: Dict[str, int] = {}
    for index, item in enumerate(items):
        group = groups[item.nodeid]
        heavy[group] = heavy.get(group, 0) + (item.get_closest_marker(heavy_marker) is not None)
        first.setdefault(group, index)
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group.replace("/", ".").replace("::", ":")))
    items.sort(key=lambda item: (-heavy[groups[item.nodeid]], first[groups[item.nodeid]]))  # stable: keeps order
