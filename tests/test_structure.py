"""The package's imports point down its layers, no import cycle exists, and a module's
private names stay its own.

Every module of skcontexture belongs to one layer; a module may import
modules of its own layer or of a layer listed before it, never one listed
after it. Imports inside functions count too (they must not hide an upward
dependency), and so does ``from . import name`` when ``name`` is a module.
A subpackage is one unit of a layer, or its modules are placed one by one
(``_distributed``: each module with the layer it serves).

A name with a leading underscore is private to the module that defines it: no
other module of the package imports it or uses it as an attribute, except the
few names of ``SHARED_PRIVATE_NAMES``. scikit-learn's private names (its
parameter validation, ``_safe_indexing``...) are imported by ``_compat`` alone.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "skcontexture"

#: The layers, lowest first: the data flows from the contexts' joint through
#: the operator and the solvers to the metrics and the estimators, then to the scorers.
#: The solvers sit below the operators: they read an operator through the
#: interfaces they declare (``_solvers.Operator``, ``_solvers.BlockAlgebra``), and
#: the operators implement them; the public ``linalg`` builds an operator.
#: The distributed fit (``_distributed``) goes down them once: the estimator
#: calls its fit, which calls the context's hook, which lays out the rows; the
#: operator is built on the way back up.
LAYERS = [
    ("utilities", ["_compat", "_typing", "_constraints", "_warn", "_memory", "_progress", "_dask",
                   "_defaults", "_metric_table", "_distributed", "_distributed.layout"]),
    ("contexts", ["contexts", "_distributed.neighbors"]),
    ("sparse blocks", ["_sparse_blocks"]),
    ("solvers", ["_solvers"]),
    ("operator", ["_operator", "_distributed.operator", "_distributed.fit"]),
    ("singular functions", ["linalg"]),
    ("contexts that solve", ["_minimax"]),  # solve for their weights with linalg
    ("metrics", ["metrics"]),  # the estimators score with its proxy task
    ("estimators", ["_context_estimator", "_embedding", "_encoder"]),
    ("estimators built on estimators", ["_union"]),
    ("scorers", ["_scorer"]),
    ("selection", ["_selection"]),
    ("checks and plots", ["utils", "plotting"]),
    ("package", ["__init__"]),
    ("command line", ["cli", "__main__"]),
]
LEVEL = {unit: level for level, (_, units) in enumerate(LAYERS) for unit in units}
#: Subpackages whose modules are placed one by one.
SPLIT = {unit.split(".")[0] for unit in LEVEL if "." in unit}

#: The private names other modules of the package may use, and why.
SHARED_PRIVATE_NAMES = {
    "_fit_distributed": "the hook by which a context declares its fit on a cluster, "
                        "called by _distributed.fit",
    "_atom_points": "a context's atoms as points, read by the public checks of a context",
    "_tied_components_advice": "a context's advice when its top functions are an arbitrary "
                               "pick among tied ones, the warning of the estimators built on it",
    "_fit_context": "the first half of ContextureEmbedding.fit (the context fitted, its "
                    "operator built); the main job's selection computes a context's spectrum "
                    "from that operator before the second half",
    "_fit_operator": "the second half of ContextureEmbedding.fit (the triplets of the "
                     "operator, the fit rows' embedding), called by the main job's selection",
    "_extend": "ContextureEmbedding's Nystrom rule, which the lazy transform (_dask) "
               "applies to each block of a model fitted on a cluster",
}


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


def _package_imports_from(module, path, tree):
    """``(base, name, is_module)`` of each ``from <base> import <name>`` of the package
    in a module: ``base`` dotted, relative to the package ("" for the package itself)."""
    is_package = path.name == "__init__.py"
    here = module.split(".")
    package = here if is_package else here[:-1]
    if is_package:
        package = package[:-1]  # "contexts.__init__" -> ["contexts"]
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0:
            if node.module and node.module.startswith("skcontexture"):
                base = node.module.split(".")[1:]
            else:
                continue
        else:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else list(package)
            base = base + (node.module.split(".") if node.module else [])
        for alias in node.names:
            candidate = PACKAGE / Path(*base, alias.name)
            is_module = candidate.with_suffix(".py").exists() or candidate.is_dir()
            yield ".".join(base), alias.name, is_module


def _imports(module, path):
    """Modules of the package that ``module`` imports (dotted, relative to the package)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("skcontexture."):
                    found.add(alias.name[len("skcontexture."):])
    for base, name, is_module in _package_imports_from(module, path, tree):
        if is_module:
            found.add(f"{base}.{name}" if base else name)  # ``from . import metrics``
        else:
            found.add(base or "__init__")
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


def test_the_contexts_namespace_loads_its_solving_context_lazily():
    """``skcontexture.contexts.MinimaxCombination`` lives above the solvers (it solves for
    its weights): the namespace names it in a lazy table, which the import graph above
    does not see, so this checks that importing the namespace loads no solver and that
    the name resolves to the one class."""
    import subprocess
    import sys

    code = (
        "import sys, skcontexture.contexts as c\n"
        "assert '_minimax' in c._LOCATIONS['MinimaxCombination']\n"
        "assert not {'skcontexture._solvers', 'skcontexture._minimax'} & set(sys.modules)\n"
        "import skcontexture\n"
        "assert c.MinimaxCombination is skcontexture.MinimaxCombination\n"
        "assert 'skcontexture._minimax' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def _own_names(tree):
    """The names a module defines: its functions, classes, variables, parameters,
    import aliases and attributes it sets on ``self`` or ``cls``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            names.add(node.attr)
    return names


def _private_names_used_across_modules():
    """``(module, name, how)`` of each private name a module takes from another one."""
    trees = {module: (ast.parse(path.read_text()), path) for module, path in _modules()}
    own = {module: _own_names(tree) for module, (tree, _) in trees.items()}
    found = set()
    for module, (tree, path) in trees.items():
        for _, name, is_module in _package_imports_from(module, path, tree):
            if _private(name) and not is_module:  # ``from . import _solvers``: a module
                found.add((module, name, "imports"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and _private(node.attr)
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                    and node.attr not in own[module]
                    # another module's name, not a library's (sys._getframe, dask's _meta)
                    and any(node.attr in names for other, names in own.items() if other != module)):
                found.add((module, node.attr, "uses the attribute"))
    return found


def test_private_names_stay_in_their_module():
    found = _private_names_used_across_modules()
    taken = sorted(f"{module} {how} {name}" for module, name, how in found
                   if name not in SHARED_PRIVATE_NAMES)
    assert not taken, "private names of another module: " + "; ".join(taken)
    unused = sorted(set(SHARED_PRIVATE_NAMES) - {name for _, name, _ in found})
    assert not unused, f"SHARED_PRIVATE_NAMES lists names no other module uses: {unused}"


def test_the_check_sees_private_names_across_modules(tmp_path, monkeypatch):
    package = tmp_path / "skcontexture"
    package.mkdir()
    (package / "_a.py").write_text("def _helper():\n    pass\n")
    (package / "_b.py").write_text("from ._a import _helper\n")
    (package / "_c.py").write_text("def f(x):\n    return x._helper()\n")
    monkeypatch.setitem(globals(), "PACKAGE", package)
    assert _private_names_used_across_modules() == {
        ("_b", "_helper", "imports"), ("_c", "_helper", "uses the attribute"),
    }


def _private_scikit_learn_imports(path):
    """``from sklearn.<...> import name`` of a private module or name, in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "sklearn" or node.module.startswith("sklearn.")):
            private_module = any(_private(part) for part in node.module.split("."))
            found += [f"{node.module}.{alias.name}" for alias in node.names
                      if private_module or _private(alias.name)]
    return found


def test_private_scikit_learn_names_come_through_compat():
    taken = {module: names for module, path in _modules() if module != "_compat"
             and (names := _private_scikit_learn_imports(path))}
    assert not taken, f"import these from skcontexture._compat instead: {taken}"


def test_the_check_sees_private_scikit_learn_imports(tmp_path):
    path = tmp_path / "_m.py"
    path.write_text("from sklearn.utils._param_validation import Interval\n"
                    "from sklearn.utils import _safe_indexing, check_array\n"
                    "from sklearn.base import clone\n")
    assert _private_scikit_learn_imports(path) == [
        "sklearn.utils._param_validation.Interval", "sklearn.utils._safe_indexing"]
