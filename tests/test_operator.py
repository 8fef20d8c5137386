"""ContextOperator: the normalised operator of a joint, its Gram products and components.

Every result is checked against a dense numpy reference built by hand: the
normalised operator D_r^{-1/2} W D_c^{-1/2} / total and its deflated form.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from skcontexture import _sparse_blocks
from skcontexture._operator import ContextOperator

from ._joints import random_joint
from ._reference import deflated

pytestmark = pytest.mark.usefixtures("single_threaded_blas")


@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
def test_operator_matches_dense_normalisation(shape):
    W = random_joint(*shape)
    original = W.copy()
    op = ContextOperator(W)
    assert (W != original).nnz == 0  # the caller's joint is not touched
    assert not np.shares_memory(op.Q.data, W.data)
    dense = W.toarray()
    total = dense.sum()
    p_x, p_a = dense.sum(axis=1) / total, dense.sum(axis=0) / total
    kept_rows, kept_atoms = np.flatnonzero(p_x > 0), np.flatnonzero(p_a > 0)
    assert len(kept_rows) < shape[0] and len(kept_atoms) < shape[1]
    # rows/atoms: a permutation of exactly the positive-mass indices ...
    assert np.array_equal(np.sort(op.rows), kept_rows)
    assert np.array_equal(np.sort(op.atoms), kept_atoms)
    # ... reordered (Cuthill-McKee), so the checks below test the permutation
    assert not np.array_equal(op.rows, kept_rows)
    assert not np.array_equal(op.atoms, kept_atoms)
    # Q = D_r^{-1/2} W D_c^{-1/2} / total, restricted and permuted
    sub = dense[np.ix_(op.rows, op.atoms)] / total
    expected = sub / np.sqrt(np.outer(p_x[op.rows], p_a[op.atoms]))
    assert op.Q.shape == (len(kept_rows), len(kept_atoms))
    assert_allclose(op.Q.toarray(), expected, rtol=1e-12, atol=0)
    assert_allclose(op.QT.toarray(), expected.T, rtol=1e-12, atol=0)
    assert_allclose(op.p_x, p_x[op.rows], rtol=1e-14)
    assert_allclose(op.p_a, p_a[op.atoms], rtol=1e-14)
    assert_allclose(op.u0, np.sqrt(p_x[op.rows]), rtol=1e-14)
    assert_allclose(op.v0, np.sqrt(p_a[op.atoms]), rtol=1e-14)
    # the trivial triplet (1, u0, v0)
    assert_allclose(op.Q @ op.v0, op.u0, rtol=1e-12)
    assert_allclose(op.QT @ op.u0, op.v0, rtol=1e-12)


@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
@pytest.mark.parametrize("k, kernel", [(40, True), (2, False)])
@pytest.mark.parametrize("affine", [False, True])
def test_gram_matmat_matches_dense(shape, k, kernel, affine, monkeypatch):
    # threshold 0: every block goes through the numba kernel; inf: scipy
    monkeypatch.setattr(_sparse_blocks, "_MIN_WORK_PARALLEL", 0 if kernel else np.inf)
    op = ContextOperator(random_joint(*shape), n_jobs=2)
    D = deflated(op)
    n, m = op.shape
    G = D.T @ D if m <= n else D @ D.T
    assert G.shape[0] == min(n, m)
    assert_allclose(op.gram(), G, atol=1e-13)
    rng = np.random.default_rng(k)
    coefficients = {}
    if affine:
        previous = rng.standard_normal((G.shape[0], k))
        coefficients = dict(scale=0.7, shift=0.3, previous=previous, weight=-0.4)
    # twice: the reused middle workspace must not leak between calls
    for _ in range(2):
        X = rng.standard_normal((G.shape[0], k))
        X_copy = X.copy()
        expected = G @ X
        if affine:
            expected = 0.7 * (expected - 0.3 * X) - 0.4 * previous
        assert_allclose(op.gram_matmat(X, **coefficients), expected, atol=1e-12)
        out = np.full_like(X, np.nan)
        result = op.gram_matmat(X, **coefficients, out=out)
        assert result is out
        assert_allclose(out, expected, atol=1e-12)
        assert np.array_equal(X, X_copy)


def test_gram_matmat_in_single_precision(knn_operator, monkeypatch):
    monkeypatch.setattr(_sparse_blocks, "_MIN_WORK_PARALLEL", 0)
    op = knn_operator
    X = np.random.default_rng(3).standard_normal((op.shape[1], 12))
    expected = op.gram_matmat(X, scale=0.5, shift=0.2, previous=X, weight=0.1)
    single = op.gram_matmat(X.astype(np.float32), scale=0.5, shift=0.2,
                            previous=X.astype(np.float32), weight=0.1)
    assert single.dtype == np.float32
    assert_allclose(single, expected, rtol=0, atol=1e-6 * np.abs(expected).max())


def test_connected_components_match_scipy():
    # union-find on the CSR pattern against scipy's csgraph on the bipartite graph
    from scipy.sparse.csgraph import connected_components

    from skcontexture._operator import bipartite

    rng = np.random.RandomState(0)
    for _ in range(20):
        n, m = rng.randint(5, 60, 2)
        W = sp.random(n, m, density=rng.uniform(0.01, 0.2), random_state=rng, format="csr")
        if W.nnz == 0:
            continue
        op = ContextOperator(W)
        expected = connected_components(bipartite(op.Q), directed=False)[0]
        assert op.n_connected_components() == expected
