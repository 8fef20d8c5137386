"""The sparse block products of the solvers: CSR x dense block, multi-threaded.

scipy's ``csr_matrix @ ndarray`` runs on a single thread. :class:`SparseOperator`
computes ``Q @ X`` and ``Q.T @ Y`` for a sparse ``n x m`` operator ``Q`` and
dense blocks of a few to a few tens of columns with a row-parallel numba
kernel, bit-identical for any number of threads; the tall-block helpers
(:func:`cross_product`, :func:`rotate`, :func:`column_dots`) keep that
property with fixed row chunks. Determinism, compilation cost,
oversubscription and memory, with measurements: docs/performance.md, "The
sparse block products".
"""

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import scipy.sparse as sp
from numba import prange, uint64
from scipy.sparse.linalg import LinearOperator

from ._constraints import n_threads, numba_threads

__all__ = ["SparseOperator"]

# Below this amount of work (``nnz * n_columns`` multiply-adds) the plain
# scipy kernel is used: thread wake-up and scheduling dominate there.
# Measured on the idle 2-core machine (square random CSR, 15 nnz/row,
# widths 1/8/32): with n_jobs=2 the numba kernel breaks even with scipy at
# nnz * ncols ~ 3e4..5e4 (~10-20 us of work; below that it is up to 2x
# slower) and is 1.1-2x faster at 1.2e5..1.4e5; with n_jobs=1 it is at
# parity for vectors and 1.3-2.8x faster for >= 8 columns from ~1e5 on.
# 1e5 is a safe crossover; results do not depend on it (docs/performance.md, "Determinism").
_MIN_WORK_PARALLEL = 100_000
#: A product reads a dense copy of the operator (BLAS) once at least this fraction of its
#: entries are stored, as in a kernel's rows: at 2,000 x 2,000 and 128 columns, 0.02 s
#: against 0.09 s for the CSR kernel (one thread, a Gaussian kernel of spambase). The copy is made on the first such product and kept,
#: for operators of at most ``DENSE_MAX_ENTRIES`` entries (200 MB, a 5,000 x 5,000 kernel;
#: the CSR copies of Q and Q^T then take at least 300 MB).
DENSE_FRACTION = 0.5
DENSE_MAX_ENTRIES = 25_000_000


def mostly_stored(matrix):
    """Whether a sparse matrix is better multiplied as a dense array: at least
    ``DENSE_FRACTION`` of its entries stored, and at most ``DENSE_MAX_ENTRIES`` entries."""
    size = float(matrix.shape[0]) * float(matrix.shape[1])
    return 0 < size <= DENSE_MAX_ENTRIES and matrix.nnz >= DENSE_FRACTION * size


@numba.njit(parallel=True, cache=True, fastmath=False, nogil=True)
def _csr_matmat(
    indptr, indices, data, x, k, out, u, c, alpha, y, beta, z, gamma, n_chunks
):  # pragma: no cover - jitted
    """Compute ``out = alpha * (A @ X - u c^T) + beta * Y + gamma * Z``.

    ``A`` is CSR, ``X`` a row-major dense block; the rank-one term and the two
    extra blocks are optional (pass empty arrays), so a deflated product and
    a three-term recurrence step cost one pass over the output.

    Row-parallel over ``n_chunks`` contiguous row ranges: each output row is
    owned by one thread and accumulated in the stored order of its nonzeros
    (columns innermost, in a per-chunk scratch row), so the result does not
    depend on the thread count.

    Parameters
    ----------
    indptr, indices : ndarray of int32 or int64
        CSR structure of ``A`` (same dtype for both).
    data : ndarray of float64 or float32
        CSR values of ``A``.
    x : ndarray of shape (n_cols_A * k,)
        Flat view of the C-contiguous block ``X`` (n_cols_A, k), of data's dtype.
    k : int
        Number of columns of the block.
    out : ndarray of shape (n_rows_A * k,)
        Flat C-contiguous output of data's dtype, overwritten.
    u, c : ndarray of shape (n_rows_A,) and (k,), or empty
        Rank-one term subtracted from ``A @ X``.
    alpha, beta, gamma : float
        Weights.
    y, z : ndarray of shape (n_rows_A * k,), or empty
        Flat C-contiguous blocks added with weights ``beta`` and ``gamma``.
    n_chunks : int
        Number of row ranges handed to the threads.
    """
    # All offsets are unsigned 64-bit: numba then emits no negative-index
    # wraparound code, which made the signed version ~1.6x slower than
    # scipy's C++ loop on matvecs.
    n_rows = indptr.shape[0] - 1
    kk = uint64(k)
    one = uint64(1)
    rank_one = u.shape[0] > 0
    add_y = y.shape[0] > 0
    add_z = z.shape[0] > 0
    for chunk in prange(n_chunks):
        acc = np.empty(k)
        for i in range(chunk * n_rows // n_chunks, (chunk + 1) * n_rows // n_chunks):
            row = uint64(i)
            for j in range(k):
                acc[j] = 0.0
            p = uint64(indptr[row])
            end = uint64(indptr[row + one])
            while p < end:
                col = uint64(indices[p]) * kk
                v = data[p]
                for j in range(k):
                    acc[j] += v * x[col + uint64(j)]
                p += one
            if rank_one:
                ui = u[row]
                for j in range(k):
                    acc[j] -= ui * c[j]
            o = row * kk
            for j in range(k):
                value = alpha * acc[j]
                if add_y:
                    value += beta * y[o + uint64(j)]
                if add_z:
                    value += gamma * z[o + uint64(j)]
                out[o + uint64(j)] = value


def _as_csr64(A, copy=True):
    """Return ``A`` as canonical CSR with float64 data and uniform indices.

    Parameters
    ----------
    A : sparse matrix or array
        Input matrix, any scipy sparse format.
    copy : bool, default=True
        Copy CSR input (other formats are converted, which already copies).
        Pass ``False`` only for a temporary the caller owns.

    Returns
    -------
    csr_matrix
        New CSR float64 matrix (never sharing memory with ``A``) whose
        ``indptr`` and ``indices`` share one dtype (int32 when it fits,
        int64 otherwise).
    """
    A = sp.csr_matrix(A, dtype=np.float64, copy=copy and A.format == "csr")
    A.sum_duplicates()  # canonical: sorted indices, no duplicates
    big = max(A.nnz, A.shape[0], A.shape[1]) >= np.iinfo(np.int32).max
    idx_dtype = np.int64 if big else np.int32
    A.indptr = np.ascontiguousarray(A.indptr, dtype=idx_dtype)
    A.indices = np.ascontiguousarray(A.indices, dtype=idx_dtype)
    A.data = np.ascontiguousarray(A.data, dtype=np.float64)
    return A


class SparseOperator:
    """Sparse operator with multi-threaded ``Q @ X`` and ``Q.T @ Y``.

    Parameters
    ----------
    Q : sparse matrix or array of shape (n, m)
        Operator, any scipy sparse format; converted once to CSR float64.
    n_jobs : int or None, default=None
        Number of threads (``None`` means 1, ``-1`` means all cores), capped
        at ``numba.config.NUMBA_NUM_THREADS``.
    copy : bool, default=True
        Copy a CSR ``Q``; ``False`` lets the operator own (and canonicalise)
        the caller's matrix.

    Attributes
    ----------
    Q, QT : scipy.sparse.csr_matrix
        The operator and its transpose, CSR float64; :meth:`apply` multiplies
        either.
    shape : tuple of int
        ``(n, m)``.
    nnz : int
        Number of stored nonzeros of ``Q``.
    n_threads : int
        Threads used by the block products (``n_jobs`` resolved).

    Notes
    -----
    Both ``Q`` and ``Q.T`` are stored as CSR (the transpose is formed once),
    costing ``2 * (nnz * 12 + (rows + 1) * 8)`` bytes with int32 indices.
    Results are bit-identical for any ``n_jobs``.
    """

    def __init__(self, Q, n_jobs=None, copy=True):
        if not sp.issparse(Q):
            raise TypeError("Q must be a scipy sparse matrix or array.")
        self.Q = _as_csr64(Q, copy=copy)
        # Q.T is a CSC view of Q; tocsr() builds new arrays, no copy needed.
        self.QT = _as_csr64(self.Q.T.tocsr(), copy=False)
        self.n_jobs = n_jobs
        self.n_threads = n_threads(n_jobs)
        self._single_values = {}  # float32 copies of Q and Q^T values, made on demand
        self._dense = None  # the dense copy of Q, made on demand (dense_matrix)

    @property
    def shape(self):
        """tuple of int: Shape ``(n, m)`` of ``Q``."""
        return self.Q.shape

    @property
    def nnz(self):
        """int: Number of stored nonzeros of ``Q``."""
        return self.Q.nnz

    def apply(self, A, X, rank_one=None, *, row=None, alpha=1.0, y=None, beta=0.0, z=None,
              gamma=0.0, out=None, single=False):
        """Compute ``alpha * (A @ X - u c) + beta * y + gamma * z``, with ``c = w @ X``.

        ``rank_one`` is None or the pair ``(u, w)``; ``row`` is ``c`` when the
        caller has it (``w`` is then not read). ``y``, ``z`` and ``out`` are
        optional C-contiguous blocks of the output's shape and dtype (``out``
        may be ``y`` itself, but must not overlap the other inputs). With
        ``single=True`` a float32 block stays float32 (half the memory
        traffic; the products accumulate in float64); anything else is
        computed in float64.
        """
        X = np.asarray(X)
        if X.ndim not in (1, 2):
            raise ValueError(f"Expected a 1-D or 2-D array, got {X.ndim}-D.")
        if X.shape[0] != A.shape[1]:
            raise ValueError(
                f"Dimension mismatch: operator has {A.shape[1]} columns, "
                f"block has {X.shape[0]} rows."
            )
        if np.iscomplexobj(X) or X.dtype == object:
            if rank_one is not None or y is not None or z is not None or out is not None:
                raise TypeError("Only real blocks take the fused terms.")
            return np.asarray(A @ X)
        dtype = np.float32 if single and X.dtype == np.float32 else np.float64
        X = X.astype(dtype, copy=False)
        k = 1 if X.ndim == 1 else X.shape[1]
        if rank_one is None:
            c = None
        elif row is None:
            c = weighted_sum(rank_one[1].astype(dtype, copy=False), X)
        else:
            c = np.array(row, dtype=dtype)  # a writeable copy: numba types read-only ones apart
        dense = self.dense_matrix(A)
        if k == 1 or A.nnz * k < _MIN_WORK_PARALLEL or dense is not None:
            # Vectors: scipy's kernel is as fast on one thread, and a parallel
            # region can stall on a busy machine (ARPACK makes hundreds of them).
            result = np.asarray((A if dense is None else dense) @ X)
            if c is not None:
                result -= np.multiply.outer(rank_one[0], c)
            if alpha != 1.0:
                result *= alpha
            for weight, block in ((beta, y), (gamma, z)):
                if block is not None:
                    result += weight * block
            if out is None:
                return result.astype(dtype, copy=False)
            out[...] = result
            return out
        x = np.ascontiguousarray(X).reshape(-1)
        if not x.flags.writeable:
            # numba types read-only arrays separately: copying (O(m k), small
            # next to the O(nnz k) product) avoids a second JIT compilation.
            x = x.copy()
        if out is None:
            out = np.empty((A.shape[0], k) if X.ndim == 2 else A.shape[0], dtype=dtype)
        empty = np.empty(0)
        u, c = (empty, empty) if c is None else (rank_one[0], c)
        y = empty if y is None else y.reshape(-1)
        z = empty if z is None else z.reshape(-1)
        n_chunks = min(A.shape[0], 64 * self.n_threads)
        with numba_threads(self.n_threads):
            _csr_matmat(A.indptr, A.indices, self._values(A, dtype), x, k, out.reshape(-1),
                        u, c, alpha, y, beta, z, gamma, n_chunks)
        return out

    def dense_matrix(self, A):
        """``A`` (Q or Q^T) as a dense array when Q is :func:`mostly_stored` (Q^T: a
        transposed view of the one copy), else None."""
        if (A is not self.Q and A is not self.QT) or not mostly_stored(self.Q):
            return None
        if self._dense is None:
            self._dense = self.Q.toarray()
        return self._dense if A is self.Q else self._dense.T

    def _values(self, A, dtype):
        """The stored values of ``A`` (Q or Q^T) in ``dtype`` (float32 copies made once)."""
        if dtype == np.float64:
            return A.data
        name = "Q" if A is self.Q else "QT"
        if name not in self._single_values:
            self._single_values[name] = A.data.astype(np.float32)
        return self._single_values[name]

    def release_single(self):
        """Free the float32 copies of the values (made again by a later float32 product)."""
        self._single_values.clear()

    def matmat(self, X):
        """Compute ``Q @ X``.

        Parameters
        ----------
        X : ndarray of shape (m, k) or (m,)
            Dense block or vector (copied to C-contiguous float64 if needed;
            never modified).

        Returns
        -------
        ndarray of shape (n, k) or (n,)
            ``Q @ X`` as float64.
        """
        return self.apply(self.Q, X)

    def rmatmat(self, Y):
        """Compute ``Q.T @ Y``.

        Parameters
        ----------
        Y : ndarray of shape (n, k) or (n,)
            Dense block or vector (never modified).

        Returns
        -------
        ndarray of shape (m, k) or (m,)
            ``Q.T @ Y`` as float64.
        """
        return self.apply(self.QT, Y)

    def aslinearoperator(self):
        """Return a :class:`scipy.sparse.linalg.LinearOperator` view.

        Returns
        -------
        LinearOperator
            Float64 operator of shape ``(n, m)`` whose matvec / rmatvec /
            matmat / rmatmat use this object's kernels.
        """
        return LinearOperator(
            shape=self.shape,
            matvec=self.matmat,
            rmatvec=self.rmatmat,
            matmat=self.matmat,
            rmatmat=self.rmatmat,
            dtype=np.float64,
        )


def weighted_sum(weights, X):
    """``weights @ X`` without BLAS: a threaded BLAS call costs more in thread
    wake-ups than the sum itself, and its spinning threads then slow the next
    numba product down (measured 2x on whole solves)."""
    return np.einsum("i,i...->...", weights, X)


def _row_chunks(n_rows):
    """Fixed row ranges for the tall-skinny products: they depend on the size
    only, never on the thread count, so the sums are always taken in one order."""
    n_chunks = max(1, min(16, n_rows // 4096))
    bounds = np.linspace(0, n_rows, n_chunks + 1).astype(int)
    return list(zip(bounds[:-1], bounds[1:]))


def _map_chunks(func, chunks, n_threads):
    if n_threads == 1 or len(chunks) == 1:
        return [func(lo, hi) for lo, hi in chunks]
    with ThreadPoolExecutor(n_threads) as pool:
        return list(pool.map(lambda bounds: func(*bounds), chunks))


def cross_product(X, Y, n_threads):
    """``X.T @ Y`` for tall blocks, threaded over fixed row chunks.

    Each chunk is one single-threaded BLAS call (run it under
    ``threadpool_limits(1)``) and the chunk results are added in a fixed
    order, so the result is bit-identical for any ``n_threads``.
    """
    parts = _map_chunks(lambda lo, hi: X[lo:hi].T @ Y[lo:hi], _row_chunks(X.shape[0]), n_threads)
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


def rotate(X, Z, out, n_threads):
    """``out = X @ Z`` for a tall block, threaded over fixed row chunks."""

    def chunk(lo, hi):
        np.matmul(X[lo:hi], Z, out=out[lo:hi])

    _map_chunks(chunk, _row_chunks(X.shape[0]), n_threads)
    return out


def column_dots(X, Y):
    """``(X * Y).sum(axis=0)`` accumulated in float64 (for float32 blocks too)."""
    return np.einsum("ij,ij->j", X, Y, dtype=np.float64)
