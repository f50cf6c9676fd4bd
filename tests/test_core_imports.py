"""The engine's import structure: nothing under core/ imports the app (the engine computes, the app draws), and
core's modules import each other without a circle. Every import counts, also one inside a function: a lazy import
hides a circle from the interpreter's load order, not from a reader or from the next refactoring."""
import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, name: str) -> list[str]:
    """Absolute dotted names of everything ``path`` (module ``name``) imports, anywhere in the file; ``from X
    import y`` gives both X and X.y (y may be a submodule), relative imports are resolved."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out += [module] + [f"{module}.{a.name}" for a in node.names if a.name != "*"]
    return out


def import_graph(root: Path, package: str = "core") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (a name that is not a module counts as its module)."""
    paths = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        edges = set()
        for imported in imported_names(path, name):
            while imported not in paths and "." in imported:  # core.model.data.DataSplits -> core.model.data
                imported = imported.rsplit(".", 1)[0]
            if imported in paths and imported != name:
                edges.add(imported)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None (depth-first search, colouring the modules on the path)."""
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_core_module_imports_the_app():
    graph_modules = {module_name(p, PROJECT): p for p in (PROJECT / "core").rglob("*.py")}
    assert len(graph_modules) > 30  # the scan really read the engine
    offenders = [f"{name}: {imported}" for name, path in sorted(graph_modules.items())
                 for imported in imported_names(path, name) if imported.split(".")[0] == "app"]
    assert offenders == [], "the engine must not import the app (it draws nothing; scripts/ and app/ draw)"


def test_core_modules_import_each_other_without_a_cycle():
    graph = import_graph(PROJECT)
    assert sum(len(edges) for edges in graph.values()) > 50  # the scan really found the engine's imports
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_scan_sees_imports_inside_functions_and_relative_ones(tmp_path):
    pkg = tmp_path / "core" / "model"
    pkg.mkdir(parents=True)
    (tmp_path / "core" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "data.py").write_text("def load():\n    from core.model.pack import load_pack\n")
    (pkg / "pack.py").write_text("from .data import load\n")
    (pkg / "plot.py").write_text("def draw():\n    from app.charts import fig3_figure\n")
    graph = import_graph(tmp_path)
    assert graph["core.model.data"] == {"core.model.pack"} and graph["core.model.pack"] == {"core.model.data"}
    assert find_cycle(graph) == ["core.model.data", "core.model.pack", "core.model.data"]
    assert "app.charts" in imported_names(pkg / "plot.py", "core.model.plot")
    (pkg / "pack.py").write_text("import numpy\n")
    assert find_cycle(import_graph(tmp_path)) is None
