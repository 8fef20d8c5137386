"""Tests for the parallel sparse block products in ``skcontexture._sparse_blocks``."""

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from scipy.sparse.linalg import LinearOperator, svds

from skcontexture import _sparse_blocks
from skcontexture._constraints import numba_threads
from skcontexture._sparse_blocks import (
    SparseOperator,
    _csr_matmat,
    _row_chunks,
    cross_product,
    rotate,
)

from ._reference import dense_svd

RTOL = 1e-12


def _random_csr(n, m, nnz_per_row=15, seed=0, empty_row=None, empty_col=None):
    """Seeded random CSR matrix, optionally with an empty row / column."""
    rng = np.random.default_rng(seed)
    density = min(1.0, nnz_per_row / m)
    Q = sp.random(n, m, density=density, format="csr", random_state=rng)
    Q.data = rng.standard_normal(Q.nnz)
    if empty_row is not None or empty_col is not None:
        Q = Q.tolil()
        if empty_row is not None:
            Q[empty_row, :] = 0
        if empty_col is not None:
            Q[:, empty_col] = 0
        Q = Q.tocsr()
        Q.eliminate_zeros()
    return Q


def _assert_close(actual, expected):
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    assert actual.shape == expected.shape
    assert actual.dtype == np.float64
    assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale)


@pytest.fixture
def force_kernel(monkeypatch):
    """Route every product through the numba kernel (no scipy fallback)."""
    monkeypatch.setattr(_sparse_blocks, "_MIN_WORK_PARALLEL", 0)


# A matrix large enough that nnz * k exceeds the fallback threshold.
BIG = dict(n=3000, m=2000, nnz_per_row=15)


@pytest.mark.parametrize("k", [1, 8, 33])
@pytest.mark.parametrize("n_jobs", [None, 1, 2, -1])
def test_matches_scipy(k, n_jobs):
    Q = _random_csr(**BIG, seed=k, empty_row=5, empty_col=7)
    assert Q.nnz * k >= _sparse_blocks._MIN_WORK_PARALLEL or k == 1
    rng = np.random.default_rng(1)
    X = rng.standard_normal((Q.shape[1], k))
    Y = rng.standard_normal((Q.shape[0], k))
    op = SparseOperator(Q, n_jobs=n_jobs)
    _assert_close(op.matmat(X), Q @ X)
    _assert_close(op.rmatmat(Y), Q.T @ Y)
    assert np.all(op.matmat(X)[5] == 0.0)
    assert np.all(op.rmatmat(Y)[7] == 0.0)


@pytest.mark.parametrize("use_kernel", [True, False])
def test_small_cases(use_kernel, monkeypatch):
    if use_kernel:
        monkeypatch.setattr(_sparse_blocks, "_MIN_WORK_PARALLEL", 0)
    Q = _random_csr(40, 30, nnz_per_row=4, seed=3, empty_row=0, empty_col=29)
    op = SparseOperator(Q, n_jobs=2)
    rng = np.random.default_rng(2)
    # 1-D vectors
    x, y = rng.standard_normal(30), rng.standard_normal(40)
    assert op.matmat(x).shape == (40,)
    assert op.rmatmat(y).shape == (30,)
    _assert_close(op.matmat(x), Q @ x)
    _assert_close(op.rmatmat(y), Q.T @ y)
    # single-column blocks stay 2-D
    X1, Y1 = x[:, None], y[:, None]
    _assert_close(op.matmat(X1), Q @ X1)
    _assert_close(op.rmatmat(Y1), Q.T @ Y1)
    # empty row of Q / empty row of Q.T
    assert op.matmat(x)[0] == 0.0
    assert op.rmatmat(y)[29] == 0.0


@pytest.mark.parametrize("k", [1, 8, 40])
def test_bit_identical_across_threads(k):
    Q = _random_csr(**BIG, seed=10 + k, empty_row=0)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((Q.shape[1], k))
    Y = rng.standard_normal((Q.shape[0], k))
    op1 = SparseOperator(Q, n_jobs=1)
    op2 = SparseOperator(Q, n_jobs=2)
    assert np.array_equal(op1.matmat(X), op2.matmat(X))
    assert np.array_equal(op1.rmatmat(Y), op2.rmatmat(Y))
    assert np.array_equal(op1.matmat(X[:, 0]), op2.matmat(X[:, 0]))


def test_bit_identical_across_threads_forced_kernel(force_kernel):
    Q = _random_csr(200, 150, nnz_per_row=6, seed=4, empty_row=3)
    rng = np.random.default_rng(4)
    op1, op2 = SparseOperator(Q, n_jobs=1), SparseOperator(Q, n_jobs=2)
    for k in (1, 2, 9):
        X = rng.standard_normal((150, k))
        Y = rng.standard_normal((200, k))
        assert np.array_equal(op1.matmat(X), op2.matmat(X))
        assert np.array_equal(op1.rmatmat(Y), op2.rmatmat(Y))


@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "csr_array"])
def test_input_formats_and_index_dtypes(idx_dtype, fmt, force_kernel):
    Q = _random_csr(60, 50, nnz_per_row=5, seed=5)
    Q.indptr = Q.indptr.astype(idx_dtype)
    Q.indices = Q.indices.astype(idx_dtype)
    Qin = sp.csr_array(Q) if fmt == "csr_array" else Q.asformat(fmt)
    op = SparseOperator(Qin, n_jobs=2)
    assert op.shape == (60, 50)
    assert op.nnz == Q.nnz
    # normalised once: CSR, float64, one index dtype (int32 when it fits)
    for A in (op.Q, op.QT):
        assert A.format == "csr"
        assert A.data.dtype == np.float64
        assert A.indices.dtype == np.int32 and A.indptr.dtype == np.int32
    X = np.random.default_rng(5).standard_normal((50, 3))
    _assert_close(op.matmat(X), Q @ X)


def test_kernel_int64_indices():
    # The int64 specialisation is used for nnz or dims >= 2**31; exercise it
    # directly on a small matrix.
    Q = _random_csr(70, 50, nnz_per_row=5, seed=6, empty_row=2)
    rng = np.random.default_rng(6)
    empty = np.empty(0)
    for k in (1, 5):
        X = rng.standard_normal((50, k))
        out = np.empty(70 * k)
        _csr_matmat(
            Q.indptr.astype(np.int64), Q.indices.astype(np.int64), Q.data,
            X.ravel(), k, out, empty, empty, 1.0, empty, 0.0, empty, 0.0, 3,
        )
        _assert_close(out.reshape(70, k), Q @ X)


@pytest.mark.parametrize("n_chunks", [1, 7, 70])
def test_fused_terms_match_numpy(n_chunks):
    # out = alpha (A X - u c^T) + beta Y + gamma Z, for any split of the rows
    Q = _random_csr(70, 50, nnz_per_row=5, seed=16, empty_row=4)
    rng = np.random.default_rng(16)
    X, Y, Z = rng.standard_normal((50, 6)), rng.standard_normal((70, 6)), rng.standard_normal((70, 6))
    u, c = rng.standard_normal(70), rng.standard_normal(6)
    out = np.empty(70 * 6)
    _csr_matmat(Q.indptr, Q.indices, Q.data, X.ravel(), 6, out, u, c, 0.7, Y.ravel(),
                -0.2, Z.ravel(), 1.3, n_chunks)
    expected = 0.7 * (Q @ X - np.outer(u, c)) - 0.2 * Y + 1.3 * Z
    _assert_close(out.reshape(70, 6), expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_given_row_of_the_rank_one_term_and_output_into_y(dtype, force_kernel):
    """``row=c`` subtracts u c^T for the caller's c; ``out`` may be ``y`` itself; the
    float32 values freed by ``release_single`` are made again on demand."""
    Q = _random_csr(70, 50, nnz_per_row=5, seed=17)
    op = SparseOperator(Q)
    rng = np.random.default_rng(17)
    X, Y = rng.standard_normal((50, 6)).astype(dtype), rng.standard_normal((70, 6)).astype(dtype)
    u, c = rng.standard_normal(70), rng.standard_normal(6)
    expected = 0.7 * (Q @ X.astype(np.float64) - np.outer(u, c)) - 0.2 * Y
    got = op.apply(op.Q, X, (u, None), row=c.astype(dtype), alpha=0.7, y=Y.copy(), beta=-0.2,
                    single=True)
    into_y = Y.copy()
    op.apply(op.Q, X, (u, None), row=c.astype(dtype), alpha=0.7, y=into_y, beta=-0.2,
              out=into_y, single=True)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert got.dtype == dtype
    assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())
    assert_allclose(into_y, got, rtol=0)
    before = op.apply(op.Q, X, single=True)
    op.release_single()
    assert not op._single_values
    assert_allclose(op.apply(op.Q, X, single=True), before, rtol=0)


@pytest.mark.parametrize(
    "layout", ["F", "strided", "transposed", "float32", "int", "readonly"]
)
def test_noncontiguous_and_other_dtypes(layout, force_kernel):
    Q = _random_csr(80, 60, nnz_per_row=5, seed=7)
    rng = np.random.default_rng(7)
    base = rng.standard_normal((60, 8))
    X = {
        "F": np.asfortranarray(base),
        "strided": base[:, ::2],
        "transposed": np.ascontiguousarray(base.T).T,
        "float32": base.astype(np.float32),
        "int": (base * 10).astype(np.int64),
        "readonly": base.copy(),
    }[layout]
    X.flags.writeable = layout != "readonly"
    op = SparseOperator(Q, n_jobs=2)
    _assert_close(op.matmat(X), Q @ X.astype(np.float64))
    Y = np.asfortranarray(rng.standard_normal((80, 3)))
    _assert_close(op.rmatmat(Y), Q.T @ Y)
    # inputs are normalised, so no extra specialisations get compiled
    for sig in _csr_matmat.signatures:
        assert all(a.layout == "C" and a.mutable for a in (sig[3], sig[5]))
        assert sig[2].dtype in (numba.float64, numba.float32) and sig[0] == sig[1]


def test_inputs_not_mutated(force_kernel):
    Q = _random_csr(50, 40, nnz_per_row=5, seed=8)
    Q_copy = Q.copy()
    op = SparseOperator(Q, n_jobs=2)
    assert not np.shares_memory(op.Q.data, Q.data)
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((40, 4)), rng.standard_normal((50, 4))
    X_copy, Y_copy = X.copy(), Y.copy()
    out = op.matmat(X)
    op.rmatmat(Y)
    op.matmat(X[:, 0])
    assert np.array_equal(X, X_copy) and np.array_equal(Y, Y_copy)
    assert not np.shares_memory(out, X)
    assert (Q != Q_copy).nnz == 0
    assert np.array_equal(Q.indptr, Q_copy.indptr)
    # the operator keeps its own copy
    Q.data[:] = 0.0
    _assert_close(op.matmat(X), Q_copy @ X)


@pytest.mark.parametrize("before", [1, 2])
@pytest.mark.parametrize("n_jobs", [1, 2, -1])
def test_thread_count_restored(before, n_jobs, force_kernel):
    Q = _random_csr(50, 40, nnz_per_row=5, seed=9)
    op = SparseOperator(Q, n_jobs=n_jobs)
    X = np.ones((40, 2))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(before)
        op.matmat(X)
        op.rmatmat(np.ones(50))
        assert numba.get_num_threads() == before
    finally:
        numba.set_num_threads(old)


def test_thread_count_restored_on_error():
    old = numba.get_num_threads()
    with pytest.raises(RuntimeError):
        with numba_threads(1):
            assert numba.get_num_threads() == 1
            raise RuntimeError
    assert numba.get_num_threads() == old


def test_n_threads_resolution():
    from skcontexture._constraints import n_threads

    cap = numba.config.NUMBA_NUM_THREADS
    assert n_threads(None) == 1
    assert n_threads(1) == 1
    assert n_threads(2) == min(2, cap)
    assert n_threads(10_000) == cap
    assert 1 <= n_threads(-1) <= cap


def test_errors():
    Q = _random_csr(20, 10, nnz_per_row=3, seed=11)
    with pytest.raises(TypeError):
        SparseOperator(Q.toarray())
    op = SparseOperator(Q)
    with pytest.raises(ValueError):
        op.matmat(np.ones(11))
    with pytest.raises(ValueError):
        op.rmatmat(np.ones((10, 2)))
    with pytest.raises(ValueError):
        op.matmat(np.ones((10, 2, 2)))


def test_linear_operator_and_svds(force_kernel):
    Q = _random_csr(90, 60, nnz_per_row=8, seed=12, empty_row=1)
    # n_jobs=1: ARPACK makes hundreds of tiny products; on a loaded 2-core
    # machine each 2-thread call can wait a scheduler tick for its 2nd thread.
    op = SparseOperator(Q, n_jobs=1)
    L = op.aslinearoperator()
    assert isinstance(L, LinearOperator)
    assert L.shape == (90, 60) and L.dtype == np.float64
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal(60), rng.standard_normal(90)
    X, Y = rng.standard_normal((60, 4)), rng.standard_normal((90, 4))
    _assert_close(L.matvec(x), Q @ x)
    _assert_close(L.rmatvec(y), Q.T @ y)
    _assert_close(L.matmat(X), Q @ X)
    _assert_close(L.rmatmat(Y), Q.T @ Y)
    _assert_close(L @ X, Q @ X)
    _assert_close(L.T @ Y, Q.T @ Y)

    k = 6
    s_dense = dense_svd(Q, compute_uv=False)[:k]
    s = svds(L, k=k, return_singular_vectors=False, random_state=0)
    assert_allclose(np.sort(s)[::-1], s_dense, rtol=1e-10)


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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_operator_products_match_the_sparse_ones(dtype):
    """An operator storing most of its entries multiplies a dense copy (BLAS); the fused
    terms and both directions agree with the CSR products."""
    rng = np.random.default_rng(21)
    dense = rng.random((40, 30))
    dense[rng.random((40, 30)) < 0.2] = 0.0  # 80% stored: above DENSE_FRACTION
    op = SparseOperator(sp.csr_matrix(dense))
    assert op.dense_matrix(op.Q) is not None and op.dense_matrix(op.QT).shape == (30, 40)
    X, Y = rng.standard_normal((30, 5)).astype(dtype), rng.standard_normal((40, 5)).astype(dtype)
    u, w = rng.standard_normal(40), rng.standard_normal(30)
    expected = 0.7 * (dense @ X.astype(np.float64) - np.outer(u, w @ X)) - 0.2 * Y
    got = op.apply(op.Q, X, (u, w), alpha=0.7, y=Y, beta=-0.2, single=True)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert got.dtype == dtype
    assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())
    assert_allclose(op.apply(op.QT, Y.astype(np.float64)), dense.T @ Y, rtol=1e-12)
    sparse = SparseOperator(sp.csr_matrix(np.where(rng.random((40, 30)) < 0.1, dense, 0.0)))
    assert sparse.dense_matrix(sparse.Q) is None


def test_no_dense_copy_above_the_size_cap(monkeypatch):
    """Above ``DENSE_MAX_ENTRIES`` a mostly stored operator keeps to its CSR products."""
    rng = np.random.default_rng(22)
    dense = rng.random((40, 30))
    monkeypatch.setattr(_sparse_blocks, "DENSE_MAX_ENTRIES", 40 * 30 - 1)
    op = SparseOperator(sp.csr_matrix(dense))
    assert op.dense_matrix(op.Q) is None
    X = rng.standard_normal((30, 4))
    assert_allclose(op.apply(op.Q, X), dense @ X, rtol=1e-12)
    assert op._dense is None
