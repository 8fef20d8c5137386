"""The Gaussian (RBF) kernel context."""

from __future__ import annotations

from functools import partial
from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils import gen_batches
from sklearn.utils.validation import validate_data

from .._compat import Interval
from .._constraints import count
from .._memory import check_memory
from .._progress import batches
from .._typing import fit_context
from .._warn import warn
from ._base import BaseContext, dense_rows, rows_from_neighbors
from ._neighbors import (
    BYTES_PER_NEIGHBOR,
    NEIGHBOR_SEARCH_CONSTRAINTS,
    check_coordinates,
    check_resolution,
    largest_abs,
    neighbor_index,
)
from ._traits import ContextTraits

if TYPE_CHECKING:
    from .._typing import Algorithm, ArrayLike, MatrixLike, RandomStateLike, Self, SparseMatrix

#: Fit rows whose full kernel row is computed to measure ``kernel_mass_kept_``
#: (and whose neighbour distances set the default ``gamma``).
MASS_SAMPLE_ROWS = 256
#: The default width looks at each sampled row's distance to its 7th nearest other
#: fit point (the local scale of Zelnik-Manor & Perona, "Self-tuning spectral
#: clustering", 2004) ...
LOCAL_SCALE_NEIGHBOR = 7
#: ... and sets gamma_ = LOCAL_SCALE_FACTOR / median of those squared distances: a
#: kernel about three times wider than the typical 7th-neighbour distance. Side
#: measurements with the protocol of benchmarks/downstream.py (factors 1, 0.3, 0.1,
#: 0.03; development datasets, wine, breast cancer, digits): at 1 and 0.3 outliers of
#: scikit-learn's digits take the leading components, 0.1 scored best on average.
LOCAL_SCALE_FACTOR = 0.1
#: Below this median kept mass the truncation is reported as a warning.
MIN_MASS_KEPT = 0.5
#: Peak bytes of the fit with ``n_neighbors=None`` per kernel entry (n_samples**2
#: of them): distances, weights, CSR blocks and their stacked copy
#: (tracemalloc, 1,000 and 2,000 rows: 48).
DENSE_BYTES_PER_ENTRY = 48
#: Peak bytes of ``kernel_mass_kept_`` per sampled row and fit row: the full
#: kernel rows, their shifted copy and their weights.
MASS_BYTES_PER_ENTRY = 24


def mass_sample_rows(n_samples):
    """The fit rows whose full kernel row measures ``kernel_mass_kept_``."""
    return np.unique(np.linspace(0, n_samples - 1, MASS_SAMPLE_ROWS).astype(int))


class RBFContext(BaseContext):
    """Gaussian kernel context: P+(a | x) proportional to exp(-gamma ||x - a||^2).

    The atoms are the fit points; each row is normalised over the atoms. With
    ``n_neighbors`` set, each row keeps only its ``n_neighbors`` nearest atoms,
    which keeps the operator sparse (the kernel's mass beyond them is dropped
    and the kept weights renormalised). Large ``gamma`` is a strong
    association, small ``gamma`` a weak one.

    Parameters
    ----------
    gamma : float, default=None
        Kernel width. None sets it from the data's own neighbour distances:
        ``0.1 / median(r_7^2)``, where r_7 is the distance of a fit point to
        its 7th nearest other fit point (the median over up to 256 evenly
        spaced fit rows), so the kernel reaches about three typical
        7th-neighbour distances whatever the number of features or their
        scaling (``1 / (n_features * X.var())`` if most rows are duplicates).
        Stored in ``gamma_``.
    n_neighbors : int, default=None
        Truncate each row to its nearest atoms. None keeps every fit point,
        allowed up to 5,000 fit points; above, set ``n_neighbors``.
    algorithm : {"auto", "exact", "nndescent"}, default="auto"
        Neighbour search used when ``n_neighbors`` is set (see
        :class:`KNNContext`).
    n_jobs : int, default=None
        Threads for the neighbour search; None means 1.
    random_state : int, RandomState instance or None, default=None
        Seed of NN-descent.

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        The fit joint (each fit row has mass 1/n).
    n_atoms_ : int
        Number of atoms (fit points).
    gamma_ : float
        The kernel width used.
    kernel_mass_kept_ : float
        With ``n_neighbors`` set: the median, over up to 256 evenly spaced fit
        rows, of the fraction of the row's kernel mass that its kept atoms
        carry (1.0 without truncation). A warning names the fix when it is
        below 0.5: the context is then closer to a kNN graph than to the kernel.

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import RBFContext
    >>> X = np.random.RandomState(0).normal(size=(50, 2))
    >>> P = RBFContext(gamma=1.0).fit(X).conditional(X[:3])
    >>> P.shape, np.allclose(P.sum(axis=1), 1)
    ((3, 50), True)
    """

    _parameter_constraints = {
        **NEIGHBOR_SEARCH_CONSTRAINTS,
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "n_neighbors": [count(1), None],
    }
    #: Largest fit size for which ``n_neighbors=None`` (every fit point an atom of
    #: every row) is allowed: the joint then has n_samples**2 nonzeros
    #: (5,000 fit points: 25 million, about 300 MB).
    DENSE_MAX_SAMPLES = 5_000
    _traits = ContextTraits(
        atoms_are_fit_points=True,
        disconnected_advice="decrease gamma or increase n_neighbors",
        accepts_sparse=True,
    )

    def __init__(
        self,
        gamma: float | None = None,
        n_neighbors: int | None = None,
        algorithm: Algorithm = "auto",
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
    ) -> None:
        self.gamma = gamma
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None) -> Self:
        """Fit the kernel context on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points (the atoms).
        y : None
            Ignored.

        Returns
        -------
        self : RBFContext
        """
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float64)
        check_coordinates(X)
        check_resolution(X)
        n_samples = X.shape[0]
        sample = X[mass_sample_rows(n_samples)]
        if self.gamma is None:
            gamma = local_gamma(nearest_squared_distances(sample, X))
            self.gamma_ = variance_gamma(_variance(X), X.shape[1]) if gamma is None else gamma
        else:
            self.gamma_ = float(self.gamma)
        if self.n_neighbors is None and n_samples > self.DENSE_MAX_SAMPLES:
            raise ValueError(
                f"RBFContext(n_neighbors=None) keeps all {n_samples} fit points "
                f"in every row, which is allowed up to {self.DENSE_MAX_SAMPLES} points; "
                "set n_neighbors (e.g. 50) to keep the operator sparse."
            )
        self._check_memory(n_samples)
        if self.n_neighbors is None:
            # a copy: the fitted context must not change when the caller's X does
            self.X_fit_ = X.copy()
        else:
            self.index_ = neighbor_index(self, self.random_state).fit(X)
        self._set_joint_from_conditional(self._conditional(X))
        self._set_mass_kept(1.0 if self.n_neighbors is None else
                            self._mass_kept(sample, [kernel_sums(X, sample, self.gamma_)]))
        return self

    def _fit_distributed(self, X, client, progress):
        """Fit on a dask array held by a ``distributed`` cluster: the distributed fit's hook
        (:mod:`skcontexture._distributed`).

        With ``n_neighbors`` set only (else NotImplemented): the exact search,
        the fit points staying on the workers in the neighbour index that
        ``conditional`` then queries through the cluster; the default
        ``gamma`` and ``kernel_mass_kept_`` come from reductions over the chunks.
        """
        if self.n_neighbors is None:
            return NotImplemented
        from .._distributed.neighbors import neighbor_joint, neighbor_layout

        layout = neighbor_layout(client, X, progress, n_neighbors=self.n_neighbors,
                                 algorithm=self.algorithm, name=type(self).__name__,
                                 dtype=np.float64)
        n_samples, self.n_features_in_ = X.shape
        self.n_atoms_ = n_samples
        sample = layout.rows(mass_sample_rows(n_samples))
        if self.gamma is None:
            nearest = np.hstack(layout.collect(_nearest_squared_distances_to, sample))
            gamma = local_gamma(np.sort(nearest, axis=1))
            self.gamma_ = (variance_gamma(_pooled_variance(layout.collect(_moments)),
                                          self.n_features_in_) if gamma is None else gamma)
        else:
            self.gamma_ = float(self.gamma)
        self.index_, joint = neighbor_joint(
            layout, "euclidean", self.n_neighbors,
            partial(kernel_rows, n_atoms=n_samples, gamma=self.gamma_), dtype=np.float64,
        )
        self._set_mass_kept(self._mass_kept(sample, layout.collect(kernel_sums, sample,
                                                                   self.gamma_)))
        return joint

    def _check_memory(self, n_samples):
        """Raise ``MemoryError`` before a fit that cannot fit in memory."""
        if self.n_neighbors is None:
            what = f"a {n_samples:,} x {n_samples:,} kernel"
            nbytes = DENSE_BYTES_PER_ENTRY * n_samples**2
        else:
            what = f"a joint of {n_samples * self.n_neighbors:,} entries"
            nbytes = (
                BYTES_PER_NEIGHBOR * self.n_neighbors + MASS_BYTES_PER_ENTRY * MASS_SAMPLE_ROWS
            ) * n_samples
        check_memory(
            nbytes,
            f"RBFContext with n_neighbors={self.n_neighbors} on {n_samples:,} rows builds {what}",
            "Use a smaller n_neighbors (a truncated kernel, e.g. 50) or fewer rows.",
        )

    def _mass_kept(self, sample, chunk_sums):
        """Median fraction of the kernel mass of sampled fit rows on their kept atoms.

        ``chunk_sums`` are :func:`kernel_sums` of the sampled rows on each chunk
        of the fit points (one chunk in memory): their kernel sums, each shifted
        by the chunk's nearest squared distance, are brought to one shift, the
        nearest over all chunks, before they are added.
        """
        distances, _ = self.index_.kneighbors(sample, self.n_neighbors)
        nearest = np.min([chunk_nearest for chunk_nearest, _ in chunk_sums], axis=0)
        total = sum(kernel(chunk_nearest, nearest, self.gamma_) * chunk_sum
                    for chunk_nearest, chunk_sum in chunk_sums)
        kept = kernel(distances**2, nearest[:, None], self.gamma_).sum(axis=1)
        return float(np.median(np.minimum(kept / total, 1.0)))

    def _set_mass_kept(self, fraction):
        """Store ``kernel_mass_kept_``; warn when the truncation keeps too little."""
        self.kernel_mass_kept_ = fraction
        if fraction < MIN_MASS_KEPT:
            warn(
                f"n_neighbors={self.n_neighbors} keeps a median {fraction:.0%} of each "
                f"row's kernel mass (gamma_={self.gamma_:.3g}): the truncated context is "
                "far from the RBF kernel. Increase n_neighbors or gamma.",
                UserWarning,
            )

    def conditional(self, X: MatrixLike) -> SparseMatrix:
        """Return the normalised kernel rows over the fitted atoms.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
        check_coordinates(X)
        return self._conditional(X)

    def _conditional(self, X):
        if self.n_neighbors is not None:
            # In row batches of ~4 million entries: the neighbour arrays and
            # weights of all rows at once would be several times the result.
            blocks = [
                kernel_rows(self.index_.kneighbors(X[batch], self.n_neighbors),
                            self.index_.n_samples_fit_, self.gamma_)
                for batch in batches(X.shape[0], max(1, 2**22 // self.n_neighbors),
                                     "RBF row batches")
            ]
            return sp.vstack(blocks, format="csr")
        n_atoms = self.X_fit_.shape[0]
        blocks = []
        for batch in batches(X.shape[0], max(1, 2**22 // n_atoms), "RBF row batches"):
            squared = euclidean_distances(X[batch], self.X_fit_, squared=True)
            blocks.append(dense_rows(kernel_weights(squared, self.gamma_)))
        return blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr")


def kernel(squared_distances, nearest, gamma):
    """exp(-gamma (d^2 - nearest)); where the product overflows the weight is exactly 0."""
    with np.errstate(over="ignore"):
        return np.exp(-gamma * (squared_distances - nearest))


def kernel_weights(squared_distances, gamma):
    """Kernel weights, shifted by each row's nearest atom (weight 1) so none underflows."""
    return kernel(squared_distances, squared_distances.min(axis=1, keepdims=True), gamma)


def kernel_rows(neighbors, n_atoms, gamma):
    """Conditional rows of the truncated kernel, from ``(distances, indices)`` of each
    row's nearest atoms."""
    distances, indices = neighbors
    return rows_from_neighbors(indices, kernel_weights(distances**2, gamma), n_atoms)


def kernel_sums(X, sample, gamma):
    """Per sampled row: its nearest squared distance to the rows of ``X``, and its
    kernel sum over them shifted by that distance."""
    squared = euclidean_distances(sample, X, squared=True)
    nearest = squared.min(axis=1)
    return nearest, kernel(squared, nearest[:, None], gamma).sum(axis=1)


def nearest_squared_distances(sample, X):
    """The smallest squared distances of each row of ``sample`` to the rows of ``X``.

    At most ``LOCAL_SCALE_NEIGHBOR + 1`` per row, ascending (a sample row that is a
    row of ``X`` finds itself at 0). Computed on the data divided by their largest
    absolute value so that no square overflows, then scaled back.
    """
    scale = max(largest_abs(X), largest_abs(sample))
    if scale == 0:
        return np.zeros((sample.shape[0], 1))
    sample, X = sample / scale, X / scale
    k = min(LOCAL_SCALE_NEIGHBOR + 1, X.shape[0])
    nearest = []
    for batch in gen_batches(sample.shape[0], max(1, 2**22 // X.shape[0])):
        squared = euclidean_distances(sample[batch], X, squared=True)
        nearest.append(np.sort(np.partition(squared, k - 1, axis=1)[:, :k], axis=1))
    return np.vstack(nearest) * scale**2


def local_gamma(nearest_squared):
    """RBFContext's default gamma from the sampled rows' nearest squared distances.

    ``LOCAL_SCALE_FACTOR`` over the median squared distance to the 7th nearest other
    fit point (the farthest one with fewer fit points); None where that median is 0
    (many duplicated rows): then :func:`variance_gamma` applies.
    """
    squared = nearest_squared[:, min(LOCAL_SCALE_NEIGHBOR, nearest_squared.shape[1] - 1)]
    median = float(np.median(squared))
    return LOCAL_SCALE_FACTOR / median if median > 0 else None


def variance_gamma(variance, n_features):
    """The fallback width ``1 / (n_features * variance)`` (1.0 for constant data)."""
    return 1.0 / (n_features * variance) if variance > 0 else 1.0


def _variance(X):
    """Variance of all entries of a dense or sparse matrix.

    Computed on ``X`` divided by its largest absolute value, so that no square
    overflows for data that :func:`check_coordinates` accepts.
    """
    scale = largest_abs(X)
    if scale == 0:
        return 0.0
    X = X / scale
    if sp.issparse(X):
        mean = X.mean()
        return float(X.multiply(X).mean() - mean**2) * scale**2
    return float(X.var()) * scale**2


def _nearest_squared_distances_to(X, sample):
    """:func:`nearest_squared_distances` of ``sample`` to a chunk ``X`` of the fit points."""
    return nearest_squared_distances(sample, X)


def _moments(X):
    """(largest |x|, count, mean, M2) of the entries of a chunk divided by its largest |x|."""
    values = X.toarray() if sp.issparse(X) else X
    largest = float(np.abs(values).max()) if values.size else 0.0
    scaled = values / largest if largest > 0 else values
    mean = float(scaled.mean()) if values.size else 0.0
    return largest, values.size, mean, float(((scaled - mean) ** 2).sum())


def _pooled_variance(moments):
    """Variance of all entries from the :func:`_moments` of each chunk (Chan's pairwise
    update of (count, mean, M2), every chunk divided by the largest value)."""
    scale = max(largest for largest, _, _, _ in moments)
    if scale == 0:
        return 0.0
    count, mean, m2 = 0, 0.0, 0.0
    for largest, size, chunk_mean, chunk_m2 in moments:
        ratio = largest / scale
        chunk_mean, chunk_m2 = chunk_mean * ratio, chunk_m2 * ratio**2
        delta, total = chunk_mean - mean, count + size
        mean += delta * size / total
        m2 += chunk_m2 + delta**2 * count * size / total
        count = total
    return m2 / count * scale**2
