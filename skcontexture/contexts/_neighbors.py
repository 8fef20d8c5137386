"""Nearest-neighbour search shared by the neighbourhood-based contexts.

Exact search (scikit-learn's ``NearestNeighbors``) is used below
``NNDESCENT_MIN_SAMPLES`` fit points and approximate search (pynndescent's
NN-descent) above it. pynndescent compiles its kernels with numba the first
time it runs in a process (tens of seconds on a 2-core machine), which is more
than an exact search costs below the threshold.
"""

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state

#: Fit size from which ``algorithm="auto"`` switches to pynndescent.
NNDESCENT_MIN_SAMPLES = 100_000
#: Above this many features exact search is brute force (no tree helps), whose
#: cost grows as n^2 * n_features: pynndescent from HIGH_DIM_MIN_SAMPLES on.
HIGH_DIM_FEATURES = 32
HIGH_DIM_MIN_SAMPLES = 20_000


def uses_nndescent(n_samples, n_features):
    """Whether ``algorithm="auto"`` picks pynndescent for this fit size.

    Measured (benchmarks/knn_threshold.py, 2 cores): at 20,000 x 50 both take
    ~1.2 s, at 100,000 x 50 NN-descent is 4x faster; on the 10-d swiss roll at
    100,000 points exact search (k-d tree) takes 2.6 s and NN-descent 2.9 s.
    """
    if n_features > HIGH_DIM_FEATURES:
        return n_samples >= HIGH_DIM_MIN_SAMPLES
    return n_samples >= NNDESCENT_MIN_SAMPLES


class NeighborIndex:
    """A fitted neighbour index answering ``kneighbors(X, k)`` for any rows.

    The same query runs for fit rows and new rows, so a fit point's
    neighbourhood is defined by one rule (it contains the point itself).

    Parameters
    ----------
    algorithm : {"auto", "exact", "nndescent"}
        Search method; "auto" picks by the number of fit points.
    metric : str or callable
        Distance, as accepted by scikit-learn's ``NearestNeighbors``.
    n_neighbors : int
        Largest k that will be queried (sizes the NN-descent graph).
    n_jobs : int or None
        Threads for the search; None means 1.
    random_state : int, RandomState instance or None
        Seed of NN-descent.
    """

    def __init__(self, algorithm, metric, n_neighbors, n_jobs, random_state):
        self.algorithm = algorithm
        self.metric = metric
        self.n_neighbors = n_neighbors
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X):
        n_samples = X.shape[0]
        if self.n_neighbors > n_samples:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} is larger than the number of fit "
                f"samples ({n_samples}); use n_neighbors <= {n_samples}."
            )
        algorithm = self.algorithm
        if algorithm == "auto":
            algorithm = "nndescent" if uses_nndescent(*X.shape) else "exact"
        self.algorithm_ = algorithm
        n_jobs = effective_n_jobs(self.n_jobs) if self.n_jobs is not None else 1
        if algorithm == "exact":
            self.index_ = NearestNeighbors(metric=self.metric, n_jobs=n_jobs).fit(X)
        else:
            from pynndescent import NNDescent

            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            self.index_ = NNDescent(
                sp.csr_matrix(X) if sp.issparse(X) else X,
                metric=self.metric,
                n_neighbors=max(self.n_neighbors, 15),
                random_state=seed,
                n_jobs=n_jobs,
            )
            self.index_.prepare()
        self.n_samples_fit_ = n_samples
        return self

    def kneighbors(self, X, k):
        """Return ``(distances, indices)`` of the k nearest fit points, nearest first."""
        if self.algorithm_ == "exact":
            return self.index_.kneighbors(X, n_neighbors=k)
        indices, distances = self.index_.query(X, k=k)
        return distances.astype(np.float64), indices.astype(np.int64)
