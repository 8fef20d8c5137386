"""The checks and the whitening shared by the metrics."""

from __future__ import annotations
from .._compat import Interval

from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg

if TYPE_CHECKING:
    from .._typing import ArrayLike, FloatArray

# Singular values may leave [0, 1] by this much through round-off; they are clipped to [0, 1].
_SPECTRUM_ATOL = 1e-8
#: Whitening drops directions whose covariance eigenvalue is below this fraction of the largest.
WHITEN_RTOL = 1e-10
#: A nonnegative real parameter (finite: the upper bound is open).
NONNEGATIVE = Interval(Real, 0, np.inf, closed="left")


def check_spectrum(singular_values: ArrayLike, *, sort: bool = True) -> FloatArray:
    """Validate a spectrum; return a float copy clipped to [0, 1], sorted descending if ``sort``."""
    if np.iscomplexobj(singular_values):
        raise TypeError(
            "singular_values must be real (singular values of an expectation operator); "
            "got complex values: pass their real part or moduli."
        )
    try:
        s = np.array(singular_values, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise TypeError(
            f"singular_values must be real numbers, got {np.asarray(singular_values).dtype} "
            "values."
        ) from None
    if s.ndim != 1:
        raise ValueError(f"singular_values must be 1-D, got an array of shape {s.shape}.")
    if not np.all(np.isfinite(s)):
        raise ValueError("singular_values contains NaN or infinity.")
    if s.size and (s.min() < -_SPECTRUM_ATOL or s.max() > 1.0 + _SPECTRUM_ATOL):
        raise ValueError(
            "singular_values must lie in [0, 1] (singular values of an expectation operator); "
            f"got values in [{s.min():.6g}, {s.max():.6g}]."
        )
    np.clip(s, 0.0, 1.0, out=s)
    if sort:
        s = -np.sort(-s)
    return s


def check_weights(sample_weight: ArrayLike | None, n_samples: int) -> FloatArray:
    """Return weights summing to 1 (uniform when ``sample_weight`` is None)."""
    if sample_weight is None:
        return np.full(n_samples, 1.0 / n_samples)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {w.shape}.")
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight contains NaN or infinity.")
    if np.any(w < 0):
        raise ValueError("sample_weight must be nonnegative.")
    total = w.sum()
    if total <= 0:
        raise ValueError("sample_weight must have a positive sum.")
    return w / total


def weighted_whiten(Z, weights, ridge=0.0, rtol=WHITEN_RTOL):
    """Centre ``Z`` under ``weights`` (summing to 1) and whiten it.

    Returns ``X`` (n_samples, r) with ``X.T @ diag(weights) @ X = diag(ev / (ev + ridge))``, where
    ``ev`` are the eigenvalues of the weighted covariance C kept by the rank-revealing step
    (``ev > rtol * max(ev)``). With ``ridge=0`` the columns of X are weighted-orthonormal and span
    the numerical column space of the centred Z.
    """
    Zc = Z - weights @ Z
    # d x d eigenproblem: cheap in time and memory; eigenvalues below rtol * max are dropped, far
    # above the round-off of forming C.
    ev, V = scipy.linalg.eigh(Zc.T @ (weights[:, None] * Zc))
    ev, V = ev[::-1], V[:, ::-1]
    if ev.size == 0 or ev[0] <= 0:
        return Zc[:, :0]
    keep = ev > rtol * ev[0]
    return Zc @ (V[:, keep] / np.sqrt(ev[keep] + ridge))
