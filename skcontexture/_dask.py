"""Out-of-core transform of dask arrays and DataFrames.

A fitted transformer decorated with :func:`accepts_dask` takes a
``dask.array.Array`` or a ``dask.dataframe.DataFrame`` in ``transform`` and
returns a lazy result: the in-memory ``transform`` runs block by block, on
whatever scheduler is active (threads, processes, or a ``distributed``
cluster). The fitted model enters the graph once, as a single task that every
block depends on, so it is shipped to each worker once and not once per chunk.

A model fitted on a dask array (``skcontexture._dask_fit``) keeps its atoms
on the cluster: its blocks are embedded by ``transform_on_cluster`` instead.

dask is imported only when a dask collection is given: a collection of a
library that was never imported cannot exist, so ``sys.modules`` decides
without importing anything.
"""

import functools
import inspect
import sys

import numpy as np
from sklearn.utils.validation import check_is_fitted


def is_dask_collection(X):
    """Whether ``X`` is a dask collection (without importing dask).

    Parameters
    ----------
    X : object

    Returns
    -------
    bool
    """
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(X)


def accepts_dask(cls):
    """Class decorator: ``cls.transform`` also takes dask arrays and DataFrames.

    It wraps the transform scikit-learn's ``set_output`` has already wrapped,
    so that a dask result is never handed to the in-memory output containers.

    Parameters
    ----------
    cls : type
        A transformer class whose ``transform(X, **params)`` is sample-wise.

    Returns
    -------
    cls : type
        The same class, its ``transform`` dispatching dask collections to
        :func:`dask_transform`.
    """
    in_memory = cls.transform

    @functools.wraps(in_memory)
    def transform(self, X, **params):
        if is_dask_collection(X):
            try:
                inspect.signature(in_memory).bind(self, X, **params)
            except TypeError as exc:  # the TypeError of the in-memory call
                raise TypeError(f"{in_memory.__qualname__}() {exc}") from None
            return dask_transform(self, X, **params)
        return in_memory(self, X, **params)

    cls.transform = transform
    return cls


def dask_transform(estimator, X, **params):
    """Transform a dask collection lazily, block by block.

    Parameters
    ----------
    estimator : fitted transformer
        Its ``transform`` is applied to each block (row chunk or partition).
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
        The rows to transform; a dask array may have several column chunks
        (they are joined).
    **params : dict of dask.array.Array
        Per-row parameters of ``transform`` (``A=`` of a
        :class:`~skcontexture.PairedContext`), dask arrays of ``X``'s row
        chunks (only with a dask array ``X``).

    Returns
    -------
    X_new : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_outputs)
        A dask array chunked like the rows of ``X`` with a single column chunk
        or, when the estimator's transform outputs pandas (``set_output``),
        a dask DataFrame with the output feature names (and ``X``'s index
        when ``X`` is a DataFrame).

    Raises
    ------
    TypeError
        If ``X`` is neither a dask array nor a dask DataFrame, or a parameter
        is not a dask array chunked like ``X``.
    ValueError
        If the shapes are wrong, as in memory (checked at once on a one-row
        stand-in of ``X``), or the row chunks of a parameter differ from
        those of ``X``.
    """
    import dask
    import dask.array as da

    check_is_fitted(estimator)
    frame = _is_dask_dataframe(X)
    if not frame and not isinstance(X, da.Array):
        raise TypeError(
            f"{type(estimator).__name__}.transform takes a dask.array.Array or a "
            f"dask.dataframe.DataFrame, not a {type(X).__module__}.{type(X).__name__}: "
            "convert it, for example with .to_dask_array() or .to_frame()."
        )
    # a model fitted on a dask array: its atoms are on the cluster, as chunks
    on_cluster = is_dask_collection(getattr(estimator, "embedding_", None))
    if frame and on_cluster:
        raise TypeError(
            "A model fitted on a dask array transforms dask arrays of known row chunks: "
            "pass X.to_dask_array(lengths=True)."
        )
    if frame and params:
        raise TypeError(
            f"Parameters {sorted(params)} of transform need row chunks matching those of "
            "X, which a dask DataFrame does not know: pass X.to_dask_array(lengths=True) "
            "and the parameters as dask arrays of the same row chunks."
        )
    if not frame:
        X = X.rechunk({1: -1}) if X.ndim == 2 else X
        params = {name: _aligned(name, value, X) for name, value in params.items()}
    # shape, dtype, feature-name and parameter errors are raised here, as in memory
    sample = estimator.transform(_stand_in(X), **{n: _stand_in(v) for n, v in params.items()})
    if not isinstance(sample, np.ndarray) and not _is_pandas(sample):
        raise ValueError(
            f"The output of {type(estimator).__name__}.transform is a "
            f"{type(sample).__name__}; with dask input it can be the default (a dask "
            "array) or pandas (a dask DataFrame): use set_output(transform='default') or "
            "set_output(transform='pandas')."
        )
    if on_cluster:
        from ._dask_fit import transform_on_cluster

        Z = transform_on_cluster(estimator, X)
        return Z.to_dask_dataframe(columns=list(sample.columns)) if _is_pandas(sample) else Z
    shipped = dask.delayed(estimator, pure=True)
    if frame:
        columns = sample.columns if _is_pandas(sample) else None
        meta = _as_frame(sample, None, columns).iloc[:0]
        Z = X.map_partitions(_transform_partition, shipped, columns, meta=meta)
        return Z if _is_pandas(sample) else Z.to_dask_array()
    # each parameter gets its own column indices, joined within a block like X's "k"
    letters = iter("lmnopqrstuvwxyz")
    views = [
        arg
        for value in params.values()
        for arg in (value, "i" + "".join(next(letters) for _ in range(value.ndim - 1)))
    ]
    Z = da.blockwise(
        _transform_block,
        "ij",
        X,
        "ik",
        shipped,
        None,
        *views,
        names=tuple(params),
        new_axes={"j": sample.shape[1]},
        concatenate=True,
        meta=np.empty((0, 0), dtype=np.asarray(sample).dtype),
    )
    if _is_pandas(sample):
        return Z.to_dask_dataframe(columns=list(sample.columns))
    return Z


def _transform_block(X, estimator, *views, names):
    """The in-memory transform of one row chunk, as an ndarray."""
    return np.asarray(estimator.transform(X, **dict(zip(names, views))))


def _transform_partition(X, estimator, columns):
    """The in-memory transform of one partition, as a DataFrame with X's index."""
    return _as_frame(estimator.transform(X), X.index, columns)


def _as_frame(Z, index, columns):
    import pandas as pd

    return pd.DataFrame(np.asarray(Z), index=index, columns=columns)


def _aligned(name, value, X):
    """The per-row parameter ``value`` as a dask array of X's row chunks."""
    import dask.array as da

    if not isinstance(value, da.Array):
        raise TypeError(
            f"With a dask array X, the parameter {name}= must be a dask array with the "
            f"row chunks of X, not a {type(value).__name__}: pass "
            f"dask.array.from_array({name}, chunks=(X.chunks[0], -1))."
        )
    if value.ndim == 0 or value.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"The parameter {name}= has row chunks "
            f"{value.chunks[0] if value.ndim else ()} but X has {X.chunks[0]}: "
            f"rechunk it with {name}.rechunk({{0: X.chunks[0]}})."
        )
    return value.rechunk({axis: -1 for axis in range(1, value.ndim)})


def _stand_in(X):
    """One row (none if X has none) of X's type, dtype and columns, to validate eagerly."""
    if _is_dask_dataframe(X):
        return X._meta_nonempty.iloc[:1]
    n_rows = 0 if X.shape[0] == 0 else 1
    return np.ones((n_rows,) + tuple(X.shape[1:]), dtype=X.dtype)


def _is_dask_dataframe(X):
    dd = sys.modules.get("dask.dataframe")
    return dd is not None and isinstance(X, dd.DataFrame)


def _is_pandas(Z):
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(Z, pd.DataFrame)
