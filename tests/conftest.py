"""Shared fixtures and the hypothesis profiles.

Layout: a test file is named after the module it tests, without the leading
underscore (``skcontexture/_operator.py`` -> ``tests/test_operator.py``). Each
context family has its file in ``tests/contexts/`` (``contexts/_knn.py`` ->
``tests/contexts/test_knn.py``), and the tests that run over every built-in
context (the table of ``tests/_instances.py``) are in
``tests/contexts/test_every_context.py``. The tests of dask input are in
``tests/distributed/`` (with the ``dask_client`` fixture of a local cluster):
the lazy transform of ``_dask.py`` in ``test_dask.py``, the fit on a cluster
(``_distributed/``) in ``test_fit.py``. Suites across modules keep their own
files: the scikit-learn checks (``test_common.py``), the properties
(``test_properties.py``), dtypes, warnings, structure, docs, packaging,
selection and the public context checks (``test_check_context.py``).

Data sets are shared fixtures here: ``blobs`` (from the factory
``make_blobs_data``), ``digits``, ``iris`` and ``X``. A module (or folder) that
needs other data of the same kind overrides the fixture of the same name and
builds it from the shared one. The dense references are in
``tests/_reference.py``.

Hypothesis profiles: "ci" (the default) and "deep" (20x the examples).
Select one with ``HYPOTHESIS_PROFILE=deep``. Count the generated cases with
``pytest tests/test_properties.py -s`` (the last property test prints them) or
``--hypothesis-show-statistics``.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings
from sklearn.datasets import load_digits, load_iris, make_blobs
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ._joints import knn_joint

_COMMON = dict(
    deadline=None,
    database=None,
    derandomize=False,
    # the "explain" phase reruns a failure hundreds of times to comment on it: slow here
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", max_examples=100, **_COMMON)
settings.register_profile("deep", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def make_blobs_data():
    """``make_blobs_data(**params) -> (X, y)``: :func:`~sklearn.datasets.make_blobs` with seed 0."""

    def make(**params):
        return make_blobs(**{"random_state": 0, **params})

    return make


@pytest.fixture(scope="module")
def blobs(make_blobs_data):
    """300 points around 4 centres in 5 features, with their labels: ``(X, y)``."""
    return make_blobs_data(n_samples=300, centers=4, n_features=5, cluster_std=2.5)


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's digits: ``(X, y)``, 1,797 images of 64 pixels."""
    return load_digits(return_X_y=True)


@pytest.fixture(scope="module")
def iris():
    """The iris measurements, standardised (no labels)."""
    return StandardScaler().fit_transform(load_iris().data)


@pytest.fixture
def X():
    """50 points of a standard normal in 3 features (seed 0)."""
    return np.random.RandomState(0).normal(size=(50, 3))


@pytest.fixture(scope="module")
def single_threaded_blas():
    """One BLAS thread for a module's dense algebra (threaded LAPACK stalls on a busy machine)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def knn_operator():
    """The operator of the kNN graph (10 neighbours) of 1,500 swiss-roll points."""
    from skcontexture._operator import ContextOperator

    op = ContextOperator(knn_joint(1500, 10))
    assert op.n_connected_components() == 1
    return op
