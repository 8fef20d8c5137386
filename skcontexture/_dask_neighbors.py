"""The exact neighbour search of a distributed fit, with the fit points on the workers.

Each worker's fit points get one exact
:class:`~skcontexture.contexts._neighbors.NeighborIndex`. A chunk of queries
is searched first where its own points are, then in the other workers'
indexes only within the k-th distance found so far (ties by fit index, as in
memory). The fitted context keeps the :class:`DaskNeighborIndex`: it answers
``conditional`` through the cluster, for in-memory rows and, lazily, for dask
arrays.
"""

import copy

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

from ._dask_layout import _groups
from .contexts import RBFContext
from .contexts._base import rows_from_neighbors
from .contexts._neighbors import NeighborIndex


def _dtype(context):
    """The dtype the in-memory context searches in (the RBF kernel in float64)."""
    return np.float64 if isinstance(context, RBFContext) else None


def _checked(X, dtype):
    """A validated chunk of rows (finite), CSR if sparse."""
    return check_array(X, accept_sparse="csr", dtype=dtype or "numeric")

def _neighbor_rows(context, neighbors):
    """P+(. | x) of a kNN or truncated RBF context, from the merged neighbours of its rows."""
    distances, indices = neighbors
    weights = context._weights(distances**2) if isinstance(context, RBFContext) else None
    return rows_from_neighbors(indices, weights, context.n_atoms_)

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
        from distributed import wait

        self.indexes, placed = [], []
        for worker, chunks in _groups(owners):
            origin = np.concatenate([origins[i] for i in chunks])
            placed.append(client.scatter(origin, workers=[worker], hash=False))
            self.indexes.append(client.submit(
                _GroupIndex, [parts[i] for i in chunks], placed[-1], metric,
                min(n_neighbors, len(origin)), workers=[worker],
            ))
        wait(self.indexes)  # built: the scattered origins may go
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
        The fit index of each of their rows, increasing: the index's ties by
        position are then ties by fit index.
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
