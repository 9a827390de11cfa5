"""Import directions: cli -> scheduler -> (queue, engagement, ledger, adapters) -> config.

Read statically (every ``import`` in src/klapper, parsed with ast, also those only for type
checking), so a cycle cannot hide behind a late import. ``timing`` and ``display`` are shared
leaves: anyone may import them, they import nothing of klapper. ``testing`` (what a plugin's
fake server needs for the contract suite) builds on the adapters' contract and nothing in
klapper imports it. A new package must be placed in ``MAY_IMPORT`` before it is used.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import klapper

ROOT = Path(klapper.__file__).parent
SHARED = {"timing", "display"}

#: package -> the packages it may import (besides the shared leaves)
MAY_IMPORT: dict[str, set[str]] = {
    "timing": set(),
    "display": set(),
    "config": set(),
    "login": {"config"},
    "adapters": {"config", "login"},
    "ledger": {"config"},
    "queue": {"adapters", "config"},
    "intake": {"queue", "adapters", "config"},  # another tool's files into post files
    "engagement": {"adapters", "ledger", "config"},
    # intake: the daemon reads klapper.yaml's feeds on a timer
    "scheduler": {"queue", "intake", "engagement", "ledger", "adapters", "config"},
    # how planned posts will look: the queue's texts as sent, the adapters' counting
    "preview": {"queue", "adapters", "config"},
    "cli": {
        "preview",
        "scheduler",
        "intake",
        "queue",
        "engagement",
        "ledger",
        "adapters",
        "login",
        "config",
    },
    "testing": {"adapters"},
}


def package_of(module: str) -> str:
    """``klapper.ledger.store`` -> ``ledger``."""
    return module.split(".")[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path) for path in ROOT.rglob("*.py")}


def imports(path: Path) -> Iterator[tuple[str, int]]:
    """Each klapper module ``path`` imports, with the line (``from a import b``: a.b, a module)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in MODULES
                else node.module
                for alias in node.names
            ]
        else:
            continue
        yield from ((name, node.lineno) for name in names if name.startswith("klapper."))


def edges() -> list[tuple[str, str, str]]:
    """(package, imported package, where) for every import across packages."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        own = package_of(module_name(path)) if path.parent != ROOT else path.stem
        for name, line in imports(path):
            other = package_of(name)
            if other != own:
                found.append((own, other, f"{path.relative_to(ROOT)}:{line}"))
    return found


def test_every_package_is_placed() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= set(MAY_IMPORT)


def test_imports_go_only_the_allowed_directions() -> None:
    wrong = [
        f"{where}: {own} imports {other}"
        for own, other, where in edges()
        if other not in MAY_IMPORT[own] | SHARED - {own}
    ]
    assert wrong == []


def test_the_shared_leaves_import_nothing_of_klapper() -> None:
    assert [where for own, _, where in edges() if own in SHARED] == []


def test_the_allowed_directions_have_no_cycle() -> None:
    """Each package can be placed after everything it may import (a topological order)."""
    allowed = {name: set() if name in SHARED else MAY_IMPORT[name] | SHARED for name in MAY_IMPORT}
    placed: list[str] = []
    while len(placed) < len(allowed):
        ready = sorted(n for n, deps in allowed.items() if n not in placed and deps <= set(placed))
        assert ready, f"a cycle among {sorted(set(allowed) - set(placed))}"
        placed += ready
    assert (
        placed.index("config")
        < placed.index("adapters")
        < placed.index("scheduler")
        < placed.index("cli")
    )


def test_no_module_import_cycle() -> None:
    """Not even inside a package (ledger/queries.py and store.py once imported each other)."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        graph[module_name(path)] = {name for name, _ in imports(path)}
    modules = set(graph)
    for start in sorted(graph):
        # every module reachable from ``start``; a cycle brings it back to ``start``
        seen: set[str] = set()
        todo = [m for m in graph[start] if m in modules]
        while todo:
            module = todo.pop()
            assert module != start, f"{start} imports itself through others"
            if module not in seen:
                seen.add(module)
                todo += [m for m in graph.get(module, ()) if m in modules]
