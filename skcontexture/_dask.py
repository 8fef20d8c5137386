"""Sample-wise methods of fitted objects on dask arrays and DataFrames.

A method wrapped by :func:`lazily` takes a ``dask.array.Array`` (and, for
``transform``, a ``dask.dataframe.DataFrame``) and returns a lazy result: the
in-memory method runs block by block, on whatever scheduler is active
(threads, processes, or a ``distributed`` cluster). The fitted object enters
the graph once, as a single task that every block depends on, so it is
shipped to each worker once and not once per chunk. Two methods take dask
input this way: the estimators' ``transform`` (:func:`accepts_dask`) and
every context's ``conditional`` (wrapped by
:class:`~skcontexture.contexts._base.BaseContext` for each subclass), whose
blocks are CSR rows.

A model fitted on a dask array (:mod:`skcontexture._distributed`) keeps its fit
points on the cluster, in the neighbour index of its context: that index maps
the blocks itself (``lazy_conditional``), and the model's ``transform`` is
the Nystrom extension of those rows, block by block.

dask is imported only when a dask collection is given: a collection of a
library that was never imported cannot exist, so ``sys.modules`` decides
without importing anything.
"""

import copy
import functools
import inspect
import sys

import numpy as np
import scipy.sparse as sp
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
    cls.transform = lazily(cls.transform, dask_transform)
    return cls


def lazily(method, lazy):
    """``method``, handing a dask collection ``X`` to ``lazy`` instead.

    Parameters
    ----------
    method : callable
        A sample-wise method ``method(self, X, **params)``.
    lazy : callable
        ``lazy(self, X, **params)``, its lazy counterpart for dask input.

    Returns
    -------
    dispatch : callable
        The method, with the name, docstring and signature of ``method``;
        arguments ``method`` would refuse raise its TypeError, also with dask
        input.
    """

    @functools.wraps(method)
    def dispatch(self, X, **params):
        if is_dask_collection(X):
            try:
                inspect.signature(method).bind(self, X, **params)
            except TypeError as exc:  # the TypeError of the in-memory call
                raise TypeError(f"{method.__qualname__}() {exc}") from None
            return lazy(self, X, **params)
        return method(self, X, **params)

    return dispatch


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

    check_is_fitted(estimator)
    frame = _is_dask_dataframe(X)
    # a model fitted on a dask array: its embedding_ and fit points are on the cluster
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
        X, params = _rows_and_views(estimator, "transform", X, params)
    # shape, dtype, feature-name and parameter errors are raised here, as in memory
    sample = estimator.transform(_stand_in(X), **{n: _stand_in(v) for n, v in params.items()})
    if not isinstance(sample, np.ndarray) and not _is_pandas(sample):
        raise ValueError(
            f"The output of {type(estimator).__name__}.transform is a "
            f"{type(sample).__name__}; with dask input it can be the default (a dask "
            "array) or pandas (a dask DataFrame): use set_output(transform='default') or "
            "set_output(transform='pandas')."
        )
    meta = np.empty((0, sample.shape[1]), dtype=np.asarray(sample).dtype)
    if frame:
        columns = sample.columns if _is_pandas(sample) else None
        Z = X.map_partitions(_transform_partition, dask.delayed(estimator, pure=True), columns,
                             meta=_as_frame(sample, None, columns).iloc[:0])
        return Z if _is_pandas(sample) else Z.to_dask_array()
    if on_cluster:
        # the Nystrom extension of the context's rows, which come from the cluster
        lean = copy.copy(estimator)
        del lean.embedding_, lean.context_
        Z = _map_rows(_extend_block, estimator.context_.conditional(X), lean, {}, meta,
                      output_dtype=meta.dtype)
    else:
        Z = _map_rows(_transform_block, X, estimator, params, meta)
    return Z.to_dask_dataframe(columns=list(sample.columns)) if _is_pandas(sample) else Z


def dask_conditional(context, X, **params):
    """The conditional rows P+(. | x) of a dask array, lazily, in chunks of CSR rows.

    Parameters
    ----------
    context : fitted context
        Its ``conditional`` is applied to each row chunk.
    X : dask.array.Array of shape (n_samples, n_features)
        The rows; it may have several column chunks (they are joined).
    **params : dict of dask.array.Array
        Per-row parameters of ``conditional`` (``A=`` of a
        :class:`~skcontexture.PairedContext`), dask arrays of ``X``'s row chunks.

    Returns
    -------
    rows : dask.array.Array of shape (n_samples, n_atoms_)
        Chunked like the rows of ``X``, one column chunk; each chunk is a
        ``scipy.sparse.csr_matrix``.

    Raises
    ------
    TypeError
        If ``X`` is not a dask array, or a parameter is not a dask array.
    ValueError
        If the shapes are wrong, as in memory (checked at once on a one-row
        stand-in of ``X``), or the row chunks of a parameter differ from
        those of ``X``.
    """
    X, params = _rows_and_views(context, "conditional", X, params)
    sample = context.conditional(_stand_in(X), **{n: _stand_in(v) for n, v in params.items()})
    index = getattr(context, "index_", None)
    if hasattr(index, "lazy_conditional"):  # fitted on a cluster: its fit points stay there
        return index.lazy_conditional(X)
    return _map_rows(_conditional_block, X, context, params, sp.csr_matrix((0, sample.shape[1])))


def _rows_and_views(obj, method, X, params):
    """X with one column chunk, and the per-row parameters as dask arrays of its row chunks."""
    import dask.array as da

    if not isinstance(X, da.Array):
        frames = " or a dask.dataframe.DataFrame" if method == "transform" else ""
        raise TypeError(
            f"{type(obj).__name__}.{method} takes a dask.array.Array{frames}, not a "
            f"{type(X).__module__}.{type(X).__name__}: convert it, for example with "
            ".to_dask_array(lengths=True) or dask.array.from_array()."
        )
    X = X.rechunk({1: -1}) if X.ndim == 2 else X
    return X, {name: _aligned(name, value, X) for name, value in params.items()}


def _map_rows(block, X, obj, params, meta, **kwargs):
    """``block(rows, obj, *views, names, **kwargs)`` on each row chunk of X, lazily.

    ``obj`` enters the graph once, as one task every chunk depends on; the
    result has X's row chunks and one column chunk of ``meta``'s width and type.
    """
    import dask
    import dask.array as da

    # each parameter gets its own column indices, joined within a block like X's "k"
    letters = iter("lmnopqrstuvwxyz")
    views = [
        arg
        for value in params.values()
        for arg in (value, "i" + "".join(next(letters) for _ in range(value.ndim - 1)))
    ]
    return da.blockwise(
        block,
        "ij",
        X,
        "ik",
        dask.delayed(obj, pure=True),
        None,
        *views,
        names=tuple(params),
        **kwargs,
        new_axes={"j": meta.shape[1]},
        concatenate=True,
        meta=meta,
    )


def _transform_block(X, estimator, *views, names):
    """The in-memory transform of one row chunk, as an ndarray."""
    return np.asarray(estimator.transform(X, **dict(zip(names, views))))


def _conditional_block(X, context, *views, names):
    """The in-memory conditional of one row chunk, as CSR."""
    return sp.csr_matrix(context.conditional(X, **dict(zip(names, views))))


def _extend_block(rows, estimator, names, output_dtype):
    """The Nystrom extension of one chunk of conditional rows (ContextureEmbedding's)."""
    return estimator._extend(rows, estimator.atom_functions_).astype(output_dtype, copy=False)


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
