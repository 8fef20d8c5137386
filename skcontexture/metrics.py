"""Metrics for contexts and embeddings.

Pure functions on numpy arrays and scipy sparse matrices:

* spectrum metrics (``tau_curve``, ``tau``, ``decay_rate``): functions of the singular values
  s_1 >= s_2 >= ... of the expectation operator, with the trivial s_0 = 1 excluded;
* target metric (``compatibility``): how well a target is predicted by the context;
* embedding comparisons (``cca_alignment``, ``mutual_knn_alignment``);
* competing label-free metrics (``rankme``, ``alpha_req``, ``lidar``);
* encoder metrics against a context (``ratio_trace``, ``posthoc_spectrum``).

A *joint* is a nonnegative (n_samples, n_atoms) sparse matrix with joint[i, a] = P+(x_i, a). Its row
sums are p_X and its column sums p_A. Atoms (or rows) with zero mass are ignored.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval

from ._operator import check_embedding as _check_embedding
from ._operator import check_joint, conditional_second_moment
from ._proxy import PROBE_ALPHAS, feature_prediction, probe_curve, probe_dims  # noqa: F401
from ._typing import validate_params
from ._warn import warn

if TYPE_CHECKING:
    from ._typing import ArrayLike, FloatArray, MatrixLike

__all__ = [
    "tau_curve",
    "tau",
    "tau_regime",
    "decay_rate",
    "compatibility",
    "cca_alignment",
    "mutual_knn_alignment",
    "rankme",
    "alpha_req",
    "lidar",
    "ratio_trace",
    "posthoc_spectrum",
    "probe_curve",
    "feature_prediction",
]

# Singular values may leave [0, 1] by this much through round-off; they are clipped to [0, 1].
_SPECTRUM_ATOL = 1e-8
# A singular value within this distance of 1 is treated as exactly 1 (a disconnected context).
_ONE_TOL = 1e-10
# Whitening drops directions whose covariance eigenvalue is below this fraction of the largest.
_WHITEN_RTOL = 1e-10


# ------------------------------------------------------------------------------------------------
# Validation helpers
# ------------------------------------------------------------------------------------------------


def _check_spectrum(singular_values: ArrayLike, *, sort: bool = True) -> FloatArray:
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


def _check_weights(sample_weight: ArrayLike | None, n_samples: int) -> FloatArray:
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


def _weighted_whiten(Z, weights, ridge=0.0, rtol=_WHITEN_RTOL):
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


def _effective_rank(values, eps):
    """exp of the entropy of ``values / sum(values) + eps`` (0 log 0 = 0)."""
    p = values / values.sum() + eps
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


#: Parameter constraints shared by the metrics (finite: the upper bound is open).
_NONNEGATIVE = Interval(Real, 0, np.inf, closed="left")
_POSITIVE = Interval(Real, 0, np.inf, closed="neither")
_SPECTRUM_PARAMS = {
    "singular_values": ["array-like"],
    "beta": [_NONNEGATIVE],
    "max_dim": [Interval(Integral, 2, None, closed="left")],
}


# ------------------------------------------------------------------------------------------------
# Spectrum metrics
# ------------------------------------------------------------------------------------------------


@validate_params(
    _SPECTRUM_PARAMS,
    prefer_skip_nested_validation=True,
)
def tau_curve(
    singular_values: ArrayLike, beta: float = 1.0, max_dim: int = 512
) -> tuple[FloatArray, int]:
    """Curve tau_d of the context-evaluation metric tau, and its minimiser.

    With d0 = min(max_dim, len(singular_values)) and 1-based indices, for d = 1 .. d0 - 1::

        tau_d = 1 / (1 - s_{d+1}^2) + beta * sum_{i<=d} s_i^2 / sum_{i<=d0} s_i^2

    tau_d is ``inf`` where s_{d+1} = 1 (values within 1e-10 of 1 count as 1): a disconnected context
    or hard labels. An all-zero spectrum (no information) gives tau_d = 1 + beta for every d, with a
    warning.

    Parameters
    ----------
    singular_values : array-like of shape (n_values,)
        s_1, s_2, ... in [0, 1], trivial s_0 = 1 excluded. At least 2 values. Values outside [0, 1]
        by at most 1e-8 are clipped; an unsorted input is sorted (descending) on a copy.
    beta : float, default=1.0
        Weight of the second (spread) term; >= 0.
    max_dim : int, default=512
        Largest dimension d0 considered; >= 2.

    Returns
    -------
    taus : ndarray of shape (d0 - 1,)
        ``taus[d - 1] = tau_d``.
    best_d : int
        1-based argmin of tau_d (the suggested embedding dimension). When every tau_d is infinite,
        the last d (d0 - 1), with a warning.

    References
    ----------
    .. [1] R. Zhai et al., "Contextures: Representations from Contexts", ICML 2025.
    """
    s = _check_spectrum(singular_values)
    if s.size < 2:
        raise ValueError(f"tau needs at least 2 singular values (s_1, s_2), got {s.size}.")
    beta = float(beta)
    d0 = min(int(max_dim), s.size)
    s = s[:d0]
    s2 = s**2

    nxt = s[1:]  # s_{d+1} for d = 1 .. d0 - 1
    first = np.full(d0 - 1, np.inf)
    finite = nxt < 1.0 - _ONE_TOL
    first[finite] = 1.0 / (1.0 - s2[1:][finite])

    total = s2.sum()
    if total > 0:
        spread = np.cumsum(s2)[: d0 - 1] / total
    else:
        warn(
            "All singular values are zero: the context carries no information about X; "
            "every tau_d equals 1 + beta.",
            UserWarning,
        )
        spread = np.ones(d0 - 1)
    taus = first + beta * spread

    if np.all(np.isinf(taus)):
        warn(
            "Every tau_d is infinite because s_2 .. s_d0 equal 1: the context is disconnected "
            "(several connected components) or made of hard labels; tau cannot rank it.",
            UserWarning,
        )
        return taus, d0 - 1
    return taus, int(np.argmin(taus)) + 1


@validate_params(
    _SPECTRUM_PARAMS,
    prefer_skip_nested_validation=True,
)
def tau(singular_values: ArrayLike, beta: float = 1.0, max_dim: int = 512) -> float:
    """Context-evaluation metric tau = min_d tau_d (lower is better).

    Parameters
    ----------
    singular_values : array-like of shape (n_values,)
        s_1, s_2, ... in [0, 1], trivial s_0 = 1 excluded; at least 2 values.
    beta : float, default=1.0
        Weight of the spread term.
    max_dim : int, default=512
        Largest dimension d0 considered.

    Returns
    -------
    tau : float
        ``min(tau_curve(...)[0])``; ``inf`` for a disconnected context, 1 + beta for a zero
        spectrum.

    See Also
    --------
    tau_curve : the whole curve and its argmin.

    References
    ----------
    .. [1] R. Zhai et al., "Contextures: Representations from Contexts", ICML 2025.
    """
    taus, _ = tau_curve(singular_values, beta=beta, max_dim=max_dim)
    return float(np.min(taus))


#: tau within this relative distance of 1 + beta is "near 1 + beta" (the paper's untrusted band).
TAU_BAND_RTOL = 0.02
#: s_{d*+1} at or above this is "close to 1": a nearly disconnected context.
TAU_NEAR_ONE = 0.999


@validate_params(
    _SPECTRUM_PARAMS,
    prefer_skip_nested_validation=True,
)
def tau_regime(
    singular_values: ArrayLike, beta: float = 1.0, max_dim: int = 512
) -> str | None:
    """Why tau cannot be trusted for this spectrum, or None when it can.

    The paper warns that tau is not to be trusted for extremely weak or extremely strong
    contexts. Their signatures, checked in this order:

    * every tau_d is infinite (a disconnected context, or hard labels);
    * s_{d*+1} >= 0.999: a nearly disconnected context (the first term of tau_d explodes);
    * tau's minimum is at d* = 1: the spectrum has no head of several informative
      functions (s_2 is already small, or the spectrum is flat);
    * tau within 2% of 1 + beta (the band where weak and strong contexts meet).

    Parameters
    ----------
    singular_values : array-like of shape (n_values,)
        s_1, s_2, ... in [0, 1], trivial s_0 = 1 excluded; at least 2 values.
    beta : float, default=1.0
    max_dim : int, default=512

    Returns
    -------
    reason : str or None
        A sentence naming the signature, or None for a trusted value. It
        names the regime, not the values (the same sentence for every fold of
        a context, so a warning quoting it is shown once).

    Examples
    --------
    >>> from skcontexture.metrics import tau_regime
    >>> import numpy as np
    >>> tau_regime(np.r_[np.full(10, 0.9), np.full(200, 0.3)]) is None   # tau = 1.41 at d* = 10
    True
    >>> tau_regime([0.9, 0.01, 0.005])
    'its minimum is at d* = 1'
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        taus, best_d = tau_curve(singular_values, beta=beta, max_dim=max_dim)
    s = _check_spectrum(singular_values)
    value = float(np.min(taus))
    if not np.isfinite(value):
        return "every tau_d is infinite: a disconnected context or hard labels"
    if s[best_d] >= TAU_NEAR_ONE:
        return "s_(d*+1) is close to 1: a nearly disconnected context"
    if best_d == 1:
        return "its minimum is at d* = 1"
    if abs(value - (1.0 + beta)) <= TAU_BAND_RTOL * (1.0 + beta):
        return f"tau is within 2% of 1 + beta = {1.0 + beta:g}"
    return None


@validate_params(
    {"singular_values": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def decay_rate(singular_values: ArrayLike) -> float:
    """Exponential decay rate lambda of the spectrum: log(s_i^2) ~ c - lambda * i.

    Least-squares fit over the strictly positive values (i is the 1-based index in the sorted
    spectrum). A larger lambda means faster decay, i.e. a weaker association between X and A.

    Parameters
    ----------
    singular_values : array-like of shape (n_values,)
        s_1, s_2, ... in [0, 1], trivial s_0 = 1 excluded (sorted descending on a copy if needed).

    Returns
    -------
    rate : float
        lambda. With fewer than 2 positive values the spectrum vanishes at once: ``inf``, with a
        warning.

    References
    ----------
    .. [1] R. Zhai et al., "Contextures: Representations from Contexts", ICML 2025.
    """
    s = _check_spectrum(singular_values)
    positive = s > 0
    if positive.sum() < 2:
        warn(
            "decay_rate needs at least 2 positive singular values; the spectrum vanishes "
            "immediately, returning inf.",
            UserWarning,
        )
        return np.inf
    idx = np.arange(1, s.size + 1)[positive]
    # log(s^2) as 2 log(s): s^2 underflows to 0 for s below 1e-154
    slope = np.polyfit(idx, 2.0 * np.log(s[positive]), 1)[0]
    return float(-slope)


@validate_params(
    {
        "embedding": "no_validation",  # an array, or a fitted estimator: checked below
        "y": ["array-like"],
        "singular_values": ["array-like", None],
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def compatibility(
    embedding: Any,
    y: ArrayLike,
    singular_values: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Compatibility rho^2 of a target with a context, from the top-d singular functions.

    With f = y centred under the weights and u_i = <f, mu_i>_{P_X} = sum_k w_k f_k Z_ki::

        rho^2 = sum_i s_i^2 u_i^2 / sum_i u_i^2

    over the d given components. This is an approximation: the part of f outside span(mu_1 .. mu_d)
    is not counted. Each column of the embedding is centred and rescaled to unit norm in L2(P_X)
    first (a no-op for exact singular functions; it undoes spectral scaling), and the columns are
    assumed orthogonal.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, d) or fitted estimator
        mu_1 .. mu_d on the fit rows. Or a fitted estimator exposing ``embedding_``,
        ``singular_values_`` and ``context_.joint_`` (whose row sums give the weights); then call
        ``compatibility(estimator, y)``.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Numeric target; for classes pass a one-hot matrix (numerators and denominators are summed
        over columns).
    singular_values : array-like of shape (d,), default=None
        s_1 .. s_d matching the columns of ``embedding``. Required unless an estimator is given.
    sample_weight : array-like of shape (n_samples,), default=None
        p_X; None means uniform. Must be None when an estimator is given.

    Returns
    -------
    rho2 : float
        In [0, 1]; higher means the context predicts the target better. ``nan`` with a warning when
        y is constant or has no component in the span of the embedding.

    References
    ----------
    .. [1] R. Zhai et al., "Contextures: Representations from Contexts", ICML 2025.
    """
    if hasattr(embedding, "embedding_") and hasattr(embedding, "singular_values_"):
        if singular_values is not None or sample_weight is not None:
            raise ValueError(
                "Pass neither singular_values nor sample_weight with a fitted estimator: "
                "they are read from it."
            )
        estimator = embedding
        joint = getattr(getattr(estimator, "context_", None), "joint_", None)
        if joint is None:
            raise ValueError(
                "The estimator has no context_.joint_ to take the sample weights p_X from."
            )
        Z = _check_embedding(estimator.embedding_, name="embedding_")
        singular_values = estimator.singular_values_
        p_x = check_joint(joint, name="context_.joint_")[1]
        if p_x.shape[0] != Z.shape[0]:
            raise ValueError(
                f"context_.joint_ has {p_x.shape[0]} rows but embedding_ has {Z.shape[0]}."
            )
        w = p_x
    else:
        if singular_values is None:
            raise ValueError(
                "singular_values is required unless the first argument is a fitted estimator."
            )
        Z = _check_embedding(embedding, name="embedding")
        w = _check_weights(sample_weight, Z.shape[0])

    s = _check_spectrum(singular_values, sort=False)
    if s.shape[0] != Z.shape[1]:
        raise ValueError(
            f"Got {s.shape[0]} singular values for an embedding with {Z.shape[1]} columns."
        )
    try:
        Y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("y must be numeric; one-hot encode class labels.") from exc
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] != Z.shape[0]:
        raise ValueError(
            f"y must have shape ({Z.shape[0]},) or ({Z.shape[0]}, n_targets), got {np.shape(y)}."
        )
    if not np.all(np.isfinite(Y)):
        raise ValueError("y contains NaN or infinity.")

    f = Y - w @ Y
    Zc = Z - w @ Z
    norms = np.sqrt(w @ Zc**2)
    Zc = Zc / np.where(norms > 0, norms, 1.0)
    u2 = (Zc.T @ (w[:, None] * f)) ** 2  # (d, n_targets)
    den = u2.sum()
    f_norm2 = float(np.sum(w @ f**2))
    if f_norm2 == 0 or den <= 1e-12 * f_norm2:
        warn(
            "y is constant or has no component in the span of the embedding: compatibility is "
            "undefined, returning nan.",
            UserWarning,
        )
        return np.nan
    return float((s**2) @ u2.sum(axis=1) / den)


# ------------------------------------------------------------------------------------------------
# Embedding alignment
# ------------------------------------------------------------------------------------------------


def _whiten_pair(Z1, Z2, weights):
    X1 = _weighted_whiten(Z1, weights)
    X2 = _weighted_whiten(Z2, weights)
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
    Z1 = _check_embedding(Z1, name="Z1", min_samples=2, scale_free=True)
    Z2 = _check_embedding(Z2, name="Z2", min_samples=2, scale_free=True)
    if Z1.shape[0] != Z2.shape[0]:
        raise ValueError(f"Z1 and Z2 must have the same rows, got {Z1.shape[0]} and {Z2.shape[0]}.")
    w = _check_weights(sample_weight, Z1.shape[0])
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
    Z1 = _check_embedding(Z1, name="Z1", min_samples=2, scale_free=True)
    Z2 = _check_embedding(Z2, name="Z2", min_samples=2, scale_free=True)
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


# ------------------------------------------------------------------------------------------------
# Competing label-free metrics
# ------------------------------------------------------------------------------------------------


@validate_params(
    {"Z": ["array-like"], "eps": [_NONNEGATIVE]},
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
    Z = _check_embedding(Z, scale_free=True)
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
    Z = _check_embedding(Z, min_samples=2, scale_free=True)
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
        "eps": [_NONNEGATIVE],
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
    Z = _check_embedding(Z)
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
    basis = v_t[:, ev_t > _WHITEN_RTOL * ev_t.max()]
    sigma_b = basis.T @ sigma_b @ basis
    sigma_w = basis.T @ sigma_t @ basis - sigma_b
    ew, vw = scipy.linalg.eigh((sigma_w + sigma_w.T) / 2)
    scale = 1.0 / np.sqrt(np.clip(ew, 0.0, None) + delta)
    between = scale[:, None] * (vw.T @ sigma_b @ vw) * scale[None, :]
    lam = np.zeros(Z.shape[1])
    lam[: basis.shape[1]] = np.clip(scipy.linalg.eigvalsh((between + between.T) / 2), 0.0, None)
    return _effective_rank(lam, eps)


# ------------------------------------------------------------------------------------------------
# Encoder metrics against a context
# ------------------------------------------------------------------------------------------------


def _whitened_between(Z, joint, alpha):
    """Return W^T B W, with Z̃ W the whitened Z under p_X (with the relative ridge ``alpha``),
    B = Cov_{P_A}[T* Z]."""
    Z = _check_embedding(Z, scale_free=True)
    J, p_x, p_a = check_joint(joint)
    if J.shape[0] != Z.shape[0]:
        raise ValueError(f"joint has {J.shape[0]} rows but Z has {Z.shape[0]}.")
    if alpha:
        # a ridge relative to each column's variance: alpha * I in standardised units
        std = np.sqrt(p_x @ (Z - p_x @ Z) ** 2)
        Z = Z / np.where(std > 0, std, 1.0)
    X = _weighted_whiten(Z, p_x, ridge=alpha)
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
        "alpha": [_NONNEGATIVE],
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
