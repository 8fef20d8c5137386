"""float32 input gives float32 outputs and fitted arrays; any other input gives float64."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.kernel_approximation import Nystroem
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext, LabelContext, SpectralContextEncoder

ESTIMATORS = [
    ContextureEmbedding(KNNContext(n_neighbors=10), n_components=3),
    ContextureEmbedding(LabelContext(), n_components=2),  # transform is not embedding_
    SpectralContextEncoder(KNNContext(n_neighbors=10), n_components=3),
    SpectralContextEncoder(
        KNNContext(n_neighbors=10), backbone=Nystroem(n_components=20), n_components=3,
        random_state=0,
    ),
]
# the arrays of the size of the data (or of the model) follow the input; spectra stay float64
SAMPLE_ARRAYS = ("embedding_", "atom_functions_", "components_", "mean_")
SPECTRA = ("singular_values_", "eigenvalues_")


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=120, centers=3, n_features=4, cluster_std=3.0, random_state=0)
    return StandardScaler().fit_transform(X), y


def _check_dtypes(est, Z_fit, Z, expected):
    assert Z_fit.dtype == expected and Z.dtype == expected
    for name in SAMPLE_ARRAYS:
        if hasattr(est, name):
            assert getattr(est, name).dtype == expected, name
    for name in SPECTRA:
        if hasattr(est, name):
            assert getattr(est, name).dtype == np.float64, name


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "dtype, expected",
    [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64)],
)
def test_output_dtype_follows_the_input(data, estimator, sparse, dtype, expected):
    X, y = data
    X = (X * 10).astype(dtype)
    X_in = sp.csr_matrix(X) if sparse else X
    est = clone(estimator)
    Z_fit = est.fit_transform(X_in, y)
    _check_dtypes(est, Z_fit, est.transform(X_in), expected)
    # the float32 fit is the float64 fit, to float32 accuracy
    X64 = X_in.astype(np.float64)
    reference = clone(estimator).fit(X64, y).transform(X64)
    np.testing.assert_allclose(np.abs(est.transform(X_in)), np.abs(reference), atol=1e-3)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_float32_dataframe_gives_a_float32_dataframe(data, estimator):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X.astype(np.float32), columns=[f"f{i}" for i in range(X.shape[1])])
    est = clone(estimator).set_output(transform="pandas")
    out = est.fit_transform(df, y)
    assert isinstance(out, pd.DataFrame) and set(out.dtypes) == {np.dtype(np.float32)}
    assert set(est.transform(df).dtypes) == {np.dtype(np.float32)}
    assert est.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(est.feature_names_in_, df.columns)
    # a float32 fit transforms float64 data to float64, and the reverse
    est.set_output(transform="default")
    assert est.transform(df.astype(np.float64)).dtype == np.float64
    assert clone(estimator).fit(df.astype(np.float64), y).transform(df).dtype == np.float32


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_float32_input_is_not_modified(data, estimator):
    X, y = data
    X = X.astype(np.float32)
    before = X.copy()
    clone(estimator).fit(X, y).transform(X)
    np.testing.assert_array_equal(X, before)
