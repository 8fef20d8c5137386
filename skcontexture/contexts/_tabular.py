"""Tabular augmentation contexts: SCARF, CutMix and Cutout, linked to the fit rows.

The augmentations of the contexture dissertation's tabular experiments
(``knowledge/scarf.py`` and ``knowledge/cutmix.py`` of the public repository
``RuntianZ/contextures-dissertation``) corrupt each feature of a row
independently with probability c = ``corruption_rate``:

- SCARF replaces the value by a draw from a per-feature marginal q_j: uniform
  on [min_j, max_j] of the fit rows, Gaussian N((min_j + max_j) / 2,
  ((max_j - min_j) / 4)^2), bimodal (N(min_j, (range_j / 8)^2) or
  N(max_j, (range_j / 8)^2), one mode per copy), or the empirical marginal
  (the value of feature j in a uniformly drawn fit row, the SCARF paper's choice);
- CutMix replaces it by the value of the same feature in a uniformly drawn fit
  row: a new row per feature (``partner="feature"``, as the reference code
  does, the same augmentation as SCARF's empirical marginal) or one partner
  row per copy (``partner="row"``, the CutMix of SAINT);
- Cutout replaces it by a fixed value (0 by default, as in the reference).

Write T(a | x) for the law of an augmented copy a of x.

What the contexts are
---------------------
Atoms are the fit rows, and an augmented copy is tied to the fit rows by the
K-nearest-neighbour link L(b | a) = 1/K for the K fit rows nearest to a (ties
in fit order, as everywhere in the library):

    P+(b | x) = E_{a ~ T(. | x)} [ L(b | a) ],    P+(x_i, b) = P+(b | x_i) / n.

This is ``Convolution(augmentation, KNNContext(K))`` with the augmentation's
expectation taken over its own law. With c = 0 every copy is x itself and the
context is exactly ``KNNContext(K)``; as c grows the copies leave x and the
context weakens.

What is computed
----------------
Each row x gets ``n_draws`` = R copies a_1..a_R, and

    P+_R(b | x) = (1 / R) sum_r L(b | a_r),

at most R K atoms per row. The copies are drawn from a counter-based generator
keyed by ``random_state`` and the bytes of the row itself, so they depend on
the row's values only: ``conditional(X_fit)`` draws the copies the fit drew and
reproduces ``joint_`` exactly, a new row is treated by the same rule, and the
result depends neither on the order or batching of the rows nor on
``n_jobs``. No copy is stored. By the law of large numbers P+_R(b | x) tends to
P+(b | x) as R grows, with standard error at most 1 / (2 K sqrt(R)) per entry.

What is exact, and what is not
------------------------------
- Given its copies, the joint is exactly the average of the link rows (tested
  against a dense recomputation); ``corruption_rate=0`` is ``KNNContext(K)``.
- The expectation P+(b | x) has no closed form (the K nearest fit rows of a
  random point), but for CutMix, SCARF's empirical marginal and Cutout the copy
  takes finitely many values, and on small data the expectation is computed by
  enumerating them; for the continuous marginals on one feature with K = 1 it
  is the q_j-mass of the Voronoi cells of the fit values. The sampled joints
  converge to these (tested).
- The *augmentation* context itself (atoms = augmented copies, P+(a | x) =
  T(a | x)) has the dual kernel k(x, x') = sum_a T(a | x) T(a | x') / P_A(a),
  P_A(a) = (1/n) sum_i T(a | x_i). T(a | x) factorises over features, and so
  does sum_a T(a | x) T(a | x') (the probability that two copies coincide),
  but P_A is a mixture over rows and does not factorise, so k has no
  feature-wise closed form. Linking copies to the rows they could have come
  from (the posterior L(b | a) = T(a | x_b) / (n P_A(a))) gives exactly
  P+(b | x) = k(x, x_b) / n, an operator T T* with the augmentation context's
  singular functions and squared singular values; but that posterior only
  sees exact equality of values: with continuous features and a continuous
  marginal (or Cutout to a value the data lack) it is uniform on the fit rows
  that agree with the copy on its kept features, so P+(b | x_i) =
  (1 - c^p) 1{b = i} + c^p / n, a context that tells every row apart and
  carries no geometry. The nearest-neighbour link is what gives these
  augmentations a geometry at all.
"""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._compat import Interval, StrOptions
from .._constraints import count
from .._memory import check_memory
from .._progress import batches
from .._typing import fit_context
from ._base import BaseContext, rows_from_neighbors
from ._knn import warn_if_neighbourhoods_overlap
from ._neighbors import BYTES_PER_NEIGHBOR, NEIGHBOR_SEARCH_CONSTRAINTS, neighbor_index
from ._traits import ContextTraits

if TYPE_CHECKING:
    from .._typing import Algorithm, ArrayLike, MatrixLike, RandomStateLike, Self, SparseMatrix

#: Augmented copies whose neighbours are searched at once.
COPIES_PER_BATCH = 2**14
#: Independent uniform streams per (row, copy, feature): corruption, value, mode.
_STREAMS = 3
_CORRUPT, _VALUE, _MODE = range(_STREAMS)


def _mix(z):
    """The splitmix64 finaliser: a bijection of uint64 arrays that scrambles every bit."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _row_keys(X, seed):
    """A 64-bit key per row, a function of the seed and of the row's values only.

    -0.0 and 0.0 give the same key (the same point).
    """
    bits = (X + 0.0).view(np.uint64)
    keys = _mix(np.full(X.shape[0], seed, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    for column in range(X.shape[1]):
        keys = _mix(keys ^ bits[:, column])
    return keys


def _uniforms(keys, n_draws, n_columns, stream):
    """Uniforms in (0, 1) of shape (rows, n_draws, n_columns), one per (row key, copy, column).

    Counter-based: the value of (row, copy, column, stream) does not depend on
    the other rows, so a row's copies are the same in any batch.
    """
    counters = (
        np.arange(n_draws, dtype=np.uint64)[:, None] * np.uint64(n_columns)
        + np.arange(n_columns, dtype=np.uint64)
    ) * np.uint64(_STREAMS) + np.uint64(stream)
    bits = _mix(keys[:, None, None] ^ _mix(counters + np.uint64(0x632BE59BD9B4E019))[None])
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


class _TabularAugmentationContext(BaseContext):
    """Shared fit and conditional of the tabular augmentation contexts.

    A subclass stores what its corruption needs in ``_fit_marginals(X)`` and
    returns the replacement values of the copies in ``_replacements``.
    """

    _parameter_constraints = {
        **NEIGHBOR_SEARCH_CONSTRAINTS,
        "corruption_rate": [Interval(Real, 0, 1, closed="both")],
        "n_draws": [count(1)],
    }
    _traits = ContextTraits(
        atoms_are_fit_points=True,
        disconnected_advice="increase n_neighbors or corruption_rate",
    )

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None) -> Self:
        """Fit the marginals and the neighbour index, then draw the copies and build the joint.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Fit rows (the atoms); finite.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted context.
        """
        X = validate_data(self, X, dtype=np.float64)
        n_samples, n_features = X.shape
        self.n_neighbors_ = min(self.n_neighbors, max(1, n_samples - 1))
        warn_if_neighbourhoods_overlap(self.n_neighbors, self.n_neighbors_, n_samples)
        n_entries = n_samples * self.n_draws * self.n_neighbors_
        check_memory(
            BYTES_PER_NEIGHBOR * n_entries
            + 8 * min(n_samples * self.n_draws, COPIES_PER_BATCH) * n_features * _STREAMS,
            f"{type(self).__name__} with n_neighbors={self.n_neighbors} and "
            f"n_draws={self.n_draws} on {n_samples:,} rows builds a joint of "
            f"{n_entries:,} entries",
            "Use a smaller n_neighbors or n_draws, or fewer rows.",
        )
        rng = check_random_state(self.random_state)
        self.seed_ = int(rng.randint(np.iinfo(np.int32).max))
        self._fit_marginals(X)
        self.index_ = neighbor_index(self, self.seed_, n_neighbors=self.n_neighbors_,
                                     off_data=True).fit(X)
        self._set_joint_from_conditional(self._conditional(X))
        return self

    def conditional(self, X: MatrixLike) -> SparseMatrix:
        """Return P+(. | x): the mean over the row's copies of 1/K on their K nearest fit rows.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._conditional(X)

    def augment(self, X: MatrixLike) -> np.ndarray:
        """Return the ``n_draws`` augmented copies of each row that the context links.

        The copies are a function of the row's values and ``random_state``
        (the same for a fit row and for an equal new row).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Returns
        -------
        copies : ndarray of shape (n_queries, n_draws, n_features)
        """
        self._check_fitted()
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._augment(X)

    def _augment(self, X):
        keys = _row_keys(X, self.seed_)
        shape = (X.shape[0], self.n_draws, X.shape[1])
        corrupt = _uniforms(keys, self.n_draws, X.shape[1], _CORRUPT) < self.corruption_rate
        copies = np.broadcast_to(X[:, None, :], shape).copy()
        if corrupt.any():
            values = np.broadcast_to(self._replacements(keys, shape), shape)
            copies[corrupt] = values[corrupt]
        return copies

    def _conditional(self, X):
        n_rows, n_features = X.shape
        width = self.n_draws * self.n_neighbors_
        indices = np.empty((n_rows, width), dtype=np.int64)
        batch_size = max(1, COPIES_PER_BATCH // self.n_draws)
        for batch in batches(n_rows, batch_size, "augmented row batches"):
            copies = self._augment(X[batch]).reshape(-1, n_features)
            _, found = self.index_.kneighbors(copies, self.n_neighbors_)
            indices[batch] = found.reshape(-1, width)
        return rows_from_neighbors(indices, None, self.index_.n_samples_fit_)

    def _fit_marginals(self, X):
        """Store what the replacement values need (nothing by default)."""

    def _replacements(self, keys, shape):
        """Replacement values, broadcastable to ``shape`` = (rows, n_draws, n_features)."""
        raise NotImplementedError

    def _rows_of_fit(self, keys, n_columns):
        """Fit row indices, uniform, one per (row, copy, column): shape (rows, n_draws, n_columns)."""
        uniform = _uniforms(keys, self.n_draws, n_columns, _VALUE)
        return (uniform * self.fit_X_.shape[0]).astype(np.int64)


_SHARED_PARAMETERS = """
    n_draws : int, default=3
        Augmented copies R drawn per row.
    n_neighbors : int, default=5
        Fit rows K each copy is linked to (1/K each). At least the number of
        fit rows, it is lowered to that number minus one, with a warning.
    algorithm : {"auto", "exact", "nndescent"}, default="auto"
        Neighbour search (see :class:`KNNContext`).
    n_jobs : int, default=None
        Threads for the neighbour search; None means 1, -1 all cores. The
        result does not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seed of the copies (and of NN-descent): a fitted context draws the
        same copies for the same row in every call."""

_SHARED_ATTRIBUTES = """
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        P+(x_i, b) = (1 / n) (1 / R) sum_r 1/K [b among the K nearest fit rows of copy r of x_i].
    n_atoms_ : int
        Number of atoms (the fit rows).
    n_neighbors_ : int
        The K used.
    seed_ : int
        The key of the copies, drawn from ``random_state`` at fit.
    index_ : object
        The neighbour index of the fit rows."""


class SCARFContext(_TabularAugmentationContext):
    __doc__ = f"""SCARF context: features replaced by draws from their marginals, copies linked to fit rows.

    Each feature of a row is replaced, independently with probability
    ``corruption_rate``, by a draw from a per-feature marginal fitted on the
    fit rows (SCARF, Bahri et al. 2022; ``knowledge/scarf.py`` of the
    contexture dissertation). Each of ``n_draws`` copies a_r of x is linked to
    its K nearest fit rows:

        P+(b | x) = (1 / R) sum_r (1 / K) [b among the K nearest fit rows of a_r],

    an estimate of E_a[(1 / K) [b among the K nearest fit rows of a]] that
    converges to it as ``n_draws`` grows. The copies depend on the row's
    values and ``random_state`` only, so ``conditional`` of a fit row gives
    its joint row. ``corruption_rate=0`` is ``KNNContext(n_neighbors)``.
    Strength falls as ``corruption_rate`` grows.

    Parameters
    ----------
    corruption_rate : float, default=0.5
        Probability c that a feature is replaced, in [0, 1] (the reference's
        default; its grids use 0.6).
    marginal : {{"uniform", "gaussian", "bimodal", "empirical"}}, default="uniform"
        Law of a replacement value of feature j, from the fit rows' min_j and
        max_j: "uniform" on [min_j, max_j] (the reference's default);
        "gaussian" N((min_j + max_j) / 2, (range_j / 4)^2); "bimodal"
        N(min_j, (range_j / 8)^2) or N(max_j, (range_j / 8)^2) with
        probability 1/2, one mode for all the replaced features of a copy;
        "empirical" the value of feature j in a uniformly drawn fit row (the
        SCARF paper's choice).{_SHARED_PARAMETERS}

    Attributes
    ----------{_SHARED_ATTRIBUTES}
    feature_min_ : ndarray of shape (n_features,)
        Smallest fit value of each feature.
    feature_max_ : ndarray of shape (n_features,)
        Largest fit value of each feature.
    fit_X_ : ndarray of shape (n_samples, n_features)
        The fit rows, kept for ``marginal="empirical"`` only.

    See Also
    --------
    CutMixContext : Values of other fit rows (``partner="feature"`` is
        ``marginal="empirical"``).
    CutoutContext : Features set to a fixed value.
    GaussianNoiseContext : Gaussian noise on every feature.

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import SCARFContext
    >>> X = np.random.RandomState(0).normal(size=(100, 4))
    >>> ctx = SCARFContext(corruption_rate=0.6, n_draws=4, random_state=0).fit(X)
    >>> ctx.joint_.shape, bool(np.isclose(ctx.joint_.sum(), 1))
    ((100, 100), True)
    >>> bool(abs(ctx.conditional(X) - ctx.joint_ * 100).max() < 1e-12)
    True
    """

    _parameter_constraints = {
        **_TabularAugmentationContext._parameter_constraints,
        "marginal": [StrOptions({"uniform", "gaussian", "bimodal", "empirical"})],
    }

    def __init__(
        self,
        corruption_rate: float = 0.5,
        marginal: str = "uniform",
        n_draws: int = 3,
        n_neighbors: int = 5,
        algorithm: Algorithm = "auto",
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
    ) -> None:
        self.corruption_rate = corruption_rate
        self.marginal = marginal
        self.n_draws = n_draws
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit_marginals(self, X):
        self.feature_min_ = X.min(axis=0)
        self.feature_max_ = X.max(axis=0)
        if self.marginal == "empirical":
            self.fit_X_ = X

    def _replacements(self, keys, shape):
        if self.marginal == "empirical":
            return self.fit_X_[self._rows_of_fit(keys, shape[2]), np.arange(shape[2])]
        low, high = self.feature_min_, self.feature_max_
        uniform = _uniforms(keys, shape[1], shape[2], _VALUE)
        if self.marginal == "uniform":
            return low + uniform * (high - low)
        if self.marginal == "gaussian":
            return (low + high) / 2 + (high - low) / 4 * ndtri(uniform)
        lower_mode = _uniforms(keys, shape[1], 1, _MODE) < 0.5  # one mode per copy
        return np.where(lower_mode, low, high) + (high - low) / 8 * ndtri(uniform)


class CutMixContext(_TabularAugmentationContext):
    __doc__ = f"""CutMix context: features taken from other fit rows, copies linked to fit rows.

    Each feature of a row takes, independently with probability
    ``corruption_rate``, the value of the same feature in a uniformly drawn fit
    row (``knowledge/cutmix.py`` of the contexture dissertation; CutMix for
    tables as in SAINT, Somepalli et al. 2021). Each of ``n_draws`` copies a_r
    of x is linked to its K nearest fit rows:

        P+(b | x) = (1 / R) sum_r (1 / K) [b among the K nearest fit rows of a_r],

    which converges to its expectation over the copies as ``n_draws`` grows.
    The copies depend on the row's values and ``random_state`` only, so
    ``conditional`` of a fit row gives its joint row. ``corruption_rate=0`` is
    ``KNNContext(n_neighbors)``.

    Parameters
    ----------
    corruption_rate : float, default=0.5
        Probability c that a feature is replaced, in [0, 1] (the reference's default).
    partner : {{"feature", "row"}}, default="feature"
        "feature": each replaced feature takes its value from its own random
        fit row, as the reference code does (the same augmentation, and with the
        same ``random_state`` the same copies, as
        ``SCARFContext(marginal="empirical")``); "row": one random partner row
        per copy gives all its replaced features (SAINT's CutMix). The partner
        is drawn among all fit rows, so that a new row and an equal fit row
        have the same copies.{_SHARED_PARAMETERS}

    Attributes
    ----------{_SHARED_ATTRIBUTES}
    fit_X_ : ndarray of shape (n_samples, n_features)
        The fit rows, whose values the copies take.

    See Also
    --------
    SCARFContext : Values drawn from per-feature marginals.
    CutoutContext : Features set to a fixed value.

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import CutMixContext
    >>> X = np.random.RandomState(0).normal(size=(100, 4))
    >>> ctx = CutMixContext(partner="row", n_draws=4, random_state=0).fit(X)
    >>> ctx.joint_.shape, ctx.n_atoms_
    ((100, 100), 100)
    """

    _parameter_constraints = {
        **_TabularAugmentationContext._parameter_constraints,
        "partner": [StrOptions({"feature", "row"})],
    }

    def __init__(
        self,
        corruption_rate: float = 0.5,
        partner: str = "feature",
        n_draws: int = 3,
        n_neighbors: int = 5,
        algorithm: Algorithm = "auto",
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
    ) -> None:
        self.corruption_rate = corruption_rate
        self.partner = partner
        self.n_draws = n_draws
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit_marginals(self, X):
        self.fit_X_ = X

    def _replacements(self, keys, shape):
        rows = self._rows_of_fit(keys, shape[2] if self.partner == "feature" else 1)
        return self.fit_X_[rows, np.arange(shape[2])]


class CutoutContext(_TabularAugmentationContext):
    __doc__ = f"""Cutout context: features set to a fixed value, copies linked to fit rows.

    Each feature of a row is set, independently with probability
    ``corruption_rate``, to ``cutout_value`` (``CutoutKnowledge`` in
    ``knowledge/cutmix.py`` of the contexture dissertation, which draws one mask
    per batch: the same law for each copy). Each of ``n_draws`` copies a_r of x
    is linked to its K nearest fit rows:

        P+(b | x) = (1 / R) sum_r (1 / K) [b among the K nearest fit rows of a_r],

    which converges to its expectation over the 2^p masks as ``n_draws``
    grows. The copies depend on the row's values and ``random_state`` only,
    so ``conditional`` of a fit row gives its joint row. ``corruption_rate=0``
    is ``KNNContext(n_neighbors)``. On standardised features the default
    value 0 is the features' mean.

    Parameters
    ----------
    corruption_rate : float, default=0.5
        Probability c that a feature is cut out, in [0, 1] (the reference's default).
    cutout_value : float, default=0.0
        The value a cut-out feature takes (the reference's default).{_SHARED_PARAMETERS}

    Attributes
    ----------{_SHARED_ATTRIBUTES}

    See Also
    --------
    SCARFContext : Values drawn from per-feature marginals.
    CutMixContext : Values of other fit rows.
    MaskedContext : A base context on random subsets of the features.

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import CutoutContext
    >>> X = np.random.RandomState(0).normal(size=(100, 4))
    >>> ctx = CutoutContext(corruption_rate=0.3, n_draws=4, random_state=0).fit(X)
    >>> ctx.augment(X[:1]).shape
    (1, 4, 4)
    """

    _parameter_constraints = {
        **_TabularAugmentationContext._parameter_constraints,
        "cutout_value": [Real],
    }

    def __init__(
        self,
        corruption_rate: float = 0.5,
        cutout_value: float = 0.0,
        n_draws: int = 3,
        n_neighbors: int = 5,
        algorithm: Algorithm = "auto",
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
    ) -> None:
        self.corruption_rate = corruption_rate
        self.cutout_value = cutout_value
        self.n_draws = n_draws
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _replacements(self, keys, shape):
        return np.float64(self.cutout_value)
