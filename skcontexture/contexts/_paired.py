"""The paired (multi-view) context: each sample comes with a second view A."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sklearn.base import clone
from sklearn.utils.validation import check_consistent_length, validate_data

from .._constraints import Implements
from .._typing import fit_context
from ._base import BaseContext, release_joint
from ._knn import context_or_default
from ._traits import combine_traits

if TYPE_CHECKING:
    from .._typing import ArrayLike, MatrixLike, Self, SparseMatrix
    from ._traits import ContextTraits


class PairedContext(BaseContext):
    """Multi-view context: sample i comes with its own row A_i of a second view.

    The second view is an image's caption embedding, a user's item vector, a
    document's word counts. The atoms are the rows of ``A`` seen at fit,
    linked through ``base`` in A-space: P+(. | x_i) = P_base(. | A_i), for
    example the K fit rows whose A is nearest to A_i (``KNNContext``), or
    the exact co-occurrences of a count matrix A (``CooccurrenceContext``,
    whose atoms are then A's columns). Strength is that of ``base`` in
    A-space.

    A new point needs its own A: ``conditional(X, A=A_new)``. Without it
    :meth:`conditional` raises, since nothing in x itself says where its second
    view lies (a :class:`TeacherContext` with a transformer is the context to
    use when the second view is a function of x).

    ``A`` is a fit keyword, never ``y``: ``ContextureEmbedding(...).fit(X,
    A=A)`` and ``transform(X, A=A_new)``; in a Pipeline
    ``pipe.fit(X, y, contextureembedding__A=A)``, or, with scikit-learn's
    metadata routing enabled, ``ContextureEmbedding(...).set_fit_request(A=True)
    .set_transform_request(A=True)`` and ``pipe.fit(X, y, A=A)``,
    ``pipe.predict(X_new, A=A_new)``.

    Parameters
    ----------
    base : context estimator, default=None
        Context in A-space; None means ``KNNContext()``.

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_atoms)
        The joint of ``base`` fitted on A.
    n_atoms_ : int
        Number of atoms (those of ``base_``).
    base_ : context estimator
        ``base`` fitted on the fit rows' A (its joint is ``joint_``).

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import KNNContext, PairedContext
    >>> rng = np.random.RandomState(0)
    >>> X, A = rng.normal(size=(100, 4)), rng.normal(size=(100, 6))
    >>> ctx = PairedContext(KNNContext(5)).fit(X, A=A)
    >>> ctx.joint_.shape
    (100, 100)
    >>> ctx.conditional(X[:2], A=A[:2]).sum(axis=1).A1
    array([1., 1.])
    """

    _parameter_constraints = {"base": [Implements(["fit", "conditional"]), None]}

    def __init__(self, base: BaseContext | None = None) -> None:
        self.base = base

    @fit_context(prefer_skip_nested_validation=False)
    def fit(
        self, X: MatrixLike, y: ArrayLike | None = None, A: MatrixLike | None = None
    ) -> Self:
        """Fit ``base`` on the second view ``A`` of the fit rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points (only their number and features are checked).
        y : array-like of shape (n_samples,), default=None
            Passed to ``base``.
        A : {array-like, sparse matrix} of shape (n_samples, n_view_features)
            The second view, one row per sample.

        Returns
        -------
        self : PairedContext
        """
        validate_data(self, X, skip_check_array=True)
        A = self._check_view(X, A)
        self.base_ = clone(context_or_default(self.base)).fit(A, y)
        self.joint_ = self.base_.joint_
        release_joint(self.base_)
        self.n_atoms_ = self.base_.n_atoms_
        self.view_fit_ = A
        return self

    def conditional(self, X: MatrixLike, A: MatrixLike | None = None) -> SparseMatrix:
        """Return P_base(. | A_x) for each row, from its own second view.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)
        A : {array-like, sparse matrix} of shape (n_queries, n_view_features)
            The second view of each row.

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        validate_data(self, X, skip_check_array=True, reset=False)
        A = self._check_view(X, A)
        return self.base_.conditional(A)

    @staticmethod
    def _check_view(X, A):
        if A is None:
            raise ValueError(
                "PairedContext requires the second view A of every row, for fit and "
                "for new points: ContextureEmbedding(...).fit(X, A=A) and "
                ".transform(X_new, A=A_new). In a Pipeline, pass step__A=A to fit, or "
                "enable metadata routing (sklearn.set_config(enable_metadata_routing=True)) "
                "with ContextureEmbedding(...).set_fit_request(A=True)"
                ".set_transform_request(A=True)."
            )
        check_consistent_length(X, A)
        return A

    def traits(self) -> ContextTraits:
        """The traits of ``base`` in A-space (of ``base_`` once fitted), for any ``X``.

        Returns
        -------
        traits : ContextTraits
            Those of ``base``, except that any ``X``, sparse or with negative
            entries, is accepted: ``base`` sees ``A``, never ``X``.
        """
        base = self.base_ if hasattr(self, "base_") else context_or_default(self.base)
        return combine_traits([base.traits()], accepts_sparse=True, positive_only=False)

    def _atom_points(self, X):
        return self.base_._atom_points(self.view_fit_)
