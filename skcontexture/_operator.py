"""The normalised expectation operator of a joint, and its graph structure.

For a joint W over (fit rows x atoms) with marginals p_X and p_A,

    Q = D(p_X)^{-1/2} W D(p_A)^{-1/2},

whose top singular triplet is s_0 = 1 with u_0 = sqrt(p_X), v_0 = sqrt(p_A).
``ContextOperator`` applies the deflated operator Q - u_0 v_0^T, which has the
remaining triplets, without ever forming a dense matrix.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ._kernels import SparseOperator


class ContextOperator(SparseOperator):
    """The deflated normalised operator of a joint.

    Rows and atoms with zero mass carry no information and are dropped
    (``row_mask`` and ``atom_mask`` tell which are kept).

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
    row_mask : ndarray of bool of shape (n_samples,)
        Rows with positive mass.
    atom_mask : ndarray of bool of shape (n_atoms,)
        Atoms with positive mass.
    """

    def __init__(self, joint, n_jobs=None):
        W = sp.csr_matrix(joint, dtype=np.float64)
        if W.nnz and (W.data.min() < 0 or not np.all(np.isfinite(W.data))):
            raise ValueError("The joint must be finite and nonnegative.")
        total = W.sum()
        if total <= 0:
            raise ValueError("The joint has no mass.")
        p_x = np.asarray(W.sum(axis=1)).ravel() / total
        p_a = np.asarray(W.sum(axis=0)).ravel() / total
        self.row_mask, self.atom_mask = p_x > 0, p_a > 0
        W = W[self.row_mask][:, self.atom_mask]
        self.p_x, self.p_a = p_x[self.row_mask], p_a[self.atom_mask]
        self.u0, self.v0 = np.sqrt(self.p_x), np.sqrt(self.p_a)
        scale_rows = sp.diags(1.0 / (total * self.u0))
        super().__init__(scale_rows @ W @ sp.diags(1.0 / self.v0), n_jobs=n_jobs)

    @property
    def Q(self):
        """The normalised operator, CSR (not deflated)."""
        return self._Q

    @property
    def QT(self):
        """Its transpose, CSR."""
        return self._QT

    def matmat(self, V):
        """Return (Q - u0 v0^T) @ V, with ``n_jobs`` threads."""
        return super().matmat(V) - np.multiply.outer(self.u0, _weighted_sum(self.v0, V))

    def rmatmat(self, U):
        """Return (Q - u0 v0^T)^T @ U, with ``n_jobs`` threads."""
        return super().rmatmat(U) - np.multiply.outer(self.v0, _weighted_sum(self.u0, U))

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
            gram = first.toarray() @ second.toarray()
        else:
            gram = (first @ second).toarray()
        # Q^T Q has the trivial eigenpair (1, v0) (Q Q^T: (1, u0)); deflate it exactly.
        gram -= np.outer(trivial, trivial)
        return (gram + gram.T) / 2

    def n_connected_components(self):
        """Number of connected components of the bipartite graph rows <-> atoms."""
        graph = sp.bmat([[None, self.Q], [self.QT, None]], format="csr")
        n_components, _ = connected_components(graph, directed=False)
        return n_components


def _weighted_sum(weights, X):
    """``weights @ X`` without BLAS: a threaded BLAS call per ARPACK step costs
    more in thread wake-ups than the sum itself (measured 2x on the whole solve)."""
    return np.einsum("i,i...->...", weights, X)
