"""The supervised (label) context."""

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d, validate_data

from ._base import BaseContext
from ._neighbors import NeighborIndex


class LabelContext(BaseContext):
    """Supervised context: the atoms are the classes of ``y``.

    On the fit sample P+(c | x_i) = 1 at the class of x_i, so the joint is the
    one-hot label matrix divided by n. Hard labels make the context
    block-structured: its C classes are C connected components, the
    singular values s_1 .. s_{C-1} all equal 1 and the embedding spans the
    class indicators minus the constant (at most C - 1 components).

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
        The class labels (the atoms, in column order).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skcontexture import LabelContext
    >>> X, y = load_iris(return_X_y=True)
    >>> LabelContext().fit(X, y).joint_.shape
    (150, 3)
    """

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "algorithm": [StrOptions({"auto", "exact", "nndescent"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }
    _conditional_reproduces_joint = False
    _block_structured = True

    def __init__(self, n_neighbors=15, algorithm="auto", n_jobs=None, random_state=None):
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the label joint from ``y`` and the neighbour index on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points.
        y : array-like of shape (n_samples,)
            Class labels.

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
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_samples = X.shape[0]
        self.joint_ = sp.csr_matrix(
            (np.full(n_samples, 1.0 / n_samples), (np.arange(n_samples), codes)),
            shape=(n_samples, len(self.classes_)),
        )
        self.n_atoms_ = len(self.classes_)
        self.index_ = NeighborIndex(
            self.algorithm, "euclidean", self.n_neighbors, self.n_jobs, self.random_state
        ).fit(X)
        self.fit_codes_ = codes
        return self

    def conditional(self, X):
        """Return the class distribution of each row's nearest fit points.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_classes)
        """
        self._check_fitted()
        X = validate_data(self, X, accept_sparse="csr", dtype="numeric", reset=False)
        _, indices = self.index_.kneighbors(X, self.n_neighbors)
        n_queries, k = indices.shape
        rows = sp.csr_matrix(
            (
                np.full(n_queries * k, 1.0 / k),
                (np.repeat(np.arange(n_queries), k), self.fit_codes_[indices.ravel()]),
            ),
            shape=(n_queries, self.n_atoms_),
        )
        rows.sum_duplicates()
        return rows

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        return tags
