"""RBFContext: dense and truncated kernels, extreme widths, its copy of the fit points."""

import warnings

import numpy as np
import pytest

from skcontexture import RBFContext


def test_rbf_truncation_reports_the_kernel_mass_it_drops():
    X = np.random.RandomState(0).normal(size=(600, 10))
    with pytest.warns(UserWarning, match="kernel mass"):
        wide = RBFContext(n_neighbors=10).fit(X)  # default gamma: a wide kernel
    assert wide.kernel_mass_kept_ < 0.5
    # the measured share is the one the kept rows carry, checked on one fit row
    row = np.exp(-wide.gamma_ * ((X - X[0]) ** 2).sum(axis=1))
    assert np.sort(row)[::-1][:10].sum() / row.sum() < 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        narrow = RBFContext(n_neighbors=10, gamma=5.0).fit(X)
    assert narrow.kernel_mass_kept_ > 0.99
    assert RBFContext().fit(X[:200]).kernel_mass_kept_ == 1.0


def test_default_gamma_of_data_near_the_limit_is_finite(X):
    scale = 1.5e153  # below the limit (3.9e153 with 3 features), but the sum of squares overflows
    gamma = RBFContext().fit(X * scale).gamma_
    np.testing.assert_allclose(gamma * scale**2, RBFContext().fit(X).gamma_)


@pytest.mark.parametrize("n_neighbors", [None, 10])
def test_rbf_extreme_gamma_gives_the_limit_kernels(n_neighbors, X):
    n = len(X)
    narrow = RBFContext(gamma=1e308, n_neighbors=n_neighbors).fit(X)  # gamma * d^2 overflows
    np.testing.assert_allclose(narrow.joint_.toarray(), np.eye(n) / n)  # each point alone
    narrow_rows = narrow.conditional(X[:3] + 0.01)
    assert np.isfinite(narrow_rows.data).all()
    np.testing.assert_allclose(narrow_rows.sum(axis=1), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the truncation drops most of the mass
        wide = RBFContext(gamma=1e-300, n_neighbors=n_neighbors).fit(X)
    width = n if n_neighbors is None else n_neighbors
    np.testing.assert_allclose(wide.joint_.data, 1 / (n * width))  # uniform over kept atoms


def test_dense_rbf_keeps_its_own_copy_of_the_fit_points():
    X = np.random.RandomState(0).normal(size=(60, 4))
    context = RBFContext(gamma=0.5).fit(X)
    before = context.conditional(X[:5].copy()).toarray()
    X[:] = 0  # the caller reuses its array
    np.testing.assert_array_equal(context.conditional(
        np.random.RandomState(0).normal(size=(60, 4))[:5]).toarray(), before)


def test_dense_rbf_refuses_large_fits(blobs, monkeypatch):
    monkeypatch.setattr(RBFContext, "DENSE_MAX_SAMPLES", 100)
    with pytest.raises(ValueError, match="set n_neighbors"):
        RBFContext().fit(blobs[0])


def _seventh_neighbour_gamma(X):
    """The default width by brute force: 0.1 / median squared distance to the 7th other point."""
    squared = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    return 0.1 / np.median(np.sort(squared, axis=1)[:, 7])


def test_default_gamma_follows_the_neighbour_distances(X):
    # every row is sampled below 256 rows: the rule by brute force
    np.testing.assert_allclose(RBFContext().fit(X).gamma_, _seventh_neighbour_gamma(X))
    # distances, not the number of features: duplicating the features doubles every
    # squared distance and halves gamma; so does scaling by sqrt(2)
    np.testing.assert_allclose(RBFContext().fit(np.hstack([X, X])).gamma_,
                               RBFContext().fit(X).gamma_ / 2)
    np.testing.assert_allclose(RBFContext(n_neighbors=10).fit(X * np.sqrt(2)).gamma_,
                               RBFContext().fit(X).gamma_ / 2)


def test_default_gamma_of_mostly_duplicated_rows_falls_back_to_the_variance_rule():
    X = np.repeat([[0.0, 0.0], [1.0, 3.0]], 20, axis=0)  # every 7th neighbour is a twin
    np.testing.assert_allclose(RBFContext().fit(X).gamma_, 1 / (2 * X.var()))
    assert RBFContext().fit(np.ones((10, 2))).gamma_ == 1.0
