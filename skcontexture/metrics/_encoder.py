"""Encoder metrics against a context: the ratio trace and the post-hoc spectrum."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg

from .._operator import check_embedding, check_joint, conditional_second_moment
from .._typing import validate_params
from ._checks import NONNEGATIVE, weighted_whiten

if TYPE_CHECKING:
    from .._typing import ArrayLike, FloatArray, MatrixLike


def _whitened_between(Z, joint, alpha):
    """Return W^T B W, with Z̃ W the whitened Z under p_X (with the relative ridge ``alpha``),
    B = Cov_{P_A}[T* Z]."""
    Z = check_embedding(Z, scale_free=True)
    J, p_x, p_a = check_joint(joint)
    if J.shape[0] != Z.shape[0]:
        raise ValueError(f"joint has {J.shape[0]} rows but Z has {Z.shape[0]}.")
    if alpha:
        # a ridge relative to each column's variance: alpha * I in standardised units
        std = np.sqrt(p_x @ (Z - p_x @ Z) ** 2)
        Z = Z / np.where(std > 0, std, 1.0)
    X = weighted_whiten(Z, p_x, ridge=alpha)
    if X.shape[1] == 0:
        raise ValueError("Z is constant on the rows with positive mass: it has no covariance.")
    atoms = p_a > 0
    B = conditional_second_moment(np.ascontiguousarray(X), J[:, atoms], p_a[atoms])
    return (B + B.T) / 2


@validate_params(
    {"Z": ["array-like"], "joint": ["array-like", "sparse matrix"]},
    prefer_skip_nested_validation=True,
)
def ratio_trace(Z: ArrayLike, joint: MatrixLike) -> float:
    """Ratio trace Tr(C^+ B) of an encoder against a context.

    With Z̃ = Z centred under p_X::

        C = sum_i p_X[i] z̃_i z̃_i^T
        (T* Z)(a) = sum_i joint[i, a] z̃_i / p_A(a)
        B = sum_a p_A(a) (T* Z)(a) (T* Z)(a)^T = Z̃^T joint D(p_A)^-1 joint^T Z̃

    computed with sparse products (atoms with zero mass ignored). C^+ is the pseudo-inverse on the
    directions whose eigenvalue exceeds 1e-10 times the largest. RT <= sum_{i<=d} s_i^2, with
    equality iff span(Z) = span(mu_1 .. mu_d); RT is invariant to invertible linear maps of Z.

    Parameters
    ----------
    Z : array-like of shape (n_samples, d)
        Values of d functions on the fit rows.
    joint : sparse matrix of shape (n_samples, n_atoms)
        Joint P+(x_i, a) (rescaled to sum 1 if needed).

    Returns
    -------
    rt : float

    References
    ----------
    .. [1] R. Zhai et al., "Contextures: Representations from Contexts", ICML 2025. Appendix D.
    """
    return float(np.trace(_whitened_between(Z, joint, alpha=0.0)))


@validate_params(
    {
        "Z": ["array-like"],
        "joint": ["array-like", "sparse matrix"],
        "alpha": [NONNEGATIVE],
    },
    prefer_skip_nested_validation=True,
)
def posthoc_spectrum(Z: ArrayLike, joint: MatrixLike, alpha: float = 0.0) -> FloatArray:
    """Post-hoc spectrum: generalised eigenvalues of B v = lambda (C + alpha diag(C)) v, descending.

    C and B are as in :func:`ratio_trace`. lambda_i estimates s_i^2 (a lower bound, exact when Z
    spans the top singular functions). The problem is solved in the whitened coordinates of C,
    restricted to its numerical range (eigenvalues above 1e-10 times the largest), where B also
    lives since B <= C; so r = rank(C) <= d values are returned.

    Parameters
    ----------
    Z : array-like of shape (n_samples, d)
        Values of d functions on the fit rows.
    joint : sparse matrix of shape (n_samples, n_atoms)
        Joint P+(x_i, a) (rescaled to sum 1 if needed).
    alpha : float, default=0.0
        Ridge relative to each column's variance, ``alpha * diag(C)`` (alpha * I
        in standardised units); >= 0. The same meaning as the ``alpha`` of
        :class:`~skcontexture.SpectralContextEncoder`, so the eigenvalues do not
        depend on the units of the columns of Z.

    Returns
    -------
    eigenvalues : ndarray of shape (r,)
        In [0, 1], descending.

    References
    ----------
    .. [1] R. Zhai et al., "Contextures: Representations from Contexts", ICML 2025. Appendix D.
    """
    alpha = float(alpha)
    lam = scipy.linalg.eigvalsh(_whitened_between(Z, joint, alpha=alpha))
    return np.clip(lam[::-1], 0.0, 1.0)
