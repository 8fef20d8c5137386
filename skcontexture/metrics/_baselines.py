"""Competing label-free metrics of an embedding: RankMe, alpha-ReQ and LiDAR."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg

from .._compat import Interval
from .._operator import check_embedding, check_joint
from .._typing import validate_params
from .._warn import warn
from ._checks import NONNEGATIVE, WHITEN_RTOL

if TYPE_CHECKING:
    from .._typing import ArrayLike, MatrixLike

_POSITIVE = Interval(Real, 0, np.inf, closed="neither")


def _effective_rank(values, eps):
    """exp of the entropy of ``values / sum(values) + eps`` (0 log 0 = 0)."""
    p = values / values.sum() + eps
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


@validate_params(
    {"Z": ["array-like"], "eps": [NONNEGATIVE]},
    prefer_skip_nested_validation=True,
)
def rankme(Z: ArrayLike, eps: float = 1e-7) -> float:
    """RankMe effective rank of an embedding.

    ``p_k = sigma_k / ||sigma||_1 + eps`` with sigma the singular values of Z (not centred, as in
    the paper); RankMe = exp(-sum_k p_k log p_k).

    Parameters
    ----------
    Z : array-like of shape (n_samples, d)
    eps : float, default=1e-7
        Smoothing constant (>= 0).

    Returns
    -------
    rank : float
        In about [1, min(n_samples, d)]; 0.0 with a warning for an all-zero Z.

    References
    ----------
    .. [1] Q. Garrido et al., "RankMe: Assessing the downstream performance of pretrained
       self-supervised representations by their rank", ICML 2023.
    """
    Z = check_embedding(Z, scale_free=True)
    sigma = scipy.linalg.svd(Z, compute_uv=False)
    if not sigma.sum() > 0:
        warn("Z is all zeros: RankMe is 0.", UserWarning)
        return 0.0
    return _effective_rank(sigma, eps)


@validate_params(
    {"Z": ["array-like"], "fit_range": ["array-like", None]},
    prefer_skip_nested_validation=True,
)
def alpha_req(Z: ArrayLike, fit_range: ArrayLike | None = None) -> float:
    """alpha-ReQ: power-law decay exponent of the covariance spectrum of an embedding.

    The eigenvalues of the covariance of Z (descending, normalised to sum 1: the explained variance
    ratio) are fitted by lambda_i ∝ i^-alpha, by weighted least squares of log lambda_i on -log i
    with weights 1/i (as reptrix ``get_powerlaw``). Eigenvalues below the numerical rank threshold
    are not fitted.

    Parameters
    ----------
    Z : array-like of shape (n_samples, d)
    fit_range : array-like of int, default=None
        0-based eigenvalue indices to fit; None means ``range(10, 100)``. Indices beyond the
        positive eigenvalues are dropped; if fewer than 3 remain, all positive eigenvalues are
        fitted (with a warning when ``fit_range`` was given).

    Returns
    -------
    alpha : float
        The decay exponent. ``inf`` with a warning when fewer than 2 eigenvalues are positive.

    References
    ----------
    .. [1] K. K. Agrawal et al., "alpha-ReQ: Assessing representation quality in self-supervised
       learning by measuring eigenspectrum decay", NeurIPS 2022.
    """
    Z = check_embedding(Z, min_samples=2, scale_free=True)
    n, d = Z.shape
    sigma = scipy.linalg.svd(Z - Z.mean(axis=0), compute_uv=False)
    n_pos = 0 if sigma[0] == 0 else int(np.sum(sigma > sigma[0] * max(n, d) * np.finfo(float).eps))
    if n_pos < 2:
        warn(
            "alpha_req needs at least 2 positive covariance eigenvalues; returning inf.",
            UserWarning,
        )
        return np.inf
    scaled = sigma[:n_pos] / sigma[0]  # squares of tiny values would underflow to 0
    ratio = scaled**2 / np.sum(scaled**2)

    if fit_range is None:
        idx = np.arange(10, 100)
    else:
        idx = np.asarray(fit_range)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or np.any(idx < 0):
            raise ValueError("fit_range must be a 1-D array of nonnegative integer indices.")
    idx = idx[idx < n_pos]
    if idx.size < 3:
        if fit_range is not None:
            warn(
                "fewer than 3 indices of fit_range fall on positive eigenvalues; "
                f"fitting all {n_pos}.",
                UserWarning,
            )
        idx = np.arange(n_pos)

    rank = idx + 1.0
    sqrt_w = np.sqrt(1.0 / rank)
    design = np.column_stack([-np.log(rank), np.ones_like(rank)]) * sqrt_w[:, None]
    coef = np.linalg.lstsq(design, np.log(ratio[idx]) * sqrt_w, rcond=None)[0]
    return float(coef[0])


@validate_params(
    {
        "Z": ["array-like"],
        "joint": ["array-like", "sparse matrix"],
        "delta": [_POSITIVE],
        "eps": [NONNEGATIVE],
    },
    prefer_skip_nested_validation=True,
)
def lidar(Z: ArrayLike, joint: MatrixLike, delta: float = 1e-4, eps: float = 1e-8) -> float:
    """LiDAR effective rank, each fit row being a surrogate class whose views are its context atoms.

    The atoms must be the fit rows (``joint`` square), Z giving each atom's embedding. Row i is a
    class with views a ~ P+(a|x_i) = joint[i, a] / p_X[i] and mean m_i = sum_a P+(a|x_i) Z_a::

        Sigma_b = sum_i p_X[i] (m_i - m)(m_i - m)^T,   m = sum_i p_X[i] m_i
        Sigma_w = sum_i p_X[i] sum_a P+(a|x_i) (Z_a - m_i)(Z_a - m_i)^T + delta * I
        lambda  = eigenvalues of Sigma_w^-1/2 Sigma_b Sigma_w^-1/2
        p = lambda / sum(lambda) + eps,   LiDAR = exp(-sum p log p)

    Sigma_w is computed as the total minus the between-class covariance. Rows with zero mass are
    ignored.

    Parameters
    ----------
    Z : array-like of shape (n_samples, d)
        Embedding of the fit rows (= atoms).
    joint : sparse matrix of shape (n_samples, n_samples)
        Joint P+(x_i, a) over fit rows x atoms (rescaled to sum 1 if needed).
    delta : float, default=1e-4
        Ridge added to Sigma_w (> 0, absolute, in the units of Cov(Z)).
    eps : float, default=1e-8
        Smoothing constant of the entropy (>= 0).

    Returns
    -------
    lidar : float
        In about [1, d]; 0.0 with a warning when the class means do not vary (Sigma_b = 0).

    References
    ----------
    .. [1] V. Thilak et al., "LiDAR: Sensing linear probing performance in joint embedding SSL
       architectures", ICLR 2024.
    """
    Z = check_embedding(Z)
    J, p_x, p_a = check_joint(joint)
    n = Z.shape[0]
    if J.shape != (n, n):
        raise ValueError(
            "lidar needs the context atoms to be the fit rows: joint must have shape "
            f"(n_samples, n_samples) = ({n}, {n}) matching Z, got {J.shape}."
        )
    rows = p_x > 0

    centre = p_a @ Z  # = sum_i p_X[i] m_i
    Zc = Z - centre
    Mc = (J @ Zc)[rows] / p_x[rows, None]
    sigma_b = Mc.T @ (p_x[rows, None] * Mc)
    sigma_t = Zc.T @ (p_a[:, None] * Zc)
    if not np.trace(sigma_b) > 1e-12 * np.trace(sigma_t):
        warn(
            "The class means do not vary (between-class covariance is 0): LiDAR is 0.",
            UserWarning,
        )
        return 0.0
    # Sigma_b <= Sigma_t, so directions without total variance have lambda = 0: work in the
    # numerical column space of Sigma_t, and scale in the eigenbasis of Sigma_w, so that the
    # round-off of a large direction never leaks into a small one (Z at any scale).
    ev_t, v_t = scipy.linalg.eigh(sigma_t)
    basis = v_t[:, ev_t > WHITEN_RTOL * ev_t.max()]
    sigma_b = basis.T @ sigma_b @ basis
    sigma_w = basis.T @ sigma_t @ basis - sigma_b
    ew, vw = scipy.linalg.eigh((sigma_w + sigma_w.T) / 2)
    scale = 1.0 / np.sqrt(np.clip(ew, 0.0, None) + delta)
    between = scale[:, None] * (vw.T @ sigma_b @ vw) * scale[None, :]
    lam = np.zeros(Z.shape[1])
    lam[: basis.shape[1]] = np.clip(scipy.linalg.eigvalsh((between + between.T) / 2), 0.0, None)
    return _effective_rank(lam, eps)
