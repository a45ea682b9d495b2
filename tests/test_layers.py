"""The package's import graph: no cycles, and the core never imports the viewers (the command
line and the web page). Every import counts, in functions too, except those only for type
checkers (``if TYPE_CHECKING:``)."""

from __future__ import annotations

import ast
from pathlib import Path

import aim_artifacts

PACKAGE = Path(aim_artifacts.__file__).parent
VIEWERS = ("aim_artifacts.__main__", "aim_artifacts.cli", "aim_artifacts.ui")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules that module `name` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            submodules = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
            found |= submodules
            if len(submodules) < len(node.names):  # names defined in `base` itself
                found.add(base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _is_viewer(name: str) -> bool:
    return any(name == v or name.startswith(f"{v}.") for v in VIEWERS)


def test_the_graph_was_read() -> None:
    assert "aim_artifacts.storage" in GRAPH["aim_artifacts.location"]
    assert "aim_artifacts.display" in GRAPH["aim_artifacts.records"]  # a lazy import counts
    assert "aim_artifacts.records" not in GRAPH["aim_artifacts.display"]  # TYPE_CHECKING only


def test_no_import_cycles() -> None:
    cycles = []
    state: dict[str, str] = {}  # "open" while on the current path, then "done"

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH[name]):
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_core_never_imports_the_viewers() -> None:
    leaks = {
        name: sorted(t for t in targets if _is_viewer(t))
        for name, targets in GRAPH.items()
        if not _is_viewer(name)
    }
    assert {name: targets for name, targets in leaks.items() if targets} == {}


def test_the_viewers_use_the_public_api() -> None:
    """The command line and the page import the package, its formatting and display
    helpers and its errors: never the run's internals."""
    allowed = {"aim_artifacts", "aim_artifacts.display", "aim_artifacts.formatting"}
    reach = {
        name: sorted(t for t in targets - allowed if not _is_viewer(t))
        for name, targets in GRAPH.items()
        if _is_viewer(name)
    }
    assert {name: targets for name, targets in reach.items() if targets} == {}


def test_only_the_storage_layer_asks_which_class_a_filesystem_is() -> None:
    """What a backend can do is decided in one place (`storage`), by probing it or by what it
    declares: nowhere else does an ``isinstance`` or ``issubclass`` name a filesystem class."""
    asking = []
    for name, path in MODULES.items():
        if name == "aim_artifacts.storage":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"isinstance", "issubclass"}
                and len(node.args) == 2
                and "FileSystem" in ast.unparse(node.args[1])
            ):
                asking.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert asking == []
