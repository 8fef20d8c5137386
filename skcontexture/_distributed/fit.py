"""A context fitted on a dask array on a ``distributed`` cluster, and its operator.

Neither the rows of X nor the joint are ever gathered on one process:

1. The context fits itself through its hook, ``_fit_distributed(X, client,
   progress)`` (see :mod:`skcontexture._distributed`): its row chunks of X go
   to the workers (:class:`~skcontexture._distributed.layout.Layout`), and it
   returns the joint's row chunks there. kNN and the truncated RBF kernel:
   the exact search of
   :class:`~skcontexture._distributed.neighbors.DaskNeighborIndex`.
   Co-occurrence: the chunks are the joint, scaled by reductions.
2. :class:`~skcontexture._distributed.operator.DaskContextOperator` holds the
   normalised joint as one shard per worker and runs the solvers' products
   there; the estimator's solver runs unchanged on the client.
3. :class:`FitRows` extends the estimator's functions of the atoms to the fit
   rows on the workers: ``embedding_`` is a dask array with X's row chunks.

The fitted context answers ``conditional`` through the cluster (its index
holds the fit points on the workers), for in-memory rows and, lazily, for
dask arrays. The fitted model refers to data held by the cluster: it lives as
long as the client.
"""

import dask.array as da
import numpy as np

from .operator import DaskContextOperator

#: The contexts whose class declares the hook (and, for RBFContext, whose
#: parameters it accepts): named in the message for any other context.
_SUPPORTED = (
    "KNNContext, RBFContext with n_neighbors set, and CooccurrenceContext (a dask array "
    "of dense or sparse count chunks)"
)


def fit_on_cluster(context, X, fit_params, n_jobs, progress):
    """Fit ``context`` on a dask array with the active ``distributed`` client.

    Parameters
    ----------
    context : context estimator
        Unfitted; its class declares ``_fit_distributed`` (a subclass declares
        its own: it may change the joint).
    X : dask.array.Array of shape (n_samples, n_features)
        Row chunks of known sizes (any number of column chunks).
    fit_params : dict
        Must be empty.
    n_jobs : int or None
        Threads of the operator's products.
    progress : Progress
        The estimator's stage lines.

    Returns
    -------
    context : context estimator
        ``context``, fitted.
    operator : DaskContextOperator
        The operator of its joint, held by the workers.
    fit_rows : FitRows
        The Nystrom extension to the fit rows of functions of the atoms.
    """
    if fit_params:
        raise TypeError(
            f"The fit of a dask array takes no fit parameters; got {sorted(fit_params)}."
        )
    # the hook of the context's own class only: a subclass may change the joint
    if "_fit_distributed" not in vars(type(context)):
        raise _unsupported(context)
    X = _check_X(X)
    client = _client()
    joint = context._fit_distributed(X, client, progress)
    if joint is NotImplemented:
        raise _unsupported(context)
    progress.done(f"{type(context).__name__} on {X.shape[0]} x {X.shape[1]} in "
                  f"{len(joint.parts)} chunks on {len(set(joint.owners))} worker(s): "
                  "joint chunks scheduled")
    operator = DaskContextOperator(client, joint.parts, context.n_atoms_, joint.owners, n_jobs)
    # the operator's shards hold the joint now: only where its rows are is kept
    return context, operator, FitRows(operator, joint.with_parts(None), X.dtype, progress)


class FitRows:
    """The Nystrom extension of functions of the atoms to the rows of a distributed fit.

    Called once the solver is done: ``fit_rows(F)`` is ``normalize_rows(joint)
    @ F``, computed on the workers and returned as a dask array with X's row
    chunks in X's dtype (zero on rows without mass).

    Parameters
    ----------
    operator : DaskContextOperator
    rows : Layout
        Where the joint's rows are (their chunks, in the operator's order).
    dtype : numpy.dtype
    progress : Progress
        A line gives the traffic of the solve when the extension starts.
    """

    def __init__(self, operator, rows, dtype, progress):
        self._operator, self._rows, self.dtype, self._progress = operator, rows, dtype, progress

    def __call__(self, functions):
        operator = self._operator
        self._progress.done(
            f"{operator.n_products} products, {operator.bytes_sent / 1e6:.1f} MB sent to and "
            f"{operator.bytes_received / 1e6:.1f} MB received from the workers"
        )
        # normalize_rows(W) F = (Q (F sqrt(p_A))) / sqrt(p_X), on the kept atoms and rows
        V = functions[operator.atoms] * operator.v0[:, None]
        return self._rows.rows_of_X(operator.row_functions(V, self.dtype), V.shape[1],
                                    self.dtype)


def _unsupported(context):
    return ValueError(
        f"The fit of a dask array supports {_SUPPORTED}, not {context!r}. Fit on "
        "X.compute() if it fits in memory (or on a subsample), then transform the "
        "dask array: transform takes dask arrays with every context."
    )


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
