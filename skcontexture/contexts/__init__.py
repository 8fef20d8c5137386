"""Contexts: the joint distributions of inputs and context atoms."""

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
    "PairedContext",
    "RBFContext",
    "SCARFContext",
    "TargetContext",
    "TeacherContext",
]
