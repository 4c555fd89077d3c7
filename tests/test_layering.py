"""Who may import whom (static: every import statement of every module, lazy ones included).

- components/ knows nothing about flights: no import of pipeline/, data/, serving/ (each folder could be
  copied into another TFX project);
- production code never imports tests/;
- data/contract.py, the column contract, is a leaf: it imports nothing from this project.
"""
import ast
import os

import pytest

from pipeline.runner import REPO_ROOT

PROJECT = ("pipeline", "components", "data", "serving", "tests")


def modules(package):
    for folder, _, files in os.walk(os.path.join(REPO_ROOT, package)):
        for name in files:
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(folder, name), REPO_ROOT)


def project_imports(path):
    """[(line, top-level project package)] imported anywhere in the module."""
    with open(os.path.join(REPO_ROOT, path)) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in PROJECT]
    return found


@pytest.mark.parametrize("path", sorted(modules("components")))
def test_components_import_no_project_package(path):
    bad = [(line, top) for line, top in project_imports(path) if top != "components"]
    assert not bad, f"{path} imports {bad}: components must get project facts as parameters"


def test_components_folders_do_not_import_each_other():
    for path in modules("components"):
        parts = path.split(os.sep)
        if len(parts) < 3:
            continue
        own = parts[1]
        with open(os.path.join(REPO_ROOT, path)) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("components."):
                assert node.module.split(".")[1] == own, f"{path}:{node.lineno} imports {node.module}"


@pytest.mark.parametrize("package", ["pipeline", "components", "data", "serving"])
def test_production_code_never_imports_tests(package):
    bad = [(path, line) for path in modules(package) for line, top in project_imports(path) if top == "tests"]
    assert not bad, bad


def test_the_column_contract_is_a_leaf():
    assert project_imports(os.path.join("data", "contract.py")) == []


def test_the_scan_sees_lazy_imports(tmp_path, monkeypatch):
    """The check would fail: a function-level import of the project is found."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pipeline import configs\n    import serving.client\n")
    monkeypatch.setattr("tests.test_layering.REPO_ROOT", str(tmp_path))
    assert project_imports("m.py") == [(2, "pipeline"), (3, "serving")]
