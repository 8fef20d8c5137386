"""The supervised (label) context."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    column_or_1d,
    validate_data,
)

from .._constraints import Implements
from .._memory import check_memory
from .._typing import fit_context
from .._warn import warn
from ._base import BaseContext, normalize_rows, rows_from_neighbors
from ._knn import context_or_default
from ._neighbors import NEIGHBOR_SEARCH_CONSTRAINTS, neighbor_index
from ._traits import ContextTraits, combine_traits

if TYPE_CHECKING:
    from .._typing import Algorithm, ArrayLike, MatrixLike, RandomStateLike, Self, SparseMatrix


#: A target with at most this many distinct values (and fewer than half the rows)
#: looks like class labels to TargetContext.
CLASS_LIKE_VALUES = 20

#: The traits a context extended to new points by their neighbours in X has,
#: whatever gives its fit rows.
_EXTENDED: dict[str, Any] = {
    "conditional_reproduces_joint": False,
    "accepts_sparse": True,
    "positive_only": False,
    "requires_y": True,
}


class _NeighborExtendedContext(BaseContext):
    """A context whose fit joint uses the targets, extended to new points by neighbours.

    A new point has no target, so its conditional is the average of the fit
    rows P+(. | x_k) over its ``n_neighbors`` nearest fit points in X (a fit
    point counts itself). Subclasses give those rows by ``_fit_rows()``, not
    from ``joint_`` (which a composite may release).
    """

    _traits = ContextTraits(**_EXTENDED)

    def _fit_index(self, X):
        self.index_ = neighbor_index(self, self.random_state).fit(X)

    def conditional(self, X: MatrixLike) -> SparseMatrix:
        """Return the average fit row of each row's nearest fit points.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        X = validate_data(self, X, accept_sparse="csr", dtype="numeric", reset=False)
        _, indices = self.index_.kneighbors(X, self.n_neighbors)
        weights = rows_from_neighbors(indices, None, self.index_.n_samples_fit_)
        return (weights @ self._fit_rows()).tocsr()


def labelled_rows(y: np.ndarray, unlabelled: Any) -> np.ndarray:
    """Mask of the rows of ``y`` that carry a label, not ``unlabelled``.

    ``unlabelled`` NaN matches missing values; None matches no row.
    """
    if unlabelled is None:
        return np.ones(len(y), dtype=bool)
    if isinstance(unlabelled, float) and np.isnan(unlabelled):
        return np.asarray(y == y, dtype=bool).reshape(len(y))  # NaN alone is unequal to itself
    return np.asarray(y != unlabelled, dtype=bool).reshape(len(y))


def with_unlabelled_rows(rows: SparseMatrix, labelled: np.ndarray) -> SparseMatrix:
    """The fit rows of all rows from those of the labelled ones: an unlabelled row is their mean.

    The mean of the labelled rows is the atoms' marginal P_A, so the dual kernel
    of an unlabelled row with any row is the constant 1: it carries no label,
    and P_X stays uniform.

    Parameters
    ----------
    rows : sparse matrix of shape (n_labelled, n_atoms)
        Row-stochastic rows of the labelled rows, in order.
    labelled : ndarray of bool, shape (n_samples,)
        Which rows are labelled.

    Returns
    -------
    rows : scipy.sparse.csr_matrix of shape (n_samples, n_atoms)
    """
    rows = sp.csr_matrix(rows)
    if labelled.all():
        return rows
    mean = sp.csr_matrix(rows.mean(axis=0))
    check_memory(
        12.0 * mean.nnz * (~labelled).sum(),
        f"The {(~labelled).sum():,} unlabelled rows each get the mean row of the labelled "
        f"ones ({mean.nnz:,} nonzeros)",
        "Use a base context with fewer atoms on the targets (e.g. LinearTeacherContext()), or "
        "fewer unlabelled rows.",
    )
    index = np.cumsum(labelled) - 1
    blocks = sp.vstack([rows, mean], format="csr")
    return blocks[np.where(labelled, index, rows.shape[0])]


class LabelContext(_NeighborExtendedContext):
    """Supervised context: the atoms are the classes of ``y``.

    On the fit sample P+(c | x_i) = 1 at the class of x_i, so the joint is the
    one-hot label matrix divided by n. Hard labels make the context
    block-structured: its C classes are C connected components, the
    singular values s_1 .. s_{C-1} all equal 1 and the embedding spans the
    class indicators minus the constant (at most C - 1 components).

    Rows whose label is ``unlabelled`` (-1 by default, scikit-learn's
    convention for semi-supervised estimators) carry no class: their row is
    the class frequencies of the labelled rows. Their dual kernel with every
    row is then the constant 1, so they add nothing to the embedding beyond
    keeping P_X uniform. Mixed with a context on X, as in
    ``ConvexCombination([("geometry", KNNContext()), ("labels",
    LabelContext())], weights=[1, f])`` fitted with the few known labels and
    -1 elsewhere (f the labelled fraction: each part weighted by the rows it
    informs, so that the geometry keeps its spectrum), the labels join the
    geometry: the semi-supervised recipe of docs/downstream.md.

    A new point has no label, so :meth:`conditional` uses the class
    distribution of its ``n_neighbors`` nearest fit points (a fit point counts
    itself). That approximates P(class | x) by a kNN classifier; the Nyström
    extension of the label embedding is then the kNN-smoothed class
    embedding. Because the fit joint uses the labels and the conditional does
    not, ``ContextureEmbedding.embedding_`` holds the exact label embedding of
    the fit rows while ``transform`` (and ``fit_transform``) return its
    out-of-sample extension.

    Parameters
    ----------
    n_neighbors : int, default=15
        Neighbours whose labels give the class distribution of a new point.
    unlabelled : int, str or None, default=-1
        The label of a row without one; None makes every value of ``y`` a
        class (for example when -1 is one).
    algorithm : {"auto", "exact", "nndescent"}, default="auto"
        Neighbour search (see :class:`KNNContext`).
    n_jobs : int, default=None
        Threads for the neighbour search; None means 1.
    random_state : int, RandomState instance or None, default=None
        Seed of NN-descent.

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_classes)
        One-hot labels divided by n_samples.
    n_atoms_ : int
        Number of classes.
    classes_ : ndarray of shape (n_classes,)
        The class labels of the labelled rows (the atoms, in column order).
    class_indices_ : ndarray of shape (n_samples,)
        The class of each fit row, as an index into ``classes_``; -1 for an
        unlabelled row.
    class_prior_ : ndarray of shape (n_classes,)
        The class frequencies of the labelled rows: the row of an unlabelled one.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skcontexture import LabelContext
    >>> X, y = load_iris(return_X_y=True)
    >>> LabelContext().fit(X, y).joint_.shape
    (150, 3)
    >>> import numpy as np
    >>> y_few = np.full_like(y, -1)
    >>> y_few[::30] = y[::30]             # 5 labelled rows, 145 unlabelled
    >>> LabelContext().fit(X, y_few).class_prior_   # the row of an unlabelled one
    array([0.4, 0.4, 0.2])
    """

    _parameter_constraints = {
        **NEIGHBOR_SEARCH_CONSTRAINTS,
        "unlabelled": "no_validation",  # any label value, NaN included
    }
    _traits = ContextTraits(block_structured=True, **_EXTENDED)

    def __init__(
        self,
        n_neighbors: int = 15,
        unlabelled: int | float | str | None = -1,
        algorithm: Algorithm = "auto",
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.unlabelled = unlabelled
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None) -> Self:
        """Build the label joint from ``y`` and the neighbour index on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points.
        y : array-like of shape (n_samples,)
            Class labels, ``unlabelled`` for the rows without one.

        Returns
        -------
        self : LabelContext
        """
        if y is None:
            raise ValueError(
                "LabelContext requires y to be passed, but the target y is None."
            )
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype="numeric")
        y = column_or_1d(y)
        labelled = labelled_rows(y, self.unlabelled)
        if not labelled.any():
            raise ValueError(
                f"Every row of y is unlabelled (equal to unlabelled={self.unlabelled!r}): "
                "LabelContext needs some labelled rows. If that value is a class, set "
                "unlabelled=None."
            )
        check_classification_targets(y[labelled])
        self.classes_, indices = np.unique(y[labelled], return_inverse=True)
        if len(self.classes_) < 2:
            hint = ("" if labelled.all() else f" If unlabelled={self.unlabelled!r} is a "
                    "class here (as in -1/+1 labels), set unlabelled=None.")
            raise ValueError(
                f"y has a single class ({self.classes_[0].tolist()!r}) among its labelled "
                "rows: a label context tells rows apart by their classes and needs at "
                f"least two.{hint}"
            )
        self.class_indices_ = np.full(len(y), -1, dtype=np.intp)
        self.class_indices_[labelled] = indices
        self.class_prior_ = np.bincount(indices, minlength=len(self.classes_)) / indices.size
        self.n_atoms_ = len(self.classes_)
        self.joint_ = self._fit_rows() / X.shape[0]
        self._fit_index(X)
        return self

    def _fit_rows(self):
        """The rows P+(. | x_i) of the fit points: one-hot, or the class prior if unlabelled."""
        labelled = self.class_indices_ >= 0
        one_hot = sp.csr_matrix(
            (np.ones(labelled.sum()), self.class_indices_[labelled],
             np.arange(labelled.sum() + 1)),
            shape=(labelled.sum(), self.n_atoms_),
        )
        return with_unlabelled_rows(one_hot, labelled)


class TargetContext(_NeighborExtendedContext):
    """Regression-target context: the teacher kernel with teacher = y.

    The sibling of :class:`LabelContext` for continuous (or multi-output)
    targets. The atoms are the fit points; on the fit sample P+(. | x_i) is
    ``base`` applied to the target values: by default a kNN on y, weight 1/K
    on the K fit points whose targets are nearest to y_i (a point counts
    itself). ``base=RBFContext(gamma)`` gives the Gaussian kernel on y,
    exp(-gamma (y_i - y_j)^2) normalised over the fit points, and
    ``base=LinearTeacherContext()`` the dissertation's "YLinear" target
    kernel 1 + (y - mean) (y' - mean) / var(y) (its centred, normalised
    linear kernel; see :class:`LinearTeacherContext` for how a joint carries
    it). Strength is that of ``base`` on y (few neighbours or a large gamma:
    strong).

    Rows whose target is ``unlabelled`` (NaN by default, as
    :class:`LabelledProbeScorer` marks them with ``unlabelled=np.nan``) carry
    no target: ``base`` is fitted on the labelled rows' targets, and the row
    of an unlabelled one is the mean of the labelled rows' rows, as
    :class:`LabelContext` gives it the class frequencies. Its dual kernel with
    every row is then the constant 1: it adds nothing beyond keeping P_X
    uniform. When ``base``'s atoms are the fit points, an unlabelled row's
    atom has no mass.

    A new point has no target, so :meth:`conditional` averages the fit rows
    of its ``n_neighbors`` nearest fit points in X (a fit point counts
    itself), as :class:`LabelContext` does with classes. The fit joint uses
    the targets and the conditional does not: ``ContextureEmbedding``'s
    ``embedding_`` is the exact target embedding and ``transform`` its
    out-of-sample extension.

    Parameters
    ----------
    base : context estimator, default=None
        Context applied to the targets; None means ``KNNContext()``.
    n_neighbors : int, default=15
        Fit points (nearest in X) whose rows are averaged for a new point.
    unlabelled : float or None, default=np.nan
        The target value of a row without one (NaN matches missing values);
        a multi-output row is unlabelled when all its targets are. None makes
        every value a target (NaN is then refused).
    algorithm : {"auto", "exact", "nndescent"}, default="auto"
        Neighbour search in X (see :class:`KNNContext`).
    n_jobs : int, default=None
        Threads for the neighbour search; None means 1.
    random_state : int, RandomState instance or None, default=None
        Seed of NN-descent.

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_atoms)
        The joint of ``base`` fitted on the targets (with the unlabelled rows'
        mean rows).
    n_atoms_ : int
        Number of atoms (the fit points, for kNN or RBF on y).
    base_ : context estimator
        ``base`` fitted on the labelled rows' targets.
    labelled_ : ndarray of bool, shape (n_samples,)
        Which fit rows have a target.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from skcontexture import KNNContext, LinearTeacherContext, TargetContext
    >>> X, y = load_diabetes(return_X_y=True)
    >>> TargetContext(KNNContext(10)).fit(X, y).joint_.shape
    (442, 442)
    >>> y_few = np.where(np.arange(len(y)) % 4 == 0, y, np.nan)   # 111 targets known
    >>> context = TargetContext(LinearTeacherContext()).fit(X, y_few)
    >>> context.joint_.shape, int(context.labelled_.sum())
    ((442, 2), 111)
    """

    _parameter_constraints = {
        **NEIGHBOR_SEARCH_CONSTRAINTS,
        "base": [Implements(["fit", "conditional"]), None],
        "unlabelled": "no_validation",  # any target value, NaN included
    }

    def __init__(
        self,
        base: BaseContext | None = None,
        n_neighbors: int = 15,
        unlabelled: float | None = np.nan,
        algorithm: Algorithm = "auto",
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
    ) -> None:
        self.base = base
        self.n_neighbors = n_neighbors
        self.unlabelled = unlabelled
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None) -> Self:
        """Fit ``base`` on the labelled rows' targets and the neighbour index on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Continuous targets, ``unlabelled`` for the rows without one.

        Returns
        -------
        self : TargetContext
        """
        if y is None:
            raise ValueError(
                "TargetContext requires y to be passed, but the target y is None."
            )
        X = validate_data(self, X, accept_sparse="csr", dtype="numeric")
        missing = self.unlabelled is not None and np.isnan(self.unlabelled)
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y",
                        ensure_all_finite="allow-nan" if missing else True)
        check_consistent_length(X, y)
        targets = y.reshape(len(y), -1)
        marked = ~labelled_rows(targets.ravel(), self.unlabelled).reshape(targets.shape)
        self.labelled_ = ~marked.all(axis=1)
        partial = (marked.any(axis=1) & self.labelled_).any()
        if partial or not np.isfinite(targets[self.labelled_]).all():
            raise ValueError(
                f"y has rows with some targets {self.unlabelled!r} (unlabelled) and others "
                "not, or infinite values: a row has all its targets or none."
            )
        if not self.labelled_.any():
            raise ValueError(
                f"Every row of y is unlabelled (equal to unlabelled={self.unlabelled!r}): "
                "TargetContext needs some targets."
            )
        targets = targets[self.labelled_]
        n_values = len(np.unique(targets, axis=0))
        base = clone(context_or_default(self.base))
        with warnings.catch_warnings():
            if n_values <= CLASS_LIKE_VALUES and n_values < len(targets) / 2:
                warn(
                    f"y has only {n_values} distinct values among {len(targets)} rows: "
                    "TargetContext treats y as continuous, so rows with equal targets are "
                    "neighbours chosen by row order. If y holds class labels, use "
                    "LabelContext.",
                    UserWarning,
                )
                # base's neighbour search sees the targets: its duplicated-rows remark is this one
                warnings.filterwarnings("ignore", "X has many duplicated rows", UserWarning)
            try:
                self.base_ = base.fit(targets)
            except ValueError as exc:  # its messages call the targets "X"
                raise ValueError(
                    f"The base context {type(base).__name__} of TargetContext could not be "
                    f"fitted on the targets y (its X): {exc}"
                ) from exc
        self.n_atoms_ = len(y) if self._atoms_are_rows() else self.base_.n_atoms_
        if self.labelled_.all():
            self.joint_ = self.base_.joint_  # held once, by base_ (its rows are read later)
        else:
            rows = self._fit_rows()
            self.joint_ = rows / rows.shape[0]
        self._fit_index(X)
        return self

    def _atoms_are_rows(self):
        """Whether ``base``'s atoms are its fit rows, so that an unlabelled row has one too."""
        return self.base_.traits().atoms_are_fit_points and not self.labelled_.all()

    def _fit_rows(self):
        """The rows P+(. | x_i) of the fit points: ``base_``'s, the labelled rows' mean if
        unlabelled."""
        rows = normalize_rows(self.base_.joint_)
        if self._atoms_are_rows():  # base's atom j is the j-th labelled row
            columns = np.flatnonzero(self.labelled_)[rows.indices]
            rows = sp.csr_matrix((rows.data, columns, rows.indptr),
                                 shape=(rows.shape[0], len(self.labelled_)))
        return with_unlabelled_rows(rows, self.labelled_)

    def traits(self) -> ContextTraits:
        """The traits of ``base`` on the targets, with those of the extension to new points.

        Returns
        -------
        traits : ContextTraits
            Those of ``base`` (of ``base_`` once fitted), except that the
            conditional does not reproduce the joint, sparse ``X`` is accepted
            and ``y`` is required: ``base`` sees the targets, never ``X``.
        """
        base = self.base_ if hasattr(self, "base_") else context_or_default(self.base)
        return combine_traits([base.traits()], **_EXTENDED)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = False
        return tags

