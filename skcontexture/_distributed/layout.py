"""Where the rows of X are during a distributed fit: chunks held by the workers.

As given, X's chunks go to the workers in contiguous groups. For a neighbour
context the rows are regrouped by region (:meth:`Layout.by_locality`): one
compact region of the data per worker, cut by recursive bisection along the
principal axes of a sample, so that the neighbours of a worker's points are
mostly its own and the workers exchange only the rows of the atoms near the
borders of their regions. A context's distributed fit maps its steps over
the chunks where they are (:meth:`Layout.mapped`, :meth:`Layout.collect`);
the joint it returns is a layout of its row chunks, which maps results per
chunk back to X's rows and chunks (:meth:`Layout.rows_of_X`).
"""

import copy
from operator import getitem

import dask.array as da
import numpy as np
import scipy.sparse as sp


def by_worker(owners):
    """Each worker, in chunk order, with the indices of its chunks."""
    for worker in dict.fromkeys(owners):
        yield worker, [i for i, owner in enumerate(owners) if owner == worker]


#: Rows of X sampled (evenly spaced) to choose the regrouping by locality.
LOCALITY_SAMPLE_ROWS = 20_000


class Layout:
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

    Attributes
    ----------
    client : distributed.Client
    parts : list of distributed.Future
        The chunks, a worker's chunks contiguous.
    owners : list of str
        The worker of each chunk.
    origins : list of ndarray of int
        The row of X of each row of each chunk (increasing within a chunk).
    """

    def __init__(self, client, X):
        self.client, self._X = client, X
        workers = sorted(client.scheduler_info()["workers"])
        n_chunks = X.numblocks[0]
        self.owners = [workers[i * len(workers) // n_chunks] for i in range(n_chunks)]
        self.parts = [
            client.compute(block, workers=[owner], allow_other_workers=True)
            for block, owner in zip(X.to_delayed().ravel(), self.owners)
        ]
        bounds = np.concatenate([[0], np.cumsum(X.chunks[0])])
        self.origins = [np.arange(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
        self._labels = None

    def with_parts(self, parts):
        """This layout holding other chunks of the same rows (one per chunk, where they are)."""
        layout = copy.copy(self)
        layout.parts = parts
        return layout

    def mapped(self, func, *args):
        """This layout holding ``func(chunk, *args)`` of each chunk, computed where it is."""
        return self.with_parts([self.client.submit(func, part, *args) for part in self.parts])

    def collect(self, func, *args):
        """``func(chunk, *args)`` of each chunk, computed where it is, gathered in chunk order."""
        return self.client.gather(self.mapped(func, *args).parts)

    def by_locality(self, metric):
        """This layout regrouped by region: one region per worker, of about equal sizes.

        The regions are cut by recursive bisection along the principal axis
        of a sample of rows (:func:`_bisection`). Chunk j of worker w is the
        rows of X's chunk j in w's region; empty pieces are left out. If a
        region would get less than a quarter of its share (heavily
        duplicated rows), or if the rows are sparse or on one worker, the layout
        is returned as it is.
        """
        client, workers = self.client, list(dict.fromkeys(self.owners))
        if not isinstance(getattr(self._X, "_meta", None), np.ndarray) or len(workers) < 2:
            return self
        n = self._X.shape[0]
        rows = np.unique(np.linspace(0, n - 1, min(n, LOCALITY_SAMPLE_ROWS)).astype(int))
        splits = _bisection(_for_metric(self.rows(rows), metric), len(workers))
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

    def rows(self, rows):
        """The given rows of X (sorted indices), gathered from the workers in this
        layout's order: a sample."""
        client, pieces = self.client, []
        for part, origin in zip(self.parts, self.origins):
            positions = np.flatnonzero(np.isin(origin, rows))
            if len(positions):
                pieces.append(client.submit(getitem, part, positions))
        pieces = client.gather(pieces)
        return sp.vstack(pieces, format="csr") if sp.issparse(pieces[0]) else np.vstack(pieces)

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
            future = self.client.submit(
                _interleave, label, [mine.get(region) for region in range(len(workers))],
                n_columns, dtype, pure=False,
            )
            chunks.append(da.from_delayed(future, shape=(size, n_columns), dtype=dtype))
        return da.concatenate(chunks)


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
