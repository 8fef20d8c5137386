"""Geometric contexts on extreme inputs: overflow, extreme widths, ties, copies, formats."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from skcontexture import (
    ContextureEmbedding,
    CooccurrenceContext,
    GaussianNoiseContext,
    KNNContext,
    LabelContext,
    RBFContext,
    TeacherContext,
)
from skcontexture.contexts import _neighbors
from skcontexture.contexts._neighbors import NeighborIndex

X = np.random.RandomState(0).normal(size=(50, 3))
X_HUGE = X * np.array([1e300, 1.0, 1.0])

GEOMETRIC = [
    KNNContext(5),
    RBFContext(),
    RBFContext(gamma=1.0, n_neighbors=10),
    GaussianNoiseContext(n_draws=2, n_neighbors=5, random_state=0),
]


@pytest.fixture(autouse=True)
def _numerical_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


@pytest.mark.parametrize("context", GEOMETRIC, ids=lambda c: type(c).__name__)
def test_overflowing_coordinates_are_named_at_fit_and_in_conditional(context):
    with pytest.raises(ValueError, match=r"reach \S+e\+300 .*overflow float64.*StandardScaler"):
        context.fit(X_HUGE)
    fitted = context.fit(X)
    with pytest.raises(ValueError, match=r"Values in X reach \S+e\+300"):
        fitted.conditional(X_HUGE[:2])


def test_float32_coordinates_are_checked_against_float32():
    X_32 = np.random.RandomState(0).normal(size=(60, 40)).astype(np.float32) * 1e20
    with pytest.raises(ValueError, match="overflow float32"):
        KNNContext(5).fit(X_32)


def test_overflowing_coordinates_are_named_by_the_embedding_and_label_context():
    with pytest.raises(ValueError, match="overflow float64"):
        ContextureEmbedding(RBFContext()).fit(X_HUGE)
    with pytest.raises(ValueError, match="overflow float64"):
        LabelContext(5).fit(X_HUGE, np.arange(50) % 2)


def test_default_gamma_of_data_near_the_limit_is_finite():
    scale = 1.5e153  # below the limit (3.9e153 with 3 features), but the sum of squares overflows
    gamma = RBFContext().fit(X * scale).gamma_
    np.testing.assert_allclose(gamma * scale**2, RBFContext().fit(X).gamma_)


@pytest.mark.parametrize("n_neighbors", [None, 10])
def test_rbf_extreme_gamma_gives_the_limit_kernels(n_neighbors):
    n = len(X)
    narrow = RBFContext(gamma=1e308, n_neighbors=n_neighbors).fit(X)  # gamma * d^2 overflows
    np.testing.assert_allclose(narrow.joint_.toarray(), np.eye(n) / n)  # each point alone
    narrow_rows = narrow.conditional(X[:3] + 0.01)
    assert np.isfinite(narrow_rows.data).all()
    np.testing.assert_allclose(narrow_rows.sum(axis=1), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the truncation drops most of the mass
        wide = RBFContext(gamma=1e-300, n_neighbors=n_neighbors).fit(X)
    width = n if n_neighbors is None else n_neighbors
    np.testing.assert_allclose(wide.joint_.data, 1 / (n * width))  # uniform over kept atoms


def test_noise_extreme_sigma_raises_or_gives_the_strong_end():
    with pytest.raises(ValueError, match=r"noisy draws \(sigma_=1e\+300\).*smaller sigma"):
        GaussianNoiseContext(sigma=1e300, random_state=0).fit(X)
    context = GaussianNoiseContext(sigma=1e-300, n_draws=2, n_neighbors=5, random_state=0).fit(X)
    own = context.atom_sources_[context.joint_.indices] == np.repeat(
        np.arange(len(X)), np.diff(context.joint_.indptr)
    )
    assert own.all()  # each fit point reaches only its own draws
    rows = context.conditional(X[:3] + 0.1)
    assert np.isfinite(rows.data).all()
    np.testing.assert_allclose(rows.sum(axis=1), 1)


def test_teacher_output_that_overflows_is_named():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # StandardScaler's own overflow
        with pytest.raises(ValueError, match=r"teacher's transform \(StandardScaler\).*NaN"):
            TeacherContext(StandardScaler()).fit(X_HUGE)


def test_cooccurrence_counts_whose_total_overflows():
    counts = np.array([[1e308, 1e308, 0.0], [1.0, 2.0, 3.0], [0.0, 1.0, 5.0]])
    joint = CooccurrenceContext().fit(counts).joint_
    np.testing.assert_allclose(joint.toarray()[0], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(joint.sum(), 1.0)
    rows = CooccurrenceContext().fit(counts[1:]).conditional(counts[:1])
    np.testing.assert_allclose(rows.toarray(), [[0.5, 0.5, 0.0]])


# --------------------------------------------------------------------------- ties


def _copies(n_points=3, n_copies=10):
    return np.repeat(np.random.RandomState(1).normal(size=(n_points, 3)), n_copies, axis=0)


def test_cosine_neighbours_depend_neither_on_n_jobs_nor_on_the_query_object():
    X_copies = _copies()
    with pytest.warns(UserWarning, match="duplicated rows"):
        fits = [KNNContext(7, metric="cosine", n_jobs=n_jobs).fit(X_copies) for n_jobs in (1, 2)]
    expected = np.repeat(np.arange(0, 30, 10), 10)[:, None] + np.arange(7)  # the first copies
    for context in fits:
        np.testing.assert_array_equal(context.joint_.indices.reshape(30, 7), expected)
        np.testing.assert_array_equal(
            context.conditional(X_copies.copy()).toarray(), context.joint_.toarray() * 30
        )


def test_cosine_of_a_zero_row_is_named():
    X_zero = _copies()
    X_zero[[0, 4]] = 0
    with pytest.raises(ValueError, match=r"2 row\(s\) of X are all zero \(rows 0, 4\).*euclidean"):
        KNNContext(7, metric="cosine").fit(X_zero)
    context = KNNContext(3, metric="cosine").fit(X)
    with pytest.raises(ValueError, match=r"rows 1\)"):
        context.conditional(np.vstack([X[:1], np.zeros(3)]))


def _grid():
    """A 6 x 6 integer grid: every point has up to 4 neighbours at distance 1."""
    return np.array([(i, j) for i in range(6) for j in range(6)], dtype=float)[::-1]


def _reference_neighbors(X_fit, X_query, k):
    distances = np.sqrt(((X_query[:, None] - X_fit[None]) ** 2).sum(-1))
    return np.argsort(distances, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize(
    "algorithm", ["exact", pytest.param("nndescent", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("k", [2, 3, 6])
def test_ties_are_broken_by_fit_index(algorithm, k):
    X_grid = _grid()
    index = NeighborIndex(algorithm, "euclidean", k, None, 0).fit(X_grid)
    for query in (X_grid, X_grid[::-1] + 0.0, X_grid[5:9].copy()):
        _, indices = index.kneighbors(query, k)
        np.testing.assert_array_equal(indices, _reference_neighbors(X_grid, query, k))


def test_auto_nndescent_breaks_ties_as_the_exact_search(monkeypatch):
    pytest.importorskip("pynndescent")
    monkeypatch.setattr(_neighbors, "NNDESCENT_MIN_SAMPLES", 10)
    X_grid = _grid()
    approx = KNNContext(3, random_state=0).fit(X_grid)
    assert approx.index_.algorithm_ == "nndescent"
    exact = KNNContext(3, algorithm="exact").fit(X_grid)
    np.testing.assert_array_equal(approx.joint_.toarray(), exact.joint_.toarray())


test_auto_nndescent_breaks_ties_as_the_exact_search = pytest.mark.slow(
    test_auto_nndescent_breaks_ties_as_the_exact_search
)


# --------------------------------------------------------------------------- copies


def test_rows_with_more_copies_than_neighbours_warn():
    with pytest.warns(UserWarning, match=r"100% of the fit rows have more than n_neighbors=15"):
        KNNContext().fit(np.ones((100, 3)))


def test_a_few_duplicated_rows_do_not_warn():
    digits = load_digits().data
    every_row_twice = np.repeat(digits[::2], 2, axis=0)
    a_few_rows_often = np.vstack([digits, np.repeat(digits[:4], 20, axis=0)])  # 4% of rows
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        KNNContext(15).fit(every_row_twice)
        KNNContext(15).fit(a_few_rows_often)


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    "context",
    [KNNContext(5), RBFContext(gamma=1.0), RBFContext(gamma=1.0, n_neighbors=10)],
    ids=lambda c: repr(c),
)
def test_queries_in_the_other_format_than_the_fit_data(context):
    dense_fit = context.fit(X)
    expected = dense_fit.conditional(X[:5]).toarray()
    np.testing.assert_allclose(dense_fit.conditional(sp.csr_matrix(X[:5])).toarray(), expected)
    sparse_fit = context.fit(sp.csr_matrix(X))
    np.testing.assert_allclose(sparse_fit.conditional(X[:5]).toarray(), expected)


def test_dense_rbf_keeps_its_own_copy_of_the_fit_points():
    X = np.random.RandomState(0).normal(size=(60, 4))
    context = RBFContext(gamma=0.5).fit(X)
    before = context.conditional(X[:5].copy()).toarray()
    X[:] = 0  # the caller reuses its array
    np.testing.assert_array_equal(context.conditional(
        np.random.RandomState(0).normal(size=(60, 4))[:5]).toarray(), before)
