"""Contexts: the joint distributions of inputs and context atoms."""

from ._base import BaseContext
from ._cooccurrence import CooccurrenceContext
from ._kernel import RBFContext
from ._knn import KNNContext
from ._labels import LabelContext

__all__ = [
    "BaseContext",
    "CooccurrenceContext",
    "KNNContext",
    "LabelContext",
    "RBFContext",
]
