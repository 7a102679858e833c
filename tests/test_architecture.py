"""Architecture rules of `src/robusteye`, checked on the source text (ast), never by importing.

Import graph (no cycles):

- nodes: every module under src/robusteye; a package is its `__init__.py` (`robusteye.data`);
- edges: every `import` and `from ... import` of a robusteye module anywhere in a file,
  inside functions too (a late import is still a dependency), except under
  `if TYPE_CHECKING:` (never run). Relative imports are resolved first;
- `import robusteye.a.b` is an edge to `robusteye.a.b`;
- `from robusteye.a import name` is an edge to `robusteye.a.name` when that is a module, and
  otherwise to `robusteye.a` itself: for a package, its `__init__`, even when `name` is only
  re-exported there (the `__init__` is what runs);
- importing `robusteye.a.b` also runs `robusteye.a`'s `__init__` first; that implicit edge is
  not counted (as import-linter and pydeps do), so a package `__init__` importing its own
  submodules, and a submodule importing a sibling, is no cycle unless an import loops back.

A strongly connected set of two or more modules is a cycle; the failure names its
shortest loop.

The other rules:

- private modules (`robusteye.p._m`, `robusteye.attacks._core` among them) are imported only
  by modules of their own package `robusteye.p` (and its subpackages);
- no module imports an underscore name (`_helper`, not a dunder) from another module;
- no module but `robusteye/__init__.py` imports the bare package (`import robusteye`,
  `from robusteye import ...`): the package's `__init__` imports everything, so that import
  ties a module to all the others;
- no file is over 400 lines, and a file over 300 lines says why in its module docstring: the
  docstring has a sentence mentioning "300 lines" (e.g. "Over 300 lines because ...");
- no module under `robusteye/report/` reads a result row by string key: a subscript with a
  string constant (`row["clean"]`) or a `.get("...")` call is allowed only on a dict named in
  `NOT_ROWS` (the name of the variable, or the attribute, that holds the dict; for
  `a.b["k"]["j"]` that is `b`), each with the reason it is no result row. Rows are typed
  (`robusteye.results`), so mypy refuses to subscript `cell.clean` even though `clean` is
  allowed here (a summary's `clean` is a `dict[str, Stat]`).

Each checker takes a source root, so the tests at the end run it on a tiny package that
breaks its rule, to show that the rule can fail.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "robusteye"
MAX_LINES = 400
REASON_LINES = 300
REASON_MARK = "300 lines"


@dataclass(frozen=True)
class Import:
    """One imported robusteye module or name: `module` resolved, `name` for `from` imports."""

    line: int
    module: str
    name: str | None
    type_checking: bool


def modules(src: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of `package` under `src`."""
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(
    node: ast.AST, type_checking: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement below `node` (any depth), with whether it sits under
    `if TYPE_CHECKING:` (its `else:` branch runs, so it does not count as such)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _import_stmt(stmt, True)
            for stmt in child.orelse:
                yield from _import_stmt(stmt, type_checking)
        else:
            yield from _import_stmt(child, type_checking)


def _import_stmt(
    node: ast.AST, type_checking: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node, type_checking
    yield from _import_nodes(node, type_checking)


def imports_of(module: str, path: Path, package: str = PACKAGE) -> list[Import]:
    """The robusteye imports of one module, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node, tc in _import_nodes(tree):
        if isinstance(node, ast.Import):
            found += [
                Import(node.lineno, a.name, None, tc)
                for a in node.names
                if a.name.split(".")[0] == package
            ]
            continue
        base = node.module or ""
        if node.level:
            anchor = here
            for _ in range(node.level - 1):
                anchor = anchor.rpartition(".")[0]
            base = f"{anchor}.{base}" if base else anchor
        if base.split(".")[0] == package:
            found += [Import(node.lineno, base, a.name, tc) for a in node.names]
    return found


def _existing(name: str, known: dict[str, Path]) -> str | None:
    """`name`, or the longest prefix of it that is a module (None if no part is)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def import_graph(src: Path, package: str = PACKAGE) -> dict[str, set[str]]:
    """module -> the modules it imports, by the rules of this file's docstring."""
    known = modules(src, package)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        for imp in imports_of(module, path, package):
            if imp.type_checking:
                continue
            if imp.name is not None and f"{imp.module}.{imp.name}" in known:
                target = f"{imp.module}.{imp.name}"
            else:
                target = _existing(imp.module, known)
            if target is not None and target != module:
                graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One loop (first module repeated at the end) per strongly connected set of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_loop(graph, c) for c in components]


def _loop(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest loop through a strongly connected set (ties: the first module by name)."""
    loops = [_loop_through(graph, component, start) for start in sorted(component)]
    return min(loops, key=len)


def _loop_through(graph: dict[str, set[str]], component: set[str], start: str) -> list[str]:
    """A shortest loop from `start` back to it within `component` (breadth first)."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v] & component):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if w not in previous:
                previous[w] = v
                queue.append(w)
    raise AssertionError(f"no loop through {start}")  # a strongly connected set has one


def private_module_violations(src: Path, package: str = PACKAGE) -> list[str]:
    """Imports of a private module (`pkg._mod`) from outside the package `pkg`."""
    known = modules(src, package)
    bad = []
    for module, path in known.items():
        for imp in imports_of(module, path, package):
            target = imp.module
            if imp.name is not None and f"{imp.module}.{imp.name}" in known:
                target = f"{imp.module}.{imp.name}"
            parts = target.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:i])
                    if module != owner and not module.startswith(owner + "."):
                        bad.append(f"{path.relative_to(src)}:{imp.line}: imports {target}")
                    break
    return bad


def private_name_violations(src: Path, package: str = PACKAGE) -> list[str]:
    """`from robusteye.x import _name` where `_name` is not a module of `robusteye.x`."""
    known = modules(src, package)
    bad = []
    for module, path in known.items():
        for imp in imports_of(module, path, package):
            name = imp.name
            if name is None or not name.startswith("_") or name.startswith("__"):
                continue
            if f"{imp.module}.{name}" not in known and imp.module != module:
                bad.append(f"{path.relative_to(src)}:{imp.line}: imports {imp.module}.{name}")
    return bad


def bare_package_violations(src: Path, package: str = PACKAGE) -> list[str]:
    """`import robusteye` / `from robusteye import ...` outside robusteye/__init__.py."""
    bad = []
    for module, path in modules(src, package).items():
        if module == package:
            continue
        for imp in imports_of(module, path, package):
            if imp.module == package:
                what = f"from {package} import {imp.name}" if imp.name else f"import {package}"
                bad.append(f"{path.relative_to(src)}:{imp.line}: {what}")
    return bad


def length_violations(src: Path, package: str = PACKAGE) -> list[str]:
    """Files over `MAX_LINES` lines, and files over `REASON_LINES` whose module docstring
    does not mention `REASON_MARK`."""
    bad = []
    for path in modules(src, package).values():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        where = path.relative_to(src)
        if lines > MAX_LINES:
            bad.append(f"{where}: {lines} lines (at most {MAX_LINES}): split it")
        elif lines > REASON_LINES:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if REASON_MARK not in " ".join(doc.split()):
                bad.append(
                    f"{where}: {lines} lines and no reason in its docstring "
                    f"(a sentence mentioning {REASON_MARK!r})"
                )
    return bad


#: Dicts that `robusteye/report/` may read by string key, by the name that holds them: none
#: is a result row (those are typed: `robusteye.results`).
NOT_ROWS = {
    "HOW": "the report's how-to-read texts, by section",
    "figures": "the report's figures, by section",
    "spec": "spec.yaml of the run folder",
    "splits": "splits.json of the run folder",
    "persons": "one fold of splits.json",
    "examples": "examples.npz of the run folder (arrays by name)",
    "listed": "the attack names member of examples.npz (arrays by name)",
    "training": "a checkpoint's config.json: its training record",
    "train": "a checkpoint's config.json: the training config",
    "clean": "a summary's clean metrics (dict[str, Stat])",
    "mean": "a corruption summary's means (dict[str, Stat])",
    "metrics": "a summary point's metrics (dict[str, Stat])",
    "selection": "selection.json of a search",
    "entry": "one trial of selection.json's ranking",
    "stat": "a ranking entry's mean and std across folds",
    "winner": "selection.json's winner",
    "cv": "selection.json's winner: its cross-validated statistics",
    "holdout": "the winner's hold-out evaluation (its curves are read as typed `Curve`s)",
    "colormaps": "matplotlib's colormap registry",
    "rcParams": "matplotlib's settings",
}
REPORT = "report"


def _holder(node: ast.expr) -> str:
    """The name of the dict an expression reads from: `b` in `a.b["k"]["j"]`, `x` in
    `x["k"]`, and `<call>` (never allowed) in `f()["k"]`."""
    while isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return f"<{type(node).__name__.lower()}>"


def _string_key_reads(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, holder, key) of every `holder["key"]` read and `holder.get("key", ...)` call,
    in the order they end in the source."""
    return [read for _, read in sorted(_reads(tree))]


def _reads(tree: ast.AST) -> Iterator[tuple[tuple[int, int], tuple[int, str, str]]]:
    for node in ast.walk(tree):
        end = (
            (node.end_lineno or 0, node.end_col_offset or 0)
            if isinstance(node, ast.expr)
            else (0, 0)
        )
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            yield end, (node.lineno, _holder(node.value), node.slice.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield end, (node.lineno, _holder(node.func.value), node.args[0].value)


def row_key_violations(src: Path, package: str = PACKAGE) -> list[str]:
    """String-key reads in `package.report` modules from dicts not named in `NOT_ROWS`."""
    bad = []
    for module, path in modules(src, package).items():
        if module.split(".")[:2] != [package, REPORT]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, holder, key in _string_key_reads(tree):
            if holder not in NOT_ROWS:
                bad.append(f"{path.relative_to(src)}:{line}: {holder}[{key!r}]")
    return bad


# ---- the rules, on src/robusteye ----------------------------------------------------------------


def test_the_graph_sees_the_package() -> None:
    graph = import_graph(SRC)
    assert len(graph) > 50
    assert "robusteye.data.dataset" in graph["robusteye.data.loaders"]
    assert "robusteye.data" in graph[PACKAGE]  # the package __init__ imports from robusteye.data


def test_no_import_cycles() -> None:
    found = cycles(import_graph(SRC))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_private_modules_stay_in_their_package() -> None:
    assert private_module_violations(SRC) == []


def test_attacks_core_is_private_to_attacks() -> None:
    users = [
        module
        for module, path in modules(SRC).items()
        for imp in imports_of(module, path)
        if "robusteye.attacks._core" in (imp.module, f"{imp.module}.{imp.name}")
    ]
    assert users, "attacks._core is used inside attacks/"
    outside = [
        m for m in users if m != "robusteye.attacks" and not m.startswith("robusteye.attacks.")
    ]
    assert outside == []


def test_no_private_names_across_modules() -> None:
    assert private_name_violations(SRC) == []


def test_no_bare_package_imports_inside_the_package() -> None:
    assert bare_package_violations(SRC) == []


def test_file_lengths() -> None:
    assert length_violations(SRC) == []


def test_reports_read_result_rows_by_attribute() -> None:
    assert row_key_violations(SRC) == []


# ---- each rule can fail: a tiny package that breaks it ----------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_is_found_and_shown(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "from robusteye.a.x import f\n",
            "a/x.py": "def f():\n    from robusteye.b import g\n",  # inside a function
            "b/__init__.py": "from .y import g\n",
            "b/y.py": "from robusteye.a import f\n",  # a re-exported name: edge to robusteye.a
            "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import robusteye.d\n",
            "d.py": "import robusteye.c\n",
        },
    )
    found = cycles(import_graph(src))
    assert found == [
        ["robusteye.a", "robusteye.a.x", "robusteye.b", "robusteye.b.y", "robusteye.a"]
    ]


def test_a_package_importing_its_submodules_is_no_cycle(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "from robusteye.a import f\n",
            "a/__init__.py": "from robusteye.a.x import f\nfrom robusteye.a import y\n",
            "a/x.py": "from robusteye.a.y import g\nfrom robusteye.errors import E\n",
            "a/y.py": "from . import z\n",
            "a/z.py": "",
            "errors.py": "",
        },
    )
    graph = import_graph(src)
    assert graph["robusteye.a.y"] == {"robusteye.a.z"}
    assert cycles(graph) == []


def test_the_other_rules_can_fail(tmp_path: Path) -> None:
    long = '"""Long."""\n' + "x = 1\n" * 350
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "attacks/__init__.py": "",
            "attacks/_core.py": "def helper():\n    pass\n",
            "attacks/pgd.py": "from robusteye.attacks._core import helper\n",  # allowed
            "evaluate/__init__.py": "",
            "evaluate/m.py": "from robusteye.attacks._core import helper\nimport robusteye\n",
            "evaluate/n.py": "from robusteye.evaluate.m import _private\nfrom robusteye import x\n",
            "long.py": long,
            "reasoned.py": '"""Long.\n\nOver 300 lines because it must be."""\n' + "x = 1\n" * 350,
            "huge.py": "x = 1\n" * 401,
        },
    )
    assert private_module_violations(src) == [
        "robusteye/evaluate/m.py:1: imports robusteye.attacks._core"
    ]
    assert private_name_violations(src) == [
        "robusteye/evaluate/n.py:1: imports robusteye.evaluate.m._private"
    ]
    assert bare_package_violations(src) == [
        "robusteye/evaluate/m.py:2: import robusteye",
        "robusteye/evaluate/n.py:2: from robusteye import x",
    ]
    assert [v.split(":")[0] for v in length_violations(src)] == [
        "robusteye/huge.py",
        "robusteye/long.py",
    ]


def test_a_report_reading_a_row_by_key_fails(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "report/__init__.py": "",
            "report/page.py": (
                "def f(row, cell, spec, rows):\n"
                "    a = row['clean']['accuracy']\n"  # a row by key
                "    b = cell.get('attacks')\n"
                "    c = rows[0]['id']\n"
                "    d = load()['clean']\n"
                "    e = spec.get('name') or spec['data']\n"  # spec.yaml: allowed
                "    row['x'] = 1\n"  # a write, not a read
                "    return row[key], cell.get(name)\n"  # keys that are no constants
            ),
            "experiments/runner.py": "def g(row):\n    return row['clean']\n",  # not report/
        },
    )
    assert row_key_violations(src) == [
        "robusteye/report/page.py:2: row['clean']",
        "robusteye/report/page.py:2: row['accuracy']",
        "robusteye/report/page.py:3: cell['attacks']",
        "robusteye/report/page.py:4: rows['id']",
        "robusteye/report/page.py:5: <call>['clean']",
    ]


@pytest.mark.parametrize("rule", ["cycles", "private", "bare", "length", "row keys"])
def test_rules_pass_on_a_clean_tree(tmp_path: Path, rule: str) -> None:
    src = _tree(
        tmp_path,
        {"__init__.py": "from robusteye.a import f\n", "a.py": "def f():\n    pass\n"},
    )
    check = {
        "cycles": lambda: cycles(import_graph(src)),
        "private": lambda: private_module_violations(src) + private_name_violations(src),
        "bare": lambda: bare_package_violations(src),
        "length": lambda: length_violations(src),
        "row keys": lambda: row_key_violations(src),
    }[rule]
    assert check() == []
