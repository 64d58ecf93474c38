"""The import graph of the packages holds the promises of docs/architecture.md#which-way-imports-go.

Every module of connectors, tasks, flows, cli and sandbox is parsed with `ast`, and every import counts: at the top,
inside a function, under `if TYPE_CHECKING:` (a circle that only type checkers see is still a circle in the design).
Relative imports are resolved; `import a.b` and `from a import b` are an edge to the module a.b when it exists,
otherwise to the package a (its __init__). The graph must have no circle, no edge that points up the layers, and no
module may be over 400 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("connectors", "tasks", "flows", "cli", "sandbox")
MAX_LINES = 400

# The layers, lowest first: a module may import its own part, or any part of a lower layer. Parts of one layer are
# siblings and import nothing of one another. A module belongs to the part with the longest matching prefix.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("connectors",),  # the package and its own modules, shared by every connector (connectors/aio.py)
    ("connectors.billit", "connectors.warehouse"),
    # What the directions share: pure normalising, the runtime, the options and the warehouse helpers.
    ("tasks.normalise", "tasks.options", "tasks.runtime", "tasks.warehouse_common"),
    ("tasks.inbound", "tasks.outbound", "tasks.vat"),
    ("tasks",),  # the rest of tasks/*.py assembles the directions: the Prefect wrappers, status, doctor, ...
    ("flows",),
    ("cli",),
)
# The sandbox plays Billit: it imports nothing of ours, and of the pipeline only the commands that serve it do.
SANDBOX = "sandbox"
SANDBOX_IMPORTERS = ("cli.demo", "cli.sandbox")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({module_path(self.source)}:{self.line})"


@cache
def modules() -> dict[str, Path]:
    """Every module of the packages by dotted name; a package is its __init__."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def module_path(name: str) -> str:
    return modules()[name].relative_to(ROOT).as_posix()


def _ours(name: str) -> str | None:
    """The module an imported name lands in: itself, or the closest package of ours above it."""
    if name.partition(".")[0] not in PACKAGES:
        return None
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import statement anywhere in the file, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule if submodule in modules() else base), node.lineno


@cache
def edges() -> tuple[Edge, ...]:
    found: dict[tuple[str, str], Edge] = {}
    for name, path in modules().items():
        for imported, line in imports_of(name, path):
            target = _ours(imported)
            if target is not None and target != name and (name, target) not in found:
                found[name, target] = Edge(name, target, line)
    return tuple(found.values())


def strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            successor = next(successors, None)
            if successor is not None:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                elif successor in on_stack:
                    low[node] = min(low[node], index[successor])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def part_of(module: str) -> tuple[int, str]:
    """(layer, part) of a module: the part with the longest prefix that names the module or a package above it."""
    matches = [
        (len(part), layer, part)
        for layer, parts in enumerate(LAYERS)
        for part in parts
        if module == part or module.startswith(part + ".")
    ]
    _, layer, part = max(matches)
    return layer, part


def breaks_the_layers(edge: Edge) -> str | None:
    """Why an edge is not allowed, or None."""
    source_top, target_top = edge.source.partition(".")[0], edge.target.partition(".")[0]
    if source_top == SANDBOX or target_top == SANDBOX:
        if source_top == target_top or edge.source in SANDBOX_IMPORTERS:
            return None
        return "the sandbox imports nothing of ours" if source_top == SANDBOX else "the pipeline never imports it"
    (source_layer, source_part), (target_layer, target_part) = part_of(edge.source), part_of(edge.target)
    if source_part == target_part or target_layer < source_layer:
        return None
    if target_layer == source_layer:
        return f"{source_part} and {target_part} are siblings"
    return f"points up: {target_part} is above {source_part}"


def test_the_layer_rule_names_every_package_and_orders_sibling_directions() -> None:
    assert part_of("tasks.outbound.push") == (3, "tasks.outbound")
    assert part_of("tasks.warehouse_common") == (2, "tasks.warehouse_common")
    assert part_of("tasks.prefect_tasks") == (4, "tasks")
    assert part_of("connectors.aio") == (0, "connectors")
    assert breaks_the_layers(Edge("tasks.vat.filing", "tasks.inbound.warehouse", 1)) is not None
    assert breaks_the_layers(Edge("tasks.inbound.sync", "flows.sync", 1)) is not None
    assert breaks_the_layers(Edge("connectors.billit.client", "connectors.warehouse", 1)) is not None
    assert breaks_the_layers(Edge("tasks.runtime", "sandbox.identity", 1)) is not None
    assert breaks_the_layers(Edge("sandbox.app", "connectors.billit.wire", 1)) is not None
    assert breaks_the_layers(Edge("cli.demo", "sandbox.server", 1)) is None
    assert breaks_the_layers(Edge("tasks.outbound.push", "tasks.normalise.identifiers", 1)) is None


def test_imports_are_found_inside_functions_and_under_type_checking_and_relative(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from tasks.runtime import billit_settings\n"
        "def later():\n    import flows.sync\n"
        "from . import warehouse\nfrom ..normalise import orders\n"
    )
    found = dict(imports_of("tasks.inbound.module", source))
    assert {"tasks.runtime", "flows.sync", "tasks.inbound.warehouse", "tasks.normalise.orders"} <= set(found)


def test_circles_are_found_and_listed() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": set()}
    assert strongly_connected(graph) == [["a", "b", "c"], ["d", "e"]]


def test_every_module_of_the_packages_is_in_a_layer_and_the_graph_sees_them() -> None:
    assert {"connectors.billit.client", "tasks.runtime", "flows.sync", "cli.sync", "sandbox.store"} <= set(modules())
    assert all(part_of(name) for name in modules() if not name.startswith(SANDBOX))
    assert len(edges()) > 100


def test_the_import_graph_has_no_circle() -> None:
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for edge in edges():
        graph[edge.source].add(edge.target)
    circles = strongly_connected(graph)
    report = []
    for circle in circles:
        inside = [str(edge) for edge in edges() if edge.source in circle and edge.target in circle]
        report.append(f"circle of {len(circle)} modules: {', '.join(circle)}\n    " + "\n    ".join(inside))
    assert not circles, "import circles (docs/architecture.md#which-way-imports-go):\n" + "\n".join(report)


def test_no_import_points_up_the_layers_or_across_sibling_directions() -> None:
    broken = [f"{edge}: {reason}" for edge in edges() if (reason := breaks_the_layers(edge))]
    assert not broken, "imports against docs/architecture.md#which-way-imports-go:\n" + "\n".join(broken)


def test_no_module_is_over_400_lines() -> None:
    long = {
        module_path(name): lines
        for name, path in modules().items()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by what they do): {long}"
