"""Every command the READMEs show resolves through the real command tree, and every command is shown.

A documented command is a `python -m ...` or `make ...` line of a fenced code block (after a `$ ` prompt when
the block has prompts; `\\` and indented `[...]` lines continue it) or a `python -m ...` / `make ...` code
span in prose and tables. Synopsis syntax is expanded: each `[optional]` group alone, all of them and none,
each alternative of `a|b`; placeholders are replaced (PLACEHOLDERS). Each variant is parsed with click's
parser down to the leaf command (`make_context`, nothing invoked), so an unknown command or flag, a bad
choice or value, or a missing argument fails with the README's file and line. Code spans in prose name
commands without all their arguments: there (and after `...`) a missing argument or subcommand is allowed.
"""
import argparse
import contextlib
import functools
import importlib
import importlib.util
import io
import re
import shlex
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import click
import pytest

from data.paths import REPO_ROOT

REPO = Path(REPO_ROOT)
DOCS = [REPO / "README.md"] + sorted(p for top in ("pipeline", "components", "serving", "data", "docs")
                                     for p in (REPO / top).rglob("*.md"))
# Placeholders the parsers convert (numbers) and their test values; the others (DIR, STORE, M) parse as text.
PLACEHOLDERS = {"N": "3", "K": "2", "V": "2"}
# Files the docs' earlier steps write (a compiled spec): the test makes empty ones in their place.
WRITTEN_BY_EARLIER_STEPS = ("flight-delay.json", "/tmp/local.json")
# Code spans that look like commands but are not one.
NOT_COMMANDS = {"python -m pipeline|serving|data...": "names the packages that are entry points"}
# Commands no README shows, on purpose.
UNDOCUMENTED: Dict[Tuple[str, ...], str] = {
    ("pipeline", "compile-vertex"): "the old name of `vertex compile`, kept for existing scripts",
}


class Doc(NamedTuple):
    path: Path
    line: int
    text: str
    in_block: bool

    def __str__(self):
        return f"{self.path.relative_to(REPO)}:{self.line}: {self.text}"


_COMMAND = re.compile(r"^(?:\.venv/bin/)?(?:python3?|make)(?:\s|$)")


def _is_command(text: str) -> bool:
    return bool(_COMMAND.match(text)) and (text.startswith("make") or " -m " in text)


def documented_commands() -> List[Doc]:
    found = []
    for path in DOCS:
        found += _commands_in(path)
    return found


def _commands_in(path: Path) -> Iterator[Doc]:
    lines = path.read_text(encoding="utf-8").splitlines()
    block: Optional[List[Tuple[int, str]]] = None
    for number, line in enumerate(lines, 1):
        if line.strip().startswith("```"):
            if block is None:
                block = []
            else:
                yield from _commands_in_block(path, block)
                block = None
        elif block is not None:
            block.append((number, line))
        else:
            for span in re.findall(r"`([^`]+)`", line):
                if _is_command(span.strip()) and span.strip() not in NOT_COMMANDS:
                    yield Doc(path, number, span.strip(), False)


def _commands_in_block(path: Path, block: List[Tuple[int, str]]) -> Iterator[Doc]:
    prompted = any(line.strip().startswith("$ ") for _, line in block)
    current: Optional[Doc] = None
    for number, line in block:
        text = line.strip()
        if current is not None and (current.text.endswith("\\") or (text.startswith("[") and not prompted)):
            current = current._replace(text=current.text.rstrip("\\").rstrip() + " " + text)
            continue
        if current is not None:
            yield current
            current = None
        if prompted:
            if not text.startswith("$ "):
                continue
            text = text[2:].strip()
        if _is_command(text):
            current = Doc(path, number, text, True)
    if current is not None:
        yield current


# --- synopsis expansion ---------------------------------------------------------------------------
def words(text: str) -> List[str]:
    """The command's words: comments, a trailing `&` and anything after a pipe left out."""
    out = []
    for word in shlex.split(text, comments=True):
        if word in ("|", "&", "&&", ";"):
            break
        out.append(word)
    return out


def variants(text: str) -> Iterator[List[str]]:
    """The invocations a synopsis stands for (see the module docstring), placeholders replaced."""
    items: List[Tuple[Optional[int], List[str]]] = []  # (optional group or None, alternatives) per word
    group, groups = None, 0
    for word in words(text):
        if word.startswith("[") and group is None:
            group, groups = groups, groups + 1
        closes = word.endswith("]")
        word = word.strip("[]")
        items.append((group, word.split("|")))
        if closes:
            group = None
    choices = [(None, None)]
    choices += [(frozenset(range(groups)), None)]
    for i, (g, alternatives) in enumerate(items):
        for a in range(len(alternatives)):
            choices.append((frozenset([] if g is None else [g]), (i, a)))
    seen = set()
    for included, picked in choices:
        invocation = []
        for i, (g, alternatives) in enumerate(items):
            if g is not None and g not in (included or ()):
                continue
            word = alternatives[picked[1]] if picked and picked[0] == i else alternatives[0]
            if word:
                invocation.append(_substituted(word))
        if tuple(invocation) not in seen:
            seen.add(tuple(invocation))
            yield invocation


def _substituted(word: str) -> str:
    if "=" in word and word.startswith("--"):
        flag, value = word.split("=", 1)
        return f"{flag}={PLACEHOLDERS.get(value, value)}"
    return PLACEHOLDERS.get(word, word)


# --- the command tree -----------------------------------------------------------------------------
def _pipeline_cli() -> click.Group:
    from pipeline import cli
    cli._register_subcommands()  # what `python -m pipeline` does before parsing
    return cli.cli


def _attribute(module: str, name: str):
    return lambda: getattr(importlib.import_module(module), name)


# `python -m MODULE`: the click command (or argparse parser) that parses its arguments.
CLICK_ENTRY_POINTS = {
    "pipeline": _pipeline_cli,
    "pipeline.lineage": _attribute("pipeline.lineage.cli", "lineage"),
    "serving": _attribute("serving.cli", "main"),
    "data.build_dataset": _attribute("data.build_dataset", "main"),
    "data.schema_gen": _attribute("data.schema_gen", "main"),
    "pipeline.tools.bench": _attribute("pipeline.tools.bench", "main"),
    "pipeline.tools.ct_bench": _attribute("pipeline.tools.ct_bench", "main"),
    "pipeline.tools.lineage_bench": _attribute("pipeline.tools.lineage_bench", "main"),
    "pipeline.tools.model_selection": _attribute("pipeline.tools.model_selection", "main"),
    "serving.tools.bench": _attribute("serving.tools.bench", "main"),
    "serving.tools.log_bench": _attribute("serving.tools.log_bench", "main"),
}
ARGPARSE_ENTRY_POINTS = {
    "serving.server.model_server": lambda: importlib.import_module("serving.server.model_server").build_parser(),
}
# Modules whose parser is built inside main(): the docs must show them without arguments.
WITHOUT_ARGUMENTS = ("pipeline.tools.drift_calibration", "tests.components.drift_validator.corruptions")


@functools.lru_cache(maxsize=None)
def _click(module: str) -> click.Command:
    return CLICK_ENTRY_POINTS[module]()


def make_targets() -> Dict[str, Optional[List[str]]]:
    """{target: the `python -m` words of its recipe that takes $(ARGS) or $(PYTEST_ARGS)} from the Makefile
    (None: the docs cannot pass it arguments)."""
    targets: Dict[str, Optional[List[str]]] = {}
    current = None
    for line in (REPO / "Makefile").read_text().splitlines():
        match = re.match(r"^([A-Za-z][\w-]*):", line)
        if match and not line.startswith((".", "\t")):
            current = match.group(1)
            targets[current] = None
        elif current and line.startswith("\t") and "$(PY) -m " in line and "ARGS)" in line:
            targets[current] = [w for w in line.split("$(PY) -m ", 1)[1].split() if not w.startswith("$(")]
    return targets


def make_variables() -> set:
    """The variables a user may set on `make`'s command line (the Makefile's `NAME ?= default` lines)."""
    return set(re.findall(r"^(\w+) \?=", (REPO / "Makefile").read_text(), re.M))


def invocation(words_: List[str]) -> Tuple[str, List[str]]:
    """(module, arguments) of a `python -m` or `make` command line."""
    if words_[0] == "make":
        target = words_[1] if len(words_) > 1 else "install"
        targets = make_targets()
        if target not in targets:
            raise click.UsageError(f"the Makefile has no target {target!r}")
        variables = dict(w.split("=", 1) for w in words_[2:] if "=" in w)
        unknown = set(variables) - make_variables()
        if unknown:
            raise click.UsageError(f"make variables {sorted(unknown)} are not the Makefile's")
        recipe = targets[target]
        if recipe is None:
            return "", []
        extra = variables.get("PYTEST_ARGS" if recipe[0] == "pytest" else "ARGS", "")
        return recipe[0], recipe[1:] + shlex.split(extra)
    at = words_.index("-m")
    return words_[at + 1], words_[at + 2:]


def resolve(module: str, args: List[str], partial: bool) -> Tuple[str, ...]:
    """The command path `args` reach in `python -m module`'s tree, parsed as click would (nothing invoked).
    `partial`: a missing argument or subcommand is allowed (the docs elided it)."""
    if module in CLICK_ENTRY_POINTS:
        return _resolve_click(module, _click(module), args, partial)
    if module in ARGPARSE_ENTRY_POINTS:
        _parse_argparse(ARGPARSE_ENTRY_POINTS[module](), args)
    elif module == "pytest":
        missing = [a for a in args if not a.startswith("-") and "/" in a and not (REPO / a.split("::")[0]).exists()]
        if missing:
            raise click.UsageError(f"pytest: no such path {missing}")
    elif module in WITHOUT_ARGUMENTS:
        if importlib.util.find_spec(module) is None:
            raise click.UsageError(f"no module {module}")
        if args:
            raise click.UsageError(f"{module} takes its arguments in main(): document it without {args}")
    elif module:
        raise click.UsageError(f"`python -m {module}`: not an entry point this test knows (add it to "
                               "CLICK_ENTRY_POINTS, ARGPARSE_ENTRY_POINTS or WITHOUT_ARGUMENTS)")
    return (module,)


def _resolve_click(module: str, command: click.Command, args: List[str], partial: bool) -> Tuple[str, ...]:
    path, name, parent = (module,), module, None
    while True:
        group = isinstance(command, click.MultiCommand)
        if group and not args and not command.invoke_without_command:
            if partial:
                return path
            raise click.UsageError(f"{' '.join(path)}: missing its subcommand")
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # an eager --help prints
                ctx = command.make_context(name, list(args), parent=parent)
        except click.exceptions.Exit:
            return path
        except click.MissingParameter:
            if partial:
                return path
            raise
        rest = (ctx.protected_args + ctx.args) if group else []
        if not rest:
            if group and not command.invoke_without_command and not partial:
                raise click.UsageError(f"{' '.join(path)}: missing its subcommand")
            return path
        name, command, args = command.resolve_command(ctx, rest)
        path, parent = path + (name,), ctx


def _parse_argparse(parser: argparse.ArgumentParser, args: List[str]) -> None:
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            parser.parse_args(args)
    except SystemExit as e:
        if e.code:
            raise click.UsageError(errors.getvalue().strip().splitlines()[-1]) from None


def command_tree(module: str) -> Iterator[Tuple[Tuple[str, ...], click.Command]]:
    """Every (command path, command) of `python -m module`, groups included."""
    def walk(command: click.Command, path: Tuple[str, ...]):
        yield path, command
        if isinstance(command, click.MultiCommand):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, name), path + (name,))
    yield from walk(_click(module), (module,))


def commands_on(path: Tuple[str, ...]) -> List[click.Command]:
    """The click commands along a resolved path (none for argparse and other entry points)."""
    if path[0] not in CLICK_ENTRY_POINTS:
        return []
    command, found = _click(path[0]), []
    for name in path[1:]:
        found.append(command)
        command = command.get_command(click.Context(command), name)
    return found + [command]


# --- tests ----------------------------------------------------------------------------------------
COMMANDS = documented_commands()


@pytest.fixture
def in_repo(tmp_path, monkeypatch):
    """The repo as working directory (the docs' relative paths), the files earlier steps write in place."""
    monkeypatch.chdir(REPO)
    for name in WRITTEN_BY_EARLIER_STEPS:
        made = tmp_path / name.lstrip("/").replace("/", "_")
        made.write_text("{}")
        monkeypatch.setitem(PLACEHOLDERS, name, str(made))


@pytest.mark.parametrize("doc", COMMANDS, ids=[f"{d.path.relative_to(REPO)}:{d.line}" for d in COMMANDS])
def test_documented_command_parses(doc, in_repo):
    for args in variants(doc.text):
        partial = not doc.in_block or "..." in args
        args = [a for a in args if a != "..."]
        try:
            module, rest = invocation(args)
            resolve(module, rest, partial)
        except click.ClickException as e:
            pytest.fail(f"{doc}\n  as: {shlex.join(args)}\n  {type(e).__name__}: {e.format_message()}",
                        pytrace=False)


def test_the_docs_show_commands():
    """The extraction finds what it should (a broken one would make the test above vacuous)."""
    texts = [d.text for d in COMMANDS]
    assert len(COMMANDS) > 80
    assert any(t.startswith(".venv/bin/python -m pipeline run [--span N]") for t in texts)
    assert any(t.startswith("make data") for t in texts)
    assert {("pipeline", "run")} <= _documented_paths()
    assert ["pipeline", "run", "--window", "all"] in [
        v[v.index("-m") + 1:] for d in COMMANDS for v in variants(d.text) if "-m" in v]


def test_a_wrong_command_fails():
    """The checks fail on what they should: unknown command and flag, bad choice and value, missing argument."""
    for bad in (["lineage", "trace-all"], ["run", "--spam", "1"], ["run", "--beam-mode", "threads"],
                ["run", "--span", "N"], ["lineage", "diff", "run-a"]):
        with pytest.raises(click.UsageError):
            resolve("pipeline", bad, partial=False)
    for module, bad in (("serving.server.model_server", ["--port", "x"]), ("serving", ["rollout", "--metadata", "M"]),
                        ("pipeline", ["lineage"]), ("pipeline.tools.drift_calibration", ["--data", "d"])):
        with pytest.raises(click.UsageError):
            resolve(module, bad, partial=False)
    assert resolve("pipeline", ["lineage", "diff", "run-a"], partial=True) == ("pipeline", "lineage", "diff")


@functools.lru_cache(maxsize=None)
def _documented_paths() -> frozenset:
    """The command paths the docs reach (each prefix included)."""
    paths = set()
    for doc in COMMANDS:
        for args in variants(doc.text):
            try:
                module, rest = invocation([a for a in args if a != "..."])
                path = resolve(module, rest, partial=True)
            except (click.ClickException, ValueError):
                continue  # reported by test_documented_command_parses
            paths |= {path[:i] for i in range(1, len(path) + 1)}
    return frozenset(paths)


@pytest.mark.parametrize("module", sorted(CLICK_ENTRY_POINTS))
def test_every_command_is_documented(module, in_repo):
    """Every command of the tree is shown by some README (under any entry point that reaches it: `python -m
    pipeline.lineage trace` is `python -m pipeline lineage trace`), or is in UNDOCUMENTED."""
    shown = {id(c) for path in _documented_paths() for c in commands_on(path)}
    missing = [path for path, command in command_tree(module) if id(command) not in shown and path not in UNDOCUMENTED]
    assert not missing, f"commands no README shows: {[' '.join(p) for p in missing]}"
