"""The k-nearest-neighbour context."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable

from sklearn.utils.validation import validate_data

from .._memory import check_memory
from .._warn import warn
from .._typing import fit_context
from ._base import BaseContext, rows_from_neighbors
from ._neighbors import BYTES_PER_NEIGHBOR, NEIGHBOR_SEARCH_CONSTRAINTS, neighbor_index
from ._traits import ContextTraits

if TYPE_CHECKING:
    from .._typing import Algorithm, ArrayLike, MatrixLike, RandomStateLike, Self, SparseMatrix


class KNNContext(BaseContext):
    """Context of the K nearest fit points: P+(a | x) = 1/K on each of them.

    The atoms are the fit points. A fit point counts itself among its K
    nearest points, so ``conditional(X_fit)`` reproduces the fit joint. Small K
    is a strong association, large K a weak one (K = n_samples carries no
    information).

    Parameters
    ----------
    n_neighbors : int, default=15
        Number of neighbours K. Above half the fit rows a warning says that
        the neighbourhoods overlap almost entirely; at least the number of fit
        rows (where every neighbourhood would hold all the rows), it is
        lowered to that number minus one, with a warning.
    metric : str or callable, default="euclidean"
        Distance, as accepted by :class:`sklearn.neighbors.NearestNeighbors`.
        "cosine" is undefined for a zero row, which raises. Neighbours at
        equal distance are taken in fit order, for any ``n_jobs``.
    algorithm : {"auto", "exact", "nndescent"}, default="auto"
        Exact search (pykdtree's k-d tree, or scikit-learn's search) or
        approximate NN-descent (pynndescent). "auto" uses NN-descent from
        100,000 fit points on (from 20,000 above 32 features); where the exact
        search runs on pykdtree (dense points, Euclidean or cosine, at most 16
        features), above 200,000 fit points only, since NN-descent compiles
        for 24-97 s on its first call in a process.
    n_jobs : int, default=None
        Threads for the neighbour search; None means 1, -1 all cores.
    random_state : int, RandomState instance or None, default=None
        Seed of NN-descent (unused by the exact search).

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        P+(x_i, a_j) = 1 / (n K) when a_j is among the K nearest points of x_i.
    n_neighbors_ : int
        The K used: ``n_neighbors``, or the number of fit rows minus one when
        ``n_neighbors`` is not below it.
    n_atoms_ : int
        Number of atoms (fit points).
    index_ : object
        The fitted neighbour index, reused by :meth:`conditional`.

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import KNNContext
    >>> X = np.random.RandomState(0).normal(size=(100, 3))
    >>> ctx = KNNContext(n_neighbors=5).fit(X)
    >>> ctx.joint_.shape, round(float(ctx.joint_.sum()), 6)
    ((100, 100), 1.0)
    """

    _parameter_constraints = {**NEIGHBOR_SEARCH_CONSTRAINTS, "metric": [str, callable]}
    _traits = ContextTraits(
        atoms_are_fit_points=True, disconnected_advice="increase n_neighbors", accepts_sparse=True
    )

    def __init__(
        self,
        n_neighbors: int = 15,
        metric: str | Callable[..., float] = "euclidean",
        algorithm: Algorithm = "auto",
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None) -> Self:
        """Build the neighbour index on ``X`` and the joint.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points (the atoms).
        y : None
            Ignored.

        Returns
        -------
        self : KNNContext
        """
        X = validate_data(self, X, accept_sparse="csr", dtype="numeric")
        n_samples = X.shape[0]
        self.n_neighbors_ = min(self.n_neighbors, max(1, n_samples - 1))
        warn_if_neighbourhoods_overlap(self.n_neighbors, self.n_neighbors_, n_samples)
        n_entries = n_samples * self.n_neighbors_
        check_memory(
            BYTES_PER_NEIGHBOR * n_entries,
            f"KNNContext with n_neighbors={self.n_neighbors} on {n_samples:,} rows builds "
            f"a joint of {n_entries:,} entries",
            "Use a smaller n_neighbors or fewer rows.",
        )
        self.index_ = neighbor_index(self, self.random_state, self.metric,
                                     self.n_neighbors_).fit(X)
        self._set_joint_from_conditional(self._conditional(X))
        return self

    def conditional(self, X: MatrixLike) -> SparseMatrix:
        """Return P+(. | x): weight 1/K on each of the K nearest fit points.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        X = validate_data(self, X, accept_sparse="csr", dtype="numeric", reset=False)
        return self._conditional(X)

    def _conditional(self, X):
        return uniform_rows(self.index_.kneighbors(X, self.n_neighbors_),
                            self.index_.n_samples_fit_)

    def _fit_distributed(self, X, client, progress):
        """Fit on a dask array held by a ``distributed`` cluster: the distributed fit's hook
        (:mod:`skcontexture._distributed`).

        The exact search, the fit points staying on the workers in the
        neighbour index that ``conditional`` then queries through the cluster.
        """
        from .._distributed.neighbors import neighbor_joint, neighbor_layout

        layout = neighbor_layout(client, X, progress, n_neighbors=self.n_neighbors,
                                 algorithm=self.algorithm, name=type(self).__name__,
                                 metric=self.metric)
        n_samples, self.n_features_in_ = X.shape
        self.n_atoms_, self.n_neighbors_ = n_samples, self.n_neighbors
        self.index_, joint = neighbor_joint(layout, self.metric, self.n_neighbors_,
                                            partial(uniform_rows, n_atoms=n_samples))
        return joint


def uniform_rows(neighbors, n_atoms):
    """Conditional rows of weight 1/K on each of the K nearest atoms.

    Parameters
    ----------
    neighbors : tuple of ndarray
        ``(distances, indices)`` of each row's K nearest atoms.
    n_atoms : int

    Returns
    -------
    rows : scipy.sparse.csr_matrix of shape (n_rows, n_atoms)
    """
    return rows_from_neighbors(neighbors[1], None, n_atoms)


def warn_if_neighbourhoods_overlap(n_neighbors, used, n_samples):
    """Warn when K is not below the fit rows (lowered to ``used``) or above half of them."""
    advice = ("A kNN context tells rows apart when n_neighbors is well below the number "
              "of rows" + (f" (for {n_samples} rows, about {n_samples // 10})."
                           if n_samples >= 30 else "."))
    if used < n_neighbors:
        warn(
            f"n_neighbors={n_neighbors} is not below the number of fit rows ({n_samples}), "
            "where every neighbourhood would hold all the rows and carry no information; "
            f"using n_neighbors={used}. {advice}",
            UserWarning,
        )
    elif 2 * n_neighbors > n_samples:
        warn(
            f"n_neighbors={n_neighbors} is more than half of the {n_samples} fit rows: the "
            "neighbourhoods overlap almost entirely, so the context tells rows apart only "
            f"weakly (small singular values). {advice}",
            UserWarning,
        )


def context_or_default(context: BaseContext | None) -> BaseContext:
    """``context``, or the default context ``KNNContext()`` when it is None.

    The one place of the rule "an estimator-valued context parameter left at
    None means ``KNNContext()``".
    """
    return KNNContext() if context is None else context
