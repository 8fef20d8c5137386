"""The API reference lists every public name."""

import re
from pathlib import Path

import pytest

import skcontexture
import skcontexture.contexts
import skcontexture.linalg
import skcontexture.metrics
import skcontexture.plotting
import skcontexture.utils
import skcontexture.utils.estimator_checks

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.rst"


@pytest.mark.parametrize(
    "module",
    [skcontexture, skcontexture.contexts, skcontexture.linalg, skcontexture.metrics,
     skcontexture.plotting, skcontexture.utils, skcontexture.utils.estimator_checks],
    ids=lambda module: module.__name__,
)
def test_api_reference_lists_every_public_name(module):
    listed = set(re.findall(r"^   (\w+)$", API_PAGE.read_text(), flags=re.MULTILINE))
    missing = sorted(set(module.__all__) - listed)
    assert not missing, f"{module.__name__} names missing from docs/api.rst: {missing}"
