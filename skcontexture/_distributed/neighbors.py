"""The exact neighbour search of a distributed fit, with the fit points on the workers.

Each worker's fit points get one exact
:class:`~skcontexture.contexts._neighbors.NeighborIndex`. A chunk of queries
is searched first where its own points are, then in the other workers'
indexes only within the k-th distance found so far (ties by fit index, as in
memory). A neighbour context's distributed fit lays its rows out with
:func:`neighbor_layout` and gets its index and joint from
:func:`neighbor_joint`, giving the rule that turns a row's neighbours into
its conditional row. The fitted context keeps the :class:`DaskNeighborIndex`:
it answers ``conditional`` through the cluster, for in-memory rows and,
lazily, for dask arrays.
"""

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

from ..contexts._neighbors import NeighborIndex
from .layout import Layout, by_worker


def checked(X, dtype=None):
    """A validated chunk of rows (finite), CSR if sparse; ``dtype`` None keeps a numeric one."""
    return check_array(X, accept_sparse="csr", dtype=dtype or "numeric")


def neighbor_layout(client, X, progress, *, n_neighbors, algorithm, name, metric="euclidean",
                    dtype=None):
    """The rows of X on the workers for an exact neighbour search, regrouped by region.

    Parameters
    ----------
    client : distributed.Client
    X : dask.array.Array of shape (n_samples, n_features)
        Checked by the distributed fit (row chunks known, one column chunk).
    progress : Progress
        The estimator's; a line says how the rows were regrouped.
    n_neighbors : int
        The neighbours each row will get: at most ``n_samples``.
    algorithm : str
        The context's search; only an exact one runs on the cluster.
    name : str
        The context's class name, for the messages.
    metric : str or callable, default="euclidean"
    dtype : numpy.dtype or None, default=None
        The dtype the context searches in (None: X's).

    Returns
    -------
    layout : Layout
        The validated chunks, one compact region of rows per worker when the
        rows are dense and there are several workers.
    """
    if algorithm == "nndescent":
        raise ValueError(
            f"The fit of a dask array searches neighbours exactly, chunk against chunk; "
            f"{name}(algorithm='nndescent') is not supported: use "
            "algorithm='exact' or 'auto'."
        )
    n = X.shape[0]
    if n_neighbors > n:
        raise ValueError(
            f"n_neighbors={n_neighbors} is larger than the number of fit samples ({n}); "
            f"use n_neighbors <= {n}."
        )
    layout = Layout(client, X).mapped(checked, dtype)
    regrouped = layout.by_locality(metric)
    if regrouped is not layout:
        progress.done(f"rows regrouped by worker for locality ({regrouped.summary()})")
    return regrouped


def neighbor_joint(layout, metric, n_neighbors, rows, dtype=None):
    """The exact index of a layout's rows, and the joint of their nearest neighbours.

    Parameters
    ----------
    layout : Layout
        The fit points (validated), from :func:`neighbor_layout`.
    metric : str or callable
    n_neighbors : int
    rows : callable
        ``rows((distances, indices))``: the conditional rows (CSR over the fit
        points) of query rows from their nearest fit points; run on the
        workers (it must pickle).
    dtype : numpy.dtype or None, default=None
        The dtype the context searches in, for the queries of ``conditional``.

    Returns
    -------
    index : DaskNeighborIndex
        For the fitted context's ``conditional``.
    joint : Layout
        The joint's row chunks: each fit row's conditional row with mass
        1 / n_samples.
    """
    client, n = layout.client, sum(len(origin) for origin in layout.origins)
    index = DaskNeighborIndex(client, layout.parts, layout.origins, layout.owners, metric,
                              n_neighbors, rows, dtype)
    workers = list(dict.fromkeys(layout.owners))
    homes = [workers.index(owner) for owner in layout.owners]
    found = client.compute(index.nearest(layout.parts, n_neighbors, homes))
    return index, layout.with_parts([client.submit(_joint_rows, rows, neighbors, n)
                                     for neighbors in found])


def _joint_rows(rows, neighbors, n_samples):
    """A chunk of the fit joint: its conditional rows with mass 1 / n_samples each."""
    return (rows(neighbors) / n_samples).tocsr()


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
    origins : list of ndarray of int
        The fit index of each row of each chunk.
    owners : list of str
        The worker of each chunk; a worker's chunks must be contiguous.
    metric : str or callable
        As for :class:`~skcontexture.KNNContext`.
    n_neighbors : int
        Largest k that will be queried; :meth:`lazy_conditional` queries it.
    rows : callable or None, default=None
        The context's rule from neighbours to conditional rows (see
        :func:`neighbor_joint`), for :meth:`lazy_conditional`.
    dtype : numpy.dtype or None, default=None
        The dtype the context searches in (None: the queries').
    """

    def __init__(self, client, parts, origins, owners, metric, n_neighbors, rows=None,
                 dtype=None):
        from distributed import wait

        self.indexes, placed = [], []
        for worker, chunks in by_worker(owners):
            origin = np.concatenate([origins[i] for i in chunks])
            placed.append(client.scatter(origin, workers=[worker], hash=False))
            self.indexes.append(client.submit(
                _GroupIndex, [parts[i] for i in chunks], placed[-1], metric,
                min(n_neighbors, len(origin)), workers=[worker],
            ))
        wait(self.indexes)  # built: the scattered origins may go
        self.n_samples_fit_ = sum(len(origin) for origin in origins)
        self.n_neighbors, self.rows, self.dtype = n_neighbors, rows, dtype

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

    def lazy_conditional(self, X):
        """The conditional rows of a dask array, lazily, by the rule of the fitted context.

        Parameters
        ----------
        X : dask.array.Array of shape (n_queries, n_features)
            One column chunk, rows already validated on a stand-in.

        Returns
        -------
        rows : dask.array.Array of shape (n_queries, n_samples_fit_)
            X's row chunks, each a ``scipy.sparse.csr_matrix``: the rows of the
            ``n_neighbors`` nearest fit points of each query.
        """
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        blocks = X.astype(dtype).to_delayed().ravel()
        found = self.nearest([dask.delayed(checked)(b, self.dtype) for b in blocks],
                             self.n_neighbors)
        rows = dask.delayed(self.rows, pure=True)  # shipped once, not once per chunk
        n_atoms = self.n_samples_fit_
        meta = sp.csr_matrix((0, n_atoms))
        return da.concatenate([
            da.from_delayed(dask.delayed(_call)(rows, neighbors), shape=(size, n_atoms),
                            meta=meta)
            for neighbors, size in zip(found, X.chunks[0])
        ])


def _call(func, *args):
    return func(*args)


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
