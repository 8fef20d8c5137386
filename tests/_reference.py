"""Dense exact references used by the tests (small inputs only).

:func:`dense_svd` is the one dense singular value decomposition of the tests;
the references of joints and operators are built on it.
"""

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits


def dense(matrix):
    """A sparse matrix (or an array) as a dense array."""
    return np.asarray(matrix.todense()) if hasattr(matrix, "todense") else np.asarray(matrix)


def dense_svd(matrix, compute_uv=True):
    """``(s, U, V)`` of a matrix by a dense thin SVD, descending; ``s`` alone without ``compute_uv``.

    On one BLAS thread: threaded LAPACK crawls on a busy machine.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        if not compute_uv:
            return np.linalg.svd(dense(matrix), compute_uv=False)
        U, s, Vt = np.linalg.svd(dense(matrix), full_matrices=False)
    return s, U, Vt.T


def dense_singular_functions(joint):
    """Exact (s, mu, nu, p_x, p_a) of a joint by a dense SVD, trivial pair dropped."""
    W = dense(joint)
    W = W / W.sum()
    p_x, p_a = W.sum(axis=1), W.sum(axis=0)
    s, U, V = dense_svd(W / np.sqrt(np.outer(p_x, p_a)))
    return s[1:], U[:, 1:] / np.sqrt(p_x)[:, None], V[:, 1:] / np.sqrt(p_a)[:, None], p_x, p_a


def singular_values(joint):
    """Nontrivial singular values of a joint by a dense SVD (zero-mass rows/atoms dropped)."""
    W = dense(joint)
    W = W[W.sum(axis=1) > 0][:, W.sum(axis=0) > 0]
    return dense_singular_functions(W)[0]


def strength(joint, d=32):
    """Sum of s_i^2 over the top d nontrivial singular values of a joint.

    The eigenvalues of Q Q^T (the squares are all it needs): cheaper than the SVD
    of a joint with many more atoms than rows.
    """
    W = sp.csr_matrix(joint)
    p_x, p_a = np.asarray(W.sum(axis=1)).ravel(), np.asarray(W.sum(axis=0)).ravel()
    kept = p_a > 0
    Q = sp.diags(1 / np.sqrt(p_x)) @ W[:, kept] @ sp.diags(1 / np.sqrt(p_a[kept]))
    with threadpool_limits(1):
        eigenvalues = np.linalg.eigvalsh(dense(Q @ Q.T))[::-1]
    return float(np.sum(eigenvalues[1 : d + 1]))


def deflated(op):
    """Dense deflated operator Q - u0 v0^T of a ContextOperator, in its internal order."""
    return op.Q.toarray() - np.outer(op.u0, op.v0)


def canonical_correlations(Z1, Z2, weights=None):
    """Cosines of the principal angles between two column spaces in L2(weights)."""
    w = np.ones(len(Z1)) / len(Z1) if weights is None else weights
    root = np.sqrt(w)[:, None]
    return np.cos(scipy.linalg.subspace_angles(Z1 * root, Z2 * root))


def gap_dimension(s, low=2, high=10):
    """The d in [low, high] with the largest relative gap s_d / s_{d+1}."""
    ratios = s[low - 1 : high] / np.maximum(s[low : high + 1], 1e-300)
    return low + int(np.argmax(ratios))


def assert_falls(values):
    """Assert that ``values`` strictly decrease."""
    assert np.all(np.diff(values) < 0), values
