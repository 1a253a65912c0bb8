"""The shape of the code (docs/architecture.md, "The shape of the house"), read with ``ast``.

- No import cycle between the modules of ``polis``: every import counts, at module level and
  inside functions, because a cycle hidden in a function is still two modules that cannot be
  understood (or moved) one without the other.
- No module over 500 lines, unless its docstring says why ("over 500 lines because …").
- No function or method over 60 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT_PACKAGE = "polis"

MAX_MODULE_LINES = 500
MODULE_SIZE_REASON = "over 500 lines because"
MAX_FUNCTION_LINES = 60


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]

    @cached_property
    def source(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @cached_property
    def tree(self) -> ast.Module:
        return ast.parse(self.source, filename=str(self.path))

    @property
    def display(self) -> str:
        return str(self.path.relative_to(SRC.parent))


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted((SRC / ROOT_PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = Module(".".join(parts), path)
    return found


MODULES = _modules()


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    """The module ``from … import`` names, with a relative import resolved against ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.package.split(".")
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _explicit_imports(module: Module) -> Iterator[str]:
    """The polis modules ``module`` imports by name, anywhere in its body (functions included).

    ``from polis.x import service`` imports the module ``polis.x.service``; ``from
    polis.x.service import f`` imports ``polis.x.service``.
    """
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            submodules = [f"{source}.{alias.name}" for alias in node.names]
            named = [name for name in submodules if name in MODULES]
            yield from named
            # Names that are not submodules are attributes of the source module itself.
            if len(named) < len(submodules) and source in MODULES:
                yield source


def _graph() -> dict[str, set[str]]:
    """Each polis module's polis-internal imports.

    Importing ``polis.x.y`` also runs the ``__init__`` of ``polis`` and ``polis.x``: that is an
    edge too when the ``__init__`` imports polis modules itself (most are a docstring and
    nothing else, and an ``__init__`` without imports cannot sit on a cycle). A package's own
    modules do not count that edge to their package: a package ``__init__`` that imports its
    submodules is the usual way to give a package its public names.
    """
    explicit = {name: set(_explicit_imports(module)) for name, module in MODULES.items()}
    importing_inits = {
        name for name, module in MODULES.items() if module.is_package and explicit[name]
    }
    graph: dict[str, set[str]] = {}
    for name, targets in explicit.items():
        edges = set(targets)
        for target in targets:
            parts = target.split(".")
            for depth in range(1, len(parts)):
                ancestor = ".".join(parts[:depth])
                inside = name == ancestor or name.startswith(ancestor + ".")
                if ancestor in importing_inits and not inside:
                    edges.add(ancestor)
        edges.discard(name)
        graph[name] = edges
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete cycle through the component's first module (breadth-first, shortest)."""
    members = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for successor in sorted(graph[node] & members):
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if successor not in came_from:
                    came_from[successor] = node
                    following.append(successor)
        frontier = following
    return component


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = _graph()
    # `from polis.kit import clock` names a module; `from polis.kit.errors import X` its module.
    assert "polis.kit.clock" in graph["polis.kit.db"]
    assert "polis.kit.errors" in graph["polis.kit.db"]
    # A package whose __init__ imports nothing is not an edge.
    assert "polis.kit" not in graph["polis.kit.db"]
    # The Tarjan walk finds a planted cycle and leaves the rest alone.
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    cycles = [c for c in _strongly_connected(planted) if len(c) > 1]
    assert cycles == [["a", "b", "c"]]
    assert _a_cycle(planted, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    report = [
        f"{len(c)} modules import each other: {', '.join(c)}\n"
        f"    for example {' -> '.join(_a_cycle(graph, c))}"
        for c in cycles
    ]
    for line in report:
        print(line)
    assert not cycles, "import cycles between polis modules:\n" + "\n".join(report)


def test_modules_are_at_most_500_lines_unless_they_say_why() -> None:
    too_long: list[str] = []
    for module in MODULES.values():
        lines = len(module.source.splitlines())
        if lines <= MAX_MODULE_LINES:
            continue
        docstring = ast.get_docstring(module.tree) or ""
        if MODULE_SIZE_REASON not in " ".join(docstring.split()):
            too_long.append(f"{module.display}: {lines} lines")
    for line in too_long:
        print(line)
    assert not too_long, (
        f"modules over {MAX_MODULE_LINES} lines whose docstring does not say "
        f"{MODULE_SIZE_REASON!r} …:\n" + "\n".join(too_long)
    )


def _functions(module: Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method of ``module``, nested ones too, with a dotted name."""

    def walk(
        node: ast.AST, prefix: str
    ) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield prefix + child.name, child
                yield from walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(module.tree, "")


def test_functions_are_at_most_60_lines() -> None:
    too_long: list[str] = []
    for module in MODULES.values():
        for name, function in _functions(module):
            assert function.end_lineno is not None
            length = function.end_lineno - function.lineno + 1
            if length > MAX_FUNCTION_LINES:
                too_long.append(f"{module.display}:{function.lineno} {name} {length}")
    for line in too_long:
        print(line)
    assert not too_long, (
        f"functions over {MAX_FUNCTION_LINES} lines (file:line name length):\n"
        + "\n".join(too_long)
    )
