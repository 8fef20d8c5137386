"""The neighbour search behind the kNN, RBF and label contexts."""

import numpy as np
import pytest
from sklearn.datasets import make_swiss_roll

from skcontexture import ContextureEmbedding, KNNContext
from skcontexture.contexts import _neighbors


def _swiss_roll(n=2000):
    X, _ = make_swiss_roll(n, noise=0.5, random_state=0)
    return np.hstack([X, np.random.RandomState(0).normal(scale=0.1, size=(n, 7))])


def test_auto_switches_at_the_threshold(monkeypatch):
    X = _swiss_roll(300)
    assert KNNContext(5).fit(X).index_.algorithm_ == "exact"
    monkeypatch.setattr(_neighbors, "NNDESCENT_MIN_SAMPLES", 200)
    index = _neighbors.NeighborIndex("auto", "euclidean", 5, None, 0)
    assert index.fit(X).algorithm_ == "nndescent"


def test_fit_point_is_its_own_neighbour():
    X = _swiss_roll(500)
    ctx = KNNContext(7).fit(X)
    np.testing.assert_allclose(ctx.joint_.diagonal(), 1 / (7 * len(X)))


@pytest.mark.slow
def test_nndescent_matches_exact_and_is_reproducible():
    """pynndescent compiles with numba on first use: this test pays that once."""
    X = _swiss_roll()
    fits = {
        n_jobs: ContextureEmbedding(
            KNNContext(15, algorithm="nndescent", n_jobs=n_jobs, random_state=0),
            n_components=4,
            random_state=0,
        ).fit(X)
        for n_jobs in (1, 2)
    }
    approx = fits[1]
    np.testing.assert_array_equal(approx.embedding_, fits[2].embedding_)
    np.testing.assert_allclose(approx.transform(X), approx.embedding_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(approx.transform(X[:5]), approx.embedding_[:5], atol=1e-12)
    exact = ContextureEmbedding(KNNContext(15, algorithm="exact"), n_components=4).fit(X)
    shared = approx.context_.joint_.multiply(exact.context_.joint_) > 0
    assert shared.sum() / exact.context_.joint_.nnz > 0.99
    np.testing.assert_allclose(approx.singular_values_, exact.singular_values_, rtol=1e-3)
