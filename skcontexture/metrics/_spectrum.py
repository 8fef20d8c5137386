"""Spectrum metrics: tau, its curve and trusted regime, and the decay rate.

Functions of the singular values s_1 >= s_2 >= ... of the expectation
operator, with the trivial s_0 = 1 excluded.
"""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import TYPE_CHECKING

import numpy as np

from .._compat import Interval
from .._typing import validate_params
from .._warn import warn
from ._checks import NONNEGATIVE, check_spectrum

if TYPE_CHECKING:
    from .._typing import ArrayLike, FloatArray

# A singular value within this distance of 1 is treated as exactly 1 (a disconnected context).
_ONE_TOL = 1e-10
_SPECTRUM_PARAMS = {
    "singular_values": ["array-like"],
    "beta": [NONNEGATIVE],
    "max_dim": [Interval(Integral, 2, None, closed="left")],
}


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
    s = check_spectrum(singular_values)
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
    s = check_spectrum(singular_values)
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
    s = check_spectrum(singular_values)
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
