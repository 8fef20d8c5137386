"""Contexts: the joint distributions of inputs and context atoms.

``MinimaxCombination`` solves for its weights with the library's solver, so its
module sits above the solvers (``skcontexture._minimax``); this namespace loads
it on first use (PEP 562), and importing it loads no solver.
"""

import importlib

from ._base import BaseContext
from ._combine import ConvexCombination, Convolution
from ._cooccurrence import CooccurrenceContext
from ._knn import KNNContext
from ._labels import LabelContext, TargetContext
from ._linear_teacher import LinearTeacherContext
from ._mask import MaskedContext
from ._noise import GaussianNoiseContext
from ._paired import PairedContext
from ._rbf import RBFContext
from ._tabular import CutMixContext, CutoutContext, SCARFContext
from ._teacher import TeacherContext
from ._traits import ContextTraits

__all__ = [
    "BaseContext",
    "ContextTraits",
    "ConvexCombination",
    "Convolution",
    "CooccurrenceContext",
    "CutMixContext",
    "CutoutContext",
    "GaussianNoiseContext",
    "KNNContext",
    "LabelContext",
    "LinearTeacherContext",
    "MaskedContext",
    "MinimaxCombination",
    "PairedContext",
    "RBFContext",
    "SCARFContext",
    "TargetContext",
    "TeacherContext",
]

#: Contexts defined above the solvers, loaded on first use: name -> module.
_LOCATIONS = {"MinimaxCombination": "skcontexture._minimax"}


def __getattr__(name):
    if name in _LOCATIONS:
        value = getattr(importlib.import_module(_LOCATIONS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
