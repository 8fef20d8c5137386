"""skcontexture: representations from contexts, for scikit-learn."""

from ._embedding import ContextureEmbedding
from .contexts import (
    BaseContext,
    CooccurrenceContext,
    KNNContext,
    LabelContext,
    RBFContext,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseContext",
    "ContextureEmbedding",
    "CooccurrenceContext",
    "KNNContext",
    "LabelContext",
    "RBFContext",
]
