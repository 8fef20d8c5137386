"""ContextScorer (tau and its trusted regime, feature_prediction), LabelledProbeScorer and
ContextureEmbedding.score."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris, make_blobs
from sklearn.kernel_approximation import Nystroem
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcontexture import (
    ContextScorer,
    ContextureEmbedding,
    CooccurrenceContext,
    KNNContext,
    LabelledProbeScorer,
    RBFContext,
    SpectralContextEncoder,
    UntrustedTauWarning,
)
from skcontexture.metrics import (
    alpha_req,
    decay_rate,
    feature_prediction,
    lidar,
    rankme,
    tau,
    tau_curve,
    tau_regime,
)

from ._reference import dense_singular_functions


@pytest.fixture(scope="module")
def blobs(blobs):
    """The shared blobs' points (the scorer needs no labels)."""
    return blobs[0]


@pytest.fixture(scope="module")
def digits(digits):
    """The digits' images, standardised."""
    return StandardScaler().fit_transform(digits[0])


# ------------------------------------------------------------------------------------------------
# the scorer's values
# ------------------------------------------------------------------------------------------------


def test_tau_score_is_minus_tau_of_context_spectrum(blobs):
    emb = ContextureEmbedding(KNNContext(10), n_components=4).fit(blobs)
    s = dense_singular_functions(emb.context_.joint_)[0][:512]
    expected = -tau(s)
    assert ContextScorer("tau")(emb, blobs) == pytest.approx(expected, rel=1e-10)
    # X is only checked: any fold with the right features gives the same score
    assert ContextScorer("tau")(emb, blobs[:7]) == pytest.approx(expected, rel=1e-10)
    # beta and max_dim are honoured
    assert ContextScorer("tau", beta=0.5, max_dim=40)(emb, blobs) == pytest.approx(
        -tau(s, beta=0.5, max_dim=40)
    )


def test_other_metrics(blobs):
    emb = ContextureEmbedding(KNNContext(10), n_components=5).fit(blobs)
    s = ContextScorer().spectrum_of(emb)
    assert ContextScorer("rankme")(emb, blobs) == pytest.approx(rankme(np.diag(s)))
    alpha = alpha_req(np.vstack([np.diag(s), -np.diag(s)]))
    assert ContextScorer("alpha_req")(emb, blobs) == pytest.approx(-abs(alpha - 1))
    assert ContextScorer("decay_rate")(emb, blobs) == pytest.approx(-decay_rate(s))
    assert ContextScorer("lidar")(emb, blobs) == pytest.approx(
        lidar(emb.embedding_, emb.context_.joint_)
    )
    for metric in ("rankme", "alpha_req", "decay_rate", "lidar"):
        assert np.isfinite(ContextScorer(metric)(emb, blobs))


def test_alpha_req_spectrum_trick_gives_covariance_eigenvalues():
    s = np.linspace(1, 0.01, 60) ** 2
    Z = np.vstack([np.diag(s), -np.diag(s)])
    cov = np.linalg.eigvalsh(np.cov(Z.T, bias=True))[::-1]
    np.testing.assert_allclose(cov / cov.sum(), s**2 / np.sum(s**2), atol=1e-12)


def test_lidar_needs_atoms_that_are_fit_points():
    counts = np.random.RandomState(0).poisson(2.0, size=(80, 30)).astype(float)
    emb = ContextureEmbedding(CooccurrenceContext(), n_components=3).fit(counts)
    with pytest.raises(ValueError, match="atoms are the fit points"):
        ContextScorer("lidar")(emb, counts)
    # the spectrum metrics still work for any context
    assert np.isfinite(ContextScorer("tau")(emb, counts))


def test_spectrum_estimator_uses_held_values(blobs):
    emb = ContextureEmbedding(KNNContext(10), n_components=6).fit(blobs)
    score = ContextScorer("tau", spectrum="estimator")(emb, blobs)
    assert score == pytest.approx(-tau(emb.singular_values_, max_dim=512))


def test_source_X_refits_the_context(blobs):
    emb = ContextureEmbedding(KNNContext(10), n_components=4).fit(blobs[:150])
    on_fit = ContextScorer("tau")(emb, blobs[150:])
    on_x = ContextScorer("tau", source="X")(emb, blobs[150:])
    ref = -tau(dense_singular_functions(KNNContext(10).fit(blobs[150:]).joint_)[0])
    assert on_x == pytest.approx(ref)
    assert on_fit != pytest.approx(on_x)


def test_cache_is_reused_and_invalidated_by_refit(blobs, monkeypatch):
    import skcontexture._scorer as scorer_module

    calls = []
    real = scorer_module.context_spectrum

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(scorer_module, "context_spectrum", counting)
    emb = ContextureEmbedding(KNNContext(10), n_components=4).fit(blobs)
    scorer = ContextScorer("tau")
    first = scorer(emb, blobs)
    scorer(emb, blobs)
    ContextScorer("rankme")(emb, blobs)  # same spectrum key
    assert len(calls) == 1
    emb.set_params(context=KNNContext(30)).fit(blobs)
    assert scorer(emb, blobs) != first
    assert len(calls) == 2


def test_errors(blobs):
    emb = ContextureEmbedding(KNNContext(10), n_components=4)
    with pytest.raises(ValueError, match="not fitted"):
        ContextScorer()(emb, blobs)
    emb.fit(blobs)
    message = "X has 2 features, but ContextureEmbedding is expecting 5"
    with pytest.raises(ValueError, match=message):
        ContextScorer()(emb, blobs[:, :2])
    with pytest.raises(ValueError, match="X has 2 features"):
        emb.score(blobs[:, :2])
    with pytest.raises(ValueError, match="'metric' parameter of ContextScorer must be"):
        ContextScorer("accuracy")(emb, blobs)
    with pytest.raises(ValueError, match="no fitted contexture step"):
        ContextScorer()(StandardScaler().fit(blobs), blobs)


def test_repr():
    assert repr(ContextScorer()) == "ContextScorer()"
    assert repr(ContextScorer("rankme", max_dim=64)) == "ContextScorer(max_dim=64, metric='rankme')"


# ------------------------------------------------------------------------------------------------
# model selection without labels
# ------------------------------------------------------------------------------------------------


def _grid():
    return [KNNContext(k) for k in (2, 10, 40)] + [RBFContext(gamma=g) for g in (0.01, 1.0)]


def test_gridsearch_selects_context_without_labels(digits):
    X = digits[:600]
    search = GridSearchCV(
        ContextureEmbedding(n_components=8), {"context": _grid()},
        scoring=ContextScorer("tau", max_dim=128), cv=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # K=2 graphs may be disconnected
        search.fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(scores <= -1.0)  # -tau, and tau >= 1
    best = search.best_params_["context"]
    assert repr(best) == repr(_grid()[int(np.argmax(scores))])
    assert repr(best) != repr(KNNContext(2))  # the strongest context is not chosen


def test_score_is_the_default_scorer(blobs):
    emb = ContextureEmbedding(KNNContext(10), n_components=4).fit(blobs[:150])
    assert emb.score(blobs[150:]) == ContextScorer()(emb, blobs[150:])
    assert emb.score(blobs[150:]) == ContextScorer("feature_prediction")(emb, blobs[150:])


def test_gridsearch_scoring_none_uses_score(digits):
    X = digits[:400]
    grid = {"context": [KNNContext(5), KNNContext(30)], "n_components": [4]}
    a = GridSearchCV(ContextureEmbedding(), grid, cv=2).fit(X)
    b = GridSearchCV(ContextureEmbedding(), grid, scoring=ContextScorer(), cv=2).fit(X)
    np.testing.assert_allclose(a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"])


def test_gridsearch_in_pipeline_and_multimetric(digits):
    X = digits[:400]
    pipe = make_pipeline(StandardScaler(), ContextureEmbedding(n_components=4))
    scoring = {m: ContextScorer(m, max_dim=64) for m in ("tau", "rankme", "alpha_req",
                                                            "decay_rate", "lidar")}
    search = GridSearchCV(
        pipe,
        {"contextureembedding__context": [KNNContext(8), KNNContext(30), RBFContext(0.02)]},
        scoring=scoring, refit="tau", cv=2,
    ).fit(X)
    for metric in scoring:
        assert np.all(np.isfinite(search.cv_results_[f"mean_test_{metric}"]))
    assert search.best_estimator_[-1].context_.joint_.shape[0] == 400
    # the fitted search itself can be scored (its best estimator is followed)
    assert np.isfinite(ContextScorer("tau", max_dim=64)(search, X))


def test_gridsearch_with_spectral_encoder(digits):
    X = digits[:400]
    encoder = SpectralContextEncoder(
        backbone=Nystroem(n_components=60, random_state=0), n_components=4
    )
    search = GridSearchCV(
        encoder, {"context": [KNNContext(8), KNNContext(40)]},
        scoring={"tau": ContextScorer("tau", max_dim=64),
                 "tau_encoder": ContextScorer("tau", spectrum="estimator"),
                 "lidar": ContextScorer("lidar", source="X")},
        refit="tau", cv=2,
    ).fit(X)
    for key in ("tau", "tau_encoder", "lidar"):
        assert np.all(np.isfinite(search.cv_results_[f"mean_test_{key}"]))
    enc = search.best_estimator_
    # default: the context's exact spectrum, same as a ContextureEmbedding of that context
    emb = ContextureEmbedding(enc.context, n_components=4).fit(X)
    assert ContextScorer("tau", max_dim=64)(enc, X) == pytest.approx(ContextScorer("tau", max_dim=64)(emb, X))
    # spectrum="estimator": sqrt of the encoder's eigenvalues (lower bounds of s_i^2)
    assert ContextScorer("tau", spectrum="estimator")(enc, X) == pytest.approx(
        -tau(np.sqrt(enc.eigenvalues_))
    )
    with pytest.raises(ValueError, match="source='X'"):
        ContextScorer("lidar")(enc, X)


def test_pipeline_source_X_transforms_before_the_step(digits):
    X = digits[:300]
    pipe = make_pipeline(StandardScaler(), ContextureEmbedding(KNNContext(10), n_components=4))
    pipe.fit(X)
    Xt = pipe[0].transform(X)
    ref = -tau(dense_singular_functions(KNNContext(10).fit(Xt).joint_)[0])
    assert ContextScorer("tau", source="X")(pipe, X) == pytest.approx(ref)


def test_rank_one_context_scores_one_plus_beta():
    # two classes: the label context's operator has rank 1, and s_i = 0 beyond the rank
    from skcontexture import LabelContext

    X, y = make_blobs(n_samples=60, centers=2, n_features=3, random_state=0)
    emb = ContextureEmbedding(LabelContext(), n_components=1).fit(X, y)
    assert ContextScorer().spectrum_of(emb).size == 1
    s1 = ContextScorer().spectrum_of(emb)[0]
    with pytest.warns(UntrustedTauWarning, match="d\\* = 1"):
        score = ContextScorer("tau")(emb, X)
    assert score == pytest.approx(-tau([s1, 0.0]))
    assert score == pytest.approx(-2.0)  # = -(1 + beta): tau cannot rank such contexts


def test_scorers_are_cloned_like_estimators():
    from sklearn.base import clone

    scorer = ContextScorer("tau", max_dim=64, solver="dense")
    assert clone(scorer).get_params() == scorer.get_params()
    assert repr(LabelledProbeScorer(cv=3)) == "LabelledProbeScorer(cv=3)"
    with pytest.raises(ValueError, match="'cv' parameter of LabelledProbeScorer"):
        LabelledProbeScorer(cv=1).score_embedding(np.zeros((4, 2)), [0, 1, 0, 1])


def test_untrusted_tau_warns_once_per_context_in_a_search():
    # every fold of an untrusted context gives the same text: shown once per context
    from skcontexture import LabelContext

    X, y = make_blobs(n_samples=90, centers=2, n_features=3, random_state=0)
    search = GridSearchCV(
        ContextureEmbedding(n_components=1),
        {"context": [LabelContext(), LabelContext(n_neighbors=5), KNNContext(10)]},
        scoring=ContextScorer("tau"),
        cv=3,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        search.fit(X, y)
    untrusted = [str(w.message) for w in caught if w.category is UntrustedTauWarning]
    assert 1 <= len(untrusted) <= 3
    assert len(set(untrusted)) == len(untrusted)
    assert all("LabelContext(" in m or "KNNContext(" in m for m in untrusted)


@pytest.fixture(scope="module")
def digits_labelled(digits):
    """The first 700 digits (images standardised) and their labels."""
    return digits[:700], load_digits().target[:700]


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


def test_labelled_probe_scorer_uses_only_labelled_rows(digits_labelled):
    X, y = digits_labelled
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


def test_labelled_probe_scorer_in_grid_search(digits_labelled):
    X, y = digits_labelled
    y_semi = y.copy()
    y_semi[100:] = -1
    rows = np.arange(X.shape[0])
    search = GridSearchCV(
        ContextureEmbedding(n_components=16),
        {"context": [KNNContext(5), KNNContext(300)]},
        scoring=LabelledProbeScorer(), cv=[(rows, rows)],
    ).fit(X, y_semi)
    assert search.best_params_["context"].n_neighbors == 5
