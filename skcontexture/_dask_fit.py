"""The fit of ContextureEmbedding on a dask array, on a ``distributed`` cluster.

Neither the rows of X nor the joint are ever gathered on one process:

1. The row chunks of X are persisted on the workers, in contiguous groups
   (chunk i on worker ``i * n_workers // n_chunks``).
2. The context's joint is built chunk by chunk on the workers. kNN and the
   truncated RBF kernel: an exact search, where the fit points of each worker
   get a :class:`~skcontexture.contexts._neighbors.NeighborIndex` and every
   chunk of queries walks through all of them, keeping its k nearest so far
   (ties by fit index, as in memory). Co-occurrence: the chunks are the joint, scaled by
   reductions.
3. :class:`DaskContextOperator` stacks the joint chunks of each worker into one
   normalised shard over the atoms they reference, with the normalisation,
   deflation and dropping of rows and atoms without mass of
   :class:`~skcontexture._operator.ContextOperator`. It has the operator
   interface the solvers read, so :func:`~skcontexture._linalg.top_singular_triplets`
   runs unchanged on the client: each block product is one task per worker
   (the worker's slice of the block in, its part of the product out); the
   small dense steps (Rayleigh-Ritz) stay on the client.
4. ``embedding_`` is computed on the workers, a dask array with X's row chunks.

The fitted context answers ``conditional`` through the cluster: its
:class:`DaskNeighborIndex` holds the fit points as chunks on the workers,
queries them for in-memory rows and maps a dask array of rows lazily
(:meth:`DaskNeighborIndex.lazy_conditional`, which the model's ``transform``
of a dask array extends). The fitted model refers to data held by the
cluster: it lives as long as the client.
"""

import copy
import warnings
from functools import partial
from operator import getitem
from typing import NamedTuple

import dask
import dask.array as da
import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.base import clone
from sklearn.utils import check_array
from threadpoolctl import threadpool_limits

from ._constraints import n_threads
from ._kernels import NumpyBlocks, SparseOperator, _weighted_sum, column_dots, cross_product, rotate
from ._operator import _bipartite, _count_components, _scatter
from ._progress import Progress
from .contexts import CooccurrenceContext, KNNContext, RBFContext
from .contexts._base import rows_from_neighbors
from .contexts._neighbors import NeighborIndex
from .contexts._rbf import mass_sample_rows

#: Blocks larger than this go straight from the client to their worker
#: (``Client.scatter``, one more round trip); smaller ones travel inside the
#: task, through the scheduler (distributed warns from 10 MB of task data on).
SCATTER_BYTES = 2**23

_SUPPORTED = (
    "KNNContext, RBFContext with n_neighbors set, and CooccurrenceContext (a dask array "
    "of dense or sparse count chunks)"
)


def fit_on_cluster(estimator, X, y=None, **fit_params):
    """Fit a ContextureEmbedding on a dask array with the active ``distributed`` client.

    Parameters
    ----------
    estimator : ContextureEmbedding
    X : dask.array.Array of shape (n_samples, n_features)
        Row chunks of known sizes (any number of column chunks).
    y : None
        Ignored (the supported contexts use no targets).
    **fit_params : dict
        Must be empty.

    Returns
    -------
    estimator : ContextureEmbedding
        Fitted; ``embedding_`` is a dask array with X's row chunks, held by the
        workers.
    """
    progress = Progress(estimator.verbose, type(estimator).__name__)
    context = clone(estimator._context())
    _check_context(context, fit_params)
    X = _check_X(X)
    client = _client()
    estimator.n_features_in_ = X.shape[1]
    if hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_
    if isinstance(context, CooccurrenceContext):
        layout = _Layout(client, X)
        joint = _cooccurrence_joint(client, context, X, layout.parts)
    else:
        layout = _Layout(client, X, partial(_checked, dtype=_dtype(context)))
        if _localizable(X, layout):
            layout = layout.by_locality(getattr(context, "metric", "euclidean"))
            progress.done(f"rows regrouped by worker for locality ({layout.summary()})")
        joint = _neighbor_joint(client, context, X, layout)
    progress.done(f"{type(context).__name__} on {X.shape[0]} x {X.shape[1]} in {len(joint)} "
                  f"chunks on {len(set(layout.owners))} worker(s): joint chunks scheduled")
    operator = DaskContextOperator(client, joint, context.n_atoms_, layout.owners,
                                   estimator.n_jobs)
    del joint
    atom_functions = estimator._solve(operator, context, progress)
    progress.done(f"{operator.n_products} products, {operator.bytes_sent / 1e6:.1f} MB sent "
                  f"to and {operator.bytes_received / 1e6:.1f} MB received from the workers")
    dtype = X.dtype
    scale = estimator.singular_values_ if estimator.scale == "singular_values" else 1.0
    V = atom_functions[operator.atoms] * operator.v0[:, None]  # the solver's nu_i sqrt(p_A)
    estimator.atom_functions_ = atom_functions.astype(dtype, copy=False)
    estimator.embedding_ = layout.rows_of_X(
        operator.row_functions(V * (scale / estimator.singular_values_), dtype),
        V.shape[1], dtype,
    )
    progress.done(f"Nystrom extension to the {X.shape[0]} fit rows")
    estimator._warn_degenerate(context)
    return estimator


def _groups(owners):
    """Each worker, in chunk order, with the indices of its chunks."""
    for worker in dict.fromkeys(owners):
        yield worker, [i for i, owner in enumerate(owners) if owner == worker]


def _client():
    try:
        from distributed import get_client
    except ImportError:  # pragma: no cover - dask without distributed
        raise ImportError(
            "ContextureEmbedding.fit of a dask array runs on a distributed cluster: "
            'install it with pip install "skcontexture[dask]".'
        ) from None
    try:
        return get_client()
    except ValueError:
        raise ValueError(
            "ContextureEmbedding.fit of a dask array runs on a distributed cluster, and "
            "there is no active client: start one first, e.g. "
            "distributed.Client(distributed.LocalCluster()), or fit on X.compute() if "
            "it fits in memory."
        ) from None


def _check_context(context, fit_params):
    if fit_params:
        raise TypeError(
            f"The fit of a dask array takes no fit parameters; got {sorted(fit_params)}."
        )
    if type(context) not in (KNNContext, RBFContext, CooccurrenceContext) or (
        isinstance(context, RBFContext) and context.n_neighbors is None
    ):
        raise ValueError(
            f"The fit of a dask array supports {_SUPPORTED}, not {context!r}. Fit on "
            "X.compute() if it fits in memory (or on a subsample), then transform the "
            "dask array: transform takes dask arrays with every context."
        )
    if getattr(context, "algorithm", "exact") == "nndescent":
        raise ValueError(
            f"The fit of a dask array searches neighbours exactly, chunk against chunk; "
            f"{type(context).__name__}(algorithm='nndescent') is not supported: use "
            "algorithm='exact' or 'auto'."
        )


def _check_X(X):
    """X as a float dask array of known row chunks and a single column chunk."""
    if not isinstance(X, da.Array):
        raise TypeError(
            f"The fit of a dask collection takes a dask.array.Array, not a "
            f"{type(X).__module__}.{type(X).__name__}: convert a dask DataFrame with "
            "X.to_dask_array(lengths=True)."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D dask array, got {X.ndim}D: reshape it to (n_samples, n_features)."
        )
    if any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError(
            "The row chunk sizes of X are unknown: call X.compute_chunk_sizes() first."
        )
    if X.shape[0] < 2:
        raise ValueError(f"Found {X.shape[0]} sample(s) while a minimum of 2 is required.")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must be numeric, not of dtype {X.dtype}.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X.rechunk({1: -1})


def _dtype(context):
    """The dtype the in-memory context searches in (the RBF kernel in float64)."""
    return np.float64 if isinstance(context, RBFContext) else None


def _checked(X, dtype):
    """A validated chunk of rows (finite), CSR if sparse."""
    return check_array(X, accept_sparse="csr", dtype=dtype or "numeric")


# ----------------------------------------------------------------------
# layout
# ----------------------------------------------------------------------

#: Rows of X sampled (evenly spaced) to choose the regrouping by locality.
LOCALITY_SAMPLE_ROWS = 20_000


class _Layout:
    """Where the rows of X are during a fit: chunks held by the workers.

    As given, chunk i of X goes to worker ``i * n_workers // n_chunks``
    (contiguous groups). :meth:`by_locality` regroups the rows so that each
    worker holds a compact region of the data: the neighbours of its points
    are then mostly its own, and the workers exchange only the rows of the
    atoms near the borders of their regions.

    Parameters
    ----------
    client : distributed.Client
    X : dask.array.Array
    prepare : callable or None
        Applied to each chunk on its worker (validation).

    Attributes
    ----------
    parts : list of distributed.Future
        The chunks, a worker's chunks contiguous.
    owners : list of str
        The worker of each chunk.
    origins : list of ndarray of int
        The row of X of each row of each chunk (increasing within a chunk).
    """

    def __init__(self, client, X, prepare=None):
        self._client, self._X = client, X
        workers = sorted(client.scheduler_info()["workers"])
        n_chunks = X.numblocks[0]
        self.owners = [workers[i * len(workers) // n_chunks] for i in range(n_chunks)]
        self.parts = [
            client.compute(block, workers=[owner], allow_other_workers=True)
            for block, owner in zip(X.to_delayed().ravel(), self.owners)
        ]
        if prepare is not None:
            self.parts = [client.submit(prepare, part) for part in self.parts]
        bounds = np.concatenate([[0], np.cumsum(X.chunks[0])])
        self.origins = [np.arange(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
        self._labels = None

    def by_locality(self, metric):
        """This layout regrouped by region: one region per worker, of about equal sizes.

        The regions are cut by recursive bisection along the principal axis
        of a sample of rows (:func:`_bisection`). Chunk j of worker w is the
        rows of X's chunk j in w's region; empty pieces are left out. If a
        region would get less than a quarter of its share (heavily
        duplicated rows), the layout is returned as it is.
        """
        client, workers = self._client, list(dict.fromkeys(self.owners))
        n = self._X.shape[0]
        rows = np.unique(np.linspace(0, n - 1, min(n, LOCALITY_SAMPLE_ROWS)).astype(int))
        pieces = client.gather([
            client.submit(getitem, part, np.flatnonzero(np.isin(origin, rows)))
            for part, origin in zip(self.parts, self.origins) if np.isin(origin, rows).any()
        ])
        splits = _bisection(_for_metric(np.vstack(pieces), metric), len(workers))
        labels = client.gather([client.submit(_regions, part, splits, metric)
                                for part in self.parts])
        sizes = np.bincount(np.concatenate(labels), minlength=len(workers))
        if sizes.min() < n / len(workers) / 4:
            return self
        layout = copy.copy(self)
        layout.parts, layout.owners, layout.origins = [], [], []
        for region, worker in enumerate(workers):
            for part, origin, label in zip(self.parts, self.origins, labels):
                mine = np.flatnonzero(label == region)
                if len(mine):
                    layout.parts.append(client.submit(
                        getitem, part, mine, workers=[worker], allow_other_workers=True))
                    layout.owners.append(worker)
                    layout.origins.append(origin[mine])
        layout._labels = labels
        return layout

    def summary(self):
        """Rows per worker, as text."""
        sizes = {}
        for owner, origin in zip(self.owners, self.origins):
            sizes[owner] = sizes.get(owner, 0) + len(origin)
        return ", ".join(f"{size} rows" for size in sizes.values())

    def rows_of_X(self, blocks, n_columns, dtype):
        """Per-chunk futures of row blocks (in this layout) as a dask array in X's chunks."""
        if self._labels is None:
            pieces = [da.from_delayed(block, shape=(len(origin), n_columns), dtype=dtype)
                      for block, origin in zip(blocks, self.origins)]
            return da.concatenate(pieces)
        bounds = np.concatenate([[0], np.cumsum(self._X.chunks[0])])
        chunk_of = [int(np.searchsorted(bounds, origin[0], side="right")) - 1
                    for origin in self.origins]
        workers = list(dict.fromkeys(self.owners))
        chunks = []
        for j, (label, size) in enumerate(zip(self._labels, self._X.chunks[0])):
            mine = {workers.index(owner): block
                    for block, owner, chunk in zip(blocks, self.owners, chunk_of) if chunk == j}
            future = self._client.submit(
                _interleave, label, [mine.get(region) for region in range(len(workers))],
                n_columns, dtype, pure=False,
            )
            chunks.append(da.from_delayed(future, shape=(size, n_columns), dtype=dtype))
        return da.concatenate(chunks)


def _localizable(X, layout):
    """Whether to regroup the rows by locality: dense rows on more than one worker."""
    return isinstance(getattr(X, "_meta", None), np.ndarray) and len(set(layout.owners)) > 1


def _for_metric(X, metric):
    """Rows as the neighbour search compares them: unit rows for "cosine"."""
    if metric != "cosine":
        return X
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def _bisection(sample, n_regions):
    """Recursive bisection of a sample along its principal axes into equal regions.

    Returns the splits: ``(mean, axis, threshold, low, high)``, where a row
    goes to ``low`` if ``(x - mean) @ axis <= threshold``; a child is the
    index of another split, or ``~region`` (negative) for a region. Split 0
    is the root.
    """
    splits = []

    def split(points, first, count):
        if count == 1:
            return ~first
        low = count // 2
        if len(points) < 2:  # nothing to split: the regions stay empty (the caller gives up)
            mean, axis, threshold = np.zeros(sample.shape[1]), np.zeros(sample.shape[1]), 0.0
            projection = np.zeros(len(points))
        else:
            mean = points.mean(axis=0)
            centred = points - mean
            axis = np.linalg.svd(centred.T @ centred)[0][:, 0]
            projection = centred @ axis
            threshold = float(np.quantile(projection, low / count))
        node = len(splits)
        splits.append(None)
        below = projection <= threshold
        children = (split(points[below], first, low),
                    split(points[~below], first + low, count - low))
        splits[node] = (mean, axis, threshold, *children)
        return node

    split(sample, 0, n_regions)
    return splits


def _regions(X, splits, metric):
    """The region of each row of a chunk, by the splits of :func:`_bisection`."""
    X = _for_metric(X, metric)
    at = np.zeros(len(X), dtype=np.int64)
    while np.any(at >= 0):
        for node in np.unique(at[at >= 0]):
            rows = np.flatnonzero(at == node)
            mean, axis, threshold, low, high = splits[node]
            at[rows] = np.where((X[rows] - mean) @ axis <= threshold, low, high)
    return ~at


def _interleave(labels, blocks, n_columns, dtype):
    """A chunk of X's rows from the blocks of its rows in each region (None: no rows there)."""
    out = np.empty((len(labels), n_columns), dtype=dtype)
    for region, block in enumerate(blocks):
        if block is not None:
            out[labels == region] = block
    return out


# ----------------------------------------------------------------------
# joints
# ----------------------------------------------------------------------


def _neighbor_joint(client, context, X, layout):
    """Fit a KNNContext or RBFContext on the chunks of a layout; return its joint chunks."""
    k, n = context.n_neighbors, X.shape[0]
    if k > n:
        raise ValueError(
            f"n_neighbors={k} is larger than the number of fit samples ({n}); "
            f"use n_neighbors <= {n}."
        )
    metric = getattr(context, "metric", "euclidean")
    context.n_features_in_, context.n_atoms_ = X.shape[1], n
    parts = layout.parts
    if isinstance(context, RBFContext):
        context.gamma_ = (
            _scale_gamma(client, parts, X.shape[1]) if context.gamma is None
            else float(context.gamma)
        )
    index = DaskNeighborIndex(client, parts, layout.origins, layout.owners, metric, k)
    workers = list(dict.fromkeys(layout.owners))
    homes = [workers.index(owner) for owner in layout.owners]
    found = client.compute(index.nearest(parts, k, homes))
    lean = copy.copy(context)
    joint = [client.submit(_joint_rows, lean, neighbors, n) for neighbors in found]
    context.index_ = index
    if isinstance(context, RBFContext):
        context._set_mass_kept(_mass_kept(client, context, layout))
    return joint


def _neighbor_rows(context, neighbors):
    """P+(. | x) of a kNN or truncated RBF context, from the merged neighbours of its rows."""
    distances, indices = neighbors
    weights = context._weights(distances**2) if isinstance(context, RBFContext) else None
    return rows_from_neighbors(indices, weights, context.n_atoms_)


def _joint_rows(context, neighbors, n_samples):
    """A chunk of the fit joint: its conditional rows with mass 1 / n_samples each."""
    return (_neighbor_rows(context, neighbors) / n_samples).tocsr()


def _scale_gamma(client, parts, n_features):
    """RBFContext's gamma=None rule, 1 / (n_features * X.var()), by a reduction."""
    moments = client.gather([client.submit(_moments, part) for part in parts])
    scale = max(largest for largest, _, _, _ in moments)
    if scale == 0:
        return 1.0
    # Chan's pairwise update of (count, mean, M2), every chunk divided by the largest value
    count, mean, m2 = 0, 0.0, 0.0
    for largest, size, chunk_mean, chunk_m2 in moments:
        ratio = largest / scale
        chunk_mean, chunk_m2 = chunk_mean * ratio, chunk_m2 * ratio**2
        delta, total = chunk_mean - mean, count + size
        mean += delta * size / total
        m2 += chunk_m2 + delta**2 * count * size / total
        count = total
    variance = m2 / count * scale**2
    return 1.0 / (n_features * variance) if variance > 0 else 1.0


def _moments(X):
    """(largest |x|, count, mean, M2) of the entries of a chunk divided by its largest |x|."""
    values = X.toarray() if sp.issparse(X) else X
    largest = float(np.abs(values).max()) if values.size else 0.0
    scaled = values / largest if largest > 0 else values
    mean = float(scaled.mean()) if values.size else 0.0
    return largest, values.size, mean, float(((scaled - mean) ** 2).sum())


def _mass_kept(client, context, layout):
    """RBFContext's ``kernel_mass_kept_``: the kernel sums of sampled rows, chunk by chunk."""
    rows = mass_sample_rows(context.n_atoms_)
    pieces = client.gather([
        client.submit(getitem, part, np.flatnonzero(np.isin(origin, rows)))
        for part, origin in zip(layout.parts, layout.origins) if np.isin(origin, rows).any()
    ])
    sample = sp.vstack(pieces, format="csr") if sp.issparse(pieces[0]) else np.vstack(pieces)
    distances, _ = context.index_.kneighbors(sample, context.n_neighbors)
    lean = copy.copy(context)
    del lean.index_
    sums = client.gather([client.submit(_kernel_sums, lean, sample, part)
                          for part in layout.parts])
    nearest = np.min([chunk_nearest for chunk_nearest, _ in sums], axis=0)
    total = sum(context._kernel(chunk_nearest, nearest) * chunk_sum
                for chunk_nearest, chunk_sum in sums)
    return context._mass_fraction(distances, total, nearest[:, None])


def _kernel_sums(context, sample, X):
    """Per sampled row: its nearest squared distance to the chunk and the kernel sum from it."""
    from sklearn.metrics.pairwise import euclidean_distances

    squared = euclidean_distances(sample, X, squared=True)
    nearest = squared.min(axis=1)
    return nearest, context._kernel(squared, nearest[:, None]).sum(axis=1)


def _cooccurrence_joint(client, context, X, parts):
    """Fit a CooccurrenceContext on the persisted chunks; return the joint chunks X / X.sum()."""
    context.n_features_in_ = context.n_atoms_ = X.shape[1]
    parts = [client.submit(_cooccurrence_chunk, context, part) for part in parts]
    stats = client.gather([client.submit(_largest_and_empty, part) for part in parts])
    largest = max(value for value, _ in stats)
    if largest <= 0:
        raise ValueError("CooccurrenceContext needs a matrix with positive entries.")
    n_empty = sum(empty for _, empty in stats)
    if n_empty:
        # the context's own warning, for the empty rows of every chunk
        context._validate(sp.csr_matrix((n_empty, X.shape[1])), reset=False)
    parts = [client.submit(_divided, part, largest) for part in parts]  # entries at most 1
    total = sum(client.gather([client.submit(_total, part) for part in parts]))
    return [client.submit(_divided, part, total) for part in parts]


def _cooccurrence_chunk(context, X):
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


# ----------------------------------------------------------------------
# neighbours
# ----------------------------------------------------------------------


class DaskNeighborIndex:
    """Exact nearest fit points, the fit points held as row chunks on the workers.

    The chunks each worker holds (contiguous in fit order) get one exact
    :class:`~skcontexture.contexts._neighbors.NeighborIndex` on that worker; a
    chunk of queries walks through them all, keeping its k nearest so far,
    ties broken by fit index: the neighbours of the in-memory index of all the
    points. It answers ``kneighbors`` of in-memory rows (a fitted context's
    ``conditional``) through the cluster, and :meth:`nearest` builds the graph
    for chunks of queries.

    Parameters
    ----------
    client : distributed.Client
    parts : list of distributed.Future
        The chunks of fit points, validated.
    sizes : tuple of int
        Rows of each chunk.
    owners : list of str
        The worker of each chunk; a worker's chunks must be contiguous.
    metric : str or callable
        As for :class:`~skcontexture.KNNContext`.
    n_neighbors : int
        Largest k that will be queried.
    """

    def __init__(self, client, parts, origins, owners, metric, n_neighbors):
        self.indexes = []
        for worker, chunks in _groups(owners):
            origin = np.concatenate([origins[i] for i in chunks])
            self.indexes.append(client.submit(
                _GroupIndex, [parts[i] for i in chunks], origin, metric,
                min(n_neighbors, len(origin)), workers=[worker], allow_other_workers=True,
            ))
        self.n_samples_fit_ = sum(len(origin) for origin in origins)

    def nearest(self, queries, k, homes=None):
        """The graph of the k nearest fit points of each chunk of queries.

        A chunk is searched first in the index of its home worker (its k
        nearest there), then in the others only within the k-th distance
        found so far: most points of a chunk are far from most other workers'
        points, and those searches return almost nothing.

        Parameters
        ----------
        queries : list of dask.delayed.Delayed or distributed.Future
            Chunks of validated query rows.
        k : int
        homes : list of int or None
            The position of each chunk's worker among the indexes; None: the
            first index.

        Returns
        -------
        list of dask.delayed.Delayed
            ``(distances, indices)`` of each chunk, nearest first.
        """
        found = []
        for query, home in zip(queries, homes or [0] * len(queries)):
            best = None
            for i in [home] + [i for i in range(len(self.indexes)) if i != home]:
                best = dask.delayed(_nearest, pure=True)(self.indexes[i], query, best, k)
            found.append(best)
        return found

    def kneighbors(self, X, k):
        """Return ``(distances, indices)`` of the k nearest fit points of in-memory rows.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_queries, n_features)
        k : int

        Returns
        -------
        distances : ndarray of shape (n_queries, k)
        indices : ndarray of shape (n_queries, k)
        """
        (found,) = dask.compute(self.nearest([dask.delayed(X)], k)[0])
        return found

    def lazy_conditional(self, context, X):
        """The conditional rows of a dask array for the context holding this index, lazily.

        Parameters
        ----------
        context : KNNContext or RBFContext
            Fitted on the cluster; its ``index_`` is this index.
        X : dask.array.Array of shape (n_queries, n_features)
            One column chunk, rows already validated on a stand-in.

        Returns
        -------
        rows : dask.array.Array of shape (n_queries, n_atoms_)
            X's row chunks, each a ``scipy.sparse.csr_matrix``.
        """
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        blocks = X.astype(dtype).to_delayed().ravel()
        found = self.nearest([dask.delayed(_checked)(b, _dtype(context)) for b in blocks],
                             context.n_neighbors)
        lean = copy.copy(context)
        del lean.index_  # the blocks get their neighbours; the index stays on the workers
        lean = dask.delayed(lean, pure=True)
        meta = sp.csr_matrix((0, context.n_atoms_))
        return da.concatenate([
            da.from_delayed(dask.delayed(_neighbor_rows)(lean, neighbors),
                            shape=(rows, context.n_atoms_), meta=meta)
            for neighbors, rows in zip(found, X.chunks[0])
        ])


class _GroupIndex:
    """The exact index of a worker's chunks of fit points, answering in fit indices.

    Parameters
    ----------
    parts : list of {ndarray, sparse matrix}
        The worker's chunks, in the order of ``origin``.
    origin : ndarray of int
        The fit index of each of their rows, increasing within each chunk.
    metric : str or callable
    n_neighbors : int
    """

    def __init__(self, parts, origin, metric, n_neighbors):
        X = sp.vstack(parts, format="csr") if sp.issparse(parts[0]) else np.vstack(parts)
        self.index = NeighborIndex("exact", metric, n_neighbors, None, None).fit(X)
        self.origin = origin
        self.n_samples_fit_ = len(origin)

    def kneighbors(self, X, k):
        distances, indices = self.index.kneighbors(X, k)
        return distances, self.origin[indices]

    def within(self, X, radii):
        distances, indices, counts = self.index.within(X, radii)
        return distances, self.origin[indices], counts


def _nearest(index, X, best, k):
    """The k nearest among ``best`` and the fit points of one index (ties by fit index).

    With k found already, only the index's points within the k-th distance
    can enter: a radius search.
    """
    if best is not None and best[0].shape[1] == k:
        distances, indices, counts = index.within(X, best[0][:, -1])
    else:
        distances, indices = index.kneighbors(X, min(k, index.n_samples_fit_))
        if best is None:
            return distances, indices
        counts = np.full(len(distances), distances.shape[1])
        distances, indices = distances.ravel(), indices.ravel()
    n_rows, n_best = best[0].shape
    every_row = np.arange(n_rows)
    rows = np.concatenate([np.repeat(every_row, n_best), np.repeat(every_row, counts)])
    distances = np.concatenate([best[0].ravel(), distances])
    indices = np.concatenate([best[1].ravel(), indices])
    order = np.lexsort((indices, distances, rows))
    k = min(k, n_best + int(counts.min()) if n_rows else k)
    take = np.searchsorted(rows[order], every_row)[:, None] + np.arange(k)
    return distances[order][take], indices[order][take]


# ----------------------------------------------------------------------
# the operator
# ----------------------------------------------------------------------


class DaskContextOperator:
    """The deflated normalised operator of a joint held as row chunks on a cluster.

    The interface of :class:`~skcontexture._operator.ContextOperator` that the
    solvers read (``shape``, ``matmat``, ``rmatmat``, ``gram_matmat``,
    ``gram_trace``, ``gram``, ``n_connected_components``, ``u0``, ``v0``,
    ``n_threads``), with the same normalisation, deflation and dropping of
    rows and atoms without mass. Rows keep the order of the chunks and atoms
    their index order (no reverse Cuthill-McKee: it needs the whole graph).

    Each worker holds one shard: the normalised rows of its chunks over the
    atoms they reference. A product sends each worker its slice of the block
    (the referenced atoms, or its rows) and gets its part of the result back;
    the Gram product keeps the middle block on the workers.

    Parameters
    ----------
    client : distributed.Client
    joint : list of distributed.Future
        The joint's row chunks (CSR, nonnegative).
    n_atoms : int
        Columns of the joint.
    owners : list of str
        The worker of each chunk; a worker's chunks must be contiguous.
    n_jobs : int or None
        Threads of the sparse products on the workers and of the dense
        products on the client; None means 1.

    Attributes
    ----------
    u0, v0 : ndarray
        The trivial singular vectors sqrt(p_X), sqrt(p_A), on the kept rows and atoms.
    rows, atoms : ndarray of int
        Caller's index of each kept row and atom, in internal order.
    n_products, bytes_sent, bytes_received : int
        Block products run (a Gram product counts two), and the bytes of blocks
        sent to and received from the workers.
    """

    def __init__(self, client, joint, n_atoms, owners, n_jobs=None):
        self._client = client
        self.n_threads = n_threads(n_jobs)
        self.n_products = self.bytes_sent = self.bytes_received = 0
        self.bytes_between_workers = 0
        masses = client.gather([client.submit(_masses, part) for part in joint])
        total = sum(float(rows.sum()) for rows, _, _ in masses)
        if total <= 0:
            raise ValueError("The joint has no mass.")
        p_a = np.zeros(n_atoms)
        for _, columns, sums in masses:
            p_a[columns] += sums
        p_a /= total
        self.atoms = np.flatnonzero(p_a > 0)
        self.p_a = p_a[self.atoms]
        self.v0 = np.sqrt(self.p_a)
        p_x = [rows / total for rows, _, _ in masses]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in p_x])])
        self.rows = np.concatenate([offsets[i] + np.flatnonzero(p > 0) for i, p in enumerate(p_x)])
        self.p_x = np.concatenate([p[p > 0] for p in p_x])
        self.u0 = np.sqrt(self.p_x)
        self.shape = (len(self.rows), len(self.atoms))
        self.n_atoms = n_atoms

        groups = list(_groups(owners))
        self._workers = [worker for worker, _ in groups]
        self._columns = [
            np.searchsorted(self.atoms, np.unique(np.concatenate([masses[i][1] for i in chunks])))
            for _, chunks in groups
        ]
        self._sizes = [[len(p_x[i]) for i in chunks] for _, chunks in groups]
        n_kept = [sum(int(np.sum(p_x[i] > 0)) for i in chunks) for _, chunks in groups]
        row_bounds = np.concatenate([[0], np.cumsum(n_kept)])
        self._row_slices = [slice(lo, hi) for lo, hi in zip(row_bounds[:-1], row_bounds[1:])]
        plans = (self._plan([[masses[i] for i in chunks] for _, chunks in groups])
                 if self.shape[1] <= self.shape[0] else [None] * len(groups))
        self._shards = [
            client.submit(
                _Shard, [joint[i] for i in chunks], self.atoms[columns], self.v0[columns], total,
                n_jobs, plan, workers=[worker], allow_other_workers=True,
            )
            for (worker, chunks), columns, plan in zip(groups, self._columns, plans)
        ]
        summaries = client.gather(
            [client.submit(getattr, shard, "summary") for shard in self._shards]
        )
        self._trace = sum(frobenius for frobenius, _ in summaries) - 1.0
        self._n_components = _components(
            [(labels, columns) for (_, labels), columns in zip(summaries, self._columns)],
            self.shape[1],
        )

    def _plan(self, masses):
        """Which atoms each worker owns in worker-held blocks, and what it lends and borrows.

        Each atom is owned by the worker whose rows put the most mass on it
        (the first such worker on a tie): for a kNN context, mostly the worker
        that holds the point. The owner holds that atom's rows of every block.
        A shard references the atoms ``columns[w]``; it borrows their rows
        from their owners and returns its part of each product to them.

        Parameters
        ----------
        masses : list of list of tuple
            Per worker, the ``_masses`` of its chunks.
        """
        m = self.shape[1]
        best, owner_of = np.zeros(m), np.zeros(m, dtype=np.int64)
        for worker, chunks in enumerate(masses):
            mass = np.zeros(m)
            for _, columns, sums in chunks:
                mass[np.searchsorted(self.atoms, columns)] += sums
            more = mass > best
            best[more], owner_of[more] = mass[more], worker
        n_workers = len(masses)
        self._owned = [np.flatnonzero(owner_of == worker) for worker in range(n_workers)]
        self._exchanged_rows = 0
        self._links = np.zeros((n_workers, n_workers), dtype=bool)
        lend = [[None] * n_workers for _ in range(n_workers)]  # [owner][borrower]
        borrow = [[None] * n_workers for _ in range(n_workers)]  # [borrower][owner]
        for borrower, columns in enumerate(self._columns):
            owners = owner_of[columns]
            for owner, owned in enumerate(self._owned):
                here = np.flatnonzero(owners == owner)
                if not len(here):
                    continue
                self._links[borrower, owner] = True
                lend[owner][borrower] = np.searchsorted(owned, columns[here])
                borrow[borrower][owner] = here
                if borrower != owner:
                    self._exchanged_rows += 2 * len(here)  # there and back
        return [
            _Plan(worker, len(columns), self.v0[owned], lend[worker], borrow[worker])
            for worker, (owned, columns) in enumerate(zip(self._owned, self._columns))
        ]

    @property
    def blocks(self):
        """The algebra of the solvers' blocks: held by the workers when the atoms
        are the short side, else in memory on the client."""
        n, m = self.shape
        return WorkerBlocks(self) if m <= n else NumpyBlocks(self.n_threads)

    def _run(self, method, pieces, *args):
        """``shard.method(piece, *args)`` on every worker; the results in shard order."""
        client, futures = self._client, []
        for shard, piece, worker in zip(self._shards, pieces, self._workers):
            futures.append(client.submit(
                _call, shard, method, self._send(piece, worker), *args, workers=[worker],
                allow_other_workers=True, pure=False,
            ))
        results = client.gather(futures, direct=True)
        self.bytes_received += sum(np.asarray(part).nbytes for result in results
                                   for part in (result if isinstance(result, tuple) else [result]))
        return results

    def _send(self, block, worker):
        """The block as a task argument, or scattered straight to its worker when large."""
        self.bytes_sent += block.nbytes
        if block.nbytes > SCATTER_BYTES:
            return self._client.scatter(block, workers=[worker], direct=True, hash=False)
        return block

    def matmat(self, V):
        """Return (Q - u0 v0^T) @ V."""
        V = np.asarray(V, dtype=np.float64)
        self.n_products += 1
        parts = self._run("matmat", [V[columns] for columns in self._columns])
        return np.concatenate(parts) - np.multiply.outer(self.u0, self.v0 @ V)

    def rmatmat(self, U):
        """Return (Q - u0 v0^T)^T @ U."""
        U = np.asarray(U, dtype=np.float64)
        self.n_products += 1
        parts = self._run("rmatmat", [U[rows] for rows in self._row_slices])
        return self._add(parts) - np.multiply.outer(self.v0, self.u0 @ U)

    def _add(self, parts):
        """Sum the workers' parts over their atoms into one block over all atoms."""
        out = np.zeros((self.shape[1],) + parts[0].shape[1:])
        for columns, part in zip(self._columns, parts):
            if len(columns) == len(out):  # the shard references every atom
                out += part
            else:
                out[columns] += part
        return out

    def gram_matmat(self, X, *, scale=1.0, shift=0.0, previous=None, weight=0.0, out=None):
        """Return ``scale * (G @ X - shift * X) + weight * previous``, in X's dtype.

        G is the Gram matrix of the deflated operator D on its short side, as in
        :meth:`ContextOperator.gram_matmat`; with no more atoms than rows the
        middle block D X stays on the workers.
        """
        if isinstance(X, WorkerBlock):
            return self._worker_gram(X, scale, shift, previous, weight)
        n, m = self.shape
        if m > n:
            Y = self.matmat(self.rmatmat(X))
        else:
            self.n_products += 2
            c = self.v0 @ X.astype(np.float64)
            parts = self._run("gram", [X[columns] for columns in self._columns], c)
            Y = self._add([part for part, _ in parts])
            Y -= np.multiply.outer(self.v0, sum(dots for _, dots in parts))
        Y = scale * (Y - shift * X)
        if previous is not None:
            Y += weight * previous
        if out is None:
            return Y.astype(X.dtype, copy=False)
        out[...] = Y
        return out

    def _worker_gram(self, X, scale, shift, previous, weight):
        """:meth:`gram_matmat` of a block held by the workers, as tasks only.

        G = D^T D = Q^T Q - v0 v0^T (as Q v0 = u0 and Q^T u0 = v0). Each
        worker gets the rows of X its shard references from their owners,
        computes its part Q_w^T Q_w X over them and sends each owner the rows
        of its atoms; the owner adds the parts in worker order and applies the
        deflation (c = v0 . X, a sum of per-worker pieces) and the affine
        terms. Nothing goes through the client, which does not wait.
        """
        client, shards, workers, links = self._client, self._shards, self._workers, self._links
        self.n_products += 2
        self.bytes_between_workers += self._exchanged_rows * X.shape[1] * X.dtype.itemsize

        def submit(worker, *args):
            return client.submit(*args, workers=[worker], allow_other_workers=True, pure=False)

        c = client.submit(_ordered_sum, [
            submit(worker, _call, shard, "owned_dot", piece)
            for worker, shard, piece in zip(workers, shards, X.pieces)
        ], pure=False)
        parts = []
        for w, (worker, shard) in enumerate(zip(workers, shards)):
            borrowed = [
                submit(owner, _call, lender, "lend", piece, w) if u != w and links[w, u] else None
                for u, (owner, lender, piece) in enumerate(zip(workers, shards, X.pieces))
            ]
            parts.append(submit(worker, _call, shard, "gram_part", X.pieces[w], borrowed))
        previous = [None] * len(workers) if previous is None else previous.pieces
        pieces = [
            submit(owner, _call, shard, "combine",
                   [submit(workers[w], _call, shards[w], "part_for", part, u) if links[w, u]
                    else None for w, part in enumerate(parts)],
                   c, X.pieces[u], previous[u], scale, shift, weight)
            for u, (owner, shard) in enumerate(zip(workers, shards))
        ]
        return WorkerBlock(pieces, X.shape, X.dtype)

    def atom_functions(self, V):
        """Right singular vectors -> functions nu = V / sqrt(p_A) on all atoms (as in memory)."""
        return _scatter(V / self.v0[:, None], self.atoms, self.n_atoms)

    def gram_trace(self):
        """Trace of the Gram matrix of the deflated operator: ||Q||_F^2 - 1."""
        return max(self._trace, 0.0)

    def gram(self):
        """Dense Gram matrix of the deflated operator on its short side (the "dense" solver)."""
        G = self.gram_matmat(np.eye(min(self.shape)))
        return (G + G.T) / 2

    def n_connected_components(self):
        """Number of connected components of the bipartite graph rows <-> atoms."""
        return self._n_components

    def row_functions(self, V, dtype):
        """``(Q @ V) / u0`` on every row chunk, zero on rows without mass: their futures.

        With V = nu v0 / s this is ContextureEmbedding's Nystrom extension
        ``normalize_rows(joint) @ (atom_functions / s)`` of the fit rows. The
        chunks are computed and kept on the workers.
        """
        client, blocks = self._client, []
        for shard, worker, columns, sizes in zip(
            self._shards, self._workers, self._columns, self._sizes
        ):
            pieces = client.submit(_call, shard, "row_functions", self._send(V[columns], worker),
                                   dtype, workers=[worker], allow_other_workers=True, pure=False)
            blocks.extend(client.submit(getitem, pieces, j, pure=False) for j in range(len(sizes)))
        return blocks


class WorkerBlock:
    """A block of the short side held by the workers: each worker's piece of its rows.

    Parameters
    ----------
    pieces : list of distributed.Future
        The rows of the atoms each worker owns, in worker order.
    shape : tuple of int
    dtype : numpy.dtype
    """

    def __init__(self, pieces, shape, dtype):
        self.pieces, self.shape, self.dtype = pieces, tuple(shape), np.dtype(dtype)


class WorkerBlocks:
    """The block algebra of :class:`~skcontexture._kernels.NumpyBlocks` on worker-held blocks.

    Row-wise steps are one task per worker on its piece; reductions (the
    small cross products and column sums) are summed on the client in worker
    order. Pieces are never changed in place: ``out`` is ignored.

    Parameters
    ----------
    operator : DaskContextOperator
    """

    #: Rows per seed of the random starting block, so the block does not
    #: depend on how the atoms are split between the workers.
    RANDOM_ROWS = 2**16

    def __init__(self, operator):
        self._client, self._workers = operator._client, operator._workers
        self._owned, self.n_threads = operator._owned, operator.n_threads

    def _map(self, func, *blocks, args=()):
        """``func(piece of each block..., *args)`` on every worker: the futures."""
        return [
            self._client.submit(func, *pieces, *args, workers=[worker],
                                allow_other_workers=True, pure=False)
            for worker, *pieces in zip(self._workers, *[block.pieces for block in blocks])
        ]

    def _reduce(self, func, *blocks, args=()):
        return _ordered_sum(self._client.gather(self._map(func, *blocks, args=args)))

    def random(self, rng, shape, dtype):
        """A block of uniform values in [-1, 1), seeded from ``rng`` per RANDOM_ROWS atoms."""
        seed = int(rng.randint(np.iinfo(np.int32).max))
        pieces = [
            self._client.submit(_random_rows, seed, owned, shape[1], dtype, self.RANDOM_ROWS,
                                workers=[worker], allow_other_workers=True)
            for worker, owned in zip(self._workers, self._owned)
        ]
        return WorkerBlock(pieces, shape, dtype)

    def empty_like(self, X):
        return None

    def astype(self, X, dtype):
        return WorkerBlock(self._map(np.ndarray.astype, X, args=(dtype,)), X.shape, dtype)

    def affine(self, Y, X, shift, scale, out=None):
        return WorkerBlock(self._map(_affine, Y, X, args=(shift, scale)), X.shape, X.dtype)

    def cross(self, X, Y):
        return self._reduce(_cross, X, Y, args=(self.n_threads,))

    def rotate(self, X, Z, out=None):
        Z = np.ascontiguousarray(Z, dtype=X.dtype)
        return WorkerBlock(self._map(_rotated, X, args=(Z, self.n_threads)),
                           (X.shape[0], Z.shape[1]), X.dtype)

    def column_dots(self, X, Y):
        return self._reduce(column_dots, X, Y)

    def residual_norms(self, X, Y, theta):
        return np.sqrt(self._reduce(_residual_squares, X, Y, args=(theta,)))

    def orthonormalize(self, X):
        """An orthonormal basis with X's shape, by two Gram-matrix (eigh) passes."""
        for _ in range(2):
            norms, basis = scipy.linalg.eigh(self.cross(X, X).astype(np.float64))
            norms = np.maximum(norms, 1e-12 * max(norms.max(), 1e-300))
            X = self.rotate(X, basis / np.sqrt(norms))
        return X

    def leading(self, X, k):
        """The first k columns of X, gathered to the client."""
        out = np.empty((X.shape[0], k), dtype=X.dtype)
        pieces = self._client.gather(self._map(_leading, X, args=(k,)))
        for owned, piece in zip(self._owned, pieces):
            out[owned] = piece
        return out


def _random_rows(seed, rows, n_columns, dtype, rows_per_seed):
    """The given (sorted) rows of a uniform [-1, 1) block drawn per ``rows_per_seed`` rows."""
    block = np.empty((len(rows), n_columns))
    chunks = rows // rows_per_seed
    for chunk in np.unique(chunks):
        values = np.random.default_rng([seed, int(chunk)]).uniform(
            -1.0, 1.0, (rows_per_seed, n_columns))
        here = chunks == chunk
        block[here] = values[rows[here] - chunk * rows_per_seed]
    return block.astype(dtype)


def _affine(Y, X, shift, scale):
    return ((Y - shift * X) * scale).astype(X.dtype, copy=False)


def _cross(X, Y, n_threads):
    with threadpool_limits(limits=1, user_api="blas"):
        return cross_product(X, Y, n_threads)


def _rotated(X, Z, n_threads):
    with threadpool_limits(limits=1, user_api="blas"):
        return rotate(X, Z, np.empty((X.shape[0], Z.shape[1]), dtype=X.dtype), n_threads)


def _residual_squares(X, Y, theta):
    k = len(theta)
    return np.einsum("ij,ij->j", *(2 * [Y[:, :k] - X[:, :k] * theta]), dtype=np.float64)


def _leading(X, k):
    return np.ascontiguousarray(X[:, :k])


def _call(shard, method, *args):
    return getattr(shard, method)(*args)


def _masses(W):
    """Row sums, referenced atoms and their sums of a joint chunk."""
    W = sp.csr_matrix(W, dtype=np.float64)
    W.eliminate_zeros()
    columns = np.unique(W.indices)
    column_sums = np.asarray(W[:, columns].sum(axis=0)).ravel()
    return np.asarray(W.sum(axis=1)).ravel(), columns, column_sums


class _Shard:
    """One worker's joint chunks, normalised over the atoms they reference.

    Rows without mass are dropped; ``columns`` are the atoms the chunks
    reference (their caller's indices, sorted) and ``v0`` sqrt(p_A) on them.
    """

    def __init__(self, chunks, columns, v0, total, n_jobs, plan=None):
        self.plan = plan
        W = sp.vstack(chunks, format="csr", dtype=np.float64)
        W.eliminate_zeros()
        mass = np.asarray(W.sum(axis=1)).ravel()
        self.sizes = [chunk.shape[0] for chunk in chunks]
        self.kept = np.flatnonzero(mass > 0)
        W = W[self.kept]
        W = sp.csr_matrix((W.data, np.searchsorted(columns, W.indices), W.indptr),
                          shape=(len(self.kept), len(columns)))
        self.u0 = np.sqrt(mass[self.kept] / total)
        W.data *= np.repeat(1.0 / (total * self.u0), np.diff(W.indptr))
        W.data *= (1.0 / v0)[W.indices]
        # ||Q||_F^2 and the component of each atom within the shard
        _, labels = connected_components(_bipartite(W), directed=False)
        self.summary = float(np.dot(W.data, W.data)), labels[W.shape[0]:]
        self.operator = SparseOperator(W, n_jobs=n_jobs, copy=False)

    def matmat(self, V):
        return self.operator.matmat(V)

    def rmatmat(self, U):
        return self.operator.rmatmat(U)

    def gram(self, X, c):
        """Q^T (Q X - u0 c) and u0 . (Q X - u0 c), in X's dtype: half of D^T D X."""
        middle = self.operator.matmat(X)
        middle -= np.multiply.outer(self.u0, c)
        return self.operator.rmatmat(middle).astype(X.dtype, copy=False), self.u0 @ middle

    # the products of blocks held by the workers (see DaskContextOperator._worker_gram)

    def owned_dot(self, X):
        """v0 . X on the atoms this worker owns, in X's dtype."""
        return _weighted_sum(self.plan.v0.astype(X.dtype, copy=False), X)

    def lend(self, X, borrower):
        """The rows of this worker's piece of a block that ``borrower``'s shard references."""
        return X[self.plan.lend[borrower]]

    def gram_part(self, X, borrowed):
        """Q^T Q X over this shard's atoms, in X's dtype.

        ``X`` is this worker's piece of the block, ``borrowed`` the rows lent
        by the other workers (None for this one and for those not referenced).
        """
        plan = self.plan
        block = np.empty((plan.n_columns, X.shape[1]), dtype=X.dtype)
        for owner, (positions, piece) in enumerate(zip(plan.borrow, borrowed)):
            if owner == plan.worker and positions is not None:
                block[positions] = X[plan.lend[owner]]
            elif piece is not None:
                block[positions] = piece
        operator = self.operator
        middle = operator._apply(operator._Q, block, single=True)
        return operator._apply(operator._QT, middle, single=True)

    def part_for(self, part, owner):
        """The rows of a ``gram_part`` on the atoms ``owner`` owns."""
        return part[self.plan.borrow[owner]]

    def combine(self, parts, c, X, previous, scale, shift, weight):
        """This worker's piece of ``scale * (G X - shift * X) + weight * previous``.

        ``parts`` are the workers' parts on the atoms it owns (None where a
        shard references none of them), added in worker order; ``c`` is v0 . X.
        """
        Y = np.zeros_like(X)
        for positions, part in zip(self.plan.lend, parts):
            if part is None:
                continue
            if len(positions) == len(Y):
                Y += part
            else:
                Y[positions] += part
        Y -= np.multiply.outer(self.plan.v0.astype(Y.dtype, copy=False), c)
        Y = scale * (Y - shift * X)
        if previous is not None:
            Y += weight * previous
        return Y.astype(X.dtype, copy=False)

    def row_functions(self, V, dtype):
        """(Q V) / u0 on each chunk's rows (zero on rows without mass), in ``dtype``."""
        values = np.zeros((sum(self.sizes), V.shape[1]))
        values[self.kept] = self.operator.matmat(V) / self.u0[:, None]
        bounds = np.cumsum([0] + self.sizes)
        return [values[lo:hi].astype(dtype) for lo, hi in zip(bounds[:-1], bounds[1:])]


class _Plan(NamedTuple):
    """A worker's place in the products of worker-held blocks (DaskContextOperator._plan)."""

    worker: int  # its position among the workers
    n_columns: int  # the atoms its shard references
    v0: np.ndarray  # sqrt(p_A) on the atoms it owns
    lend: list  # per worker: positions among its owned atoms of those that shard references
    borrow: list  # per worker: positions among its shard's atoms of those that worker owns


def _ordered_sum(parts):
    """The sum of small arrays, in the order given (the same for any placement)."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def _components(shards, n_atoms):
    """Connected components of rows <-> atoms from each shard's components of its atoms.

    A component within a shard links the atoms it touches; every kept row and
    atom is in one, so the components of the graph "shard component <-> atom"
    are those of the whole graph.
    """
    rows, columns, offset = [], [], 0
    for labels, atoms in shards:
        rows.append(offset + labels)
        columns.append(atoms)
        offset += int(labels.max()) + 1 if len(labels) else 0
    rows, columns = np.concatenate(rows), np.concatenate(columns)
    pattern = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, columns)),
                            shape=(offset, n_atoms))
    return int(_count_components(pattern.indptr, pattern.indices, offset, n_atoms))
