"""The import layers of DESIGN.md: no import cycle in src/genlab, and no import from a
lower layer to a higher one. Imports are read with ``ast`` (module level and inside
functions alike), file by file.

``python tests/test_layers.py [SRC]`` prints the import graph's cycles and upward imports.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "genlab"

# Lowest first. A module may import from its own layer or any layer below it.
LAYERS = [
    ("ground", {"nn", "errors", "rng", "viz", "cpu"}),
    ("parts", {"models", "adapters", "data", "paths", "checkpoint", "experiment", "config"}),
    ("math", {"objectives", "sampling", "cond", "metrics"}),
    ("train", {"train"}),
    ("families", {"families"}),
    ("runs", {"runs"}),
    ("recipes", {"recipes"}),
    ("top", {"cli", "cli_eval", "app", "edit", "evaluate", "figures", "__main__", "__init__"}),
]


def module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = ["genlab", *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The layer index of ``genlab.x.y`` (by its first component ``x``)."""
    head = module.split(".")[1] if "." in module else "__init__"
    for i, (_, names) in enumerate(LAYERS):
        if head in names:
            return i
    raise KeyError(f"{module}: in no layer of DESIGN.md (add it to LAYERS)")


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """``{module: {genlab modules it imports}}`` for every file under ``src``."""
    files = {module_name(p, src): p for p in src.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from genlab import config` imports genlab.config *through* the package
                # genlab (its __init__, the top layer), so it counts as both
                names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            for name in names:
                while name and name not in files:  # the longest prefix that is a file
                    name = name.rpartition(".")[0]
                if name.startswith("genlab") and name != mod:
                    targets.add(name)
        graph[mod] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a module to a module of a higher layer."""
    return sorted((a, b) for a, bs in graph.items() for b in bs if layer_of(b) > layer_of(a))


def report(src: Path = SRC) -> str:
    g = import_graph(src)
    cyc, up = cycles(g), upward(g)
    lines = [f"{len(g)} modules, {sum(map(len, g.values()))} imports"]
    lines.append(f"{len(cyc)} cycles")
    lines += ["  " + " <-> ".join(c) for c in cyc]
    lines.append(f"{len(up)} upward imports")
    lines += [f"  {a} -> {b}" for a, b in up]
    return "\n".join(lines)


def test_every_module_is_in_a_layer():
    for mod in import_graph():
        layer_of(mod)


def test_no_import_cycle():
    assert cycles(import_graph()) == [], report()


def test_no_upward_import():
    assert upward(import_graph()) == [], report()


def test_the_checker_finds_a_planted_cycle_and_upward_import(tmp_path):
    pkg = tmp_path / "genlab"
    (pkg / "train").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "train" / "__init__.py").write_text("")
    (pkg / "train" / "loop.py").write_text("from genlab.runs import fit\n")
    (pkg / "runs.py").write_text("def f():\n    from genlab.train import loop\n")
    g = import_graph(pkg)
    assert cycles(g) == [["genlab.runs", "genlab.train.loop"]]
    assert upward(g) == [("genlab.train.loop", "genlab.runs")]


if __name__ == "__main__":
    print(report(Path(sys.argv[1]) if len(sys.argv) > 1 else SRC))
