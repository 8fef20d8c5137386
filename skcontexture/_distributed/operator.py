"""The deflated normalised operator of a joint held as row chunks on a cluster.

:class:`DaskContextOperator` stacks the joint chunks of each worker into one
normalised shard over the atoms they reference, with the normalisation,
deflation and dropping of rows and atoms without mass of
:class:`~skcontexture._operator.ContextOperator`. It has the operator
interface the solvers read (:class:`~skcontexture._solvers.Operator`), so
:func:`~skcontexture._solvers.top_singular_triplets` runs unchanged on the
client. When the atoms are the short side, the solver's blocks stay on the
workers (:class:`WorkerBlocks`, a :class:`~skcontexture._solvers.BlockAlgebra`):
each worker owns the rows of some atoms, a Gram product is tasks only (rows
borrowed from their owners, parts returned to them), and only small cross
products and column sums reach the client.
"""

from operator import getitem
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .._constraints import blas_threads, n_threads
from .._operator import bipartite, count_components, scatter_rows
from .._solvers import NumpyBlocks
from .._sparse_blocks import SparseOperator, weighted_sum, column_dots, cross_product, rotate
from .layout import by_worker

#: Blocks larger than this go straight from the client to their worker
#: (``Client.scatter``, one more round trip); smaller ones travel inside the
#: task, through the scheduler (distributed warns from 10 MB of task data on).
SCATTER_BYTES = 2**23


class DaskContextOperator:
    """The deflated normalised operator of a joint held as row chunks on a cluster.

    The interface of :class:`~skcontexture._operator.ContextOperator` that the
    solvers read (``shape``, ``matmat``, ``rmatmat``, ``gram_matmat``,
    ``gram_trace``, ``gram``, ``n_connected_components``, ``u0``, ``v0``,
    ``n_threads``), with the same normalisation, deflation and dropping of
    rows and atoms without mass. Rows keep the order of the chunks and atoms
    their index order (no reverse Cuthill-McKee: it needs the whole graph).

    Each worker holds one shard: the normalised rows of its chunks over the
    atoms they reference. A product of an in-memory block sends each worker
    its slice of the block (the referenced atoms, or its rows) and gets its
    part of the result back. With no more atoms than rows, :attr:`blocks`
    keeps the solver's blocks on the workers and the Gram product of such a
    :class:`WorkerBlock` is tasks only (:meth:`_worker_gram`).

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
    n_products, bytes_sent, bytes_received, bytes_between_workers : int
        Block products run (a Gram product counts two), the bytes of blocks
        sent to and received from the workers by the client, and the bytes of
        block rows the workers send each other.
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

        groups = list(by_worker(owners))
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
        # the atoms and the plans (O(n) arrays) go straight to their worker
        placed = [
            client.scatter([self.atoms[columns], self.v0[columns], plan], workers=[worker],
                           hash=False)
            for (worker, _), columns, plan in zip(groups, self._columns, plans)
        ]
        self._shards = [
            client.submit(_Shard, [joint[i] for i in chunks], *arguments, total, n_jobs,
                          workers=[worker])
            for (worker, chunks), arguments in zip(groups, placed)
        ]
        summaries = client.gather(
            [client.submit(getattr, shard, "summary") for shard in self._shards]
        )
        del placed  # held until the shards exist
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
        A shard's atoms are reordered: the ones its worker owns first, then
        the ones it borrows, grouped by owner; it borrows their rows from
        their owners and returns its part of each product to them.

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
        self._owned_on_workers = [
            self._client.scatter(owned, workers=[worker], hash=False)
            for owned, worker in zip(self._owned, self._workers)
        ]
        self._exchanged_rows = 0
        self._links = np.zeros((n_workers, n_workers), dtype=bool)  # [borrower, owner]
        lend = [[None] * n_workers for _ in range(n_workers)]  # [owner][borrower]
        ranges = [[None] * n_workers for _ in range(n_workers)]  # [borrower][owner]
        for borrower, columns in enumerate(self._columns):
            borrowed = columns[owner_of[columns] != borrower]
            borrowed = borrowed[np.argsort(owner_of[borrowed], kind="stable")]
            self._columns[borrower] = np.concatenate([self._owned[borrower], borrowed])
            bounds = np.searchsorted(owner_of[borrowed], np.arange(n_workers + 1))
            for owner, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
                if hi > lo:
                    self._links[borrower, owner] = True
                    lend[owner][borrower] = np.searchsorted(self._owned[owner], borrowed[lo:hi])
                    ranges[borrower][owner] = (lo, hi)
                    self._exchanged_rows += 2 * (hi - lo)  # there and back
        return [
            _Plan(len(owned), self.v0[owned], lend[worker], ranges[worker])
            for worker, owned in enumerate(self._owned)
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
                _call, shard, method, self._send(piece, worker), *args, workers=[worker], pure=False,
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
        worker gets the rows of X its shard references from their owners and
        computes the middle block Q_w X; it sends each owner the rows of
        Q_w^T Q_w X on that owner's atoms. The owner computes the rows on its
        own atoms from its middle block, with the deflation (c = v0 . X, a sum
        of per-worker pieces) and the affine terms in the same pass, and adds
        the parts it was sent in worker order. A worker holds four blocks at
        most (X, ``previous``, its middle block and the result), as in
        memory. Nothing goes through the client, which does not wait.
        """
        client, shards, workers, links = self._client, self._shards, self._workers, self._links
        self.n_products += 2
        self.bytes_between_workers += self._exchanged_rows * X.shape[1] * X.dtype.itemsize

        def submit(worker, *args):
            return client.submit(*args, workers=[worker], pure=False)

        c = client.submit(_ordered_sum, [
            submit(worker, _call, shard, "owned_dot", piece)
            for worker, shard, piece in zip(workers, shards, X.pieces)
        ], pure=False)
        middles = [
            submit(worker, _call, shard, "middle", X.pieces[w], [
                submit(owner, _call, lender, "lend", piece, w) if links[w, u] else None
                for u, (owner, lender, piece) in enumerate(zip(workers, shards, X.pieces))
            ])
            for w, (worker, shard) in enumerate(zip(workers, shards))
        ]
        previous = [None] * len(workers) if previous is None else previous.pieces
        pieces = [
            submit(owner, _call, shard, "combine", middles[u],
                   [submit(workers[w], _call, shards[w], "part_for", middle, u)
                    if links[w, u] else None for w, middle in enumerate(middles)],
                   c, X.pieces[u], previous[u], scale, shift, weight)
            for u, (owner, shard) in enumerate(zip(workers, shards))
        ]
        return WorkerBlock(pieces, X.shape, X.dtype)

    def atom_functions(self, V):
        """Right singular vectors -> functions nu = V / sqrt(p_A) on all atoms (as in memory)."""
        return scatter_rows(V / self.v0[:, None], self.atoms, self.n_atoms)

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
                                   dtype, workers=[worker], pure=False)
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
    """The block algebra of :class:`~skcontexture._solvers.NumpyBlocks` on worker-held blocks.

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
        self._owned_on_workers = operator._owned_on_workers

    def _map(self, func, *blocks, args=()):
        """``func(piece of each block..., *args)`` on every worker: the futures."""
        return [
            self._client.submit(func, *pieces, *args, workers=[worker], pure=False)
            for worker, *pieces in zip(self._workers, *[block.pieces for block in blocks])
        ]

    def _reduce(self, func, *blocks, args=()):
        return _ordered_sum(self._client.gather(self._map(func, *blocks, args=args)))

    def random(self, rng, shape, dtype):
        """A block of uniform values in [-1, 1), seeded from ``rng`` per RANDOM_ROWS atoms."""
        seed = int(rng.randint(np.iinfo(np.int32).max))
        pieces = [
            self._client.submit(_random_rows, seed, owned, shape[1], dtype, self.RANDOM_ROWS,
                                workers=[worker])
            for worker, owned in zip(self._workers, self._owned_on_workers)
        ]
        return WorkerBlock(pieces, shape, dtype)

    def empty_like(self, X):
        return None

    def spare(self, X):
        """Release a block no longer needed, whoever still refers to it; return None.

        Its pieces are dropped from the workers as soon as the tasks that read
        them are done (a spared block must not be read again).
        """
        if X is not None:
            X.pieces = None
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
    with blas_threads(1):
        return cross_product(X, Y, n_threads)


def _rotated(X, Z, n_threads):
    with blas_threads(1):
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
    reference (their caller's indices, in the order of the plan when there is
    one: the owned atoms first) and ``v0`` sqrt(p_A) on them. The operator is
    held in two column blocks: the atoms this worker owns, multiplied with
    the parallel kernels, and the few it borrows (only their rows, with
    scipy).
    """

    def __init__(self, chunks, columns, v0, plan, total, n_jobs):
        # v0 writeable (what arrives from the client is read-only): the kernels read it
        self.plan = None if plan is None else plan._replace(v0=np.array(plan.v0))
        W = sp.vstack(chunks, format="csr", dtype=np.float64)
        W.eliminate_zeros()
        mass = np.asarray(W.sum(axis=1)).ravel()
        self.sizes = [chunk.shape[0] for chunk in chunks]
        self.kept = np.flatnonzero(mass > 0)
        W = W[self.kept]
        order = np.argsort(columns)
        W = sp.csr_matrix((W.data, order[np.searchsorted(columns[order], W.indices)], W.indptr),
                          shape=(len(self.kept), len(columns)))
        W.sort_indices()
        self.u0 = np.sqrt(mass[self.kept] / total)
        W.data *= np.repeat(1.0 / (total * self.u0), np.diff(W.indptr))
        W.data *= (1.0 / v0)[W.indices]
        # ||Q||_F^2 and the component of each atom within the shard
        _, labels = connected_components(bipartite(W), directed=False)
        self.summary = float(np.dot(W.data, W.data)), labels[W.shape[0]:]
        self.n_owned = len(columns) if plan is None else plan.n_owned
        borrowed = W[:, self.n_owned:]
        self.borrowed_rows = np.flatnonzero(np.diff(borrowed.indptr))
        self.borrowed = sp.csr_matrix(borrowed[self.borrowed_rows])
        self.returned = [
            None if bounds is None else sp.csr_matrix(self.borrowed[:, slice(*bounds)].T)
            for bounds in ([] if plan is None else plan.ranges)
        ]
        W = W[:, :self.n_owned]
        self.operator = SparseOperator(W, n_jobs=n_jobs, copy=False)

    def matmat(self, V):
        """Q V, for V on this shard's atoms."""
        out = self.operator.matmat(V[:self.n_owned])
        if len(self.borrowed_rows):
            out[self.borrowed_rows] += self.borrowed @ V[self.n_owned:]
        return out

    def rmatmat(self, U):
        """Q^T U, on this shard's atoms."""
        return np.concatenate([self.operator.rmatmat(U), self.borrowed.T @ U[self.borrowed_rows]])

    def gram(self, X, c):
        """Q^T (Q X - u0 c) and u0 . (Q X - u0 c), in X's dtype: half of D^T D X."""
        middle = self.matmat(X)
        middle -= np.multiply.outer(self.u0, c)
        return self.rmatmat(middle).astype(X.dtype, copy=False), self.u0 @ middle

    # the products of blocks held by the workers (see DaskContextOperator._worker_gram)

    def owned_dot(self, X):
        """v0 . X on the atoms this worker owns, in X's dtype."""
        return weighted_sum(self.plan.v0.astype(X.dtype, copy=False), X)

    def lend(self, X, borrower):
        """The rows of this worker's piece of a block that ``borrower``'s shard references."""
        return X[self.plan.lend[borrower]]

    def middle(self, X, borrowed):
        """Q X in X's dtype, from this worker's piece ``X`` of the block and the rows
        ``borrowed`` from the other workers (None for this one and those not referenced)."""
        if X.dtype == np.float64:  # the solver's double-precision rounds: no float32 product follows
            self.operator.release_single()
        middle = self.operator.apply(self.operator.Q, X, single=True)
        if len(self.borrowed_rows):
            block = np.concatenate([piece for piece in borrowed if piece is not None])
            middle[self.borrowed_rows] += self.borrowed @ block
        return middle

    def part_for(self, middle, owner):
        """The rows of Q^T (Q X) on the atoms ``owner`` owns, from the middle block Q X."""
        part = self.returned[owner] @ middle[self.borrowed_rows]
        return part.astype(middle.dtype, copy=False)

    def combine(self, middle, parts, c, X, previous, scale, shift, weight):
        """This worker's piece of ``scale * (G X - shift * X) + weight * previous``.

        The rows on its own atoms come from its ``middle`` block in one pass;
        ``parts`` are the other workers' (None where a shard references none
        of its atoms), added in worker order; ``c`` is v0 . X.
        """
        operator = self.operator
        Y = operator.apply(
            operator.QT, middle, (self.plan.v0, None), row=c, alpha=scale,
            y=X if shift else None, beta=-scale * shift, z=previous, gamma=weight, single=True,
        )
        for positions, part in zip(self.plan.lend, parts):
            if part is not None:
                Y[positions] += scale * part
        return Y

    def row_functions(self, V, dtype):
        """(Q V) / u0 on each chunk's rows (zero on rows without mass), in ``dtype``."""
        values = np.zeros((sum(self.sizes), V.shape[1]))
        values[self.kept] = self.matmat(V) / self.u0[:, None]
        bounds = np.cumsum([0] + self.sizes)
        return [values[lo:hi].astype(dtype) for lo, hi in zip(bounds[:-1], bounds[1:])]


class _Plan(NamedTuple):
    """A worker's place in the products of worker-held blocks (DaskContextOperator._plan)."""

    n_owned: int  # the atoms it owns: the first of its shard's atoms
    v0: np.ndarray  # sqrt(p_A) on them
    lend: list  # per worker: positions among its owned atoms of those that shard borrows
    ranges: list  # per worker: (lo, hi) of the atoms owned there among the ones it borrows


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
    return count_components(pattern)
