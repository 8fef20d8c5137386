"""Warnings name the user's line, however deep in the library they are raised."""

import warnings

import numpy as np

from skcontexture import ContextScorer, UntrustedTauWarning
from skcontexture.metrics import rankme


def _caught(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    assert caught, "expected a warning"
    return caught


def test_metric_warning_points_here():
    for w in _caught(lambda: rankme(np.zeros((5, 3)))):
        assert w.filename == __file__


def test_scorer_warning_points_here():
    scorer = ContextScorer("tau", max_dim=16)
    caught = _caught(lambda: scorer.score_spectrum(np.full(16, 0.9999)))  # s near 1
    assert [w.category for w in caught] == [UntrustedTauWarning]
    assert caught[0].filename == __file__
