"""The label-free proxy task and the probes it is scored with.

A linear probe's cross-validated score on the leading d columns of an
embedding (:func:`probe_curve`), and the leave-features-out task built on it
(:func:`feature_prediction`), the default label-free score of a contexture
estimator (:func:`label_free_score`, behind ``ContextureEmbedding.score`` and
``ContextScorer``). The public names are exported by
:mod:`skcontexture.metrics`. They use only an estimator's ``fit`` and
``transform``, so the estimators themselves can score with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone, is_classifier
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.utils import check_array, check_random_state, get_tags

from .._compat import Interval
from .._constraints import Implements, blas_threads
from .._operator import check_embedding
from .._typing import validate_params

if TYPE_CHECKING:
    from .._typing import ArrayLike, FloatArray, IntArray, MatrixLike, RandomStateLike

#: Ridge regularisers of the default probes (leave-one-out choice), as in the paper's probes.
PROBE_ALPHAS = np.logspace(-4, 5, 10)


def probe_dims(n_columns):
    """The nested dimensions a probe curve visits: 1, 2, 4, ... and ``n_columns``."""
    dims = [2**i for i in range(int(np.log2(max(int(n_columns), 1))) + 1)]
    if dims[-1] != n_columns:
        dims.append(int(n_columns))
    return dims


@validate_params(
    {
        "Z": ["array-like"],
        "y": ["array-like"],
        "probe": [Implements(["fit", "predict"]), None],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "dims": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,
)
def probe_curve(
    Z: ArrayLike,
    y: ArrayLike,
    *,
    probe: Any = None,
    cv: int = 2,
    dims: Iterable[int] | None = None,
    random_state: RandomStateLike = 0,
) -> tuple[IntArray, FloatArray]:
    """Cross-validated score of a linear probe on the leading d columns of an embedding.

    For each d in ``dims`` the probe is fitted on the first d columns of ``Z`` by
    cross-fitting (every row is predicted by a probe fitted on the other folds) and the
    out-of-fold predictions are scored: R^2 (uniform average over the columns of ``y``)
    for a regressor, accuracy for a classifier. The embedding's columns are taken in the
    order given (for contexture embeddings: by decreasing singular value), so the curve
    is the downstream score as a function of the embedding dimension.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        Embedding of rows that the representation was *not* fitted on (or fitted
        without their targets).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets: class labels for a classifier probe, numbers for a regressor.
    probe : estimator, default=None
        A scikit-learn regressor or classifier; None means ``RidgeCV`` over
        ``PROBE_ALPHAS`` (regulariser by leave-one-out) for numeric ``y``.
    cv : int, default=2
        Number of folds (stratified for a classifier, and then at most the number of
        rows of the rarest class).
    dims : sequence of int, default=None
        Dimensions to visit; None means :func:`probe_dims` (1, 2, 4, ..., n_components).
    random_state : int, default=0
        Seed of the fold assignment.

    Returns
    -------
    dims : ndarray of int
    scores : ndarray of float
        Out-of-fold score for each dimension (greater is better).

    See Also
    --------
    feature_prediction : this curve with the inputs themselves as targets.
    """
    Z = check_embedding(Z, min_samples=2)
    n, d_max = Z.shape
    default_probe = probe is None
    probe = RidgeCV(alphas=PROBE_ALPHAS) if probe is None else probe
    classify = is_classifier(probe)
    y = np.asarray(y)
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} rows but Z has {n}.")
    if classify:
        _, counts = np.unique(y, return_counts=True)
        if counts.size < 2:
            raise ValueError("A classifier probe needs at least 2 classes in y.")
        if counts.min() < 2:
            raise ValueError(
                "A class of y has a single row, which no fold can both train and test on: "
                "give at least 2 rows of every class."
            )
        # classes rarer than cv rows: as many folds as the rarest class has rows
        folds = StratifiedKFold(min(cv, int(counts.min())), shuffle=True,
                                random_state=random_state)
    else:
        y = np.asarray(y, dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinity.")
        if n < 2 * cv:
            raise ValueError(f"{n} rows are too few for a {cv}-fold probe; give at least {2 * cv}.")
        folds = KFold(cv, shuffle=True, random_state=random_state)
    dims = probe_dims(d_max) if dims is None else [int(d) for d in dims]
    if not dims or min(dims) < 1 or max(dims) > d_max:
        raise ValueError(f"dims must lie in [1, {d_max}], got {dims!r}.")
    scores = np.empty(len(dims))
    if default_probe:
        predictions = _ridge_loo_predictions(Z, y, list(folds.split(Z)), dims)
    for j, d in enumerate(dims):
        if default_probe:
            pred = predictions[j]
        else:
            # n_jobs=1: under joblib's dask backend None would make every fold a cluster task
            pred = cross_val_predict(clone(probe), Z[:, :d], y, cv=folds, n_jobs=1)
        if classify:
            scores[j] = np.mean(pred == y)
        else:
            y2 = y.reshape(n, -1)
            resid = ((pred.reshape(n, -1) - y2) ** 2).sum(axis=0)
            total = ((y2 - y2.mean(axis=0)) ** 2).sum(axis=0)
            ok = total > 0
            scores[j] = float(np.mean(1.0 - resid[ok] / total[ok])) if ok.any() else 0.0
    return np.asarray(dims), scores


def _ridge_loo_predictions(Z, y, folds, dims):
    """Out-of-fold predictions of the default probe on the leading d columns, each d.

    The default probe is ``RidgeCV(alphas=PROBE_ALPHAS)``: on each training fold, a ridge
    regression with an unpenalised intercept whose regulariser minimises the mean squared
    leave-one-out error over all rows and targets (the first such alpha), then predicting
    the fold's test rows. The same computation without scikit-learn's per-fit machinery:
    one eigendecomposition of the centred d x d covariance per fold and d gives every
    alpha's leave-one-out errors in closed form (hat matrix H = 11^T/n + X (X^T X +
    alpha I)^-1 X^T, residual (y - Hy) / (1 - H_ii)). Equal to the estimator's
    predictions to rounding (tests/test_proxy.py).
    """
    Z = np.asarray(Z, dtype=np.float64)
    Y = y.reshape(y.shape[0], -1)
    predictions = [np.empty_like(Y) for _ in dims]
    for train, test in folds:
        y_mean = Y[train].mean(axis=0)
        Yc = Y[train] - y_mean
        n = train.size
        for j, d in enumerate(dims):
            x_mean = Z[train, :d].mean(axis=0)
            Xc = Z[train, :d] - x_mean
            eigenvalues, V = np.linalg.eigh(Xc.T @ Xc)
            eigenvalues = np.clip(eigenvalues, 0.0, None)
            W = Xc @ V  # the rows in the covariance's eigenbasis
            WtY = W.T @ Yc
            shrink = 1.0 / (eigenvalues[:, None] + PROBE_ALPHAS[None, :])  # d x alphas
            leverage = 1.0 / n + (W**2) @ shrink  # n x alphas
            best, best_error = None, None
            for a in range(PROBE_ALPHAS.size):
                residual = Yc - W @ (shrink[:, a, None] * WtY)
                error = np.mean((residual / (1.0 - leverage[:, a, None])) ** 2)
                if best_error is None or error < best_error:
                    best, best_error = a, error
            coef = V @ (shrink[:, best, None] * WtY)
            predictions[j][test] = (Z[test, :d] - x_mean) @ coef + y_mean
    return [p.reshape(y.shape[0], *y.shape[1:]) for p in predictions]


# The type of the result follows return_dim: the score, or the score and its dimension.
@overload
def feature_prediction(
    estimator: Any, X: MatrixLike, X_held: MatrixLike | None = None, *, y: ArrayLike | None = None,
    n_groups: int = 4, cv: int = 2, random_state: RandomStateLike = 0,
    return_dim: Literal[False] = False,
) -> float: ...


@overload
def feature_prediction(
    estimator: Any, X: MatrixLike, X_held: MatrixLike | None = None, *, y: ArrayLike | None = None,
    n_groups: int = 4, cv: int = 2, random_state: RandomStateLike = 0, return_dim: Literal[True],
) -> tuple[float, int]: ...


@validate_params(
    {
        "estimator": [Implements(["fit", "transform"])],
        "X": ["array-like", "sparse matrix"],
        "X_held": ["array-like", "sparse matrix", None],
        "y": ["array-like", None],
        "n_groups": [Interval(Integral, 2, None, closed="left")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
        "return_dim": ["boolean"],
    },
    prefer_skip_nested_validation=False,
)
def feature_prediction(
    estimator: Any,
    X: MatrixLike,
    X_held: MatrixLike | None = None,
    *,
    y: ArrayLike | None = None,
    n_groups: int = 4,
    cv: int = 2,
    random_state: RandomStateLike = 0,
    return_dim: bool = False,
) -> float | tuple[float, int]:
    """Leave-features-out prediction: a label-free proxy task that scores a context.

    The features of X are split into ``n_groups`` random groups. For each group, a clone
    of ``estimator`` (a contexture estimator: its context and ``n_components``; its
    columns unweighted, ``scale="none"``, whatever its ``scale``) is fitted
    on the fit rows *without that group's features*, embeds the held-out rows, and a
    ridge probe (regulariser by leave-one-out) on the leading d columns predicts the
    held-out rows' standardised features of the group, by ``cv``-fold cross-fitting. The
    score is the out-of-fold R^2 averaged over all features, maximised over
    d = 1, 2, 4, ..., n_components.

    Each group is a downstream task of the same form as the user's: a quantity the
    representation did not see, predicted by a linear probe on new rows. A context that
    is too weak loses the structure shared by the features; one that is too strong
    memorises its fit rows and extends to new rows through a few noisy neighbours. Unlike
    predicting the features the context was built on, leaving them out neither rewards
    the strongest contexts (a new row's neighbours were chosen by the target feature
    itself) nor representations that are linear in X (a linear map recovers X exactly).

    Parameters
    ----------
    estimator : estimator
        An (unfitted or fitted) estimator with ``fit`` and ``transform`` whose output
        columns are ordered by importance: a ContextureEmbedding or
        SpectralContextEncoder. Only its parameters are used.
    X : array-like of shape (n_samples, n_features)
        The fit rows. When ``X_held`` is None, X is split at random into halves: fit
        rows and held-out rows.
    X_held : array-like of shape (n_held, n_features), default=None
        Held-out rows (not among the fit rows).
    y : array-like of shape (n_samples,), default=None
        Targets of the fit rows, passed to the estimator's ``fit`` (for contexts
        that use them, such as ``LabelContext``); the proxy task itself uses no label.
    n_groups : int, default=4
        Number of feature groups (at most n_features).
    cv : int, default=2
        Folds of the probe's cross-fitting over the held-out rows.
    random_state : int, RandomState instance or None, default=0
        Seed of the row split, the feature groups and the folds.
    return_dim : bool, default=False
        Also return the best d.

    Returns
    -------
    r2 : float
        The best mean out-of-fold R^2 (at most 1; greater is better).
    best_dim : int
        Only when ``return_dim``.

    See Also
    --------
    probe_curve : the probe's score for each d, for any target.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skcontexture import ContextureEmbedding, KNNContext
    >>> from skcontexture.metrics import feature_prediction
    >>> X = StandardScaler().fit_transform(load_iris().data)
    >>> r2 = feature_prediction(ContextureEmbedding(KNNContext(10)), X)
    >>> bool(0.3 < r2 <= 1.0)
    True
    """
    X = check_array(X, accept_sparse="csr", dtype=np.float64, input_name="X",
                    ensure_min_samples=4)
    if X.shape[1] < 2:
        raise ValueError(
            "feature_prediction leaves groups of features out and predicts them from the "
            f"others: it needs at least 2 features, got {X.shape[1]}."
        )
    rng = check_random_state(random_state)
    if y is not None:
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} rows but X has {X.shape[0]}.")
    if X_held is None:
        order = rng.permutation(X.shape[0])
        half = X.shape[0] // 2
        fit_rows, held_rows = np.sort(order[:half]), np.sort(order[half:])
        X, X_held = X[fit_rows], X[held_rows]
        y = None if y is None else y[fit_rows]
    else:
        X_held = check_array(X_held, accept_sparse="csr", dtype=np.float64, input_name="X_held",
                             ensure_min_samples=2 * cv)
        if X_held.shape[1] != X.shape[1]:
            raise ValueError(
                f"X_held has {X_held.shape[1]} features but X has {X.shape[1]}."
            )
    n_features = X.shape[1]
    targets = X_held.toarray() if sp.issparse(X_held) else X_held
    # standardised from the columns divided by their largest value: the moments of
    # values near the float64 maximum overflow
    column_scale = np.abs(targets).max(axis=0)
    column_scale[column_scale == 0] = 1.0
    unit = targets / column_scale
    unit_std = unit.std(axis=0)
    std = unit_std * column_scale
    informative = std > 1e-12 * max(1.0, float(np.abs(targets).max()))
    if not informative.any():
        raise ValueError("Every feature of the held-out rows is constant: nothing to predict.")
    groups = np.array_split(rng.permutation(n_features), min(int(n_groups), n_features))
    # the context's singular functions themselves: how the estimator weights its columns
    # for a downstream model (its scale) is not what the proxy task scores
    unweighted = clone(estimator)
    if "scale" in unweighted.get_params(deep=False):
        unweighted.set_params(scale="none")
    embedded = []  # (held-out embedding, standardised targets) of each group
    # One BLAS thread: the fits and probes here are many small dense problems (a Gram of
    # half the rows, d x d covariances), on which threads cost more than they gain
    # (digits, 1,000 rows: 0.13 s against 0.29 s with two; never slower at 4,000-10,000).
    with blas_threads(1):
        for group in groups:
            group = np.sort(group)
            predicted = group[informative[group]]
            if predicted.size == 0:
                continue
            keep = np.setdiff1d(np.arange(n_features), group)
            model = clone(unweighted).fit(X[:, keep], y)
            Y = (unit[:, predicted] - unit[:, predicted].mean(axis=0)) / unit_std[predicted]
            embedded.append((model.transform(X_held[:, keep]), Y))
        # a context with fewer nonzero singular values gives fewer columns (warned)
        width = min(Z.shape[1] for Z, _ in embedded)
        total, weight = 0.0, 0
        for Z, Y in embedded:
            dims, scores = probe_curve(Z[:, :width], Y, cv=cv, random_state=random_state)
            total, weight = total + scores * Y.shape[1], weight + Y.shape[1]
    curve = total / weight
    best = int(np.argmax(curve))
    return (float(curve[best]), int(dims[best])) if return_dim else float(curve[best])


def label_free_score(
    estimator: Any, X: MatrixLike, y: ArrayLike | None = None, *, random_state: RandomStateLike = 0
) -> float:
    """The default label-free score of a contexture estimator: :func:`feature_prediction`
    on ``X``, with ``y`` passed only to estimators whose context is fitted on it
    (``LabelContext``, ``TargetContext``)."""
    y = y if get_tags(estimator).target_tags.required else None
    return feature_prediction(estimator, X, y=y, random_state=random_state)
