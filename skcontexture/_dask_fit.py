"""The fit of ContextureEmbedding on a dask array, on a ``distributed`` cluster.

Neither the rows of X nor the joint are ever gathered on one process:

1. The row chunks of X are persisted on the workers (:class:`~skcontexture._dask_layout._Layout`),
   regrouped by region for the neighbour contexts.
2. The context's joint is built chunk by chunk on the workers. kNN and the
   truncated RBF kernel: the exact search of
   :class:`~skcontexture._dask_neighbors.DaskNeighborIndex`. Co-occurrence:
   the chunks are the joint, scaled by reductions.
3. :class:`~skcontexture._dask_operator.DaskContextOperator` holds the
   normalised joint as one shard per worker and runs the solvers' products
   there; :func:`~skcontexture._solvers.top_singular_triplets` runs unchanged
   on the client.
4. ``embedding_`` is computed on the workers, a dask array with X's row chunks.

The fitted context answers ``conditional`` through the cluster (its index
holds the fit points on the workers), for in-memory rows and, lazily, for
dask arrays. The fitted model refers to data held by the cluster: it lives as
long as the client.
"""

import copy
import warnings
from functools import partial

import dask.array as da
import numpy as np
import scipy.sparse as sp

from ._dask_layout import _Layout
from ._dask_neighbors import DaskNeighborIndex, _checked, _dtype, _neighbor_rows
from ._dask_operator import DaskContextOperator
from ._progress import Progress
from .contexts import CooccurrenceContext, KNNContext, RBFContext
from .contexts._rbf import local_gamma, mass_sample_rows, nearest_squared_distances, variance_gamma

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
    context = estimator._seeded_context()
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
        regrouped = layout.by_locality(getattr(context, "metric", "euclidean"))
        if regrouped is not layout:
            layout = regrouped
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
    if isinstance(context, KNNContext):
        context.n_neighbors_ = k
    parts = layout.parts
    if isinstance(context, RBFContext):
        context.gamma_ = (
            _default_gamma(client, layout, n, X.shape[1]) if context.gamma is None
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


def _joint_rows(context, neighbors, n_samples):
    """A chunk of the fit joint: its conditional rows with mass 1 / n_samples each."""
    return (_neighbor_rows(context, neighbors) / n_samples).tocsr()


def _default_gamma(client, layout, n_samples, n_features):
    """RBFContext's gamma=None rule: the sampled rows' nearest distances, chunk by chunk."""
    sample = layout.rows(mass_sample_rows(n_samples))
    nearest = np.hstack(client.gather([client.submit(nearest_squared_distances, sample, part)
                                       for part in layout.parts]))
    gamma = local_gamma(np.sort(nearest, axis=1))
    return _variance_gamma(client, layout.parts, n_features) if gamma is None else gamma


def _variance_gamma(client, parts, n_features):
    """RBFContext's fallback width, 1 / (n_features * X.var()), by a reduction."""
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
    return variance_gamma(m2 / count * scale**2, n_features)


def _moments(X):
    """(largest |x|, count, mean, M2) of the entries of a chunk divided by its largest |x|."""
    values = X.toarray() if sp.issparse(X) else X
    largest = float(np.abs(values).max()) if values.size else 0.0
    scaled = values / largest if largest > 0 else values
    mean = float(scaled.mean()) if values.size else 0.0
    return largest, values.size, mean, float(((scaled - mean) ** 2).sum())


def _mass_kept(client, context, layout):
    """RBFContext's ``kernel_mass_kept_``: the kernel sums of sampled rows, chunk by chunk."""
    sample = layout.rows(mass_sample_rows(context.n_atoms_))
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
