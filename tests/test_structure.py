"""The package's imports point down its layers, and no import cycle exists.

Every module of skcontexture belongs to one layer; a module may import
modules of its own layer or of a layer listed before it, never one listed
after it. Imports inside functions count too (they must not hide an upward
dependency), and so does ``from . import name`` when ``name`` is a module.
A subpackage is one unit of a layer, or its modules are placed one by one
(``_distributed``: each module with the layer it serves).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "skcontexture"

#: The layers, lowest first: the data flows from the contexts' joint through
#: the operator and the solvers to the estimators, then to metrics and scorers.
#: The distributed fit (``_distributed``) goes down them once: the estimator
#: calls its fit, which calls the context's hook, which lays out the rows; the
#: operator is built on the way back up.
LAYERS = [
    ("utilities", ["_typing", "_constraints", "_warn", "_memory", "_progress", "_dask",
                   "_defaults", "_distributed", "_distributed.layout"]),
    ("contexts", ["contexts", "_distributed.neighbors"]),
    ("kernels", ["_kernels"]),
    ("operator", ["_operator", "_distributed.operator", "_distributed.fit"]),
    ("solvers", ["_linalg", "linalg"]),
    ("proxy task", ["_proxy"]),
    ("estimators", ["_context_estimator", "_embedding", "_encoder"]),
    ("metrics", ["metrics"]),
    ("scorers", ["_scorer"]),
    ("selection", ["_selection"]),
    ("checks and plots", ["utils", "plotting"]),
    ("package", ["__init__"]),
    ("command line", ["cli", "__main__"]),
]
LEVEL = {unit: level for level, (_, units) in enumerate(LAYERS) for unit in units}
#: Subpackages whose modules are placed one by one.
SPLIT = {unit.split(".")[0] for unit in LEVEL if "." in unit}


def _unit(module):
    """The layer unit of a dotted module name inside the package: the module itself if
    it is placed one by one, else its first component."""
    parts = module.split(".")
    if parts == [""] or parts == ["__init__"]:
        return "__init__"
    return module if module in LEVEL else parts[0]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("")
        parts = list(relative.parts)
        yield ".".join(parts), path


def _imports(module, path):
    """Modules of the package that ``module`` imports (dotted, relative to the package)."""
    is_package = path.name == "__init__.py"
    here = module.split(".")
    package = here if is_package else here[:-1]
    if is_package:
        package = package[:-1]  # "contexts.__init__" -> ["contexts"]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("skcontexture."):
                    found.add(alias.name[len("skcontexture."):])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.startswith("skcontexture"):
                    base = node.module.split(".")[1:]
                else:
                    continue
            else:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else list(package)
                base = base + (node.module.split(".") if node.module else [])
            for alias in node.names:
                candidate = ".".join(base + [alias.name])
                if (PACKAGE / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    PACKAGE / Path(*candidate.split("."))
                ).is_dir():
                    found.add(candidate)  # ``from . import metrics``: the module itself
                else:
                    found.add(".".join(base) or "__init__")
    return found


def _graph():
    graph = {}
    for module, path in _modules():
        graph[module.removesuffix(".__init__") or "__init__"] = {
            name.removesuffix(".__init__") for name in _imports(module, path)
        }
    return graph


def test_every_module_has_a_layer():
    missing = sorted({_unit(module) for module in _graph()} - set(LEVEL))
    # in a subpackage placed one by one, a new module is placed too
    missing += sorted(module for module in _graph()
                      if module.split(".")[0] in SPLIT and module not in LEVEL)
    assert not missing, f"modules without a layer in LAYERS: {missing}"


def test_imports_point_down_the_layers():
    upward = []
    for module, imported in _graph().items():
        for name in imported:
            if _unit(name) != _unit(module) and LEVEL[_unit(name)] > LEVEL[_unit(module)]:
                upward.append(f"{module} imports {name}")
    assert not upward, "upward imports: " + "; ".join(sorted(upward))


def test_no_import_cycle():
    graph = _graph()
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for child in sorted(graph.get(node, ())):
            if child == node or child not in graph:
                continue
            if state.get(child) == "open":
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(child):] + [child]))
            if child not in state:
                visit(child, trail + [child])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_check_sees_function_level_imports(tmp_path):
    source = "def f():\n    from ._scorer import ContextScorer\n"
    path = tmp_path / "_embedding.py"
    path.write_text(source)
    assert "_scorer" in _imports("_embedding", path)
