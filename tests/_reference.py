"""Dense exact references used by the tests (small inputs only)."""

import numpy as np
import scipy.linalg


def dense_singular_functions(joint):
    """Exact (s, mu, nu, p_x, p_a) of a joint by a dense SVD, trivial pair dropped."""
    W = np.asarray(joint.todense()) if hasattr(joint, "todense") else np.asarray(joint)
    W = W / W.sum()
    p_x, p_a = W.sum(axis=1), W.sum(axis=0)
    Q = W / np.sqrt(np.outer(p_x, p_a))
    U, s, Vt = np.linalg.svd(Q)
    return s[1:], U[:, 1:] / np.sqrt(p_x)[:, None], Vt[1:].T / np.sqrt(p_a)[:, None], p_x, p_a


def canonical_correlations(Z1, Z2, weights=None):
    """Cosines of the principal angles between two column spaces in L2(weights)."""
    w = np.ones(len(Z1)) / len(Z1) if weights is None else weights
    root = np.sqrt(w)[:, None]
    return np.cos(scipy.linalg.subspace_angles(Z1 * root, Z2 * root))


def gap_dimension(s, low=2, high=10):
    """The d in [low, high] with the largest relative gap s_d / s_{d+1}."""
    ratios = s[low - 1 : high] / np.maximum(s[low : high + 1], 1e-300)
    return low + int(np.argmax(ratios))
