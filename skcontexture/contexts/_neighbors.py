"""Nearest-neighbour search shared by the neighbourhood-based contexts.

``algorithm="auto"`` (:func:`uses_nndescent`) searches exactly below
``NNDESCENT_MIN_SAMPLES`` fit points and approximately (pynndescent's
NN-descent) from there on; where the exact search runs on pykdtree (below),
it searches exactly up to ``PYKDTREE_MAX_SAMPLES`` fit points instead.
pynndescent compiles its kernels with numba the first time it runs in a
process (97 s in a new environment on a 2-core machine, 24 s in later
processes, which find part of it in numba's cache), which is more than an
exact search costs below these thresholds. The exact search is pykdtree's
k-d tree where it applies (dense points, Euclidean or cosine, at most
``PYKDTREE_MAX_FEATURES`` features), and scikit-learn's ``NearestNeighbors``
otherwise. The trees return every exact copy of a point at distance 0; brute
force (scikit-learn's choice above 15 features, and for queries off the data)
computes distances as |x|^2 + |y|^2 - 2 x.y, which puts a copy about 1e-8
away.

Every point that enters a search, at fit or as a query, goes through one
validation (:func:`check_coordinates`, and unit rows for ``metric="cosine"``),
and ties are broken by fit index, so a query's neighbours depend neither on
``n_jobs`` nor on how the caller passed the rows. NN-descent's graph depends
on the number of threads that build it (pynndescent splits the vertices and
its random streams by thread), so it is always built on one thread; its
search graph and the queries, which do not depend on the thread count, run
on ``n_jobs`` threads. The exact searches run on ``n_jobs`` OpenMP threads too
(:func:`exact_search_threads`): scikit-learn's brute force would otherwise take
every core whatever its ``n_jobs``.
"""

import functools
import sys

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state

from .._compat import StrOptions
from .._constraints import N_JOBS, count, n_threads, numba_threads
from .._warn import warn
from ._base import is_canonical

#: Fit size from which ``algorithm="auto"`` switches to pynndescent (where the
#: exact search does not run on pykdtree).
NNDESCENT_MIN_SAMPLES = 100_000
#: Above this many features exact search is brute force (no tree helps), whose
#: cost grows as n^2 * n_features: pynndescent from HIGH_DIM_MIN_SAMPLES on.
HIGH_DIM_FEATURES = 32
HIGH_DIM_MIN_SAMPLES = 20_000
#: A tie at the k-th distance is broken by fit index among up to this many
#: times k + 1 candidates; larger tied groups (many exact copies of a row)
#: are reported at fit.
TIE_CANDIDATES_FACTOR = 4
#: ``NeighborIndex.within`` searches the query rows in this many groups of
#: similar radii, each with the group's largest radius.
WITHIN_GROUPS = 16
#: Fit rows sampled at fit to estimate how many rows have more exact copies
#: than ``n_neighbors`` (their neighbourhoods are then decided by tie-breaking).
COPIES_SAMPLE_ROWS = 256
#: Above this estimated fraction of such rows, fit warns.
MAX_COPIED_FRACTION = 0.1

#: Most features for which the exact search uses pykdtree:
#: 2x faster than scikit-learn at 16 features, and at 32 slower on one thread
#: than scikit-learn's brute force on its BLAS threads (benchmarks/exact_search.py);
#: pykdtree itself takes at most 127.
PYKDTREE_MAX_FEATURES = 16
#: The same for an index queried with augmented copies of rows, which lie off the
#: data (SCARF, CutMix, Cutout): a k-d tree prunes little around such points, and
#: above this many features scikit-learn's brute force answers them faster
#: (benchmarks/augmented_search.py: adult, 20,000 rows projected on p principal
#: components, SCARF's 60,000 copies, one thread: p = 8, pykdtree 2.0 s, brute
#: force 5.0 s, scikit-learn's k-d tree 5.3 s; p = 12: 11.3 s, 5.7 s, 16.2 s;
#: p = 16: 20.5 s, 5.6 s, 28.6 s).
OFF_DATA_PYKDTREE_MAX_FEATURES = 8
#: Most fit points that ``algorithm="auto"`` searches exactly where the search
#: runs on pykdtree (:func:`pykdtree_applies`): up to here pykdtree's exact
#: search on one thread finishes the first fit in a new environment before
#: NN-descent, whose compilation takes 97 s (200,000 x 16: 52 s against 104 s;
#: 400,000 x 16: 164 s against 114 s; 400,000 x 10: 38 s against 112 s;
#: benchmarks/knn_search.py, results/knn_search_crossover.json). Warm, NN-descent
#: is faster from 100,000 rows on (200,000 x 10: 6.2 s against 12.5 s).
PYKDTREE_MAX_SAMPLES = 200_000
#: Peak bytes of a neighbour query per query row and neighbour: the search's
#: distance and index arrays, their tie-sorted copies and the CSR rows built
#: from them (tracemalloc on KNNContext.fit, 20,000 rows, K = 15 and 50: 49-53).
BYTES_PER_NEIGHBOR = 52

SCALE_FIX = "Scale the data, e.g. with sklearn.preprocessing.StandardScaler."

#: Constraints of the parameters that configure a context's neighbour search
#: (see :func:`neighbor_index`), merged into its ``_parameter_constraints``.
NEIGHBOR_SEARCH_CONSTRAINTS = {
    "n_neighbors": [count(1)],
    "algorithm": [StrOptions({"auto", "exact", "nndescent"})],
    "n_jobs": N_JOBS,
    "random_state": ["random_state"],
}


def uses_nndescent(n_samples, n_features, metric="euclidean", sparse=False, off_data=False):
    """Whether ``algorithm="auto"`` picks pynndescent for this fit.

    The rule, on the prepared fit points (``metric="cosine"`` searches unit
    rows with the Euclidean distance, so it counts as "euclidean" here):

    - more than ``HIGH_DIM_FEATURES`` features: NN-descent from
      ``HIGH_DIM_MIN_SAMPLES`` fit points on;
    - where the exact search runs on pykdtree (:func:`pykdtree_applies`:
      dense points, Euclidean, at most ``PYKDTREE_MAX_FEATURES`` features, or
      ``OFF_DATA_PYKDTREE_MAX_FEATURES`` for queries off the data): NN-descent
      above ``PYKDTREE_MAX_SAMPLES`` fit points;
    - otherwise NN-descent from ``NNDESCENT_MIN_SAMPLES`` fit points on.

    Measured (benchmarks/knn_threshold.py, 2 cores): at 20,000 x 50 both take
    ~1.2 s, at 100,000 x 50 NN-descent is 4x faster; on the 10-d swiss roll at
    100,000 points exact search (scikit-learn's k-d tree) takes 2.6 s and
    NN-descent 2.9 s. pykdtree's threshold is set by the first fit in a fresh
    process with ``n_jobs=1`` (benchmarks/knn_search.py): NN-descent's
    compilation costs more than pykdtree's exact search up to it.

    Parameters
    ----------
    n_samples, n_features : int
        Shape of the fit points.
    metric : str or callable, default="euclidean"
        Distance of the search.
    sparse : bool, default=False
        Whether the fit points are a sparse matrix.
    off_data : bool, default=False
        Whether the index is queried with augmented copies of rows
        (:func:`pykdtree_applies`).

    Returns
    -------
    bool
    """
    if n_features > HIGH_DIM_FEATURES:
        return n_samples >= HIGH_DIM_MIN_SAMPLES
    if pykdtree_applies(n_features, metric, sparse, off_data):
        return n_samples > PYKDTREE_MAX_SAMPLES
    return n_samples >= NNDESCENT_MIN_SAMPLES


def pykdtree_applies(n_features, metric, sparse, off_data=False):
    """Whether the exact search of these fit points runs on pykdtree.

    It does for dense points, the Euclidean distance (``"cosine"`` included,
    see :func:`uses_nndescent`) and at most ``PYKDTREE_MAX_FEATURES``
    features; at most ``OFF_DATA_PYKDTREE_MAX_FEATURES`` when the queries are
    augmented copies of rows (``off_data``).
    """
    most = OFF_DATA_PYKDTREE_MAX_FEATURES if off_data else PYKDTREE_MAX_FEATURES
    return metric in ("euclidean", "cosine") and not sparse and n_features <= most


def check_coordinates(X, name="X", fix=SCALE_FIX):
    """Raise a ValueError if squared distances between rows of ``X`` overflow.

    Squared Euclidean distances are computed as ``|x|^2 + |y|^2 - 2 x.y``,
    each term at most ``n_features * max|X|^2``: below the limit checked here
    no distance between two such arrays overflows ``X``'s float type (float64
    for integers; scikit-learn's brute-force search keeps float32), so
    neighbour order and kernels are defined.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Finite points.
    name : str, default="X"
        How the message names ``X`` ("Values in {name} reach ...").
    fix : str, default=SCALE_FIX
        The advice that ends the message.

    Raises
    ------
    ValueError
        Naming the largest value, the limit and ``fix``.
    """
    largest = largest_abs(X)
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.dtype(np.float64)
    limit = np.sqrt(np.finfo(dtype).max / (4 * X.shape[1]))
    if largest > limit:
        raise ValueError(
            f"Values in {name} reach {largest:.3g} in absolute value: squared distances "
            f"between its rows overflow {dtype} (the limit with {X.shape[1]} features is "
            f"about {limit:.2g}), so neighbours and kernels are undefined. {fix}"
        )


def check_resolution(X, name="X", fix=SCALE_FIX):
    """Raise a ValueError if squared distances between rows of ``X`` underflow.

    When every value of ``X`` is below ``sqrt(tiny) / eps`` of its float type
    (about 7e-139 in float64), squared distances between its rows are
    subnormal or zero: they keep few digits or none, neighbours are then
    chosen by rounding and tie-breaking instead of by the data, and kernels
    of those distances are undefined. All-zero ``X`` (only ties) is left to
    the duplicate check.
    """
    largest = largest_abs(X)
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.dtype(np.float64)
    info = np.finfo(dtype)
    limit = np.sqrt(info.tiny) / info.eps
    if 0 < largest < limit:
        raise ValueError(
            f"Values in {name} are at most {largest:.3g} in absolute value: squared "
            f"distances between its rows underflow {dtype} (every value is below about "
            f"{limit:.2g}), so neighbours and kernels would be decided by rounding, not "
            f"by the data. {fix}"
        )


def canonical(X):
    """A sparse ``X`` with sorted indices and no duplicates: a copy when the caller's
    is not (scipy's reductions and products would sort and sum it in place)."""
    if sp.issparse(X) and X.format == "csr" and not is_canonical(X):
        X = X.copy()
        X.sum_duplicates()
    return X


def largest_abs(X):
    """Largest absolute value in a dense or sparse matrix (0 if it has none), without a copy."""
    values = X.data if sp.issparse(X) else X
    return float(max(values.max(), -values.min())) if values.size else 0.0


def neighbor_index(context, random_state, metric="euclidean", n_neighbors=None, off_data=False):
    """The unfitted index of a context's ``n_neighbors``, ``algorithm`` and ``n_jobs``.

    Parameters
    ----------
    context : context estimator
        A context with the parameters of ``NEIGHBOR_SEARCH_CONSTRAINTS``.
    random_state : int, RandomState instance or None
        Seed of NN-descent (the context's ``random_state``, or a seed drawn
        from it).
    metric : str or callable, default="euclidean"
        Distance of the search.
    n_neighbors : int, default=None
        The largest k that will be queried; None means ``context.n_neighbors``.
    off_data : bool, default=False
        Whether the index is queried with augmented copies of rows, which lie
        off the data (see :class:`NeighborIndex`).

    Returns
    -------
    index : NeighborIndex
    """
    k = context.n_neighbors if n_neighbors is None else n_neighbors
    return NeighborIndex(context.algorithm, metric, k, context.n_jobs, random_state, off_data)


class NeighborIndex:
    """A fitted neighbour index answering ``kneighbors(X, k)`` for any rows.

    The same query runs for fit rows and new rows, so a fit point's
    neighbourhood is defined by one rule. Neighbours at equal distance are
    ordered by fit index, and the k nearest are the first k in that order
    (ties within ``TIE_CANDIDATES_FACTOR * (k + 1)`` candidates); a fit point
    is its own neighbour unless it has k or more exact copies of lower index.
    When fit rows have more exact copies than ``n_neighbors``, the exact search
    indexes the distinct points and expands them to their copies in fit order
    (:class:`_Copies`): a tree cannot prune among copies, and the search would
    take time quadratic in their number.
    ``metric="cosine"`` searches the unit rows with the Euclidean distance
    (the same order, with exact zeros between rows of the same direction).

    Parameters
    ----------
    algorithm : {"auto", "exact", "nndescent"}
        Search method; "auto" picks by the number of fit points.
    metric : str or callable
        Distance, as accepted by scikit-learn's ``NearestNeighbors``.
    n_neighbors : int
        Largest k that will be queried (sizes the NN-descent graph); a k above
        the number of fit points gives them all.
    n_jobs : int or None
        Threads for the search (NN-descent builds its graph on one thread
        whatever it is); None means 1.
    random_state : int, RandomState instance or None
        Seed of NN-descent.
    off_data : bool, default=False
        Whether the queries are augmented copies of rows (SCARF, CutMix,
        Cutout), which lie off the data: the exact search then runs on
        pykdtree up to ``OFF_DATA_PYKDTREE_MAX_FEATURES`` features and on
        scikit-learn's brute force above (:func:`exact_index`).
    """

    def __init__(self, algorithm, metric, n_neighbors, n_jobs, random_state, off_data=False):
        self.algorithm = algorithm
        self.metric = metric
        self.n_neighbors = n_neighbors
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.off_data = off_data

    def fit(self, X):
        n_samples = X.shape[0]
        self.sparse_ = sp.issparse(X)
        X = self._prepare(X)
        if self.metric == "euclidean":
            check_resolution(X)
        algorithm = self.algorithm
        metric = "euclidean" if self.metric == "cosine" else self.metric
        if algorithm == "auto":
            nndescent = uses_nndescent(*X.shape, metric=metric, sparse=self.sparse_,
                                       off_data=self.off_data)
            algorithm = "nndescent" if nndescent else "exact"
        self.algorithm_ = algorithm
        n_jobs = n_threads(self.n_jobs)
        if algorithm == "exact":
            self.index_ = exact_index(X, metric, n_jobs, self.off_data)
            self.copies_ = None
        else:
            from pynndescent import NNDescent

            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            # one thread: the graph would change with the thread count (module docstring)
            self.index_ = NNDescent(
                X,
                metric=metric,
                n_neighbors=min(max(self.n_neighbors, 15), max(1, n_samples - 1)),
                random_state=seed,
                n_jobs=1,
            )
            self.index_.n_jobs = n_jobs  # the threads of prepare()
            self.index_.prepare()
        self.n_samples_fit_ = n_samples
        if self._warn_if_copies_decide(X) and algorithm == "exact" and not self.sparse_:
            self.copies_ = _Copies(X, metric, n_jobs)
        return self

    def kneighbors(self, X, k):
        """Return ``(distances, indices)`` of the k nearest fit points, nearest first.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_queries, n_features)
            Query rows, dense or sparse whatever the fit data were.
        k : int
            Number of neighbours; above the number of fit points, all of them
            (the k nearest of fewer points are all the points).

        Returns
        -------
        distances : ndarray of shape (n_queries, min(k, n_samples_fit_))
        indices : ndarray of shape (n_queries, min(k, n_samples_fit_))
        """
        X = self._prepare(X)
        with exact_search_threads(n_threads(self.n_jobs)):
            distances, indices = self._kneighbors(X, min(k, self.n_samples_fit_))
        if self.metric == "cosine":
            distances = distances**2 / 2  # cosine distance of unit rows
        return distances, indices

    def within(self, X, radii):
        """Fit points at most ``radii`` away from each query row; exact search only.

        Each radius is widened by a relative 1e-9, so that a point at exactly
        the radius is found whatever the rounding of the distances.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_queries, n_features)
        radii : ndarray of shape (n_queries,)
            Distances, as :meth:`kneighbors` returns them.

        Returns
        -------
        distances, indices : ndarray
            The points of each row one after the other, row by row.
        counts : ndarray of int of shape (n_queries,)
            The number of points of each row.
        """
        if self.algorithm_ != "exact":
            raise ValueError("NeighborIndex.within needs the exact search (algorithm='exact').")
        X = self._prepare(X)
        radii = np.asarray(radii, dtype=np.float64)
        search = np.sqrt(2 * radii) if self.metric == "cosine" else radii
        search = search * (1 + 1e-9)
        rows, distances, indices = [], [], []
        # rows of similar radii share one search radius (the largest of the group)
        for group in np.array_split(np.argsort(search, kind="stable"), WITHIN_GROUPS):
            if not len(group):
                continue
            with exact_search_threads(n_threads(self.n_jobs)):
                found_distances, found = self.index_.radius_neighbors(
                    X[group], radius=search[group].max(), return_distance=True
                )
            counts = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
            row = np.repeat(group, counts)
            found_distances = np.concatenate(found_distances)
            kept = found_distances <= search[row]
            rows.append(row[kept])
            distances.append(found_distances[kept])
            indices.append(np.concatenate(found).astype(np.int64)[kept])
        rows = np.concatenate([*rows, np.empty(0, dtype=np.int64)])
        order = np.argsort(rows, kind="stable")
        distances = np.concatenate([*distances, np.empty(0)])[order]
        if self.metric == "cosine":
            distances = distances**2 / 2
        indices = np.concatenate([*indices, np.empty(0, dtype=np.int64)])[order]
        return distances, indices, np.bincount(rows, minlength=len(radii))

    def _prepare(self, X):
        """The validated search points: in the fit format, unit rows for "cosine"."""
        if sp.issparse(X) != self.sparse_:
            X = sp.csr_matrix(X) if self.sparse_ else X.toarray()
        X = canonical(X)
        if self.metric == "cosine":
            return _unit_rows(X)
        check_coordinates(X)
        return X

    def _kneighbors(self, X, k):
        """k nearest of prepared rows, ties broken by fit index."""
        if getattr(self, "copies_", None) is not None:
            return self.copies_.kneighbors(X, k)
        n_fit = self.n_samples_fit_
        largest = min(n_fit, TIE_CANDIDATES_FACTOR * (k + 1))
        distances = np.empty((X.shape[0], k))
        indices = np.empty((X.shape[0], k), dtype=np.int64)
        rows, query, n_candidates = np.arange(X.shape[0]), X, min(k + 1, n_fit)
        while True:
            found_distances, found = self._search(query, n_candidates)
            order = np.lexsort((found, found_distances), axis=1)
            found_distances = np.take_along_axis(found_distances, order, axis=1)
            distances[rows] = found_distances[:, :k]
            indices[rows] = np.take_along_axis(found, order, axis=1)[:, :k]
            if n_candidates >= largest:
                return distances, indices
            # the k-th distance is shared by the last candidate: more may tie
            tied = found_distances[:, k - 1] == found_distances[:, -1]
            if not tied.any():
                return distances, indices
            rows = rows[tied]
            query, n_candidates = X[rows], min(2 * n_candidates, largest)

    def _search(self, X, k):
        """The backend's k nearest of prepared rows, in its own order."""
        if self.algorithm_ == "exact":
            return self.index_.kneighbors(X, n_neighbors=k)
        with numba_threads(n_threads(self.n_jobs)):
            indices, distances = self.index_.query(X, k=k)
        return distances.astype(np.float64), indices.astype(np.int64)

    def _warn_if_copies_decide(self, X):
        """Warn when many fit rows have more exact copies than ``n_neighbors``.

        Returns whether any row has more copies than that (a tree search then
        cannot prune among the copies: the exact search switches to
        :class:`_Copies`). The exact search counts every row's copies; the
        approximate one and sparse rows estimate the fraction from
        ``COPIES_SAMPLE_ROWS`` rows.
        """
        n_samples, k = X.shape[0], self.n_neighbors
        if k >= n_samples:
            return False
        if self.algorithm_ == "exact" and not self.sparse_:
            # every row's count of copies, from the rows' bytes: cheaper than the
            # sampled search below on the sizes searched exactly
            copied = float(np.mean(_copies_of_rows(X) > k))
        else:
            rows = np.unique(np.linspace(0, n_samples - 1, COPIES_SAMPLE_ROWS).astype(int))
            with exact_search_threads(n_threads(self.n_jobs)):
                distances, _ = self._search(X[rows], k + 1)
            copied = float(np.mean(distances[:, k] == 0))
        if copied > MAX_COPIED_FRACTION:
            warn(
                f"X has many duplicated rows: about {copied:.0%} of the fit rows have "
                f"more than n_neighbors={k} exact copies, so their neighbourhoods hold "
                "only copies of themselves chosen by tie-breaking (fit order) and "
                "carry nothing of the data's geometry. Remove the duplicated rows "
                "(e.g. np.unique(X, axis=0)) or add features that tell them apart.",
                UserWarning,
            )
        return copied > 0


def exact_search_threads(n_jobs):
    """Limit the exact searches' OpenMP threads to ``n_jobs`` inside a ``with``.

    scikit-learn's brute force (its pairwise-distance reductions) and pykdtree's
    queries run on every core whatever their ``n_jobs``; each query row is searched
    by one thread, so the answer does not depend on the limit.

    Parameters
    ----------
    n_jobs : int
        Threads (resolved: a positive number).
    """
    return _openmp_controller("pykdtree.kdtree" in sys.modules).limit(limits=n_jobs)


@functools.cache
def _openmp_controller(pykdtree_loaded):
    """The OpenMP runtimes loaded in this process, found once before pykdtree's (imported
    on the first search on its tree) and once after: a new controller scans every loaded
    library (about 2.4 ms a search)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="openmp")


def exact_index(X, metric, n_jobs, off_data=False):
    """The fitted exact index of prepared fit points ``X``.

    pykdtree's k-d tree (:class:`_KDTree`) where :func:`pykdtree_applies`;
    scikit-learn's ``NearestNeighbors`` otherwise, by brute force for queries
    off the data (its trees prune little around them).

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Prepared fit points (see ``NeighborIndex._prepare``).
    metric : str or callable
        Distance, as accepted by scikit-learn's ``NearestNeighbors``.
    n_jobs : int
        Threads of the queries.
    off_data : bool, default=False
        Whether the queries are augmented copies of rows.

    Returns
    -------
    index : _KDTree or NearestNeighbors
        An index answering ``kneighbors(X, n_neighbors)`` and
        ``radius_neighbors(X, radius, return_distance)``.
    """
    if metric == "euclidean" and pykdtree_applies(X.shape[1], metric, sp.issparse(X), off_data):
        return _KDTree(X, n_jobs)
    algorithm = "brute" if off_data else "auto"
    return NearestNeighbors(metric=metric, algorithm=algorithm, n_jobs=n_jobs).fit(X)


class _KDTree:
    """pykdtree's exact k-d tree behind scikit-learn's query methods.

    Distances are computed in float64 from coordinate differences, as by
    scikit-learn's k-d tree, so exact copies are at distance 0 and equal
    distances compare equal (the caller orders them by fit index). Queries
    run on the OpenMP threads the caller allows (:func:`exact_search_threads`;
    each query row is searched by one thread). Radius queries,
    which pykdtree does not answer, go to a scikit-learn index built on their
    first use. The tree is rebuilt after unpickling (pykdtree's cannot be
    pickled).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Dense prepared fit points.
    n_jobs : int
        Threads of the radius queries' scikit-learn index.
    """

    def __init__(self, X, n_jobs):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.n_jobs = n_jobs
        self.radius_index = None
        self._build()

    def _build(self):
        # imported here: pykdtree loads an OpenMP runtime, which a process that never
        # searches exactly on few features need not load
        from pykdtree.kdtree import KDTree

        self.tree = KDTree(self.X)

    def kneighbors(self, X, n_neighbors):
        """``(distances, indices)`` of the ``n_neighbors`` nearest fit points, nearest first."""
        distances, indices = self.tree.query(np.ascontiguousarray(X, dtype=np.float64),
                                             k=n_neighbors)
        shape = (X.shape[0], n_neighbors)  # pykdtree drops the last axis for k = 1
        return distances.reshape(shape), indices.astype(np.int64).reshape(shape)

    def radius_neighbors(self, X, radius, return_distance=True):
        """scikit-learn's ``NearestNeighbors.radius_neighbors`` on the fit points."""
        if self.radius_index is None:
            self.radius_index = NearestNeighbors(n_jobs=self.n_jobs).fit(self.X)
        return self.radius_index.radius_neighbors(
            X, radius=radius, return_distance=return_distance
        )

    def __getstate__(self):
        return {name: value for name, value in self.__dict__.items() if name != "tree"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build()


def _copies_of_rows(X):
    """The number of exact copies of each row of a dense array, itself included."""
    rows = np.ascontiguousarray(X + 0.0)  # -0.0 and 0.0 are one point
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return counts[inverse.ravel()]


class _Copies:
    """Exact k nearest fit rows of data with many exact copies, ties broken by fit index.

    A tree search cannot prune among exact copies (their distance bounds tie with the
    k-th distance), so on rows with more copies than k every query visits every copy:
    quadratic time (70,000 copies of one point took over a minute). Here the distinct
    points are indexed once; a query finds its nearest distinct points and expands each
    to its first k copies in fit order (a copy's distance is its point's). Where the
    last distinct candidate ties with the k-th distance, more distinct points are
    fetched, as the plain search fetches more rows.
    """

    def __init__(self, X, metric, n_jobs):
        """Index the distinct rows of the dense prepared fit points ``X``."""
        _, first, inverse, counts = np.unique(
            X, axis=0, return_index=True, return_inverse=True, return_counts=True
        )
        order = np.argsort(first)  # distinct points in the order of their first copy
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        self.counts = counts[order]
        # fit rows grouped by distinct point, each group in fit order
        self.members = np.argsort(rank[np.ravel(inverse)], kind="stable")
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.index = NearestNeighbors(metric=metric, n_jobs=n_jobs).fit(X[first[order]])

    def kneighbors(self, X, k):
        n_points = len(self.counts)
        largest = min(n_points, TIE_CANDIDATES_FACTOR * (k + 1))
        distances = np.empty((X.shape[0], k))
        indices = np.empty((X.shape[0], k), dtype=np.int64)
        rows, n_candidates = np.arange(X.shape[0]), min(k + 1, n_points)
        while True:
            # at most 2**20 expanded candidates per batch
            batch_size = max(1, 2**20 // (n_candidates * k))
            tied = []
            for start in range(0, len(rows), batch_size):
                batch = rows[start:start + batch_size]
                found_distances, found = self.index.kneighbors(X[batch], n_candidates)
                kth, ranked = self._expand(found_distances, found, k)
                distances[batch], indices[batch] = kth
                tied.append(batch[ranked[:, k - 1] == found_distances[:, -1]])
            rows = np.concatenate(tied)
            if n_candidates >= largest or not rows.size:
                return distances, indices
            n_candidates = min(2 * n_candidates, largest)

    def _expand(self, found_distances, found, k):
        """The k nearest fit rows from the distinct candidates of each query, and
        their distances (as ranked)."""
        take = np.minimum(self.counts[found], k)  # (rows, candidates)
        offsets = np.arange(int(take.max()))
        valid = offsets < take[..., None]
        position = np.where(valid, self.starts[found][..., None] + offsets, 0)
        fit_rows = np.where(valid, self.members[position], np.iinfo(np.int64).max)
        candidate_distances = np.where(valid, found_distances[..., None], np.inf)
        fit_rows = fit_rows.reshape(len(found), -1)
        candidate_distances = candidate_distances.reshape(len(found), -1)
        order = np.lexsort((fit_rows, candidate_distances), axis=1)[:, :k]
        ranked = np.take_along_axis(candidate_distances, order, axis=1)
        return (ranked, np.take_along_axis(fit_rows, order, axis=1)), ranked


def _unit_rows(X):
    """Rows of ``X`` scaled to unit norm; a zero row, whose cosine is undefined, raises."""
    scale = abs(X).max(axis=1)
    scale = scale.toarray().ravel() if sp.issparse(scale) else np.asarray(scale).ravel()
    zero = np.flatnonzero(scale == 0)
    if zero.size:
        shown = ", ".join(map(str, zero[:10])) + (", ..." if zero.size > 10 else "")
        raise ValueError(
            f"metric='cosine' is undefined for a zero vector, and {zero.size} row(s) of X "
            f"are all zero (rows {shown}). Drop those rows or use metric='euclidean'."
        )
    # divide by the largest entry first so that the norm cannot overflow (a division:
    # the reciprocal of a subnormal largest entry overflows)
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64, copy=True)
        X.data /= np.repeat(scale, np.diff(X.indptr))
    else:
        X = X / scale[:, None]
    return normalize(X, copy=False)
