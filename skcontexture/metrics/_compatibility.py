"""The target metric: how well a target is predicted by a context (compatibility)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._operator import check_embedding, check_joint
from .._typing import validate_params
from .._warn import warn
from ._checks import check_spectrum, check_weights

if TYPE_CHECKING:
    from .._typing import ArrayLike


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
        Z = check_embedding(estimator.embedding_, name="embedding_")
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
        Z = check_embedding(embedding, name="embedding")
        w = check_weights(sample_weight, Z.shape[0])

    s = check_spectrum(singular_values, sort=False)
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
