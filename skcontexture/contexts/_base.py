"""The Context contract: what every context provides to the estimators."""

from __future__ import annotations

import inspect
from abc import ABCMeta, abstractmethod
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._compat import num_samples
from .._dask import dask_conditional, lazily
from ._traits import ContextTraits

if TYPE_CHECKING:
    from .._typing import ArrayLike, MatrixLike, Self, SparseMatrix


class BaseContext(BaseEstimator, metaclass=ABCMeta):
    """Base class of contexts.

    A context defines the joint distribution P+(x, a) of inputs and context
    atoms. After ``fit(X, y=None, **fit_params)`` it exposes

    - ``joint_``: P+ over (fit rows x atoms), a nonnegative CSR matrix
      summing to 1;
    - ``n_atoms_``: the number of atoms (columns of ``joint_``);

    and ``conditional(X)`` returns the CSR matrix of rows P+(. | x) over the
    fitted atoms, each summing to 1, by the same rule for fit rows and new
    rows. Contexts never compute singular value decompositions. The
    ``conditional`` of every subclass also takes a ``dask.array.Array``, and
    returns a lazy dask array of CSR chunks with the row chunks of ``X``.

    What a context declares about itself (whether the conditional of a fit
    row reproduces its joint row, whether the atoms are the fit points, its
    input tags) is its :class:`ContextTraits`, returned by :meth:`traits`. A
    context that ``ContextureEmbedding`` can fit on a dask array held by a
    ``distributed`` cluster declares it with its hook ``_fit_distributed``
    (described in ``skcontexture._distributed``).
    """

    #: What the context declares about itself (see :class:`ContextTraits`); a
    #: context built on other contexts overrides :meth:`traits` instead.
    _traits = ContextTraits()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "conditional" in vars(cls):  # a dask array's conditional is lazy, chunk by chunk
            cls.conditional = lazily(cls.conditional, dask_conditional)

    @abstractmethod
    def fit(self, X: MatrixLike, y: ArrayLike | None = None) -> Self:
        """Fit the context on ``X`` (and ``y`` where the context uses it)."""

    @abstractmethod
    def conditional(self, X: MatrixLike) -> SparseMatrix:
        """Return the rows P+(. | x) over the fitted atoms as CSR."""

    def _set_joint_from_conditional(self, conditional):
        """Store ``joint_`` for a context whose fit rows have weight 1/n each."""
        self.joint_ = (conditional / conditional.shape[0]).tocsr()
        self.n_atoms_ = self.joint_.shape[1]

    def traits(self) -> ContextTraits:
        """What the context declares about itself, before or after ``fit``.

        Returns
        -------
        traits : ContextTraits
            The class's ``_traits``; a composite combines its parts' (the
            fitted parts once it is fitted).
        """
        return self._traits

    def _tied_components_advice(self, n_components):
        """What to change when the fitted context's top ``n_components`` singular functions
        are an arbitrary pick among tied ones (None when they are not): the estimators warn
        with it."""
        return None

    def _check_fitted(self):
        # n_atoms_, not joint_: a fitted part of a composite has released its joint.
        check_is_fitted(self, "n_atoms_")

    def _atom_points(self, X):
        """The fitted atoms as points, for a context that walks on from them.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The data this context was fitted on.

        Returns
        -------
        points_and_rows : tuple or None
            ``(points, rows)``: one row of ``points`` per atom, and the fit row
            each atom comes from (or None when atoms are not tied to fit
            rows). None when the atoms are no points (classes, columns).
        """
        if self.traits().atoms_are_fit_points:
            return X, np.arange(num_samples(X))
        return None

    def __sklearn_tags__(self):
        return traits_for_tags(self).update_tags(super().__sklearn_tags__())


def traits_for_tags(context):
    """The traits of ``context`` for its tags (or an estimator's built on it).

    Tags are read before ``fit`` validates the parameters, so parts that are
    no context instances (a class such as ``KNNContext``, a string as a
    teacher) give the default traits here instead of an error from inside
    ``traits()``; ``fit`` then rejects them with a message naming the parameter.
    """
    try:
        return context.traits()
    except (TypeError, AttributeError):
        return ContextTraits()


def release_joint(context):
    """Drop the ``joint_`` of a fitted part once a composite has taken it in.

    A composite context (masks, mixtures, compositions, teachers, paired
    views) builds its own joint from its parts' joints in ``fit``; afterwards
    a part needs only what its ``conditional`` reads, which never includes
    its ``joint_`` attribute (a context whose conditional uses its fit rows
    keeps them under another name). Keeping the parts' joints would hold a
    copy per part: 25 masks of a dense kernel would keep 25 n x n joints.

    Parameters
    ----------
    context : fitted context
        A part of a composite; its ``joint_`` is deleted.

    Returns
    -------
    context : the same context, without ``joint_``
    """
    del context.joint_
    return context


def accepted_params(method, params):
    """The items of ``params`` that ``method`` takes by name (all with ``**kwargs``)."""
    parameters = inspect.signature(method).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
        return dict(params)
    names = {p.name for p in parameters}
    return {key: value for key, value in params.items() if key in names}


def rows_from_neighbors(indices, weights, n_atoms):
    """Build row-stochastic CSR rows from per-row atom indices and weights.

    Parameters
    ----------
    indices : ndarray of shape (n_rows, k)
        Atom indices of each row.
    weights : ndarray of shape (n_rows, k) or None
        Nonnegative weights; None means uniform. Each row is normalised to 1.
    n_atoms : int
        Number of columns.

    Returns
    -------
    rows : scipy.sparse.csr_matrix of shape (n_rows, n_atoms)
    """
    n_rows, k = indices.shape
    if weights is None:
        weights = np.full((n_rows, k), 1.0 / k)
    else:
        weights = weights / weights.sum(axis=1, keepdims=True)
    indptr = np.arange(0, n_rows * k + 1, k)
    rows = sp.csr_matrix(
        (weights.ravel(), indices.ravel(), indptr), shape=(n_rows, n_atoms)
    )
    rows.sum_duplicates()
    return rows


def dense_rows(weights):
    """Nonnegative dense rows, each divided by its sum (rows summing to zero stay zero), as CSR.

    Built from the array directly: when no entry is zero (a kernel's rows) the CSR pattern
    is every (row, column) pair, with no scan for nonzeros; otherwise the zeros are dropped.
    """
    weights = np.array(weights, dtype=np.float64, order="C")
    sums = weights.sum(axis=1, keepdims=True)
    sums[sums == 0] = 1.0
    weights /= sums
    n_rows, n_columns = weights.shape
    if n_rows == 0 or n_columns == 0 or not weights.all():
        return sp.csr_matrix(weights)
    index_dtype = np.int32 if n_rows * n_columns <= np.iinfo(np.int32).max else np.int64
    indptr = np.arange(0, n_rows * n_columns + 1, n_columns, dtype=index_dtype)
    indices = np.tile(np.arange(n_columns, dtype=index_dtype), n_rows)
    return sp.csr_matrix((weights.ravel(), indices, indptr), shape=(n_rows, n_columns))


def normalize_rows(matrix):
    """Divide each row of a sparse nonnegative matrix by its sum (CSR copy).

    Rows that sum to zero stay zero.
    """
    matrix = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    matrix.data /= np.repeat(sums, np.diff(matrix.indptr))
    return matrix


def seed_unset(estimator, random_state):
    """Set the ``random_state`` parameters of ``estimator`` left at None to seeds drawn
    from ``random_state`` (one per parameter, in ``get_params`` order); returns it.

    Nothing changes when ``random_state`` is None. A RandomState instance is drawn
    from (its state advances).
    """
    if random_state is None:
        return estimator
    rng = check_random_state(random_state)
    for key, value in estimator.get_params(deep=True).items():
        if value is None and (key == "random_state" or key.endswith("__random_state")):
            seed = int(rng.randint(np.iinfo(np.int32).max))
            try:
                estimator.set_params(**{key: seed})
            except ValueError:
                # a frozen (pretrained) estimator refuses new parameters; it is
                # not refitted, so its seed does not matter
                pass
    return estimator


def is_canonical(matrix):
    """Whether a CSR matrix has sorted indices and no duplicates, without scipy's
    check (which caches its answer on the caller's matrix)."""
    indptr, indices = matrix.indptr, matrix.indices
    if indices.size < 2:
        return True
    increasing = np.diff(indices) > 0
    # a step across a row boundary may go down: ignore the positions that start a row
    starts = indptr[1:-1]
    starts = starts[(starts > 0) & (starts < indices.size)]
    increasing[starts - 1] = True
    return bool(increasing.all())
