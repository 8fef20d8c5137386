"""feature_prediction and probe curves (skcontexture.metrics._proxy)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import KFold

from skcontexture import ContextureEmbedding, KNNContext, RBFContext
from skcontexture.metrics import PROBE_ALPHAS, feature_prediction, probe_curve


def _reference(estimator, X_fit, X_held, groups, dims):
    """Slow reference of feature_prediction: explicit ridge, brute-force leave-one-out alphas."""
    sse, sst = np.zeros(len(dims)), 0.0
    folds = list(KFold(2, shuffle=True, random_state=0).split(X_held))
    for group in groups:
        keep = np.setdiff1d(np.arange(X_fit.shape[1]), group)
        Z = clone(estimator).fit(X_fit[:, keep]).transform(X_held[:, keep])
        Y = (X_held[:, group] - X_held[:, group].mean(0)) / X_held[:, group].std(0)
        for j, d in enumerate(dims):
            pred = np.zeros_like(Y)
            for train, test in folds:
                A, B = Z[train, :d], Y[train]
                loo = []
                for alpha in PROBE_ALPHAS:
                    err = 0.0
                    for i in range(A.shape[0]):
                        rest = np.arange(A.shape[0]) != i
                        am, bm = A[rest].mean(0), B[rest].mean(0)
                        W = np.linalg.solve((A[rest] - am).T @ (A[rest] - am) + alpha * np.eye(d),
                                            (A[rest] - am).T @ (B[rest] - bm))
                        err += np.sum(((A[i] - am) @ W + bm - B[i]) ** 2)
                    loo.append(err)
                alpha = PROBE_ALPHAS[int(np.argmin(loo))]
                am, bm = A.mean(0), B.mean(0)
                W = np.linalg.solve((A - am).T @ (A - am) + alpha * np.eye(d), (A - am).T @ (B - bm))
                pred[test] = (Z[test, :d] - am) @ W + bm
            sse[j] += ((pred - Y) ** 2).sum()
        sst += ((Y - Y.mean(0)) ** 2).sum()
    return np.max(1 - sse / sst)


def test_feature_prediction_matches_slow_reference():
    X, _ = make_blobs(90, n_features=4, centers=3, cluster_std=4.0, random_state=0)
    X_fit, X_held = X[:50], X[50:]
    estimator = ContextureEmbedding(KNNContext(8), n_components=4)
    value, best_d = feature_prediction(estimator, X_fit, X_held, n_groups=2, return_dim=True)
    groups = np.array_split(np.random.RandomState(0).permutation(4), 2)
    # the proxy task probes the singular functions themselves, whatever the estimator's scale
    unweighted = clone(estimator).set_params(scale="none")
    assert value == pytest.approx(_reference(unweighted, X_fit, X_held, groups, [1, 2, 4]),
                                  abs=1e-10)
    assert best_d in (1, 2, 4)


def test_feature_prediction_does_not_depend_on_the_column_weights():
    X, _ = make_blobs(120, n_features=6, centers=4, cluster_std=3.0, random_state=2)
    values = {scale: feature_prediction(ContextureEmbedding(KNNContext(10), n_components=8,
                                                            scale=scale), X, return_dim=True)
              for scale in ("none", "singular_values", "propagation")}
    assert values["singular_values"] == values["none"] == values["propagation"]


def test_feature_prediction_separates_good_and_useless_contexts():
    # features that share a low-dimensional structure: a kNN context recovers it, a kernel
    # so wide that it is uniform keeps nothing of it
    rng = np.random.RandomState(1)
    t = rng.uniform(0, 3 * np.pi, 400)
    X = np.column_stack([np.cos(t), np.sin(t), np.cos(2 * t), t / 5]) + 0.05 * rng.normal(size=(400, 4))
    good = feature_prediction(ContextureEmbedding(KNNContext(10), n_components=16), X)
    useless = feature_prediction(ContextureEmbedding(RBFContext(gamma=1e-6), n_components=1), X)
    assert good > 0.5 and useless < 0.1 and good <= 1.0


@settings(max_examples=10, deadline=None)
@given(scale=st.floats(1e-2, 1e2), seed=st.integers(0, 10**6))
def test_feature_prediction_invariances(scale, seed):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(80, 4))
    X[:, 3] += X[:, 0] * X[:, 1]
    estimator = ContextureEmbedding(KNNContext(8), n_components=4)
    base = feature_prediction(estimator, X)
    # the score depends on the geometry of X only: a global scaling changes no kNN graph
    # and R^2 is unitless
    assert feature_prediction(estimator, X * scale) == pytest.approx(base, abs=1e-8)
    assert -1.0 < base <= 1.0
    # the same seed gives the same row split, groups and folds
    assert feature_prediction(estimator, X) == base


def test_feature_prediction_checks_inputs(iris):
    estimator = ContextureEmbedding(KNNContext(5), n_components=2)
    with pytest.raises(ValueError, match="constant"):
        feature_prediction(estimator, iris[:50], np.ones((20, 4)))
    with pytest.raises(ValueError, match="features"):
        feature_prediction(estimator, iris[:50], iris[50:70, :3])
    with pytest.raises(ValueError, match="n_groups"):
        feature_prediction(estimator, iris, n_groups=1)
    with pytest.raises(ValueError, match="2 features"):
        feature_prediction(estimator, iris[:, :1])
    X = iris.copy()
    feature_prediction(estimator, X)
    np.testing.assert_array_equal(X, iris)  # inputs are not modified


def test_probe_curve_is_monotone_for_nested_exact_features():
    rng = np.random.RandomState(2)
    Z = rng.normal(size=(300, 8))
    y = Z[:, :4] @ np.array([1.0, 0.8, 0.5, 0.3])
    dims, scores = probe_curve(Z, y)
    assert list(dims) == [1, 2, 4, 8]
    assert scores[2] > scores[1] > scores[0] and scores[2] > 0.999


def test_probe_curve_classifier_and_rare_classes():
    from sklearn.linear_model import RidgeClassifierCV

    rng = np.random.RandomState(3)
    y = np.repeat([0, 1, 2], [20, 20, 3])  # the rarest class has 3 rows: 3 folds, not 5
    Z = rng.normal(size=(43, 4)) + y[:, None]
    dims, scores = probe_curve(Z, y, probe=RidgeClassifierCV(), cv=5)
    assert np.all((0 <= scores) & (scores <= 1))
    with pytest.raises(ValueError, match="single row"):
        probe_curve(Z[:41], np.r_[y[:40], 2], probe=RidgeClassifierCV())
    with pytest.raises(ValueError, match="dims"):
        probe_curve(Z, y.astype(float), dims=[5])
    with pytest.raises(ValueError, match="cv"):
        probe_curve(Z, y.astype(float), cv=1)


def test_feature_prediction_takes_a_random_state_instance(iris):
    estimator = ContextureEmbedding(KNNContext(10), n_components=3)
    seeded = feature_prediction(estimator, iris, random_state=np.random.RandomState(0))
    again = feature_prediction(estimator, iris, random_state=np.random.RandomState(0))
    assert seeded == again and 0.0 < seeded <= 1.0


@settings(max_examples=25, deadline=None)
@given(n=st.integers(8, 120), d=st.integers(1, 40), targets=st.integers(0, 4),
       decay=st.floats(0.0, 6.0), seed=st.integers(0, 10**6))
def test_default_probe_equals_ridgecv(n, d, targets, decay, seed):
    # the default probe's closed form against scikit-learn's RidgeCV, fitted per fold and d:
    # long and wide folds, one or several targets, columns of very different scales
    from sklearn.linear_model import RidgeCV

    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(n, d)) * np.logspace(0, -decay, d)
    y = Z[:, :1] @ rng.normal(size=(1, max(targets, 1))) + rng.normal(size=(n, max(targets, 1)))
    y = y[:, 0] if targets == 0 else y
    dims, fast = probe_curve(Z, y, random_state=seed)
    _, reference = probe_curve(Z, y, probe=RidgeCV(alphas=PROBE_ALPHAS), random_state=seed)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9)
