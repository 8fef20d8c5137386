"""Embedding comparisons: canonical-correlation and mutual-kNN alignment of two embeddings."""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg
from sklearn.neighbors import NearestNeighbors

from .._compat import Interval
from .._operator import check_embedding
from .._typing import validate_params
from ._checks import check_weights, weighted_whiten

if TYPE_CHECKING:
    from .._typing import ArrayLike


def _whiten_pair(Z1, Z2, weights):
    X1 = weighted_whiten(Z1, weights)
    X2 = weighted_whiten(Z2, weights)
    for name, X in (("Z1", X1), ("Z2", X2)):
        if X.shape[1] == 0:
            raise ValueError(f"{name} is constant: it has no column space to align.")
    return X1, X2


@validate_params(
    {"Z1": ["array-like"], "Z2": ["array-like"], "sample_weight": ["array-like", None]},
    prefer_skip_nested_validation=True,
)
def cca_alignment(Z1: ArrayLike, Z2: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """Mean squared canonical correlation between two embeddings of the same rows.

    Each embedding is centred and whitened under the weights, dropping directions whose covariance
    eigenvalue is below 1e-10 times the largest (rank r1, r2). The canonical correlations are the
    singular values of the whitened cross-covariance; the result is the mean of their squares over
    min(r1, r2). It is invariant to invertible linear maps (and shifts) of either embedding, as a
    linear probe is.

    Parameters
    ----------
    Z1 : array-like of shape (n_samples, d1)
    Z2 : array-like of shape (n_samples, d2)
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights (e.g. p_X); None means uniform.

    Returns
    -------
    alignment : float
        In [0, 1]; 1 when the smaller column space is contained in the other.

    References
    ----------
    .. [1] R. Zhai et al., "Contextures: Representations from Contexts", ICML 2025.
    """
    Z1 = check_embedding(Z1, name="Z1", min_samples=2, scale_free=True)
    Z2 = check_embedding(Z2, name="Z2", min_samples=2, scale_free=True)
    if Z1.shape[0] != Z2.shape[0]:
        raise ValueError(f"Z1 and Z2 must have the same rows, got {Z1.shape[0]} and {Z2.shape[0]}.")
    w = check_weights(sample_weight, Z1.shape[0])
    X1, X2 = _whiten_pair(Z1, Z2, w)
    corr = scipy.linalg.svd(X1.T @ (w[:, None] * X2), compute_uv=False)
    return float(np.mean(np.clip(corr, 0.0, 1.0) ** 2))


@validate_params(
    {
        "Z1": ["array-like"],
        "Z2": ["array-like"],
        "k": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def mutual_knn_alignment(Z1: ArrayLike, Z2: ArrayLike, k: int = 10) -> float:
    """Mutual k-nearest-neighbour overlap of two embeddings of the same rows, after PCA-whitening.

    Parameters
    ----------
    Z1 : array-like of shape (n_samples, d1)
    Z2 : array-like of shape (n_samples, d2)
    k : int, default=10
        Number of neighbours (each row excluded from its own neighbours); 1 <= k < n_samples.

    Returns
    -------
    alignment : float
        Mean over rows of ``len(N1(i) & N2(i)) / k``, in [0, 1].

    References
    ----------
    .. [1] R. Zhai et al., "Contextures: Representations from Contexts", ICML 2025.
    """
    Z1 = check_embedding(Z1, name="Z1", min_samples=2, scale_free=True)
    Z2 = check_embedding(Z2, name="Z2", min_samples=2, scale_free=True)
    n = Z1.shape[0]
    if Z2.shape[0] != n:
        raise ValueError(f"Z1 and Z2 must have the same rows, got {n} and {Z2.shape[0]}.")
    if not k < n:
        raise ValueError(f"k must be an integer in [1, n_samples - 1] = [1, {n - 1}], got {k!r}.")
    X1, X2 = _whiten_pair(Z1, Z2, np.full(n, 1.0 / n))
    neighbours = [
        # kneighbors() without a query excludes each row from its own neighbours
        NearestNeighbors(n_neighbors=int(k)).fit(X).kneighbors(return_distance=False)
        for X in (X1, X2)
    ]
    # each list holds distinct indices, so a repeat in their sorted union is a shared neighbour
    both = np.sort(np.hstack(neighbours), axis=1)
    shared = np.count_nonzero(both[:, 1:] == both[:, :-1], axis=1)
    return float(np.mean(shared) / k)
