"""SCARFContext, CutMixContext, CutoutContext: augmented copies linked to their nearest fit rows."""

import itertools
import pickle

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.base import clone

from skcontexture import (ContextureEmbedding, CutMixContext, CutoutContext, KNNContext,
                          SCARFContext)
from skcontexture.contexts import _tabular
from skcontexture.utils.estimator_checks import check_context

from .._reference import assert_falls, dense, dense_singular_functions, strength

CONTEXTS = {
    "scarf_uniform": SCARFContext(n_draws=3, random_state=0),
    "scarf_gaussian": SCARFContext(marginal="gaussian", n_draws=3, random_state=0),
    "scarf_bimodal": SCARFContext(marginal="bimodal", n_draws=3, random_state=0),
    "scarf_empirical": SCARFContext(marginal="empirical", n_draws=3, random_state=0),
    "cutmix_feature": CutMixContext(n_draws=3, random_state=0),
    "cutmix_row": CutMixContext(partner="row", n_draws=3, random_state=0),
    "cutout": CutoutContext(n_draws=3, random_state=0),
}


def _fit(name, X, **params):
    return clone(CONTEXTS[name]).set_params(**params).fit(X)


def _link(points, X, k):
    """1/k on the k nearest rows of X of each point (ties in row order), dense."""
    squared = ((points[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    order = np.lexsort((np.broadcast_to(np.arange(len(X)), squared.shape), squared), axis=1)
    rows = np.zeros(squared.shape)
    np.put_along_axis(rows, order[:, :k], 1.0 / k, axis=1)
    return rows


@pytest.mark.parametrize("name", CONTEXTS)
def test_check_context_passes(name):
    check_context(CONTEXTS[name])


@pytest.mark.parametrize("name", CONTEXTS)
def test_joint_is_the_mean_link_of_the_copies(data, name):
    X, X_new = data["X"], data["X_new"]
    context = _fit(name, X)
    for points, rows in ((X, dense(context.joint_) * len(X)),
                         (X_new, dense(context.conditional(X_new)))):
        copies = context.augment(points)
        assert copies.shape == (len(points), 3, X.shape[1])
        expected = np.mean([_link(copies[:, r], X, 5) for r in range(3)], axis=0)
        np.testing.assert_allclose(rows, expected, atol=1e-12)


@pytest.mark.parametrize("name", CONTEXTS)
def test_zero_corruption_is_knn(data, name):
    X = data["X"]
    context = _fit(name, X, corruption_rate=0)
    knn = KNNContext(5).fit(X)
    np.testing.assert_array_equal(dense(context.joint_), dense(knn.joint_))
    np.testing.assert_array_equal(
        dense(context.conditional(data["X_new"])), dense(knn.conditional(data["X_new"]))
    )


def test_copies_follow_each_augmentation(data):
    X = data["X"]
    low, high = X.min(axis=0), X.max(axis=0)
    # uniform: a kept value or a value in [min, max]; about a share c replaced
    copies = _fit("scarf_uniform", X, corruption_rate=0.6, n_draws=20).augment(X)
    replaced = copies != X[:, None, :]
    assert abs(replaced.mean() - 0.6) < 0.02
    assert np.all((copies >= low) & (copies <= high))
    # cutout: the value or the cutout value
    copies = _fit("cutout", X, cutout_value=7.5, n_draws=20).augment(X)
    assert np.all((copies == X[:, None, :]) | (copies == 7.5))
    # CutMix with a row partner: the replaced features of a copy come from one fit row
    context = _fit("cutmix_row", X, corruption_rate=0.8, n_draws=20)
    for row, copy in zip(np.repeat(np.arange(len(X)), 20), context.augment(X).reshape(-1, 6)):
        changed = copy != X[row]
        if changed.any():
            partner = X[np.flatnonzero((X[:, changed] == copy[changed]).all(axis=1))]
            assert len(partner) >= 1
    # bimodal: one mode per copy
    copies = _fit("scarf_bimodal", X, corruption_rate=1, n_draws=20).augment(X)
    lower = (copies - low) ** 2 < (copies - high) ** 2
    share = lower.mean(axis=2)
    assert np.mean((share == 0) | (share == 1)) > 0.9 and 0.4 < lower.mean() < 0.6


def test_cutmix_by_feature_is_scarf_with_the_empirical_marginal(data):
    cutmix = CutMixContext(partner="feature", random_state=3).fit(data["X"])
    scarf = SCARFContext(marginal="empirical", random_state=3).fit(data["X"])
    np.testing.assert_array_equal(dense(cutmix.joint_), dense(scarf.joint_))


def test_copies_depend_on_the_row_only(data, monkeypatch):
    X = data["X"]
    context = _fit("scarf_uniform", X)
    rows = dense(context.conditional(X))
    permutation = np.random.RandomState(0).permutation(len(X))
    np.testing.assert_array_equal(dense(context.conditional(X[permutation])), rows[permutation])
    np.testing.assert_array_equal(dense(context.conditional(-0.0 + X[::-1].copy(order="F"))),
                                  rows[::-1])
    monkeypatch.setattr(_tabular, "COPIES_PER_BATCH", 7)  # rows searched 2 at a time
    np.testing.assert_array_equal(dense(context.conditional(X)), rows)
    other = _fit("scarf_uniform", X, random_state=1)
    assert not np.array_equal(other.augment(X), context.augment(X))


# ---------------------------------------------------------------- exact expectations


def _exact_finite(name, X, c, k, value=0.0):
    """E_a[link(a)] for each fit row by enumerating every copy a with its probability."""
    n, p = X.shape
    exact = np.zeros((n, n))
    for i, x in enumerate(X):
        if name == "cutmix_row":  # a mask and one partner row
            outcomes = (
                (np.where(mask, X[r], x), np.prod(np.where(mask, c, 1 - c)) / n)
                for mask in itertools.product([False, True], repeat=p) for r in range(n)
            )
        else:  # per feature: kept, or each replacement with its probability
            def choices(j):
                if name == "cutout":
                    return [(x[j], 1 - c), (value, c)]
                return [(x[j], 1 - c)] + [(X[r, j], c / n) for r in range(n)]

            outcomes = (
                (np.array([v for v, _ in combo]), np.prod([w for _, w in combo]))
                for combo in itertools.product(*(choices(j) for j in range(p)))
            )
        for copy, weight in outcomes:
            exact[i] += weight * _link(copy[None], X, k)[0]
    return exact


@pytest.mark.parametrize("name", ["scarf_empirical", "cutmix_feature", "cutmix_row", "cutout"])
def test_sampled_joint_converges_to_the_enumerated_expectation(name):
    X = np.array([[0, 0, 1], [1, 0, 0], [2, 2, 1], [0, 3, 3], [3, 1, 2], [1, 1, 1]], float)
    c, k = 0.6, 2
    exact = _exact_finite(name, X, c, k, value=1.0)
    np.testing.assert_allclose(exact.sum(axis=1), 1, atol=1e-12)
    extra = {"cutout_value": 1.0} if name == "cutout" else {}
    errors = []
    for n_draws in (30, 3000):
        context = _fit(name, X, corruption_rate=c, n_neighbors=k, n_draws=n_draws, **extra)
        errors.append(np.abs(dense(context.joint_) * len(X) - exact))
    # the standard error of an entry is at most 1 / (2 k sqrt(R))
    assert errors[1].max() < 5 / (2 * k * np.sqrt(3000))
    assert errors[1].mean() < errors[0].mean() / 3


def _exact_voronoi(marginal, points, X, c):
    """E_a[link(a)], K = 1, one feature: the marginal's mass of each fit value's Voronoi cell."""
    low, high = X.min(), X.max()
    order = np.argsort(X[:, 0])
    values = X[order, 0]
    edges = np.r_[-np.inf, (values[1:] + values[:-1]) / 2, np.inf]
    if marginal == "uniform":
        cdf = np.clip((edges - low) / (high - low), 0, 1)
    elif marginal == "gaussian":
        cdf = norm.cdf(edges, (low + high) / 2, (high - low) / 4)
    else:
        sd = (high - low) / 8
        cdf = (norm.cdf(edges, low, sd) + norm.cdf(edges, high, sd)) / 2
    cells = np.empty(len(X))
    cells[order] = np.diff(cdf)
    return (1 - c) * _link(points, X, 1) + c * cells


@pytest.mark.parametrize("marginal", ["uniform", "gaussian", "bimodal"])
def test_continuous_marginals_converge_to_the_voronoi_masses(marginal):
    X = np.array([[0.0], [1.0], [3.0], [4.5], [7.0], [10.0]])
    new = np.array([[2.2], [-1.0], [8.9]])
    c = 0.6
    errors = []
    for n_draws in (30, 4000):
        context = SCARFContext(c, marginal, n_draws=n_draws, n_neighbors=1, random_state=0).fit(X)
        errors.append(np.r_[
            np.abs(dense(context.joint_) * len(X) - _exact_voronoi(marginal, X, X, c)),
            np.abs(dense(context.conditional(new)) - _exact_voronoi(marginal, new, X, c)),
        ])
    assert errors[1].max() < 5 * 0.5 / np.sqrt(4000)
    assert errors[1].mean() < errors[0].mean() / 3


# ---------------------------------------------------------------- estimator behaviour


@pytest.mark.parametrize("name", ["scarf_uniform", "cutmix_row", "cutout"])
def test_transform_is_fit_transform_on_fit_rows(data, name):
    X = data["X"]
    embedding = ContextureEmbedding(clone(CONTEXTS[name]), n_components=3, random_state=0)
    Z = embedding.fit_transform(X)
    np.testing.assert_allclose(embedding.transform(X), Z, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(embedding.transform(X[5:12]), Z[5:12], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["scarf_empirical", "cutout"])
def test_same_result_for_any_n_jobs(data, name):
    one, two = _fit(name, data["X"], n_jobs=1), _fit(name, data["X"], n_jobs=2)
    np.testing.assert_array_equal(dense(one.joint_), dense(two.joint_))
    np.testing.assert_array_equal(
        dense(one.conditional(data["X_new"])), dense(two.conditional(data["X_new"]))
    )


@pytest.mark.parametrize("name", ["scarf_uniform", "cutmix_feature", "cutout"])
def test_pickle_holds_no_copies(data, name):
    X = data["X"]

    def beyond_the_joint(n_draws):
        context = _fit(name, X, n_draws=n_draws)
        joint = context.joint_
        size = len(pickle.dumps(context))
        return size - (joint.data.nbytes + joint.indices.nbytes + joint.indptr.nbytes), context

    few, _ = beyond_the_joint(2)
    many, context = beyond_the_joint(20)
    # the copies are drawn again, never stored: the rest does not grow with n_draws
    assert abs(many - few) < 1000
    assert many < 4 * X.nbytes + 20_000
    loaded = pickle.loads(pickle.dumps(context))
    np.testing.assert_array_equal(dense(loaded.conditional(X)), dense(context.conditional(X)))


def test_strength_falls_as_corruption_grows(digits):
    contexts = [SCARFContext(c, n_draws=2, random_state=0) for c in (0.1, 0.4, 0.8)]
    assert_falls([strength(context.fit(digits[::2]).joint_) for context in contexts])


def test_traits():
    traits = SCARFContext().traits()
    assert traits.atoms_are_fit_points and traits.conditional_reproduces_joint
    assert not traits.accepts_sparse and not traits.requires_y
    assert "corruption_rate" in traits.disconnected_advice
    assert CutMixContext().traits() == CutoutContext().traits() == traits


@pytest.mark.parametrize(
    "context, match",
    [
        (SCARFContext(corruption_rate=-0.1), "corruption_rate"),
        (CutMixContext(corruption_rate=1.5), "corruption_rate"),
        (SCARFContext(marginal="laplace"), "marginal"),
        (CutMixContext(partner="column"), "partner"),
        (CutoutContext(cutout_value="zero"), "cutout_value"),
        (CutoutContext(n_draws=0), "n_draws"),
    ],
)
def test_bad_parameters_raise(X, context, match):
    with pytest.raises(ValueError, match=match):
        context.fit(X)


def test_bad_input_raises(X):
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SCARFContext().fit(bad)
    context = CutMixContext(random_state=0).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        context.conditional(bad)
    with pytest.raises(ValueError, match="features"):
        context.conditional(X[:, :2])


def test_the_posterior_link_is_the_augmentation_kernel_which_does_not_factorise():
    # CutMix by feature on small discrete data: every copy a of the grid, T(a | x) per row
    X = np.array([[0, 1], [1, 1], [2, 0], [0, 0], [1, 2]], float)
    n, c = len(X), 0.6
    grid = np.array(list(itertools.product(*(np.unique(column) for column in X.T))))

    def t(values, j):  # T_j(a_j | x_j) for every grid value a_j, rows x grid
        share = (X[:, j][:, None] == grid[:, j]).mean(axis=0)
        return (1 - c) * (values[:, None] == grid[:, j]) + c * share

    T = t(X[:, 0], 0) * t(X[:, 1], 1)
    np.testing.assert_allclose(T.sum(axis=1), 1)
    p_a = T.mean(axis=0)
    kernel = (T / p_a) @ T.T  # k(x_i, x_b) of the augmentation context
    posterior_link = kernel / n  # rows P+(b | x_i) with L(b | a) = T(a | x_b) / (n p_A(a))
    np.testing.assert_allclose(posterior_link.sum(axis=1), 1)
    s_augmentation = dense_singular_functions(T / n)[0]
    s_link = dense_singular_functions(posterior_link / n)[0]
    np.testing.assert_allclose(s_link[:3], s_augmentation[:3] ** 2, atol=1e-12)
    # the feature-wise product of the one-feature kernels is another kernel
    product = np.ones((n, n))
    for j in range(2):
        product *= (t(X[:, j], j) / t(X[:, j], j).mean(axis=0)) @ t(X[:, j], j).T
    assert np.abs(product - kernel).max() > 0.1


def test_the_posterior_link_on_continuous_rows_tells_every_row_apart():
    # SCARF, uniform marginal: a copy agrees with fit rows only on its kept features, and
    # continuous rows share no value, so P+(b | x_i) = (1 - c^p) [b = i] + c^p / n
    rng = np.random.RandomState(0)
    X, c = rng.normal(size=(5, 3)), 0.6
    n, p = X.shape
    rows = np.zeros((n, n))
    for i in range(n):
        for kept in itertools.product([False, True], repeat=p):
            weight = np.prod(np.where(kept, 1 - c, c))
            agree = (X[:, list(kept)] == X[i, list(kept)]).all(axis=1)
            rows[i] += weight * agree / agree.sum()
    np.testing.assert_allclose(rows, (1 - c**p) * np.eye(n) + c**p / n, atol=1e-15)
