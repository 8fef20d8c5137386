"""The installed package marks itself as typed (PEP 561) and ships the marker in its wheel."""

import importlib.resources
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_the_package_ships_py_typed():
    assert (importlib.resources.files("skcontexture") / "py.typed").is_file()
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    package_data = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["skcontexture"]
