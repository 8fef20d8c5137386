"""skcontexture: representations from contexts, for scikit-learn."""

from ._embedding import ContextureEmbedding
from ._encoder import SpectralContextEncoder
from ._scorer import ContextScorer, LabelledProbeScorer, UntrustedTauWarning
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
    MaskedContext,
    PairedContext,
    RBFContext,
    SCARFContext,
    TargetContext,
    TeacherContext,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseContext",
    "ContextScorer",
    "ContextureEmbedding",
    "ConvexCombination",
    "Convolution",
    "CooccurrenceContext",
    "CutMixContext",
    "CutoutContext",
    "GaussianNoiseContext",
    "KNNContext",
    "LabelContext",
    "LabelledProbeScorer",
    "MaskedContext",
    "PairedContext",
    "RBFContext",
    "SCARFContext",
    "SpectralContextEncoder",
    "TargetContext",
    "TeacherContext",
    "UntrustedTauWarning",
]
