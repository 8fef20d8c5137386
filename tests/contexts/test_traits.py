"""The traits of contexts: what they declare holds, and composites combine them by one rule."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils import get_tags

from skcontexture import ContextScorer, ContextureEmbedding
from skcontexture.contexts import (ContextTraits, ConvexCombination, Convolution,
                                   CooccurrenceContext, GaussianNoiseContext, KNNContext,
                                   LabelContext, MaskedContext, PairedContext, RBFContext,
                                   TargetContext, TeacherContext)
from skcontexture.contexts._traits import combine_traits
from skcontexture.utils.estimator_checks import check_context_traits

from .._instances import CONTEXTS, NAMES, fit_args, make_data


@pytest.fixture(scope="module")
def data():
    """The data of the context table at its default size (60 rows)."""
    return make_data()


@pytest.mark.parametrize("name", NAMES)
def test_traits_agree_with_the_fitted_context(data, name):
    X, y, fit_params = fit_args(name, data)
    context = CONTEXTS[name]
    before = context.traits()
    fitted = clone(context).fit(X, y, **fit_params)
    assert fitted.traits() == before
    if before.atoms_are_fit_points:
        assert fitted.joint_.shape == (len(X), len(X))
    if before.block_structured:
        # components by design (one per class) raise no warning
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ContextureEmbedding(context, n_components=1).fit(X, y, **fit_params)
        assert not any("connected components" in str(w.message) for w in caught)


def test_two_hop_knn_has_fit_point_atoms_and_lidar_accepts_it(data):
    X = data["X"]
    two_hops = Convolution(KNNContext(6), KNNContext(6))
    assert two_hops.traits().atoms_are_fit_points
    emb = ContextureEmbedding(two_hops, n_components=3, random_state=0).fit(X)
    score = ContextScorer("lidar")(emb, X)
    assert np.isfinite(score) and score > 0
    assert np.isfinite(ContextScorer("lidar", source="X")(emb, X))


def test_convolution_atoms_are_fit_points_only_when_both_steps_are():
    assert not Convolution(KNNContext(), LabelContext()).traits().atoms_are_fit_points
    noise_then_knn = Convolution(GaussianNoiseContext(), KNNContext())
    assert not noise_then_knn.traits().atoms_are_fit_points  # its atoms are the draws
    # the conditional reproduces the joint when the first step's does, whatever the second
    assert Convolution(KNNContext(), LabelContext()).traits().conditional_reproduces_joint


def test_target_context_traits_come_from_its_base_and_its_extension():
    # the extension decides what concerns X and new points, whatever the base says
    traits = TargetContext(RBFContext()).traits()
    assert not traits.conditional_reproduces_joint and traits.requires_y
    assert traits.atoms_are_fit_points and traits.accepts_sparse
    assert traits.disconnected_advice == RBFContext().traits().disconnected_advice
    # counts on the targets do not make X positive-only
    assert not TargetContext(CooccurrenceContext()).traits().positive_only


@pytest.mark.parametrize(
    ("teacher", "kwargs", "expected"),
    [
        (LogisticRegression(), {}, {"block_structured": True, "atoms_are_fit_points": False,
                                    "disconnected_advice": "use a softer teacher"}),
        (PCA(2), {"base": KNNContext(5)}, {"block_structured": False, "atoms_are_fit_points": True,
                                            "disconnected_advice": "increase n_neighbors"}),
        (Ridge(), {"base": RBFContext()}, {"block_structured": False,
                                            "atoms_are_fit_points": True}),
    ],
    ids=["proba", "transform", "predict"],
)
def test_teacher_traits_are_those_of_its_output_before_and_after_fit(data, teacher, kwargs,
                                                                     expected):
    context = TeacherContext(teacher, **kwargs)
    before = context.traits()
    for name, value in expected.items():
        assert getattr(before, name) == value, name
    fitted = clone(context).fit(data["X"], data["y"])
    assert fitted.traits() == before
    # a fitted teacher needs no y any more
    assert not TeacherContext(fitted.teacher_, **kwargs).traits().requires_y


def test_mixture_combines_by_one_rule():
    mixture = ConvexCombination([("labels", LabelContext()), ("knn", KNNContext())])
    traits = mixture.traits()
    assert not traits.conditional_reproduces_joint  # all parts must reproduce
    assert not traits.block_structured and traits.requires_y  # any part needs y
    assert not traits.atoms_are_fit_points  # side by side, n + C atoms
    both = ConvexCombination([("a", LabelContext()), ("b", LabelContext(5))]).traits()
    assert both.block_structured
    counts = ConvexCombination([("c", CooccurrenceContext()), ("k", KNNContext())]).traits()
    assert counts.positive_only and counts.accepts_sparse
    assert not ConvexCombination([("n", GaussianNoiseContext()), ("k", KNNContext())]).traits(
    ).accepts_sparse


def test_combine_traits_declared_wins_and_single_part_advice():
    part = ContextTraits(atoms_are_fit_points=True, disconnected_advice="do this")
    assert combine_traits([part]).disconnected_advice == "do this"
    assert combine_traits([part, part]).disconnected_advice == ContextTraits().disconnected_advice
    assert not combine_traits([part], atoms_are_fit_points=False).atoms_are_fit_points
    with pytest.raises(AttributeError):
        part.block_structured = True  # immutable


def test_masked_and_paired_contexts_keep_their_base_structure():
    masked = MaskedContext(RBFContext()).traits()
    assert masked.atoms_are_fit_points
    assert masked.disconnected_advice == (
        "decrease gamma or increase n_neighbors, or increase mask_ratio"
    )
    assert MaskedContext().traits().disconnected_advice.startswith("increase n_neighbors")
    paired = PairedContext(CooccurrenceContext()).traits()
    # the base sees A: X may be sparse or negative
    assert paired.accepts_sparse and not paired.positive_only


@pytest.mark.parametrize(
    "context",
    [KNNContext(), LabelContext(), CooccurrenceContext(), TargetContext(),
     TeacherContext(LogisticRegression()), ConvexCombination([("k", KNNContext())])],
    ids=lambda context: type(context).__name__,
)
def test_tags_of_contexts_and_estimators_are_the_traits(context):
    traits = context.traits()
    for tags in (get_tags(context), get_tags(ContextureEmbedding(context))):
        assert tags.input_tags.sparse == traits.accepts_sparse
        assert tags.input_tags.positive_only == traits.positive_only
        assert tags.target_tags.required == traits.requires_y


def test_default_context_has_knn_traits():
    assert MaskedContext().traits() == MaskedContext(KNNContext()).traits()
    assert get_tags(ContextureEmbedding()).input_tags.sparse == KNNContext().traits().accepts_sparse


class _TagsWithoutTraits(KNNContext):
    """Declares sparse input the scikit-learn way only: composites would not see it."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags


class _NeedsYUndeclared(KNNContext):
    def fit(self, X, y=None):
        if y is None:
            raise ValueError("y is required")
        return super().fit(X)


def test_traits_check_catches_undeclared_tags_and_targets():
    X, y = make_blobs(n_samples=40, n_features=3, random_state=0)
    with pytest.raises(AssertionError, match="declare them in the traits"):
        check_context_traits(_TagsWithoutTraits(5), X)
    with pytest.raises(AssertionError, match="declares requires_y=True"):
        check_context_traits(_NeedsYUndeclared(5), X, y)
