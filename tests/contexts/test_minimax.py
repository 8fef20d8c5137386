"""MinimaxCombination: the weights that serve the worst-served part best."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from skcontexture import (ContextureEmbedding, ConvexCombination, KNNContext, LabelContext,
                          LinearTeacherContext, MinimaxCombination)
from skcontexture.metrics import ratio_trace

from .._reference import dense

D = 3


@pytest.fixture(scope="module")
def toy():
    """A strong kNN context and a weak linear one on the same 150 rows: with equal
    weights the kNN context dominates the mixture."""
    rng = np.random.RandomState(0)
    angle = rng.uniform(0, 2 * np.pi, 150)
    X = np.c_[np.cos(angle), np.sin(angle), 0.3 * rng.normal(size=(150, 2))]
    parts = [("knn", KNNContext(5)), ("linear", LinearTeacherContext(whiten=False))]
    return X, parts


def _shares(X, parts, weights, y=None, d=D):
    """The captured shares of a convex combination, by an independent route: the
    embedding of the mixture, the ratio trace against each part, each part's own top-d."""
    mixed = ContextureEmbedding(ConvexCombination(parts, weights=weights), n_components=d,
                                random_state=0).fit(X, y)
    shares = []
    for _, part in parts:
        with warnings.catch_warnings():  # a part with fewer functions (the label part)
            warnings.simplefilter("ignore", UserWarning)
            alone = ContextureEmbedding(part, n_components=d, random_state=0).fit(X, y)
        joint = clone(part).fit(X, y).joint_
        shares.append(ratio_trace(mixed.embedding_, joint) / np.sum(alone.singular_values_**2))
    return np.array(shares)


def test_weights_move_to_the_under_served_part(toy):
    X, parts = toy
    ctx = MinimaxCombination(parts, n_components=D, step_size=0.1, random_state=0).fit(X)
    equal = _shares(X, parts, None)
    assert equal[1] < equal[0]  # the linear part is served worst with equal weights
    np.testing.assert_allclose(ctx.captured_history_[0], equal, atol=1e-8)
    np.testing.assert_allclose(ctx.weights_history_[0], 0.5)
    assert ctx.weights_[1] > 0.5 and np.isclose(ctx.weights_.sum(), 1)
    assert ctx.captured_.min() > equal.min() + 0.01
    np.testing.assert_allclose(ctx.captured_, _shares(X, parts, ctx.weights_), atol=1e-8)
    assert np.all((ctx.captured_history_ >= 0) & (ctx.captured_history_ <= 1 + 1e-9))
    assert 1 < ctx.n_iter_ <= 200 and len(ctx.weights_history_) == ctx.n_iter_
    # the joint is the convex combination's with the found weights
    fixed = ConvexCombination(parts, weights=ctx.weights_).fit(X)
    np.testing.assert_allclose(dense(ctx.joint_), dense(fixed.joint_), rtol=1e-12)
    np.testing.assert_allclose(dense(ctx.conditional(X[:7])), dense(fixed.conditional(X[:7])),
                               rtol=1e-12)


def test_each_round_follows_the_multiplicative_rule(toy):
    X, parts = toy
    ctx = MinimaxCombination(parts, n_components=D, step_size=0.1, random_state=0).fit(X)
    for t in range(ctx.n_iter_ - 1):
        loss = 1 - ctx.captured_history_[t]
        w = ctx.weights_history_[t] * np.exp(0.1 * (loss - loss.mean()) / loss.std())
        np.testing.assert_allclose(ctx.weights_history_[t + 1], w / w.sum(), rtol=1e-12)
    # stops at the first round that does not improve the worst share, keeping the best
    worst = ctx.captured_history_.min(axis=1)
    assert np.all(np.diff(worst[:-1]) > ctx.tol) and worst[-1] <= worst[-2] + ctx.tol
    np.testing.assert_array_equal(ctx.weights_, ctx.weights_history_[-2])


def test_deterministic_and_the_same_for_any_n_jobs(toy):
    X, parts = toy
    first = MinimaxCombination(parts, n_components=D, step_size=0.2, random_state=0).fit(X)
    again = clone(first).fit(X)
    threaded = MinimaxCombination([("knn", KNNContext(5, n_jobs=2)), parts[1]], n_components=D,
                                  step_size=0.2, n_jobs=2, random_state=0).fit(X)
    for other in (again, threaded):
        np.testing.assert_array_equal(other.weights_history_, first.weights_history_)
        np.testing.assert_array_equal(dense(other.joint_), dense(first.joint_))


def test_in_an_embedding_and_edge_cases(toy):
    X, parts = toy
    emb = ContextureEmbedding(MinimaxCombination(parts, n_components=D, step_size=0.2),
                              n_components=D, random_state=0)
    Z = emb.fit_transform(X)
    np.testing.assert_allclose(emb.transform(X), Z, atol=1e-10)
    assert emb.context_.random_state is not None  # seeded by the estimator
    one_round = MinimaxCombination(parts, n_components=D, max_iter=1).fit(X)
    np.testing.assert_array_equal(one_round.weights_, [0.5, 0.5])
    assert one_round.n_iter_ == 1
    alone = MinimaxCombination(parts[:1], n_components=D).fit(X)
    np.testing.assert_array_equal(alone.weights_, [1.0])
    np.testing.assert_allclose(alone.captured_, 1.0)
    assert alone.n_iter_ == 1
    assert "MinimaxCombination" in repr(clone(alone))


def test_every_round_is_exact_though_most_reuse_earlier_solutions(toy):
    # a long search: most rounds find their functions on the basis of earlier solves,
    # and each round's shares are those of a fresh solve of its mixture
    X, parts = toy
    ctx = MinimaxCombination(parts, n_components=D, step_size=0.02, random_state=0).fit(X)
    assert ctx.n_iter_ > 20 and ctx.n_solves_ < ctx.n_iter_ / 2
    for weights, captured in zip(ctx.weights_history_[::5], ctx.captured_history_[::5]):
        np.testing.assert_allclose(captured, _shares(X, parts, weights), atol=1e-8)


def test_parts_with_different_row_masses():
    # the label part has no mass on the unlabelled rows (y = -1), the kNN part has it
    # everywhere: the mixture's row marginal then depends on the weights
    rng = np.random.RandomState(1)
    X = np.r_[rng.normal(0, 1, (60, 3)), rng.normal(2.5, 1, (60, 3))]
    y = np.repeat([0, 1], 60)
    y[rng.rand(120) < 0.6] = -1
    parts = [("knn", KNNContext(6)), ("labels", LabelContext())]
    with pytest.warns(UserWarning, match="only 1 nonzero"):  # the label part's one function
        ctx = MinimaxCombination(parts, n_components=2, step_size=0.2, random_state=0).fit(X, y)
    assert ctx.n_iter_ > 1
    for weights, captured in zip(ctx.weights_history_, ctx.captured_history_):
        np.testing.assert_allclose(captured, _shares(X, parts, weights, y, d=2), atol=1e-8)
