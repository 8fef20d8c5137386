"""Context selection: tau's trusted regime, ContextScorer(metric="feature_prediction"),
LabelledProbeScorer."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_blobs
from sklearn.model_selection import GridSearchCV
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
from skcontexture.metrics import feature_prediction, tau_curve, tau_regime


@pytest.fixture(scope="module")
def digits(digits):
    """The first 700 digits."""
    X, y = digits
    return X[:700], y[:700]


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
