"""The normalised expectation operator of a joint, and its graph structure.

For a joint W over (fit rows x atoms) with marginals p_X and p_A,

    Q = D(p_X)^{-1/2} W D(p_A)^{-1/2},

whose top singular triplet is s_0 = 1 with u_0 = sqrt(p_X), v_0 = sqrt(p_A).
``ContextOperator`` applies the deflated operator Q - u_0 v_0^T, which has the
remaining triplets, without ever forming a dense matrix.

Rows and atoms are stored in reverse Cuthill-McKee order of the bipartite
graph rows <-> atoms: neighbouring atoms then sit in nearby rows of a dense
block, so a block product reads it from cache (measured 1.9-2.4x faster
at 100,000 points on a shuffled kNN graph); a dense joint (``mostly_stored``) keeps
the caller's order. ``rows`` and ``atoms`` map the
internal order back to the caller's.

The functions below are the one path from a joint to its moments, shared by
the operator, the encoder and the metrics: :func:`check_joint` (validation,
total and marginals), :func:`check_moments` and :func:`check_embedding` (second
moments that fit in float64) and :func:`conditional_second_moment` (the moments of the
conditional means E[F | a] under p_A, whose centred form is
B = Cov_{P_A}[T* F]).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee
from sklearn.utils import check_array

from ._solvers import NumpyBlocks
from ._sparse_blocks import SparseOperator, mostly_stored
from .contexts._base import is_canonical

if TYPE_CHECKING:
    from ._typing import ArrayLike, FloatArray, MatrixLike, SparseMatrix


class ContextOperator(SparseOperator):
    """The deflated normalised operator of a joint.

    Rows and atoms with zero mass carry no information and are dropped;
    the others are reordered for locality (``rows`` and ``atoms`` tell which
    are kept, in which order). Vectors passed to and returned by the products
    are in that internal order.

    Parameters
    ----------
    joint : sparse matrix of shape (n_samples, n_atoms)
        Nonnegative joint weights (any positive total).
    n_jobs : int or None, default=None
        Threads for the sparse products; None means 1.

    Attributes
    ----------
    Q : scipy.sparse.csr_matrix of shape (n_kept_rows, n_kept_atoms)
        The normalised operator (not deflated); ``QT`` is its transpose. Both
        are stored once, as CSR, and multiplied with ``n_jobs`` threads.
    u0, v0 : ndarray
        The trivial singular vectors sqrt(p_X) and sqrt(p_A) (unit norm).
    p_x, p_a : ndarray
        The marginals over the kept rows and atoms.
    rows : ndarray of int
        Caller's index of each kept row, in internal order.
    atoms : ndarray of int
        Caller's index of each kept atom, in internal order.
    joint_shape : tuple of int
        Shape of the joint, rows and atoms without mass included.
    """

    def __init__(self, joint, n_jobs=None):
        # not normalised here: the scaling below divides by the total without a copy
        W, p_x, p_a = check_joint(joint, normalize=False)
        total = W.sum()
        self.joint_shape = W.shape
        rows, atoms = np.flatnonzero(p_x > 0), np.flatnonzero(p_a > 0)
        if mostly_stored(W):
            # a dense joint (a kernel's): no order makes its products more local, and they
            # read a dense copy anyway
            self.rows, self.atoms = rows, atoms
        else:
            kept = bipartite(W)
            if len(rows) < W.shape[0] or len(atoms) < W.shape[1]:
                n, m = W.shape
                kept = kept[np.concatenate([rows, n + atoms])][:, np.concatenate([rows, n + atoms])]
            order = reverse_cuthill_mckee(kept, symmetric_mode=True)
            del kept
            row_order = order[order < len(rows)]
            atom_order = order[order >= len(rows)] - len(rows)
            self.rows, self.atoms = rows[row_order], atoms[atom_order]
        # One gather of rows and one of columns; W is then this object's own copy.
        W = W[self.rows][:, self.atoms]
        self.p_x, self.p_a = p_x[self.rows], p_a[self.atoms]
        self.u0, self.v0 = np.sqrt(self.p_x), np.sqrt(self.p_a)
        W.data *= np.repeat(1.0 / (total * self.u0), np.diff(W.indptr))
        W.data *= (1.0 / self.v0)[W.indices]
        super().__init__(W, n_jobs=n_jobs, copy=False)

    @property
    def blocks(self):
        """The algebra of the solvers' blocks: in-memory arrays."""
        return NumpyBlocks(self.n_threads)

    def matmat(self, V):
        """Return (Q - u0 v0^T) @ V, with ``n_jobs`` threads."""
        return self.apply(self.Q, V, (self.u0, self.v0))

    def rmatmat(self, U):
        """Return (Q - u0 v0^T)^T @ U, with ``n_jobs`` threads."""
        return self.apply(self.QT, U, (self.v0, self.u0))

    def gram_matmat(self, X, *, scale=1.0, shift=0.0, previous=None, weight=0.0,
                    out=None):
        """Return ``scale * (G @ X - shift * X) + weight * previous``.

        G is the Gram matrix of the deflated operator D = Q - u0 v0^T on its
        short side (``D^T D`` when there are no more atoms than rows, else
        ``D D^T``): two block products, the affine terms fused into the
        second, so a Chebyshev recurrence step costs no extra pass.

        Parameters
        ----------
        X : ndarray of shape (short_side, k)
            C-contiguous float64 or float32 block (float32: the products
            read float32 values and blocks and accumulate in float64).
        scale, shift, weight : float
            Coefficients.
        previous : ndarray of shape (short_side, k) or None
            C-contiguous block of X's dtype.
        out : ndarray of shape (short_side, k) or None
            Output block of X's dtype, not overlapping the inputs.

        Returns
        -------
        ndarray of shape (short_side, k)
        """
        n, m = self.shape
        first, second = (self.Q, self.QT) if m <= n else (self.QT, self.Q)
        u_first, u_second = (self.u0, self.v0) if m <= n else (self.v0, self.u0)
        middle = self._workspace(first.shape[0], X.shape[1], X.dtype)
        self.apply(first, X, (u_first, u_second), out=middle, single=True)
        return self.apply(
            second, middle, (u_second, u_first), alpha=scale,
            y=X if shift else None, beta=-scale * shift,
            z=previous, gamma=weight, out=out, single=True,
        )

    def sample_functions(self, U):
        """Left singular vectors -> functions mu = U / sqrt(p_X) on the caller's rows
        (zero on rows without mass)."""
        return scatter_rows(U / self.u0[:, None], self.rows, self.joint_shape[0])

    def atom_functions(self, V):
        """Right singular vectors -> functions nu = V / sqrt(p_A) on the caller's atoms
        (zero on atoms without mass)."""
        return scatter_rows(V / self.v0[:, None], self.atoms, self.joint_shape[1])

    def gram_trace(self):
        """Trace of the Gram matrix of the deflated operator: ||Q||_F^2 - 1."""
        return max(float(np.dot(self.Q.data, self.Q.data)) - 1.0, 0.0)

    def _workspace(self, n_rows, k, dtype):
        """A reused block for the middle product (fresh memory costs page faults)."""
        work = getattr(self, "_work", None)
        if work is None or work.shape != (n_rows, k) or work.dtype != dtype:
            work = self._work = np.empty((n_rows, k), dtype=dtype)
        return work

    def gram(self):
        """Dense Gram matrix of the deflated operator on its short side.

        ``D^T D`` (atoms x atoms) when there are no more atoms than rows, else
        ``D D^T``, with D = Q - u0 v0^T; formed by a sparse product (or a dense
        one when Q has more than 5% nonzeros), never by densifying D.
        """
        Q, QT = self.Q, self.QT
        n, m = Q.shape
        first, second, trivial = (QT, Q, self.v0) if m <= n else (Q, QT, self.u0)
        if Q.nnz > 0.05 * n * m:
            # numpy computes D^T D and D D^T by a symmetric rank-k update; the products'
            # dense copy when they keep one
            D = self.dense_matrix(Q)
            D = Q.toarray() if D is None else D
            gram = D.T @ D if m <= n else D @ D.T  # exactly symmetric
        else:
            gram = (first @ second).toarray()
            gram += gram.T
            gram *= 0.5
        # Q^T Q has the trivial eigenpair (1, v0) (Q Q^T: (1, u0)); deflate it exactly, in
        # place (a rank-one update of the Fortran-ordered view)
        scipy.linalg.blas.dger(-1.0, trivial, trivial, a=gram.T, overwrite_a=True)
        return gram

    def n_connected_components(self):
        """Number of connected components of the bipartite graph rows <-> atoms.

        Counted once (the estimator and the solver's checks both ask).
        """
        if getattr(self, "_n_components", None) is None:
            self._n_components = count_components(self.Q)
        return self._n_components


def count_components(W):
    """Number of connected components of the bipartite graph rows <-> atoms of a CSR matrix."""
    return int(_count_components(W.indptr, W.indices, W.shape[0], W.shape[1]))


@numba.njit(cache=True, nogil=True)
def _count_components(indptr, indices, n_rows, n_atoms):  # pragma: no cover - jitted
    """Connected components of the bipartite graph of a CSR pattern (union-find:
    memory n_rows + n_atoms, where scipy's csgraph copies the graph as float64)."""
    parent = np.arange(n_rows + n_atoms)
    count = n_rows + n_atoms
    for i in range(n_rows):
        for p in range(indptr[i], indptr[i + 1]):
            a, b = i, n_rows + indices[p]
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            while parent[b] != b:
                parent[b] = parent[parent[b]]
                b = parent[b]
            if a != b:
                parent[max(a, b)] = min(a, b)
                count -= 1
    return count


def scatter_rows(block, index, size):
    """Rows of ``block`` placed at ``index`` of a zero array with ``size`` rows."""
    out = np.zeros((size, block.shape[1]))
    out[index] = block
    return out


def bipartite(W):
    """Adjacency pattern (int8 ones) of the bipartite graph rows <-> atoms of W, rows first."""
    pattern = sp.csr_matrix((np.ones(W.nnz, dtype=np.int8), W.indices, W.indptr), shape=W.shape)
    return sp.bmat([[None, pattern], [pattern.T, None]], format="csr")


def check_joint(
    joint: MatrixLike, name: str = "joint", *, normalize: bool = True
) -> tuple[SparseMatrix, FloatArray, FloatArray]:
    """Validate a joint; return it as float64 CSR summing to 1, with its marginals.

    The caller's matrix is never modified: a joint that is not already float64
    CSR in canonical format (sorted indices, no duplicate entries), or whose
    values are so large that their total overflows or so small that it is
    subnormal, is copied first (scipy would sum duplicates in place on the
    first reduction). The scale of a joint does not matter, so such values are
    divided by a power of two (exact) before they are summed.

    Parameters
    ----------
    joint : sparse matrix or 2-D array of shape (n_samples, n_atoms)
        Nonnegative finite weights with a positive total.
    name : str, default="joint"
        How the messages name it.
    normalize : bool, default=True
        Divide the joint by its total (a copy when the total is not 1).
        False returns it as given (float64 CSR in canonical format: no copy
        of such an input) up to a power-of-two factor.

    Returns
    -------
    J : scipy.sparse.csr_matrix
        The joint, in canonical format (never modified: callers that scale it
        copy first).
    p_x, p_a : ndarray
        The marginals: its row and column sums divided by the total (zero for
        the rows and atoms without mass).
    """
    J = _joint_as_csr(joint, name)
    total = J.sum()
    if not total > 0:
        raise ValueError(f"{name} must have a positive sum (it has no mass).")
    p_x = np.asarray(J.sum(axis=1)).ravel() / total
    p_a = np.asarray(J.sum(axis=0)).ravel() / total
    if normalize and total != 1.0:
        J = J / total
    return J, p_x, p_a


def _joint_as_csr(joint, name):
    """The checked joint as float64 canonical CSR, with values whose sums fit in float64.

    Values are checked before any conversion (a conversion sums duplicate
    entries, which may overflow); the caller's matrix is shared only when it
    is float64 canonical CSR with values of a safe magnitude.
    """
    if not sp.issparse(joint):
        joint = np.asarray(joint)
        if joint.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (sparse) matrix, got shape {joint.shape}.")
    elif joint.format not in ("csr", "csc", "coo", "bsr"):
        joint = joint.tocoo()  # a new matrix (lil, dok, dia): ours to change
    values = joint.data if sp.issparse(joint) else joint
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got values of dtype {values.dtype}.")
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or infinity.")
    if values.size and values.min() < 0:
        raise ValueError(f"{name} must be nonnegative.")
    largest = float(values.max()) if values.size else 0.0
    n_values = max(values.size, 1)
    # sums of up to n_values entries below 2**(exponent) neither overflow nor are subnormal
    exponent = np.frexp(largest)[1] if largest > 0 else 0
    rescale = largest > 0 and (
        largest > np.finfo(np.float64).max / (4 * n_values) or largest < 2.0**-900
    )
    shared = (
        sp.issparse(joint) and joint.format == "csr" and joint.dtype == np.float64
        and not rescale and is_canonical(joint)
    )
    if shared:
        return sp.csr_matrix(joint, copy=False)
    if sp.issparse(joint):
        J = joint.astype(np.float64, copy=True)
        if rescale:
            J.data = np.ldexp(J.data, -exponent)
        J = sp.csr_matrix(J)
    else:
        values = np.asarray(joint, dtype=np.float64)
        J = sp.csr_matrix(np.ldexp(values, -exponent) if rescale else values)
    J.sum_duplicates()  # our own copy: canonical from here on
    return J


def check_moments(F, name="Z", *, scale_free=False):
    """Refuse values whose second moments overflow float64; return F.

    Every second moment of F's columns under a probability weight is at most
    ``max|F|^2``; below ``sqrt(float64 max / F.size)`` no sum of such terms
    overflows. ``scale_free``: the caller's result does not depend on the
    scale of F, so a too large F is divided by a power of two (exact) instead.
    """
    values = F.data if sp.issparse(F) else F
    largest = float(max(values.max(), -values.min())) if values.size else 0.0
    if largest > np.sqrt(np.finfo(np.float64).max / max(F.shape[0] * F.shape[1], 1)):
        if scale_free:
            return np.ldexp(F, -np.frexp(largest)[1])
        raise ValueError(
            f"{name} has values up to {largest:.3g}: its second moments overflow float64. "
            f"Scale it first (e.g. {name} / {largest:.3g})."
        )
    return F


def check_embedding(
    Z: ArrayLike, name: str = "Z", min_samples: int = 1, scale_free: bool = False
) -> FloatArray:
    """Validate functions of the rows (an embedding): a float64 array whose second
    moments fit in float64 (see :func:`check_moments`)."""
    Z = check_array(Z, dtype=np.float64, input_name=name, ensure_min_samples=min_samples)
    return check_moments(Z, name, scale_free=scale_free)


def conditional_second_moment(F, J, p_a, *, n_jobs=None):
    """E_A[E[F | A] E[F | A]^T] = F^T J D(p_A)^-1 J^T F, in float64.

    For F centred under p_X this is B = Cov_{P_A}[T* F], the covariance of
    the conditional means. Formed as the Gram matrix of the rows
    D(p_A)^-1/2 J^T F, without densifying J.

    Parameters
    ----------
    F : ndarray or sparse matrix of shape (n_samples, d)
        Functions of the rows (a sparse F stays sparse).
    J : sparse matrix of shape (n_samples, n_atoms)
        The joint summing to 1, restricted to atoms with mass.
    p_a : ndarray of shape (n_atoms,)
        Its column sums (all positive).
    n_jobs : int or None, default=None
        Threads of the product with a dense F.

    Returns
    -------
    ndarray of shape (d, d)
    """
    if sp.issparse(F):
        H = sp.diags(1.0 / np.sqrt(p_a)) @ sp.csr_matrix(J.T @ F.astype(np.float64, copy=False))
        return np.asarray((H.T @ H).toarray())
    G = SparseOperator(J, n_jobs=n_jobs).rmatmat(F)
    G /= np.sqrt(p_a)[:, None]
    return G.T @ G
