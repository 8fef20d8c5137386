"""Tests for ``ContextOperator`` and the solvers in ``skcontexture._linalg``.

Every result is checked against a dense numpy reference built by hand: the
normalised operator D_r^{-1/2} W D_c^{-1/2} / total and the SVD of its
deflated form.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.datasets import make_swiss_roll
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import kneighbors_graph
from threadpoolctl import threadpool_limits

from skcontexture import _kernels, _linalg
from skcontexture._kernels import _row_chunks, cross_product, rotate
from skcontexture._linalg import top_singular_triplets
from skcontexture._operator import ContextOperator

# Singular values closer than this are treated as one cluster: only the
# subspace of the cluster is determined.
CLUSTER = 1e-6


def _random_joint(n, m, seed=0):
    """Sparse nonnegative joint with a few all-zero rows and columns."""
    rng = np.random.default_rng(seed)
    W = sp.random(n, m, density=0.05, format="lil", random_state=rng)
    W[[0, 7, n // 2], :] = 0
    W[:, [1, m // 3, m - 1]] = 0
    W = W.tocsr()
    W.eliminate_zeros()
    return W


def _knn_joint(n, n_neighbors, seed=0):
    """Symmetrised kNN connectivity graph of a swiss roll."""
    X, _ = make_swiss_roll(n, random_state=seed)
    A = kneighbors_graph(X, n_neighbors)
    return (A + A.T).tocsr()


def _low_rank_joint(n, m, rank, seed=0):
    """Dense positive joint of rank ``rank`` (its deflated operator: ``rank - 1``)."""
    rng = np.random.default_rng(seed)
    return sp.csr_matrix(rng.uniform(size=(n, rank)) @ rng.uniform(size=(rank, m)))


def _deflated(op):
    """Dense deflated operator Q - u0 v0^T, in the operator's internal order."""
    return op.Q.toarray() - np.outer(op.u0, op.v0)


def _dense_svd(op):
    """Reference (s, U, V) of the deflated operator, descending."""
    U, s, Vt = np.linalg.svd(_deflated(op), full_matrices=False)
    return s, U, Vt.T


def _solve(op, k, **kwargs):
    """Chebyshev solve, tol 1e-10 and a fixed seed unless overridden."""
    kwargs = {"solver": "chebyshev", "tol": 1e-10, "random_state": 0, **kwargs}
    return top_singular_triplets(op, k, **kwargs)


def _assert_same_vectors(A, s, A_ref, s_ref, atol=1e-6):
    """Each column of A is its reference singular vector up to sign, or lies in
    the span of the reference cluster when singular values are within CLUSTER."""
    for j in range(A.shape[1]):
        basis = A_ref[:, np.abs(s_ref - s[j]) <= CLUSTER]
        assert basis.shape[1] >= 1
        residual = A[:, j] - basis @ (basis.T @ A[:, j])
        assert np.linalg.norm(residual) <= atol, j


def _assert_triplets(op, result, reference, k):
    """Chebyshev triplets match the dense SVD and are orthonormal, deflated."""
    s, U, V, _ = result
    s_ref, U_ref, V_ref = reference
    assert s.shape == (k,) and U.shape == (op.shape[0], k) and V.shape == (op.shape[1], k)
    assert_allclose(s, s_ref[:k], rtol=1e-8)
    _assert_same_vectors(U, s, U_ref, s_ref)
    _assert_same_vectors(V, s, V_ref, s_ref)
    eye = np.eye(k)
    assert_allclose(U.T @ U, eye, atol=1e-8)
    assert_allclose(V.T @ V, eye, atol=1e-8)
    assert_allclose(U.T @ op.u0, 0, atol=1e-8)
    assert_allclose(V.T @ op.v0, 0, atol=1e-8)
    # deterministic sign: the largest-magnitude entry of every V column is positive
    assert np.all(V[np.argmax(np.abs(V), axis=0), np.arange(k)] > 0)


@pytest.fixture(scope="module", autouse=True)
def single_threaded_blas():
    """Dense references on one BLAS thread (threaded LAPACK stalls on a busy machine)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def knn_problem():
    """kNN operator of 1,500 swiss-roll points and its dense SVD (computed once)."""
    op = ContextOperator(_knn_joint(1500, 10))
    assert op.n_connected_components() == 1
    return op, _dense_svd(op)


# ContextOperator


@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
def test_operator_matches_dense_normalisation(shape):
    W = _random_joint(*shape)
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
    monkeypatch.setattr(_kernels, "_MIN_WORK_PARALLEL", 0 if kernel else np.inf)
    op = ContextOperator(_random_joint(*shape), n_jobs=2)
    D = _deflated(op)
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


# Chebyshev solver against numpy.linalg.svd


@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_chebyshev_matches_svd_random_joint(shape, k):
    op = ContextOperator(_random_joint(*shape, seed=1))
    _assert_triplets(op, _solve(op, k), _dense_svd(op), k)


@pytest.mark.parametrize("k", [1, 5, 20])
@pytest.mark.parametrize("single", [False, True])
def test_chebyshev_matches_svd_knn(knn_problem, k, single, monkeypatch):
    # single: filtering in float32, then the double-precision polish reaches tol
    monkeypatch.setattr(_linalg, "SINGLE_MIN_SIDE", 0 if single else np.inf)
    op, reference = knn_problem
    _assert_triplets(op, _solve(op, k), reference, k)


def test_gram_matmat_in_single_precision(knn_problem, monkeypatch):
    monkeypatch.setattr(_kernels, "_MIN_WORK_PARALLEL", 0)
    op, _ = knn_problem
    X = np.random.default_rng(3).standard_normal((op.shape[1], 12))
    expected = op.gram_matmat(X, scale=0.5, shift=0.2, previous=X, weight=0.1)
    single = op.gram_matmat(X.astype(np.float32), scale=0.5, shift=0.2,
                            previous=X.astype(np.float32), weight=0.1)
    assert single.dtype == np.float32
    assert_allclose(single, expected, rtol=0, atol=1e-6 * np.abs(expected).max())


# Determinism across threads


@pytest.mark.parametrize("single", [False, True])
def test_chebyshev_bit_identical_across_n_jobs(single, monkeypatch):
    monkeypatch.setattr(_linalg, "SINGLE_MIN_SIDE", 0 if single else np.inf)
    W = _knn_joint(9000, 4)
    # more than one fixed row chunk in the tall-skinny products
    assert len(_row_chunks(min(W.shape))) > 1
    results = []
    for n_jobs in (1, 2):
        op = ContextOperator(W, n_jobs=n_jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            results.append(_solve(op, 3, tol=1e-6))
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_cross_product_and_rotate_bit_identical_across_threads():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((20_001, 12)), rng.standard_normal((20_001, 9))
    Z = rng.standard_normal((12, 12))
    assert len(_row_chunks(len(X))) > 1
    crosses, rotations = [], []
    for n_threads in (1, 2, 3):
        crosses.append(cross_product(X, Y, n_threads))
        out = np.empty((len(X), 12))
        assert rotate(X, Z, out, n_threads) is out
        rotations.append(out)
    for cross, rotation in zip(crosses[1:], rotations[1:]):
        assert np.array_equal(cross, crosses[0])
        assert np.array_equal(rotation, rotations[0])
    assert_allclose(crosses[0], X.T @ Y, rtol=1e-10, atol=1e-10)
    assert_allclose(rotations[0], X @ Z, rtol=1e-12, atol=1e-12)


# Failure modes


@pytest.mark.parametrize(
    "joint",
    [
        # three identical all-ones blocks: deflated singular values (1, 1, 0, ...)
        sp.block_diag([np.ones((10, 8))] * 3, format="csr"),
        _low_rank_joint(60, 50, rank=3),
    ],
    ids=["block-diagonal", "rank-3"],
)
def test_chebyshev_rank_deficient_raises(joint):
    op = ContextOperator(joint)
    s = _solve(op, 2)[0]
    assert np.all(s > 1e-3)
    with pytest.raises(ValueError, match="nonzero singular value"):
        _solve(op, 4)


def test_dense_rank_deficient_raises():
    # deflated rank 2, no exact zeros in the Gram matrix (unlike block-diagonal)
    op = ContextOperator(_low_rank_joint(60, 50, rank=3))
    with pytest.raises(ValueError, match="nonzero singular value"):
        top_singular_triplets(op, 4, solver="dense")


def test_chebyshev_max_iter_warns(knn_problem):
    op, _ = knn_problem
    with pytest.warns(ConvergenceWarning, match="chebyshev"):
        _solve(op, 5, max_iter=1)


def test_chebyshev_stopped_early_returns_ritz_vectors_and_warns(knn_problem):
    # Stopped by max_iter, the result is still orthonormal Ritz vectors, and the
    # shortfall is reported.
    op, _ = knn_problem
    with pytest.warns(ConvergenceWarning, match="chebyshev"):
        _, U, V, _ = _solve(op, 5, tol=1e-13, max_iter=1)
    assert_allclose(U.T @ U, np.eye(5), atol=1e-8)
    assert_allclose(V.T @ V, np.eye(5), atol=1e-8)


def test_chebyshev_n_products(knn_problem):
    op, _ = knn_problem
    tight, loose = _solve(op, 5, tol=1e-10)[3], _solve(op, 5, tol=1e-4)[3]
    # two products per Gram product, one for the final U (or V)
    assert tight % 2 == 1 and loose % 2 == 1
    assert 0 < loose <= tight


def test_connected_components_match_scipy():
    # union-find on the CSR pattern against scipy's csgraph on the bipartite graph
    from scipy.sparse.csgraph import connected_components

    from skcontexture._operator import _bipartite

    rng = np.random.RandomState(0)
    for _ in range(20):
        n, m = rng.randint(5, 60, 2)
        W = sp.random(n, m, density=rng.uniform(0.01, 0.2), random_state=rng, format="csr")
        if W.nnz == 0:
            continue
        op = ContextOperator(W)
        expected = connected_components(_bipartite(op.Q), directed=False)[0]
        assert op.n_connected_components() == expected


# ------------------------------------------------------------------------------------------------
# the public functions of skcontexture.linalg and the shared solver rule
# ------------------------------------------------------------------------------------------------


def test_top_singular_functions_are_the_embedding():
    from skcontexture import ContextureEmbedding, KNNContext
    from skcontexture.linalg import top_singular_functions

    X = make_swiss_roll(400, noise=0.3, random_state=0)[0]
    emb = ContextureEmbedding(KNNContext(10), n_components=4, random_state=0).fit(X)
    s, mu, nu = top_singular_functions(emb.context_.joint_, 4, random_state=0)
    assert_allclose(s, emb.singular_values_, rtol=1e-10)
    assert_allclose(nu, emb.atom_functions_, atol=1e-8)
    assert_allclose(mu, emb.embedding_, atol=1e-8)  # the Nystrom extension is mu on fit rows
    with pytest.raises(ValueError, match="n_components=400 must be at most 399"):
        top_singular_functions(emb.context_.joint_, 400)
    with pytest.raises(ValueError, match="'solver' parameter of top_singular_functions"):
        top_singular_functions(emb.context_.joint_, 4, solver="randomized")


def test_functions_are_zero_where_there_is_no_mass():
    from skcontexture.linalg import top_singular_functions

    W = _random_joint(60, 40, seed=3)
    s, mu, nu = top_singular_functions(W, 3, solver="dense")
    assert mu.shape == (60, 3) and nu.shape == (40, 3)
    assert not mu[[0, 7, 30]].any() and not nu[[1, 13, 39]].any()


@pytest.mark.parametrize(
    "short, k, expected", [(1000, 8, "dense"), (1001, 8, "chebyshev"), (2048, 512, "dense"),
                           (2049, 512, "chebyshev")],
)
def test_one_auto_rule_for_triplets_and_values(short, k, expected):
    assert _linalg.choose_solver("auto", short, k) == expected
    values = "dense" if expected == "dense" else "randomized"
    assert _linalg.choose_solver("auto", short, k, iterative="randomized") == values


def test_one_dense_limit_for_triplets_and_values():
    big = _linalg.DENSE_MAX_SIDE + 1
    with pytest.raises(ValueError, match="solver='dense' .* use solver='chebyshev'"):
        _linalg.choose_solver("dense", big, 4)
    with pytest.raises(ValueError, match="solver='dense' .* use solver='randomized'"):
        _linalg.choose_solver("dense", big, 4, iterative="randomized")


def test_the_spectrum_stops_on_the_callers_rule():
    from skcontexture.linalg import context_spectrum

    W = _knn_joint(1500, 10)
    seen = []

    def rule(values):
        seen.append(values.size)
        return 1.0  # settled from the start: one block is added, then it stops

    spectrum = context_spectrum(W, 64, solver="randomized", stopping_rule=rule, random_state=0)
    assert spectrum.solver == "randomized" and spectrum.n_iter == 1
    assert seen == [64, 64]
