"""Scorers of fitted contexture estimators for model selection.

ContextScorer needs no labels; LabelledProbeScorer uses the few rows that have one.
"""

from __future__ import annotations

import numbers
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import RidgeClassifierCV
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, check_is_fitted

from ._compat import Interval, StrOptions
from . import metrics as _metrics
from ._constraints import Implements
from ._metric_table import METRICS, SCORER_METRICS
from ._operator import ContextOperator
from ._progress import Progress
from ._solvers import VALUE_SOLVERS
from ._warn import warn
from .contexts._labels import labelled_rows
from .linalg import context_spectrum, operator_spectrum
from .metrics._proxy import label_free_score

if TYPE_CHECKING:
    from ._typing import (
        ArrayLike,
        FloatArray,
        MatrixLike,
        RandomStateLike,
        SparseMatrix,
        ValueSolver,
    )

#: ContextScorer's metrics that are functions of the spectrum s_1..s_d0 alone.
SPECTRUM_METRICS = tuple(name for name in SCORER_METRICS if METRICS[name].of_spectrum)
_CACHE = "_contexture_spectrum_cache"


class ContextScorer(BaseEstimator):
    """Label-free scorer of a fitted contexture estimator (greater is better).

    ``scorer(estimator, X, y=None)`` follows scikit-learn's scorer protocol, so
    ``GridSearchCV(ContextureEmbedding(), {"context": [...]},
    scoring=ContextScorer())`` selects a context without labels. The default
    metric, "feature_prediction", is the one that picked the better contexts on
    data it was not designed on (docs/context_selection.md); "tau" is the
    paper's metric. The estimator
    may be a :class:`ContextureEmbedding`, a :class:`SpectralContextEncoder`,
    or a :class:`~sklearn.pipeline.Pipeline` containing one (the last step with
    a fitted ``context_`` and ``singular_values_`` or ``eigenvalues_`` is used).

    Parameters
    ----------
    metric : {"feature_prediction", "tau", "rankme", "alpha_req", "lidar", \
"decay_rate"}, default="feature_prediction"
        - "feature_prediction": the label-free proxy task of
          :func:`skcontexture.metrics.feature_prediction`: the rows of ``X``
          are split in halves; for each of 4 random groups of features, a clone
          of the estimator is fitted on one half without the group and its
          embedding of the other half predicts the group's features (ridge
          probe, cross-fitted); returns the mean held-out R^2 at the best
          dimension d <= n_components. It refits clones on ``X`` whatever
          ``source`` says, and scores the estimator as configured (its
          context and ``n_components``);
        - "tau": returns -tau (tau with weight ``beta`` and d0 = ``max_dim``),
          with an :class:`UntrustedTauWarning` where the paper advises against
          trusting it (:func:`skcontexture.metrics.tau_regime`);
        - "rankme": RankMe of the spectrally scaled embedding [s_i mu_i]_{i<=d0},
          i.e. the exp-entropy of the normalised s_1..s_d0 (higher is better);
        - "alpha_req": ``-abs(alpha - 1)``, alpha the power-law exponent of s_i^2
          (alpha-ReQ: a decay close to 1 is best);
        - "lidar": LiDAR of the estimator's embedding against its context, the
          views of row i being its atoms (needs atoms = fit points; higher is
          better);
        - "decay_rate": -lambda, lambda the exponential decay rate of s_i^2
          (prefers slow decay, i.e. stronger contexts: a naive baseline).
    beta : float, default=1.0
        Weight of tau's spread term.
    max_dim : int, default=512
        d0: number of singular values used (capped by what the context has).
    spectrum : {"context", "estimator"}, default="context"
        "context": s_1..s_d0 of the fitted context's operator, computed lazily
        from ``context_.joint_`` (see ``solver``) and cached on the estimator.
        "estimator": only the values the estimator holds: ``singular_values_``
        of a ContextureEmbedding or sqrt(``eigenvalues_``) of a
        SpectralContextEncoder (n_components values, so d0 = n_components).
    source : {"fit", "X"}, default="fit"
        "fit": the context as fitted on the training fold; ``X`` is only
        validated, so a cross-validated score measures how stable the metric
        is across training subsamples. "X": a clone of the fitted context is
        refitted on ``X`` (after the pipeline steps before the contexture
        step), and the metric computed there (LiDAR then uses
        ``transform(X)`` as the embedding).
    solver : {"auto", "dense", "randomized"}, default="auto"
        How the spectrum up to d0 is computed
        (:func:`skcontexture.linalg.context_spectrum`, stopping on tau): exact
        dense eigenvalues up to a short side of ``max(1000, 4 max_dim)`` (2,048
        for d0 = 512), randomized block Krylov above (tau within 0.2% of the
        exact value in our measurements).
    random_state : int, RandomState instance or None, default=0
        Seed of the randomized solver.
    verbose : int, default=0
        0: silent. 1: one line per stage of a score with its time (the
        context's refit when ``source="X"``; the spectrum, when it is computed
        rather than read from the estimator's cache; the metric). 2: also one
        line per round of the randomized spectrum solver and, in the context's
        long loops (masks, row batches), a line at every tenth with its time
        and estimated time left. The score does not depend on it.

    See Also
    --------
    skcontexture.metrics.tau, skcontexture.metrics.tau_curve

    Notes
    -----
    "feature_prediction" fits on half of the rows it is given. In a search with
    ``cv=k`` these are half of a validation fold, so a kNN context with K
    neighbours is judged on about n / (2k) rows, where it is a weaker context
    than on the n rows it will be fitted on; to choose neighbour counts give
    the scorer all rows with a single split, ``cv=[(rows, rows)]`` (see
    docs/context_selection.md). Kernel widths do not depend on n.

    With ``source="fit"`` the spectrum scores do not depend on the validation fold: every
    fold's score is the metric of the context fitted on that fold's training
    rows. That is the intended use (tau is a property of the context and the
    data distribution, not of held-out labels); ``cv`` then averages over
    subsamples. ``ContextureEmbedding.score`` returns ``ContextScorer()(self, X)``
    so ``scoring=None`` works.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skcontexture import ContextScorer, ContextureEmbedding, KNNContext
    >>> X, _ = load_digits(return_X_y=True)
    >>> search = GridSearchCV(
    ...     ContextureEmbedding(n_components=8),
    ...     {"context": [KNNContext(5), KNNContext(50)]},
    ...     scoring=ContextScorer("tau", max_dim=64), cv=2,
    ... ).fit(X[:600])
    >>> search.best_params_["context"]
    KNNContext(n_neighbors=50)
    """

    _parameter_constraints = {
        "metric": [StrOptions(set(SCORER_METRICS))],
        "beta": [Interval(Real, 0, None, closed="left")],
        "max_dim": [Interval(Integral, 2, None, closed="left")],
        "spectrum": [StrOptions({"context", "estimator"})],
        "source": [StrOptions({"fit", "X"})],
        "solver": [StrOptions(set(VALUE_SOLVERS))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        metric: Literal[
            "feature_prediction", "tau", "rankme", "alpha_req", "lidar", "decay_rate"
        ] = "feature_prediction",
        beta: float = 1.0,
        max_dim: int = 512,
        *,
        spectrum: Literal["context", "estimator"] = "context",
        source: Literal["fit", "X"] = "fit",
        solver: ValueSolver = "auto",
        random_state: RandomStateLike = 0,
        verbose: int = 0,
    ) -> None:
        self.metric = metric
        self.beta = beta
        self.max_dim = max_dim
        self.spectrum = spectrum
        self.source = source
        self.solver = solver
        self.random_state = random_state
        self.verbose = verbose

    def __call__(self, estimator: Any, X: MatrixLike, y: ArrayLike | None = None) -> float:
        """Score a fitted estimator (greater is better); ``y`` is ignored.

        Parameters
        ----------
        estimator : fitted estimator
            ContextureEmbedding, SpectralContextEncoder, or a Pipeline with one.
        X : array-like of shape (n_samples, n_features)
            Validated against the estimator (number of features); used for the
            computation by "feature_prediction" and when ``source="X"``.
        y : array-like of shape (n_samples,), default=None
            Used only by "feature_prediction", and only for contexts that are
            fitted on targets (``LabelContext``, ``TargetContext``).

        Returns
        -------
        score : float
        """
        self._validate_params()
        solver = self.solver
        progress = Progress(self.verbose, type(self).__name__)
        step, position = find_contexture_step(estimator)
        X = _check_X(estimator, X)
        if self.metric == "feature_prediction":
            inputs = X if position is None or position == 0 else estimator[:position].transform(X)
            score = label_free_score(step, inputs, y, random_state=self.random_state)
        elif self.source == "X":
            score = self._score_on(step, position, estimator, X, solver, progress)
        else:
            score = self._score_fitted(step, solver, progress)
        progress.done(f"{self.metric} score {score:.6g}")
        return score

    def spectrum_of(self, estimator: Any) -> FloatArray:
        """s_1..s_d0 this scorer uses for a fitted estimator (source="fit").

        Parameters
        ----------
        estimator : fitted estimator

        Returns
        -------
        singular_values : ndarray
        """
        self._validate_params()
        step, _ = find_contexture_step(estimator)
        return self._spectrum(step, self.solver, Progress(self.verbose, type(self).__name__))

    def score_spectrum(self, singular_values: ArrayLike) -> float:
        """The score of a spectrum s_1..s_d0 under this scorer's metric.

        Defined for the spectrum metrics ("tau", "rankme", "alpha_req",
        "decay_rate"); it is what the scorer returns for an estimator whose
        context has this spectrum.

        Parameters
        ----------
        singular_values : array-like of shape (n_values,)
            s_1 >= s_2 >= ... in [0, 1], trivial s_0 = 1 excluded.

        Returns
        -------
        score : float
            Greater is better.
        """
        self._validate_params()
        if self.metric not in SPECTRUM_METRICS:
            raise ValueError(
                f"metric={self.metric!r} is not a function of the spectrum alone; "
                f"score_spectrum takes one of {SPECTRUM_METRICS}."
            )
        return self._spectrum_score(singular_values)

    # ----------------------------------------------------------------------------------------
    def _score_fitted(self, step, solver, progress):
        if self.metric == "lidar":
            joint = _joint(step)
            if joint is None or not hasattr(step, "embedding_"):
                raise ValueError(
                    "metric='lidar' with source='fit' needs the embedding of the fit rows "
                    f"(embedding_) and the context's joint; {type(step).__name__} does not "
                    "keep them: use source='X' (LiDAR of transform(X) against the context "
                    "refitted on X)."
                )
            _check_atoms_are_fit_points(step.context_, joint)
            return self._score_of(step.embedding_, joint)
        return self._spectrum_score(self._spectrum(step, solver, progress), step.context_)

    def _score_on(self, step, position, estimator, X, solver, progress):
        if position is not None and position > 0:
            X = estimator[:position].transform(X)
        with progress.active():  # the context's long loops report to it
            context = clone(step.context_).fit(X)
        joint = context.joint_
        progress.done(f"{type(context).__name__} refitted on X, {X.shape[0]} x {X.shape[1]}: "
                      f"joint {joint.shape[0]} x {joint.shape[1]}, {joint.nnz:,} nonzeros")
        if self.metric == "lidar":
            _check_atoms_are_fit_points(context, joint)
            return self._score_of(step.transform(X), joint)
        return self._spectrum_score(self._computed_spectrum(joint, solver, progress), context)

    def _spectrum(self, step, solver, progress):
        if self.spectrum == "estimator" or _joint(step) is None:
            if hasattr(step, "singular_values_"):
                return np.asarray(step.singular_values_, dtype=float)
            return np.sqrt(np.clip(np.asarray(step.eigenvalues_, dtype=float), 0.0, 1.0))
        joint = _joint(step)
        key = (int(self.max_dim), solver, _seed_key(self.random_state))
        cache = getattr(step, _CACHE, None)
        if cache is None or cache[0] is not joint:
            cache = (joint, {})
        if key not in cache[1]:
            cache[1][key] = self._computed_spectrum(joint, solver, progress)
            try:
                setattr(step, _CACHE, cache)
            except AttributeError:  # pragma: no cover - read-only estimator
                pass
        return cache[1][key]

    def _computed_spectrum(self, joint, solver, progress):
        """s_1..s_d0 of ``joint`` for the spectrum metrics, reported to ``progress``."""
        values = spectrum_for_tau(joint, self.max_dim, solver=solver,
                                  random_state=self.random_state, log=progress.step)
        progress.done(f"spectrum: {values.size} singular values of the {joint.shape[0]} x "
                      f"{joint.shape[1]} joint, s_1={values[0]:.4f}, s_d0={values[-1]:.4f}")
        return values

    def _spectrum_score(self, s, context=None):
        s = np.asarray(s, dtype=float)
        if s.size < 2:
            # an operator of rank r has s_i = 0 for i > r (e.g. two classes: one value);
            # tau is then 1 + beta
            s = np.concatenate([s, np.zeros(2 - s.size)])
        if self.metric == "tau":
            reason = _metrics.tau_regime(s, beta=self.beta, max_dim=self.max_dim)
            if reason is not None:
                about = "this context" if context is None else repr(context)
                message = (
                    f"tau is outside its trusted regime for {about} ({reason}); the "
                    "paper advises against ranking such contexts by tau. Compare contexts "
                    "by metric='feature_prediction' instead, or read "
                    "docs/context_selection.md."
                )
                # once per context and regime for this scorer: not once per fold of a search
                # (scikit-learn's searches reset Python's once-per-location registry)
                shown = self.__dict__.setdefault("_shown_warnings", set())
                if message not in shown:
                    shown.add(message)
                    warn(message, UntrustedTauWarning)
            return self._score_of(s, beta=self.beta, max_dim=self.max_dim)
        s = s[: self.max_dim]
        if METRICS[self.metric].needs == "scaled embedding":
            # the smallest centred embedding whose covariance is diag(s^2): rows +-diag(s)
            return self._score_of(np.vstack([np.diag(s), -np.diag(s)]))
        return self._score_of(s)

    def _score_of(self, *args, **kwargs):
        """The score (greater is better) of the metric's function on these arguments."""
        metric = METRICS[self.metric]
        return float(metric.score(getattr(_metrics, metric.function)(*args, **kwargs)))


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _tau_of_ritz_values(values):
    """tau (beta=1) of the current values: the randomized spectrum's stopping rule
    (their sum while s_2 is 1, where tau is infinite)."""
    if values.size >= 2 and values[1] < 1.0 - 1e-10:
        return _metrics.tau(values, max_dim=values.size)
    return float(values.sum())


def spectrum_for_tau(
    joint: SparseMatrix,
    max_dim: int,
    *,
    solver: ValueSolver = "auto",
    random_state: RandomStateLike = None,
    log: Callable[[str], object] | None = None,
) -> FloatArray:
    """s_1..s_d0 of a joint (or of its built ``ContextOperator``) for the spectrum metrics:
    :func:`~skcontexture.linalg.context_spectrum` whose randomized solver stops when tau has
    settled (``log``: its rounds)."""
    spectrum = operator_spectrum if isinstance(joint, ContextOperator) else context_spectrum
    return spectrum(joint, max_dim, solver=solver, stopping_rule=_tau_of_ritz_values,
                    random_state=random_state, log=log).values


class UntrustedTauWarning(UserWarning):
    """tau of a context is in the regime where the paper says not to trust it."""


def _is_contexture(step):
    return hasattr(step, "context_") and (
        hasattr(step, "singular_values_") or hasattr(step, "eigenvalues_")
    )


def find_contexture_step(estimator: Any) -> tuple[Any, int | None]:
    """The fitted contexture step of an estimator and its position in a Pipeline.

    Returns ``(step, position)``; ``position`` is None when ``estimator`` itself
    is the step. In a Pipeline the last step with a fitted ``context_`` and
    ``singular_values_`` (ContextureEmbedding) or ``eigenvalues_``
    (SpectralContextEncoder) is used; a fitted search's ``best_estimator_`` is
    followed.
    """
    if hasattr(estimator, "best_estimator_"):
        estimator = estimator.best_estimator_
    if _is_contexture(estimator):
        return estimator, None
    steps = getattr(estimator, "steps", None)
    if steps is not None:
        for position in range(len(steps) - 1, -1, -1):
            step = steps[position][1]
            if _is_contexture(step):
                return step, position
            if hasattr(step, "steps") or hasattr(step, "best_estimator_"):
                try:
                    inner, _ = find_contexture_step(step)
                except ValueError:
                    continue
                if position == 0:
                    return inner, None
                raise ValueError(
                    "The contexture step is nested inside a non-first pipeline step; "
                    "put it at the top level of the Pipeline."
                )
    name = type(estimator).__name__
    try:
        check_is_fitted(estimator)
    except Exception:
        raise ValueError(
            f"ContextScorer needs a fitted estimator; this {name} is not fitted."
        ) from None
    raise ValueError(
        f"ContextScorer found no fitted contexture step in {name}: it needs an estimator "
        "with a fitted context_ and singular_values_ (ContextureEmbedding) or eigenvalues_ "
        "(SpectralContextEncoder), or a Pipeline containing one."
    )


def _check_X(estimator, X):
    """Check X's shape against the estimator (sklearn's message); return it usable."""
    if not (hasattr(X, "shape") and len(getattr(X, "shape", ())) == 2):
        X = check_array(X, accept_sparse=True, dtype=None, ensure_all_finite=False)
    expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and X.shape[1] != expected:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{expected} features as input."
        )
    if X.shape[0] < 1:
        raise ValueError("X has no samples.")
    return X


def _joint(step):
    joint = getattr(getattr(step, "context_", None), "joint_", None)
    return joint if joint is not None and (sp.issparse(joint) or hasattr(joint, "shape")) else None


def _check_atoms_are_fit_points(context, joint):
    if joint.shape[0] != joint.shape[1] or not context.traits().atoms_are_fit_points:
        raise ValueError(
            f"metric='lidar' needs a context whose atoms are the fit points (joint square); "
            f"{type(context).__name__} has a {joint.shape[0]} x {joint.shape[1]} joint."
        )


def _seed_key(random_state):
    return random_state if random_state is None or isinstance(random_state, numbers.Integral) \
        else id(random_state)


class LabelledProbeScorer(BaseEstimator):
    """Label-efficient context selection: a cross-validated probe on the labelled rows only.

    For a dataset where few rows have labels: the contexts are fitted (without labels)
    on all rows, and ``scorer(estimator, X, y)`` embeds ``X`` with the fitted estimator,
    keeps the rows whose label is not ``unlabelled`` (``-1`` by default, as in
    scikit-learn's semi-supervised estimators) and returns the cross-validated score of a
    linear probe on their embedding, the best over the leading d columns (d = 1, 2, 4,
    ..., n_components). The probe's score is accuracy for class labels and R^2 for a
    continuous target.

    Parameters
    ----------
    probe : estimator, default=None
        A scikit-learn classifier or regressor; None means a ridge probe with the
        regulariser chosen by leave-one-out: ``RidgeClassifierCV`` for class labels,
        ``RidgeCV`` for a continuous target.
    cv : int, default=5
        Folds of the probe's cross-validation over the labelled rows (stratified for
        classes).
    unlabelled : int, float or str, default=-1
        The label that marks a row without a label (``np.nan`` is matched as
        a missing value).
    random_state : int, default=0
        Seed of the folds.

    See Also
    --------
    ContextScorer : label-free scores.

    Notes
    -----
    Use it with a single split that fits every context on all rows, since the context
    needs no labels and the probe's own cross-validation provides the held-out estimate:
    ``cv=[(all_rows, all_rows)]`` in :class:`~sklearn.model_selection.GridSearchCV`. With
    the default k-fold splits each validation fold would keep only 1/k of the few labels.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skcontexture import ContextureEmbedding, KNNContext, LabelledProbeScorer
    >>> X, y = load_digits(return_X_y=True)
    >>> X, y = X[:600], y[:600].copy()
    >>> y[100:] = -1                      # 100 labelled rows, 500 unlabelled
    >>> rows = np.arange(X.shape[0])
    >>> search = GridSearchCV(
    ...     ContextureEmbedding(n_components=16),
    ...     {"context": [KNNContext(5), KNNContext(200)]},
    ...     scoring=LabelledProbeScorer(), cv=[(rows, rows)],
    ... ).fit(X, y)
    >>> search.best_params_["context"]
    KNNContext(n_neighbors=5)
    """

    _parameter_constraints = {
        "probe": [Implements(["fit", "predict"]), None],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "unlabelled": "no_validation",  # any label value, NaN included
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        probe: Any = None,
        *,
        cv: int = 5,
        unlabelled: int | float | str = -1,
        random_state: RandomStateLike = 0,
    ) -> None:
        self.probe = probe
        self.cv = cv
        self.unlabelled = unlabelled
        self.random_state = random_state

    def __call__(self, estimator: Any, X: MatrixLike, y: ArrayLike | None = None) -> float:
        """Cross-validated probe score of the embedding of the labelled rows of ``X``.

        Parameters
        ----------
        estimator : fitted estimator
            ContextureEmbedding, SpectralContextEncoder, or a Pipeline with one
            (the steps up to and including it embed ``X``).
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels, ``unlabelled`` for the rows without one.

        Returns
        -------
        score : float
            Greater is better.
        """
        self._validate_params()
        if y is None:
            raise ValueError(
                "LabelledProbeScorer needs y, with the unlabelled rows marked "
                f"{self.unlabelled!r}; for selection without any label use ContextScorer."
            )
        step, position = find_contexture_step(estimator)
        X = _check_X(estimator, X)
        if position is not None and position > 0:
            X = estimator[:position].transform(X)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}.")
        labelled = labelled_rows(y, self.unlabelled)
        if labelled.sum() < 2:
            raise ValueError(
                f"Only {labelled.sum()} row(s) of y are labelled (not {self.unlabelled!r}); "
                "the probe's cross-validation needs at least 2."
            )
        Z = step.transform(X[labelled] if not sp.issparse(X) else X[np.flatnonzero(labelled)])
        return self.score_embedding(Z, y[labelled])

    def score_embedding(self, Z: ArrayLike, y: ArrayLike) -> float:
        """Cross-validated probe score of an embedding of labelled rows.

        Parameters
        ----------
        Z : array-like of shape (n_labelled, n_components)
        y : array-like of shape (n_labelled,)

        Returns
        -------
        score : float
            The best over d = 1, 2, 4, ..., n_components of the probe's
            cross-validated score on the first d columns.
        """
        self._validate_params()
        y = np.asarray(y)
        probe = self.probe
        if probe is None and type_of_target(y) != "continuous":
            probe = RidgeClassifierCV(alphas=_metrics.PROBE_ALPHAS)
        # (None: probe_curve's default, RidgeCV over PROBE_ALPHAS, in closed form)
        _, scores = _metrics.probe_curve(Z, y, probe=probe, cv=self.cv,
                                         random_state=self.random_state)
        return float(np.max(scores))
