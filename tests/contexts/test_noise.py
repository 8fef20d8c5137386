"""GaussianNoiseContext: noisy draws as atoms, importance-weighted."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors

from skcontexture import GaussianNoiseContext, KNNContext

from .._reference import assert_falls, dense, dense_singular_functions, strength


def test_noise_matches_the_dense_importance_weights():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(25, 3))
    sigma, n = 0.7, len(X)
    context = GaussianNoiseContext(sigma=sigma, n_draws=2, n_neighbors=n, random_state=0).fit(X)
    atoms = context.atoms_
    np.testing.assert_array_equal(context.atom_sources_, np.repeat(np.arange(n), 2))

    def likelihood(points):  # N(a_j; x, sigma^2 I) up to a constant, rows x atoms
        squared = ((points[:, None, :] - atoms[None, :, :]) ** 2).sum(-1)
        return np.exp(-squared / (2 * sigma**2))

    p_a = likelihood(X).mean(axis=0)
    weights = likelihood(X) / p_a
    np.testing.assert_allclose(dense(context.joint_), weights / weights.sum(1, keepdims=True) / n)
    X_new = rng.normal(size=(4, 3))
    weights = likelihood(X_new) / p_a
    np.testing.assert_allclose(
        dense(context.conditional(X_new)), weights / weights.sum(1, keepdims=True)
    )


def test_noise_default_sigma_is_the_median_nearest_neighbour_distance(data):
    X = data["X"]
    distances, _ = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)
    context = GaussianNoiseContext(random_state=0).fit(X)
    np.testing.assert_allclose(context.sigma_, np.median(distances[:, 1]))
    assert context.n_atoms_ == 5 * len(X)


def test_noise_strong_end_has_singular_values_one(data):
    X = data["X"][:60]
    context = GaussianNoiseContext(sigma=1e-3, n_draws=2, n_neighbors=5, random_state=0).fit(X)
    s, *_ = dense_singular_functions(context.joint_)
    np.testing.assert_allclose(s[:20], 1.0, atol=1e-9)


def test_noise_tends_to_knn_as_sigma_grows(data):
    X = data["X"]
    noise = GaussianNoiseContext(sigma=1e6, n_draws=2, n_neighbors=8, random_state=0).fit(X)
    # merging each point's draws gives the kNN context with the same K
    merge = sp.csr_matrix((np.ones(2 * len(X)), (noise.atom_sources_, np.arange(2 * len(X)))))
    np.testing.assert_allclose(
        dense(noise.joint_ @ merge.T), dense(KNNContext(8).fit(X).joint_), rtol=1e-3
    )


def test_strength_falls_as_sigma_grows(digits):
    sigma = GaussianNoiseContext(random_state=0).fit(digits).sigma_
    contexts = [
        GaussianNoiseContext(sigma=f * sigma, n_draws=3, random_state=0) for f in (0.5, 1, 2, 4)
    ]
    assert_falls([strength(c.fit(digits).joint_) for c in contexts])


def test_noise_extreme_sigma_raises_or_gives_the_strong_end(X):
    with pytest.raises(ValueError, match=r"noisy draws \(sigma_=1e\+300\).*smaller sigma"):
        GaussianNoiseContext(sigma=1e300, random_state=0).fit(X)
    context = GaussianNoiseContext(sigma=1e-300, n_draws=2, n_neighbors=5, random_state=0).fit(X)
    own = context.atom_sources_[context.joint_.indices] == np.repeat(
        np.arange(len(X)), np.diff(context.joint_.indptr)
    )
    assert own.all()  # each fit point reaches only its own draws
    rows = context.conditional(X[:3] + 0.1)
    assert np.isfinite(rows.data).all()
    np.testing.assert_allclose(rows.sum(axis=1), 1)
