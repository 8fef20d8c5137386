"""Sphinx configuration of the skcontexture documentation."""

import ast
import importlib
import inspect
import re
from pathlib import Path

from sphinx.pycode import ModuleAnalyzer

import skcontexture

project = "skcontexture"
copyright = "2026, skcontexture developers"
author = "skcontexture developers"
release = skcontexture.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "sg_execution_times.rst"]

# -- API reference -------------------------------------------------------------------------------
autosummary_generate = True
# The signatures carry type hints for type checkers; the pages show the numpydoc types of the
# docstrings instead ("array-like of shape (n_samples, n_features)"), as scikit-learn's do.
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Types in docstrings ("array-like of shape (n_samples,)", "int or None") are prose, not
# cross-references.
numpydoc_xref_param_type = False

# -- Markdown pages ------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# -- Gallery -------------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(Path(__file__).parent.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "reference_url": {"skcontexture": None},
    "doc_module": ("skcontexture",),
    "backreferences_dir": "generated/backreferences",
}

# -- HTML ----------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skcontexture {release}"
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}


# -- Docstring rendering -------------------------------------------------------------------------
# Fitted attributes end with an underscore ("n_atoms_"), which reStructuredText reads as a
# hyperlink reference when it appears in prose or in a type ("of shape (n_samples, n_atoms_)").
# Escape that underscore everywhere except in inline literals, roles, doctest blocks and the name
# of a parameter or attribute entry (which numpydoc renders itself).
_TRAILING_UNDERSCORE = re.compile(r"(?<![\w\\])([A-Za-z]\w*?)_(?![\w`])")
_LITERAL_OR_ROLE = re.compile(r"(``.*?``|:\w+:`[^`]*`|`[^`]*`_*)")
_ENTRY_NAME = re.compile(r"^(\s*)(\*{0,2}\w+)(\s+:(?:\s|$).*)$")


def _escape_line(line):
    parts = _LITERAL_OR_ROLE.split(line)
    parts[::2] = [_TRAILING_UNDERSCORE.sub(r"\1\\_", part) for part in parts[::2]]
    return "".join(parts)


def escape_attribute_names(app, what, name, obj, options, lines):
    """Escape the trailing underscore of fitted-attribute names in a docstring, in place."""
    in_doctest = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">>>"):
            in_doctest = True
        elif not stripped:
            in_doctest = False
        if in_doctest or stripped.startswith(".."):
            continue
        entry = _ENTRY_NAME.match(line)
        if entry:
            lines[i] = entry.group(1) + entry.group(2) + _escape_line(entry.group(3))
        else:
            lines[i] = _escape_line(line)


def skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Leave the methods inherited from scikit-learn (get_params, set_output, ...) undocumented.

    Their docstrings cross-reference scikit-learn's own documentation; the API pages say where
    the estimator API is documented instead.
    """
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] == "sklearn":
        return True
    return skip


def _defining_module(module_name, name):
    """The module ``module_name`` imports ``name`` from (``from .x import name``), or None."""
    module = importlib.import_module(module_name)
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.ImportFrom) and any(a.name == name for a in node.names):
            source = "." * node.level + (node.module or "")
            return importlib.util.resolve_name(source, module.__package__)
    return None


def document_imported_constants(app, what, name, obj, options, lines):
    """Give a constant that a public module imports from a private one the ``#:`` comment it
    has where it is defined (autodoc looks in the public module only, and would show the
    docstring of its type: ``int``, ``ndarray``)."""
    if what != "data":
        return
    module_name, _, attr = name.rpartition(".")
    if ("", attr) in ModuleAnalyzer.for_module(module_name).find_attr_docs():
        return
    source = _defining_module(module_name, attr)
    comment = source and ModuleAnalyzer.for_module(source).find_attr_docs().get(("", attr))
    if comment:
        lines[:] = list(comment)


def setup(app):
    app.connect("autodoc-process-docstring", document_imported_constants, priority=300)
    app.connect("autodoc-process-docstring", escape_attribute_names, priority=400)
    app.connect("autodoc-skip-member", skip_scikit_learn_members)
