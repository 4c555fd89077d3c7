"""Who may import whom (static: every import statement of every module, lazy ones included).

- components/ knows nothing about flights: no import of pipeline/, data/, serving/ (each folder could be
  copied into another TFX project);
- production code never imports tests/;
- data/contract.py, the column contract, is a leaf: it imports nothing from this project.
"""
import ast
import os

import pytest

from data.paths import REPO_ROOT

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


# ---- the layers: data <- serving <- pipeline; server <- delivery; tools are leaves nobody imports -----
def module_name(path):
    name = path[:-3].replace(os.sep, ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def imported_modules(path):
    """Full dotted names of the project modules (or packages) a module imports, lazy imports included."""
    with open(os.path.join(REPO_ROOT, path)) as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {n for n in found if n.split(".")[0] in PROJECT}


PRODUCTION = [p for package in ("pipeline", "components", "data", "serving") for p in sorted(modules(package))]


@pytest.mark.parametrize("path", [p for p in PRODUCTION if p.startswith(("serving", "data"))])
def test_serving_and_data_import_nothing_from_pipeline(path):
    bad = sorted(n for n in imported_modules(path) if n.split(".")[0] == "pipeline")
    assert not bad, f"{path} imports {bad}: the pipeline sits above serving/ and data/"


def test_data_imports_only_data():
    bad = {p: sorted(n for n in imported_modules(p) if n.split(".")[0] != "data")
           for p in PRODUCTION if p.startswith("data")}
    assert not any(bad.values()), bad


@pytest.mark.parametrize("path", [p for p in PRODUCTION if f"{os.sep}tools{os.sep}" not in p])
def test_production_code_imports_no_tools(path):
    bad = sorted(n for n in imported_modules(path) if ".tools" in f".{n}" and n.split(".")[1:2] == ["tools"])
    assert not bad, f"{path} imports {bad}: benchmarks and studies (tools/) are leaves"


@pytest.mark.parametrize("path", sorted(modules(os.path.join("serving", "server"))))
def test_the_server_imports_no_delivery_and_no_client(path):
    bad = sorted(n for n in imported_modules(path)
                 if n.startswith(("serving.delivery", "serving.client")) or n == "serving.cli" or n.startswith("serving.cli."))
    assert not bad, f"{path} imports {bad}: the model server stands alone (delivery and clients sit above it)"


def test_no_import_cycles_between_modules():
    """Module-level graph (lazy imports included): no module reaches itself."""
    names = {module_name(p): p for p in PRODUCTION}
    graph = {}
    for name, path in names.items():
        targets = set()
        for imported in imported_modules(path):
            while imported and imported not in names:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
        graph[name] = {t for t in targets if not (t + ".").startswith(name.rpartition(".")[0] + ".__")}
    # a package __init__ importing its own submodules is not a cycle of modules
    for name in graph:
        graph[name] = {t for t in graph[name] if not (names[name].endswith("__init__.py") and t.startswith(name + "."))}
    cycles = []
    state = {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_would_fail(tmp_path, monkeypatch):
    """Two modules importing each other are reported."""
    for name, other in (("a", "b"), ("b", "a")):
        (tmp_path / "pipeline").mkdir(exist_ok=True)
        (tmp_path / "pipeline" / f"{name}.py").write_text(f"from pipeline import {other}\n")
    monkeypatch.setattr("tests.test_layering.REPO_ROOT", str(tmp_path))
    monkeypatch.setattr("tests.test_layering.PRODUCTION", ["pipeline/a.py", "pipeline/b.py"])
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycles_between_modules()
