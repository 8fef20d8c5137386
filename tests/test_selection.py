"""Context selection: feature_prediction, probe curves, tau's trusted regime, LabelledProbeScorer."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits, load_iris, make_blobs
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcontexture import (
    ContextScorer,
    ContextureEmbedding,
    KNNContext,
    LabelledProbeScorer,
    RBFContext,
    SpectralContextEncoder,
    UntrustedTauWarning,
)
from skcontexture.metrics import PROBE_ALPHAS, feature_prediction, probe_curve, tau_curve, tau_regime


@pytest.fixture(scope="module")
def iris():
    return StandardScaler().fit_transform(load_iris().data)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:700], y[:700]


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


# ------------------------------------------------------------------------------------------------
# feature_prediction and probe_curve
# ------------------------------------------------------------------------------------------------


def test_feature_prediction_matches_slow_reference():
    X, _ = make_blobs(90, n_features=4, centers=3, cluster_std=4.0, random_state=0)
    X_fit, X_held = X[:50], X[50:]
    estimator = ContextureEmbedding(KNNContext(8), n_components=4)
    value, best_d = feature_prediction(estimator, X_fit, X_held, n_groups=2, return_dim=True)
    groups = np.array_split(np.random.RandomState(0).permutation(4), 2)
    assert value == pytest.approx(_reference(estimator, X_fit, X_held, groups, [1, 2, 4]),
                                  abs=1e-10)
    assert best_d in (1, 2, 4)


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


# ------------------------------------------------------------------------------------------------
# tau's trusted regime
# ------------------------------------------------------------------------------------------------


def test_tau_regime_signatures():
    head_and_tail = np.r_[np.full(10, 0.9), np.full(200, 0.3)]  # tau = 1.41 at d* = 10
    assert tau_regime(head_and_tail) is None
    # a smooth geometric decay puts tau at 1 + beta: no dimension stands out
    assert "within 2%" in tau_regime(0.95 ** np.arange(1, 60))
    assert "d* = 1" in tau_regime([0.9, 0.01, 0.005])
    assert "infinite" in tau_regime([1.0, 1.0, 1.0])
    assert "close to 1" in tau_regime(np.full(50, 0.9999))
    flat = np.full(100, 0.1)  # tau_1 = 1/(1 - 0.01) + 1/100 = 1.02: d* = 1
    assert tau_regime(flat) is not None


def test_tau_band_follows_beta():
    s = np.r_[np.full(10, 0.9), np.full(200, 0.3)]
    outcomes = set()
    for beta in np.linspace(0.05, 3.0, 60):
        taus, best_d = tau_curve(s, beta=beta)
        assert best_d > 1 and s[best_d] < 0.999
        in_band = abs(taus.min() - (1 + beta)) <= 0.02 * (1 + beta)
        assert (tau_regime(s, beta=beta) is None) == (not in_band)
        outcomes.add(in_band)
    assert outcomes == {True, False}


def test_scorer_warns_on_untrusted_tau(iris):
    # a very wide kernel: s_2 is tiny and tau's minimum sits at d* = 1
    emb = ContextureEmbedding(RBFContext(gamma=1e-3), n_components=2).fit(iris)
    with pytest.warns(UntrustedTauWarning, match="d\\* = 1"):
        ContextScorer("tau")(emb, iris)
    assert tau_regime(ContextScorer().spectrum_of(emb)) is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrustedTauWarning)
        ContextScorer("tau")(ContextureEmbedding(KNNContext(10)).fit(iris), iris)


def test_score_spectrum_matches_scorer(iris):
    emb = ContextureEmbedding(KNNContext(10)).fit(iris)
    for metric in ("tau", "rankme", "alpha_req", "decay_rate"):
        scorer = ContextScorer(metric, max_dim=64)
        assert scorer.score_spectrum(scorer.spectrum_of(emb)) == scorer(emb, iris)
    with pytest.raises(ValueError, match="spectrum alone"):
        ContextScorer("feature_prediction").score_spectrum([0.5, 0.2])


# ------------------------------------------------------------------------------------------------
# ContextScorer(metric="feature_prediction")
# ------------------------------------------------------------------------------------------------


def test_feature_prediction_scorer_calls_the_metric(iris):
    emb = ContextureEmbedding(KNNContext(10), n_components=8).fit(iris[::2])
    value = ContextScorer("feature_prediction")(emb, iris[1::2])
    assert value == feature_prediction(emb, iris[1::2])
    assert value == feature_prediction(ContextureEmbedding(KNNContext(10), n_components=8),
                                       iris[1::2])  # only the parameters matter


def test_feature_prediction_scorer_in_pipeline_uses_the_step_inputs():
    X = load_iris().data
    pipe = make_pipeline(StandardScaler(), ContextureEmbedding(KNNContext(10), n_components=8))
    pipe.fit(X[::2])
    expected = feature_prediction(pipe[1], pipe[0].transform(X[1::2]))
    assert ContextScorer("feature_prediction")(pipe, X[1::2]) == pytest.approx(expected)


def test_feature_prediction_scorer_with_encoder(iris):
    enc = SpectralContextEncoder(KNNContext(10), n_components=3).fit(iris[::2])
    value = ContextScorer("feature_prediction")(enc, iris[1::2])
    assert value == feature_prediction(enc, iris[1::2])


def test_feature_prediction_grid_search_without_labels():
    X, _ = make_blobs(400, n_features=6, centers=5, cluster_std=1.5, random_state=0)
    X = StandardScaler().fit_transform(X)
    search = GridSearchCV(
        ContextureEmbedding(n_components=8),
        {"context": [KNNContext(10), KNNContext(95)]},
        scoring=ContextScorer("feature_prediction"), cv=2,
    ).fit(X)
    # the scorer fits on half of each 200-row validation fold: 95 neighbours of 100 rows
    # is a near-uniform context that keeps little of X
    assert search.best_params_["context"].n_neighbors == 10
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] > 0.5 and scores[1] < scores[0] - 0.2


# ------------------------------------------------------------------------------------------------
# LabelledProbeScorer
# ------------------------------------------------------------------------------------------------


def test_labelled_probe_scorer_uses_only_labelled_rows(digits):
    X, y = digits
    y_semi = y.copy()
    y_semi[150:] = -1
    emb = ContextureEmbedding(KNNContext(10), n_components=16).fit(X)
    scorer = LabelledProbeScorer()
    value = scorer(emb, X, y_semi)
    assert value == scorer.score_embedding(emb.transform(X[:150]), y[:150])
    assert 0.5 < value <= 1.0
    # only the marker says which rows are unlabelled: another marker, the same rows
    y_other = np.where(np.arange(X.shape[0]) < 150, y, 99)
    assert LabelledProbeScorer(unlabelled=99)(emb, X, y_other) == value
    with pytest.raises(ValueError, match="needs y"):
        scorer(emb, X)


def test_labelled_probe_scorer_regression_and_custom_marker():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    t = np.sin(X[:, 0]) + 0.1 * rng.normal(size=300)
    y = np.where(np.arange(300) < 80, t, np.nan)
    emb = ContextureEmbedding(KNNContext(10), n_components=8).fit(X)
    value = LabelledProbeScorer(unlabelled=np.nan)(emb, X, y)  # nan marks missing labels
    assert 0.3 < value <= 1.0
    assert LabelledProbeScorer(unlabelled=-999.0)(emb, X, np.where(np.isnan(y), -999.0, y)) \
        == value
    with pytest.raises(ValueError, match="Only 0 row"):
        LabelledProbeScorer()(emb, X, np.full(300, -1))


def test_labelled_probe_scorer_in_grid_search(digits):
    X, y = digits
    y_semi = y.copy()
    y_semi[100:] = -1
    rows = np.arange(X.shape[0])
    search = GridSearchCV(
        ContextureEmbedding(n_components=16),
        {"context": [KNNContext(5), KNNContext(300)]},
        scoring=LabelledProbeScorer(), cv=[(rows, rows)],
    ).fit(X, y_semi)
    assert search.best_params_["context"].n_neighbors == 5
