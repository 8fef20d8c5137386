"""Dask: searches under joblib's dask backend, out-of-core transform and conditional of dask
collections."""

import pickle
import re
import subprocess
import sys

import dask
import dask.array as da
import dask.dataframe as dd
import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from dask.callbacks import Callback
from numpy.testing import assert_allclose
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_score,
)
from sklearn.pipeline import Pipeline

from skcontexture import (
    ContextureEmbedding,
    KNNContext,
    PairedContext,
    RBFContext,
    SpectralContextEncoder,
)

from .._instances import CONTEXTS, NAMES, fit_args, make_data, new_args


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X_fit, X_new = rng.normal(size=(300, 5)), rng.normal(size=(230, 5))
    A_fit, A_new = rng.normal(size=(300, 3)), rng.normal(size=(230, 3))
    return X_fit, X_new, A_fit, A_new


@pytest.fixture(scope="module")
def fitted(data):
    X_fit = data[0]
    return {
        "embedding": ContextureEmbedding(KNNContext(10), n_components=3, random_state=0).fit(X_fit),
        "encoder": SpectralContextEncoder(KNNContext(10), n_components=3).fit(X_fit),
    }


def test_importing_skcontexture_does_not_import_dask():
    code = "import sys, skcontexture; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------
# transform
# ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["embedding", "encoder"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transform_dask_array_is_lazy_chunked_like_rows_and_exact(fitted, data, name, dtype):
    estimator, X_new = fitted[name], data[1].astype(dtype)
    Z = estimator.transform(da.from_array(X_new, chunks=(50, 2)))
    assert isinstance(Z, da.Array)
    assert Z.chunks == ((50, 50, 50, 50, 30), (3,))
    expected = estimator.transform(X_new)
    assert Z.dtype == expected.dtype
    assert_allclose(Z.compute(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["embedding", "encoder"])
def test_transform_dask_dataframe(data, name):
    X_fit, X_new = (pd.DataFrame(X, columns=list("abcde")) for X in data[:2])
    X_new.index += 1000
    estimator = {"embedding": ContextureEmbedding, "encoder": SpectralContextEncoder}[name](
        KNNContext(10), n_components=3
    ).fit(X_fit)
    X_dask = dd.from_pandas(X_new, npartitions=3)

    Z = estimator.transform(X_dask)
    assert isinstance(Z, da.Array) and Z.numblocks == (3, 1)
    assert_allclose(Z.compute(), estimator.transform(X_new), rtol=0, atol=1e-12)

    estimator.set_output(transform="pandas")
    Z = estimator.transform(X_dask)
    assert isinstance(Z, dd.DataFrame) and Z.npartitions == 3
    expected = estimator.transform(X_new)
    pd.testing.assert_frame_equal(Z.compute(), expected, check_exact=False, atol=1e-12)


def test_transform_dask_array_under_pandas_output_gives_named_dask_dataframe(fitted, data):
    estimator, X_new = fitted["embedding"], data[1]
    with config_context(transform_output="pandas"):
        Z = estimator.transform(da.from_array(X_new, chunks=(100, 5)))
    assert isinstance(Z, dd.DataFrame)
    assert list(Z.columns) == list(estimator.get_feature_names_out())
    assert_allclose(Z.compute().to_numpy(), estimator.transform(X_new), rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["transform", "conditional"])
def test_paired_context_view_chunked_like_x(data, method):
    X_fit, X_new, A_fit, A_new = data
    estimator = ContextureEmbedding(PairedContext(KNNContext(8)), n_components=3).fit(
        X_fit, A=A_fit
    )
    mapping = getattr(estimator if method == "transform" else estimator.context_, method)
    X_dask = da.from_array(X_new, chunks=(60, 5))
    Z = mapping(X_dask, A=da.from_array(A_new, chunks=(60, 2)))
    assert Z.chunks[0] == X_dask.chunks[0]
    got, expected = Z.compute(), mapping(X_new, A=A_new)
    assert abs(got - expected).max() <= 1e-12

    with pytest.raises(ValueError, match=r"A= has row chunks .* rechunk it"):
        mapping(X_dask, A=da.from_array(A_new, chunks=(50, 3)))
    with pytest.raises(TypeError, match=r"A= must be a dask array .*from_array"):
        mapping(X_dask, A=A_new)
    with pytest.raises(ValueError, match="PairedContext requires the second view A"):
        mapping(X_dask)


@pytest.mark.parametrize("name", ["embedding", "encoder"])
def test_transform_dask_validation_is_eager_and_as_in_memory(fitted, data, name):
    estimator, X_new = fitted[name], data[1]
    for bad in (X_new[:, :4], X_new[:, 0], X_new.astype(complex)):
        with pytest.raises(ValueError) as in_memory:
            estimator.transform(bad)
        # raised when the graph is built, before anything is computed
        with pytest.raises(ValueError, match=re.escape(str(in_memory.value).splitlines()[0])):
            estimator.transform(da.from_array(bad, chunks=50))
    with pytest.raises(TypeError, match=r"transform\(\) got an unexpected keyword"):
        fitted["encoder"].transform(da.from_array(X_new), A=1)
    with pytest.raises(TypeError, match="takes a dask.array.Array or a dask.dataframe"):
        estimator.transform(dask.delayed(X_new))
    with pytest.raises(NotFittedError):
        ContextureEmbedding().transform(da.from_array(X_new))


@pytest.mark.parametrize("method", ["transform", "conditional"])
def test_fitted_model_enters_the_graph_once(fitted, data, monkeypatch, method):
    """One task holds the model (or its context); the block tasks refer to it by key."""
    estimator = fitted["embedding"]
    model = estimator if method == "transform" else estimator.context_
    Z = getattr(model, method)(da.from_array(data[1], chunks=(10, 5)))
    assert Z.numblocks == (23, 1)
    pickles = []
    getstate = type(model).__getstate__
    monkeypatch.setattr(
        type(model), "__getstate__", lambda self: pickles.append(1) or getstate(self)
    )
    for task in dict(Z.__dask_graph__()).values():  # as the scheduler ships them
        pickle.dumps(task)
    assert len(pickles) == 1


def test_transform_on_a_distributed_cluster(dask_client, fitted, data):
    estimator, X_new = fitted["encoder"], data[1]
    Z = estimator.transform(da.from_array(X_new, chunks=(40, 5)))
    expected = estimator.transform(X_new)
    assert_allclose(dask_client.compute(Z).result(), expected, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------
# conditional
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def instances():
    """Every context of the instance table, fitted, with its new rows."""
    data, fitted = make_data(), {}
    for name in NAMES:
        X, y, fit_params = fit_args(name, data)
        fitted[name] = clone(CONTEXTS[name]).fit(X, y, **fit_params), *new_args(name, data)
    return fitted


ROWS = (8, 7, 5)  # the 20 new rows of the instance table


@pytest.mark.parametrize("name", NAMES)
def test_conditional_of_a_dask_array_is_lazy_chunked_like_rows_and_exact(instances, name):
    context, X_new, params = instances[name]
    views = {key: da.from_array(value, chunks=(ROWS, 2)) for key, value in params.items()}
    started = []
    with Callback(start=started.append):
        rows = context.conditional(da.from_array(X_new, chunks=(ROWS, 3)), **views)
    assert not started  # nothing computed before compute()
    assert isinstance(rows, da.Array) and rows.chunks == (ROWS, (context.n_atoms_,))
    assert isinstance(rows._meta, sp.csr_matrix)
    got, expected = rows.compute(), context.conditional(X_new, **params)
    assert sp.issparse(got) and got.format == "csr" and got.shape == expected.shape
    assert abs(got - expected).max() <= 1e-12


def test_conditional_of_dask_input_validates_at_once_as_in_memory(instances):
    context, X_new, _ = instances["knn"]
    with pytest.raises(ValueError) as in_memory:
        context.conditional(X_new[:, :3])
    with pytest.raises(ValueError, match=re.escape(str(in_memory.value).splitlines()[0])):
        context.conditional(da.from_array(X_new[:, :3], chunks=5))
    with pytest.raises(TypeError, match=r"conditional\(\) got an unexpected keyword"):
        context.conditional(da.from_array(X_new), A=1)
    with pytest.raises(TypeError, match=r"conditional takes a dask.array.Array, .*to_dask_array"):
        context.conditional(dd.from_array(X_new))
    with pytest.raises(NotFittedError):
        KNNContext().conditional(da.from_array(X_new))


# ----------------------------------------------------------------------
# searches under joblib's dask backend
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def labelled():
    return make_classification(
        n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0
    )


# small enough for the scorer's half of a 20-row test fold of the halving search
GRID = {"context": [KNNContext(4), RBFContext(gamma=0.5, n_neighbors=8)]}


def _searches(labelled_scorer):
    if labelled_scorer:
        estimator = Pipeline(
            [("embed", ContextureEmbedding(n_components=3, random_state=0)),
             ("clf", LogisticRegression())]
        )
        grid, scoring = {"embed__" + key: value for key, value in GRID.items()}, "accuracy"
    else:
        estimator, grid, scoring = ContextureEmbedding(n_components=3, random_state=0), GRID, None
    cv = KFold(3, shuffle=True, random_state=0)
    return [
        GridSearchCV(estimator, grid, scoring=scoring, cv=cv),
        RandomizedSearchCV(estimator, grid, n_iter=1, scoring=scoring, cv=cv, random_state=0),
        HalvingGridSearchCV(
            estimator, grid, scoring=scoring, cv=cv, factor=2, min_resources=60, random_state=0
        ),
    ]


def _scores(cv_results):
    return {
        key: value
        for key, value in cv_results.items()
        if ("score" in key and "time" not in key) or key in ("params", "n_resources")
    }


@pytest.mark.parametrize("labelled_scorer", [False, True], ids=["ContextScorer", "accuracy"])
def test_searches_under_the_dask_backend_match_the_default_backend(
    dask_client, labelled, labelled_scorer
):
    X, y = labelled
    for default, distributed in zip(_searches(labelled_scorer), _searches(labelled_scorer)):
        default.fit(X, y)
        with joblib.parallel_backend("dask"):
            distributed.fit(X, y)
        expected, got = _scores(default.cv_results_), _scores(distributed.cv_results_)
        assert expected.keys() == got.keys()
        for key in expected:
            if key == "params":
                assert repr(got[key]) == repr(expected[key])
            else:
                assert_allclose(got[key], expected[key], rtol=0, atol=1e-12, err_msg=key)


def test_cross_val_score_under_the_dask_backend(dask_client, labelled):
    X, y = labelled
    estimator = ContextureEmbedding(KNNContext(10), n_components=3, random_state=0)
    expected = cross_val_score(estimator, X, cv=3)
    with joblib.parallel_backend("dask"):
        got = cross_val_score(estimator, X, cv=3)
    assert_allclose(got, expected, rtol=0, atol=1e-12)


def _solver_threads(n_jobs):
    """The numba threads the solver's sparse products of an estimator would use."""
    import scipy.sparse as sp

    from skcontexture._sparse_blocks import SparseOperator

    return SparseOperator(sp.eye(10, format="csr"), n_jobs=n_jobs).n_threads


def test_threads_in_dask_workers_follow_n_jobs(dask_client):
    # n_jobs is resolved locally: joblib's effective_n_jobs under the dask backend is the
    # cluster's thread count, which would oversubscribe single-threaded workers
    with joblib.parallel_backend("dask"):
        threads = joblib.Parallel(n_jobs=2)(
            joblib.delayed(_solver_threads)(n_jobs) for n_jobs in (None, 1)
        )
    assert threads == [1, 1]
