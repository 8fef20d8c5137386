"""skcontexture: representations from contexts, for scikit-learn.

The public names load on first use (PEP 562), so that ``import skcontexture`` and
``python -m skcontexture --help`` do not import scikit-learn and the solvers before
they are needed.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0.dev0"

#: Where each public name lives.
_LOCATIONS = {
    "ContextureEmbedding": "._embedding",
    "ContextureUnion": "._union",
    "SpectralContextEncoder": "._encoder",
    "ContextScorer": "._scorer",
    "LabelledProbeScorer": "._scorer",
    "MinimaxCombination": "._minimax",
    "UntrustedTauWarning": "._scorer",
    **dict.fromkeys(
        ["BaseContext", "ConvexCombination", "Convolution", "CooccurrenceContext",
         "CutMixContext", "CutoutContext", "GaussianNoiseContext", "KNNContext",
         "LabelContext", "LinearTeacherContext", "MaskedContext", "PairedContext",
         "RBFContext", "SCARFContext", "TargetContext", "TeacherContext"],
        ".contexts",
    ),
}

__all__ = sorted(_LOCATIONS)

#: The public submodules, loaded on first access as attributes too (``skcontexture.metrics``).
_SUBMODULES = ("contexts", "linalg", "metrics", "plotting", "utils")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LOCATIONS:
        value = getattr(importlib.import_module(_LOCATIONS[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))


if TYPE_CHECKING:  # what type checkers and IDEs read
    from ._embedding import ContextureEmbedding
    from ._encoder import SpectralContextEncoder
    from ._minimax import MinimaxCombination
    from ._scorer import ContextScorer, LabelledProbeScorer, UntrustedTauWarning
    from ._union import ContextureUnion
    from .contexts import (
        BaseContext,
        ConvexCombination,
        Convolution,
        CooccurrenceContext,
        CutMixContext,
        CutoutContext,
        GaussianNoiseContext,
        KNNContext,
        LabelContext,
        LinearTeacherContext,
        MaskedContext,
        PairedContext,
        RBFContext,
        SCARFContext,
        TargetContext,
        TeacherContext,
    )
