"""The package's layers: no import circle between dreamlift's subpackages, and nothing but ``cli.py`` imports ``dreamlift.cli``.

Every ``import`` counts, inside functions too (they run when the function does); ``if TYPE_CHECKING:``
blocks count as well. A top-level module (``dreamlift/presets.py``) is a node of its own.
"""

import ast
from pathlib import Path

import dreamlift

PACKAGE = Path(dreamlift.__file__).parent


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def _unit(module: str) -> str:
    """The node of a module: its subpackage, or the top-level module itself."""
    parts = module.split(".")
    if len(parts) == 1:
        return "dreamlift"
    return parts[1]


def import_edges() -> dict[str, dict[str, list[str]]]:
    """``{from unit: {to unit: ["file:line", ...]}}`` over every import in the package."""
    edges: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module(path)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        source = _unit(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                targets = [target] + ([f"{target}.{a.name}" for a in node.names] if target == "dreamlift" else [])
            else:
                continue
            for target in targets:
                unit = _unit(target) if target.startswith("dreamlift.") else None
                if unit and unit != source and ((PACKAGE / unit).is_dir() or (PACKAGE / f"{unit}.py").is_file()):
                    edges.setdefault(source, {}).setdefault(unit, []).append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return edges


def cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(set(edges) | {n for targets in edges.values() for n in targets}):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_between_subpackages():
    edges = import_edges()
    found = cycles(edges)
    detail = [f"{a} -> {b}: {edges[a][b][:3]}" for c in found for a in c for b in c if b in edges.get(a, {})]
    assert not found, detail
    assert {"training", "refine", "pipeline", "commands", "jobs", "web", "guidance", "inputs"} <= set(edges)  # the scan sees them
    assert {"training", "refine", "guidance"} <= set(edges["pipeline"]) and "pipeline" in edges["commands"]


def test_the_scan_finds_a_circle_when_there_is_one():
    assert cycles({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b": []}, "b": {}}) == []


def test_nothing_but_cli_imports_the_cli():
    importers = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "cli.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.Import) and any(a.name == "dreamlift.cli" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and (node.module == "dreamlift.cli" or (node.module == "dreamlift" and any(a.name == "cli" for a in node.names))))
    ]
    assert not importers, importers
