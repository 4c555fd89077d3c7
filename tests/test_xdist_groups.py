"""tests/xdist_groups.py in a real two-worker pytest-xdist run of a small generated suite: a shared session fixture
and a module fixture are built once, a group keeps its order, and the group with end-to-end tests is queued first."""
import json
import os
import subprocess
import sys

from data.paths import REPO_ROOT

CONFTEST = '''
import json, os
import pytest
from tests import xdist_groups

def record(event):
    with open(os.environ["EVENTS"], "a") as f:
        f.write(json.dumps([os.environ.get("PYTEST_XDIST_WORKER", "main"), event]) + "\\n")

@pytest.fixture(scope="session")
def history():
    record("build history")

@pytest.fixture(scope="session")
def cheap():
    record("build cheap")

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    xdist_groups.mark_and_order(config, items, ("history",), heavy_marker="e2e")
'''

MODULES = {
    "test_a.py": "from conftest import record\n"
                 "def test_a1(history): record('a1')\n"
                 "def test_a2(cheap): record('a2')\n",
    "test_b.py": "from conftest import record\n"
                 "def test_b1(history): record('b1')\n",
    "test_c.py": "import pytest\nfrom conftest import record\n"
                 "@pytest.fixture(scope='module')\ndef table(): record('build table')\n"
                 + "".join(f"def test_c{i}(table, cheap): record('c{i}')\n" for i in range(4)),
    "test_d.py": "from conftest import record\n"
                 + "".join(f"def test_d{i}(): record('d{i}')\n" for i in range(3)),
    "test_z.py": "import pytest\nfrom conftest import record\n"
                 "@pytest.mark.e2e\ndef test_z1(): record('z1')\n"
                 "@pytest.mark.e2e\ndef test_z2(): record('z2')\n",
}


def run_suite(tmp_path, *args):
    for name, text in {"conftest.py": CONFTEST, **MODULES}.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    e2e: heavy\n")
    events = tmp_path / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # this suite's own worker
    env.update(EVENTS=str(events), PYTHONPATH=REPO_ROOT)
    completed = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    by_worker = {}
    for line in events.read_text().splitlines():
        worker, event = json.loads(line)
        by_worker.setdefault(worker, []).append(event)
    return by_worker


def test_two_workers_build_shared_fixtures_once_keep_group_order_and_start_with_the_heavy_group(tmp_path):
    by_worker = run_suite(tmp_path, "-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder")
    assert sorted(by_worker) == ["gw0", "gw1"]
    everything = [e for events in by_worker.values() for e in events]
    assert everything.count("build history") == 1 and everything.count("build table") == 1
    assert sorted(e for e in everything if not e.startswith("build")) == sorted(
        ["a1", "a2", "b1", "z1", "z2"] + [f"c{i}" for i in range(4)] + [f"d{i}" for i in range(3)])
    [history_worker] = [events for events in by_worker.values() if "build history" in events]
    ran = [e for e in history_worker if not e.startswith("build")]
    assert ran.index("a1") < ran.index("a2") < ran.index("b1")  # one group, collection order
    [c_worker] = [events for events in by_worker.values() if "c0" in events]
    assert [e for e in c_worker if e.startswith("c")] == ["c0", "c1", "c2", "c3"]
    [z_worker] = [events for events in by_worker.values() if "z1" in events]
    assert [e for e in z_worker if not e.startswith("build")][:2] == ["z1", "z2"]  # queued first


def test_without_loadgroup_nothing_is_reordered(tmp_path):
    by_worker = run_suite(tmp_path, "-p", "no:xdist")
    ran = [e for e in by_worker["main"] if not e.startswith("build")]
    assert ran == ["a1", "a2", "b1"] + [f"c{i}" for i in range(4)] + [f"d{i}" for i in range(3)] + ["z1", "z2"]
