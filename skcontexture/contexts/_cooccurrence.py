"""The co-occurrence context: X itself is a nonnegative association matrix."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_non_negative, validate_data

from .._typing import fit_context
from .._warn import warn
from ._base import BaseContext, normalize_rows
from ._traits import ContextTraits

if TYPE_CHECKING:
    from .._typing import ArrayLike, MatrixLike, Self, SparseMatrix


class CooccurrenceContext(BaseContext):
    """Context given by a nonnegative matrix of co-occurrence counts or affinities.

    Each row of ``X`` is a sample and each column an atom: documents x words,
    users x items, or a precomputed affinity between the samples and a fixed
    set of points. The joint is ``X / X.sum()`` and P+(a | x) is the row
    normalised to sum to 1. A row with no co-occurrence has no context: it has
    no mass in the fit joint, its conditional row is zero and it embeds at
    the origin (with a warning). The resulting embedding is correspondence
    analysis (standard row coordinates); for a symmetric affinity between the
    fit points it is the normalised Laplacian eigenmap. A new row must be
    given over the same columns.

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_features)
        ``X`` divided by its total.
    n_atoms_ : int
        Number of atoms (columns of ``X``).

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import CooccurrenceContext
    >>> counts = np.array([[5, 1, 0], [1, 4, 2], [0, 2, 6]])
    >>> round(float(CooccurrenceContext().fit(counts).joint_.sum()), 12)
    1.0
    """

    _parameter_constraints: dict[str, list[Any]] = {}
    _traits = ContextTraits(accepts_sparse=True, positive_only=True)

    def __init__(self) -> None:
        pass

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None) -> Self:
        """Store the normalised association matrix as the joint.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_atoms)
            Nonnegative counts or affinities; every row needs a positive sum.
        y : None
            Ignored.

        Returns
        -------
        self : CooccurrenceContext
        """
        X = self._validate(X, reset=True)
        if X.max() <= 0:
            raise ValueError("CooccurrenceContext needs a matrix with positive entries.")
        counted = X.max(axis=1).toarray().ravel() > 0  # rows with a co-occurrence
        # entries at most 1: the total cannot overflow (a division: scipy would multiply
        # by the reciprocal of the largest entry, which overflows when it is subnormal)
        X = sp.csr_matrix(X, copy=True)
        X.data /= X.data.max()
        self.joint_ = sp.csr_matrix(X / X.sum())
        self._check_row_resolution(counted)
        self.n_atoms_ = X.shape[1]
        return self

    def _check_row_resolution(self, counted):
        """Refuse rows whose joint entries underflow: their conditional (the row
        normalised on its own) would not be their joint row, and the fit rows would
        embed elsewhere than ``transform`` puts them."""
        largest = self.joint_.max(axis=1).toarray().ravel()
        # a subnormal entry x keeps a relative precision of 2**-1074 / x: 1e-9 at the floor
        floor = 2.0**-1074 / 1e-9
        lost = np.flatnonzero(counted & (largest < floor))
        if lost.size:
            shown = ", ".join(map(str, lost[:10])) + (", ..." if lost.size > 10 else "")
            raise ValueError(
                f"{lost.size} row(s) of X (rows {shown}) have co-occurrences below 5e-315 "
                "of the total: their share of the joint underflows float64, so they would "
                "carry no mass (or a few digits of it) although they have co-occurrences. "
                "Rescale the rows (e.g. sklearn.preprocessing.normalize(X, "
                "norm='l1') gives every row the same weight), or drop those rows."
            )

    def conditional(self, X: MatrixLike) -> SparseMatrix:
        """Return the rows of ``X`` normalised to sum to 1.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_atoms)

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        # each row divided by its largest entry first, so that its sum cannot overflow
        return normalize_rows(normalize(self._validate(X, reset=False), norm="max"))

    def _fit_distributed(self, X, client, progress):
        """Fit on a dask array held by a ``distributed`` cluster: the distributed fit's hook
        (:mod:`skcontexture._distributed`).

        The chunks of counts (dense or sparse) are the joint's row chunks once
        divided by the largest count, then by the total: two reductions.
        """
        from .._distributed.layout import Layout

        self.n_features_in_ = self.n_atoms_ = X.shape[1]
        counts = Layout(client, X).mapped(_validated, self)
        stats = counts.collect(_largest_and_empty)
        largest = max(value for value, _ in stats)
        if largest <= 0:
            raise ValueError("CooccurrenceContext needs a matrix with positive entries.")
        n_empty = sum(empty for _, empty in stats)
        if n_empty:
            # the warning of the in-memory fit, for the empty rows of every chunk
            self._validate(sp.csr_matrix((n_empty, X.shape[1])), reset=False)
        counts = counts.mapped(_divided, largest)  # entries at most 1
        return counts.mapped(_divided, sum(counts.collect(_total)))

    def _validate(self, X, reset):
        """Validate ``X`` and warn about rows with no co-occurrence."""
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=np.float64,
            ensure_min_features=2,
            reset=reset,
        )
        check_non_negative(X, f"{type(self).__name__}")
        X = sp.csr_matrix(X)
        if not X.has_canonical_format:
            # scipy sums duplicate entries in place on the first reduction: do it on a copy
            # so that the caller's matrix is left as it was
            X = X.copy()
            X.sum_duplicates()
        n_empty = int(np.sum(X.getnnz(axis=1) == 0))
        if n_empty:
            warn(
                f"{n_empty} row(s) of X have no co-occurrence: they carry no context "
                "and embed at the origin (the mean of every singular function).",
                UserWarning,
            )
        return X


def _validated(X, context):
    """A chunk validated by the context (CSR; its warning is given once, on the client)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return context._validate(X, reset=True)


def _largest_and_empty(X):
    return (float(X.max()) if X.nnz else 0.0), int(np.sum(X.getnnz(axis=1) == 0))


def _divided(X, value):
    return sp.csr_matrix(X / value)


def _total(X):
    return float(X.sum())
