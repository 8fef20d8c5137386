"""CPU-parallel sparse kernels (CSR x dense block) for iterative SVD solvers.

scipy's ``csr_matrix @ ndarray`` runs on a single thread. This module adds a
row-parallel numba kernel for ``Q @ X`` and ``Q.T @ Y`` where ``Q`` is a
sparse ``n x m`` operator and ``X`` / ``Y`` are dense blocks of a few to a
few tens of columns, as used inside block Krylov / randomized SVD solvers.

Determinism
-----------
Every output row is accumulated by exactly one thread, in the fixed order of
its stored nonzeros (column axpy innermost), with ``fastmath=False`` (no FMA
contraction, no reassociation). The result is therefore bit-identical for
any number of threads. It is the same summation order as scipy's CSR kernel
(observed bit-identical with scipy 1.17), so the small-block fallback to
scipy does not change results in practice either.

JIT cost
--------
The kernel is compiled lazily on the first call for each signature (int32
or int64 indices) and cached on disk (``cache=True``), so compilation is
paid once per machine / numba version. Measured on the 2-core machine
(AMD EPYC, numba 0.68.1; first ``matmat`` of a 20000 x 20000, 15 nnz/row
operator with an 8-column block, int32 indices, 3 runs each):

- cold (fresh ``NUMBA_CACHE_DIR``): first call 1.7-2.4 s (compilation);
- warm (populated cache): first call ~0.27 s (loading the cached kernel and
  starting the OpenMP pool), later calls only the kernel time;
- importing this module costs ~10 ms on top of ``import numba`` (numpy +
  scipy + numba together take ~0.7-1.0 s).

Oversubscription
----------------
A parallel call returns when its slowest thread is done. When the machine is
busy with other processes, a 2-thread call on 2 cores can wait a scheduler
tick (4-16 ms observed) for its second thread; use ``n_jobs=1`` there.

Memory
------
:class:`SparseOperator` keeps ``Q`` and its transpose, both as CSR, i.e.
``2 * (nnz * 12 + (rows + 1) * 8)`` bytes with int32 indices (8 bytes of
float64 data + 4 bytes of index per nonzero, plus the row pointer; the
pointer is counted at 8 bytes as an upper bound, it is 4 bytes with int32).
With int64 indices (``nnz`` or a dimension >= 2**31) it is
``2 * (nnz * 16 + (rows + 1) * 8)``. For ``n = 1e6`` and 15 nonzeros per
row this is ~0.38 GB.
"""

from contextlib import contextmanager

import numba
import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from numba import prange, uint64
from scipy.sparse.linalg import LinearOperator

__all__ = ["SparseOperator"]

# Below this amount of work (``nnz * n_columns`` multiply-adds) the plain
# scipy kernel is used: thread wake-up and scheduling dominate there.
# Measured on the idle 2-core machine (square random CSR, 15 nnz/row,
# widths 1/8/32): with n_jobs=2 the numba kernel breaks even with scipy at
# nnz * ncols ~ 3e4..5e4 (~10-20 us of work; below that it is up to 2x
# slower) and is 1.1-2x faster at 1.2e5..1.4e5; with n_jobs=1 it is at
# parity for vectors and 1.3-2.8x faster for >= 8 columns from ~1e5 on.
# 1e5 is a safe crossover; results do not depend on it (see "Determinism").
_MIN_WORK_PARALLEL = 100_000


@numba.njit(parallel=True, cache=True, fastmath=False, nogil=True)
def _csr_matmat(indptr, indices, data, x, k, out):  # pragma: no cover - jitted
    """Compute ``out = A @ X`` for CSR ``A`` and a row-major dense block.

    Row-parallel: each output row is owned by one thread and accumulated in
    the stored order of its nonzeros (axpy of the gathered block row, columns
    innermost), so the result does not depend on the thread count.

    Parameters
    ----------
    indptr, indices : ndarray of int32 or int64
        CSR structure of ``A`` (same dtype for both).
    data : ndarray of float64
        CSR values of ``A``.
    x : ndarray of shape (n_cols_A * k,)
        Flat view of the C-contiguous float64 block ``X`` (n_cols_A, k).
    k : int
        Number of columns of the block.
    out : ndarray of shape (n_rows_A * k,)
        Flat view of the C-contiguous float64 output, overwritten.
    """
    # All offsets are unsigned 64-bit: numba then emits no negative-index
    # wraparound code, which made the signed version ~1.6x slower than
    # scipy's C++ loop on matvecs.
    n_rows = indptr.shape[0] - 1
    kk = uint64(k)
    one = uint64(1)
    for i in prange(n_rows):
        start = uint64(indptr[uint64(i)])
        end = uint64(indptr[uint64(i) + one])
        if kk == one:
            acc = 0.0
            p = start
            while p < end:
                acc += data[p] * x[uint64(indices[p])]
                p += one
            out[uint64(i)] = acc
        else:
            o = uint64(i) * kk
            for j in range(k):
                out[o + uint64(j)] = 0.0
            p = start
            while p < end:
                c = uint64(indices[p]) * kk
                v = data[p]
                for j in range(k):
                    out[o + uint64(j)] += v * x[c + uint64(j)]
                p += one


@contextmanager
def _numba_threads(n_threads):
    """Temporarily set numba's thread count, restoring it afterwards.

    Parameters
    ----------
    n_threads : int
        Number of threads to use inside the context.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _n_threads(n_jobs):
    """Resolve ``n_jobs`` (sklearn convention) into a numba thread count.

    Parameters
    ----------
    n_jobs : int or None
        ``None`` means 1, ``-1`` means all cores.

    Returns
    -------
    int
        ``min(effective_n_jobs(n_jobs), numba.config.NUMBA_NUM_THREADS)``.
    """
    n = effective_n_jobs(n_jobs)
    return max(1, min(int(n), int(numba.config.NUMBA_NUM_THREADS)))


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

    Attributes
    ----------
    shape : tuple of int
        ``(n, m)``.
    nnz : int
        Number of stored nonzeros of ``Q``.

    Notes
    -----
    Both ``Q`` and ``Q.T`` are stored as CSR (the transpose is formed once),
    costing ``2 * (nnz * 12 + (rows + 1) * 8)`` bytes with int32 indices.
    Results are bit-identical for any ``n_jobs``.
    """

    def __init__(self, Q, n_jobs=None):
        if not sp.issparse(Q):
            raise TypeError("Q must be a scipy sparse matrix or array.")
        self._Q = _as_csr64(Q)
        # Q.T is a CSC view of Q; tocsr() builds new arrays, no copy needed.
        self._QT = _as_csr64(self._Q.T.tocsr(), copy=False)
        self.n_jobs = n_jobs
        self._threads = _n_threads(n_jobs)

    @property
    def shape(self):
        """tuple of int: Shape ``(n, m)`` of ``Q``."""
        return self._Q.shape

    @property
    def nnz(self):
        """int: Number of stored nonzeros of ``Q``."""
        return self._Q.nnz

    def _apply(self, A, X):
        """Compute ``A @ X`` with the parallel kernel or scipy fallback."""
        X = np.asarray(X)
        if X.ndim not in (1, 2):
            raise ValueError(f"Expected a 1-D or 2-D array, got {X.ndim}-D.")
        if X.shape[0] != A.shape[1]:
            raise ValueError(
                f"Dimension mismatch: operator has {A.shape[1]} columns, "
                f"block has {X.shape[0]} rows."
            )
        if np.iscomplexobj(X) or X.dtype == object:
            return np.asarray(A @ X)
        k = 1 if X.ndim == 1 else X.shape[1]
        if k == 1 or A.nnz * k < _MIN_WORK_PARALLEL:
            # Vectors: scipy's kernel is as fast on one thread, and a parallel
            # region can stall on a busy machine (ARPACK makes hundreds of them).
            return np.asarray(A @ X.astype(np.float64, copy=False))
        x = np.ascontiguousarray(X, dtype=np.float64).reshape(-1)
        if not x.flags.writeable:
            # numba types read-only arrays separately: copying (O(m k), small
            # next to the O(nnz k) product) avoids a second JIT compilation.
            x = x.copy()
        out = np.empty(A.shape[0] * k, dtype=np.float64)
        with _numba_threads(self._threads):
            _csr_matmat(A.indptr, A.indices, A.data, x, k, out)
        return out if X.ndim == 1 else out.reshape(A.shape[0], k)

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
        return self._apply(self._Q, X)

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
        return self._apply(self._QT, Y)

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
