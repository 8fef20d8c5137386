"""Warnings name the user's line, however deep in the library they are raised."""

import warnings

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextScorer, ContextureEmbedding, KNNContext, UntrustedTauWarning


def _caught(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    assert caught, "expected a warning"
    return caught


def test_estimator_warning_inside_a_pipeline_points_here():
    # fit_transform -> scikit-learn's Pipeline and parameter validation -> fit -> the
    # component check: a fixed stacklevel would name a line of one of them
    X = np.random.RandomState(0).normal(size=(80, 3))
    X[:40] += 100  # two far clusters: a disconnected kNN graph
    pipe = make_pipeline(StandardScaler(), ContextureEmbedding(KNNContext(5), n_components=2))
    caught = _caught(lambda: pipe.fit_transform(X))
    assert any("connected components" in str(w.message) for w in caught)
    assert all(w.filename == __file__ for w in caught), [w.filename for w in caught]


def test_scorer_warning_points_here():
    scorer = ContextScorer("tau", max_dim=16)
    caught = _caught(lambda: scorer.score_spectrum(np.full(16, 0.9999)))  # s near 1
    assert [w.category for w in caught] == [UntrustedTauWarning]
    assert caught[0].filename == __file__
