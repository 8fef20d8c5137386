"""The neighbour search behind the kNN, RBF, noise and label contexts: its algorithms,
the coordinates it accepts, ties, duplicated rows and the format of queries."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_swiss_roll

from skcontexture import (
    ContextureEmbedding,
    CutMixContext,
    CutoutContext,
    GaussianNoiseContext,
    KNNContext,
    LabelContext,
    RBFContext,
    SCARFContext,
)
from skcontexture.contexts import _neighbors
from skcontexture.contexts._neighbors import COPIES_SAMPLE_ROWS, NeighborIndex

# pynndescent compiles with numba in every new process (minutes in a fresh environment): the
# tests that fit NN-descent run in one pytest-xdist worker, which pays that once
pytestmark = pytest.mark.xdist_group("nndescent")


def _swiss_roll(n=2000):
    X, _ = make_swiss_roll(n, noise=0.5, random_state=0)
    return np.hstack([X, np.random.RandomState(0).normal(scale=0.1, size=(n, 7))])


def test_auto_switches_at_the_threshold(monkeypatch):
    X = _swiss_roll(300)
    assert KNNContext(5).fit(X).index_.algorithm_ == "exact"
    monkeypatch.setattr(_neighbors, "NNDESCENT_MIN_SAMPLES", 200)
    monkeypatch.setattr(_neighbors, "PYKDTREE_MAX_SAMPLES", 299)
    index = _neighbors.NeighborIndex("auto", "euclidean", 5, None, 0)
    assert index.fit(X).algorithm_ == "nndescent"


def test_auto_searches_exactly_on_pykdtree_up_to_its_threshold(monkeypatch):
    X = _swiss_roll(300)  # 10 features
    monkeypatch.setattr(_neighbors, "NNDESCENT_MIN_SAMPLES", 200)
    monkeypatch.setattr(_neighbors, "PYKDTREE_MAX_SAMPLES", 300)
    for metric in ("euclidean", "cosine"):
        index = NeighborIndex("auto", metric, 5, None, 0).fit(X)
        assert index.algorithm_ == "exact"
        assert isinstance(index.index_, _neighbors._KDTree)


def test_auto_rule():
    """pykdtree's threshold where it serves the exact search, the others elsewhere."""
    rule = _neighbors.uses_nndescent
    most = _neighbors.PYKDTREE_MAX_SAMPLES
    least = _neighbors.NNDESCENT_MIN_SAMPLES
    assert most >= least
    for n_features in (1, 10, _neighbors.PYKDTREE_MAX_FEATURES):
        for metric in ("euclidean", "cosine"):
            assert not rule(least - 1, n_features, metric)
            assert not rule(most, n_features, metric)
            assert rule(most + 1, n_features, metric)
        # where pykdtree does not serve the exact search: the rule without it
        for metric, sparse in (("euclidean", True), ("manhattan", False)):
            assert not rule(least - 1, n_features, metric, sparse)
            assert rule(least, n_features, metric, sparse)
    for n_features in (_neighbors.PYKDTREE_MAX_FEATURES + 1, _neighbors.HIGH_DIM_FEATURES):
        assert not rule(least - 1, n_features)
        assert rule(least, n_features)
    high = _neighbors.HIGH_DIM_FEATURES + 1
    assert not rule(_neighbors.HIGH_DIM_MIN_SAMPLES - 1, high)
    assert rule(_neighbors.HIGH_DIM_MIN_SAMPLES, high)
    assert _neighbors.pykdtree_applies(10, "euclidean", False)
    assert not _neighbors.pykdtree_applies(10, "manhattan", False)
    assert not _neighbors.pykdtree_applies(10, "euclidean", True)


def test_queries_off_the_data_leave_the_tree_above_their_feature_limit():
    """Augmented copies search pykdtree only up to OFF_DATA_PYKDTREE_MAX_FEATURES, then by
    brute force, and find the same neighbours as the tree (both are exact)."""
    rng = np.random.RandomState(0)
    limit = _neighbors.OFF_DATA_PYKDTREE_MAX_FEATURES
    assert limit < _neighbors.PYKDTREE_MAX_FEATURES
    for n_features, on_tree in ((limit, True), (limit + 4, False)):
        X = rng.normal(size=(600, n_features))
        # CutMix-like copies: half the features taken from another row
        copies = X[rng.randint(600, size=300)]
        mixed = rng.uniform(size=copies.shape) < 0.5
        copies[mixed] = X[rng.randint(600, size=300)][mixed]
        off = NeighborIndex("exact", "euclidean", 5, None, None, off_data=True).fit(X)
        on = NeighborIndex("exact", "euclidean", 5, None, None).fit(X)
        assert isinstance(on.index_, _neighbors._KDTree)
        assert isinstance(off.index_, _neighbors._KDTree) == on_tree
        if not on_tree:
            assert off.index_.algorithm == "brute"
        for rows in (copies, X):
            np.testing.assert_array_equal(off.kneighbors(rows, 5)[1], on.kneighbors(rows, 5)[1])
            # brute force's distances come from |x|^2 + |y|^2 - 2 x.y: a copy of a fit row
            # is at about 1e-8 from it, not at 0
            np.testing.assert_allclose(off.kneighbors(rows, 5)[0], on.kneighbors(rows, 5)[0],
                                       rtol=1e-10, atol=1e-6)
    rule = _neighbors.uses_nndescent
    n = _neighbors.NNDESCENT_MIN_SAMPLES
    assert not rule(n, limit + 1) and rule(n, limit + 1, off_data=True)
    assert not rule(n, limit) and not rule(n, limit, off_data=True)


_OPENMP_CHECK = """
import numpy as np
from threadpoolctl import threadpool_info
from skcontexture.contexts._neighbors import NeighborIndex

seen = {}
for n_features in (5, 40):  # pykdtree's tree; scikit-learn's brute force
    for n_jobs in (None, 1, 2):
        X = np.random.RandomState(0).normal(size=(300, n_features))
        index = NeighborIndex("exact", "euclidean", 5, n_jobs, None).fit(X)
        calls = seen.setdefault(f"{n_features} {n_jobs}", [])

        def spy(method):
            def recorded(*args, **kwargs):
                calls.append(sorted({pool["num_threads"] for pool in threadpool_info()
                                     if pool["user_api"] == "openmp"}))
                return method(*args, **kwargs)
            return recorded

        for name in ("kneighbors", "radius_neighbors"):
            setattr(index.index_, name, spy(getattr(index.index_, name)))
        distances, _ = index.kneighbors(X[:20], 5)
        index.within(X[:20], distances[:, -1])
print(seen)
"""


def test_exact_search_runs_on_n_jobs_openmp_threads():
    """Both exact searches would run on every core whatever their n_jobs: the queries and
    the radius searches run within the limit, and None means one thread. Checked in a new
    process, where the OpenMP runtimes are those of the exact searches only (NN-descent's
    numba loads one of its own, which numba_threads limits)."""
    import ast
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _OPENMP_CHECK], capture_output=True,
                         text=True, check=True).stdout
    seen = ast.literal_eval(out.strip().splitlines()[-1])
    for n_features in (5, 40):
        for n_jobs, threads in ((None, 1), (1, 1), (2, 2)):
            calls = seen[f"{n_features} {n_jobs}"]
            assert calls and all(pools == [threads] for pools in calls), (n_features, n_jobs)


def test_the_tabular_augmentations_query_off_the_data():
    X = np.random.RandomState(0).normal(size=(200, 12))
    for context in (SCARFContext(n_draws=2), CutMixContext(n_draws=2), CutoutContext(n_draws=2)):
        assert context.fit(X).index_.off_data
    assert not KNNContext(5).fit(X).index_.off_data

def test_fit_point_is_its_own_neighbour():
    X = _swiss_roll(500)
    ctx = KNNContext(7).fit(X)
    np.testing.assert_allclose(ctx.joint_.diagonal(), 1 / (7 * len(X)))


@pytest.mark.slow
def test_nndescent_matches_exact_and_is_reproducible():
    """pynndescent compiles with numba on first use: this test pays that once."""
    X = _swiss_roll()
    fits = {
        n_jobs: ContextureEmbedding(
            KNNContext(15, algorithm="nndescent", n_jobs=n_jobs, random_state=0),
            n_components=4,
            random_state=0,
        ).fit(X)
        for n_jobs in (1, 2)
    }
    approx = fits[1]
    np.testing.assert_array_equal(approx.embedding_, fits[2].embedding_)
    np.testing.assert_allclose(approx.transform(X), approx.embedding_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(approx.transform(X[:5]), approx.embedding_[:5], atol=1e-12)
    exact = ContextureEmbedding(KNNContext(15, algorithm="exact"), n_components=4).fit(X)
    shared = approx.context_.joint_.multiply(exact.context_.joint_) > 0
    assert shared.sum() / exact.context_.joint_.nnz > 0.99
    np.testing.assert_allclose(approx.singular_values_, exact.singular_values_, rtol=1e-3)



@pytest.mark.slow
def test_nndescent_is_the_same_for_any_n_jobs():
    """On 10-d Gaussian data pynndescent's graph used to change with its thread count
    (3% of the rows at 2,000 points): neighbours and embedding are the same now."""
    X = np.random.RandomState(0).normal(size=(2000, 10))
    fits = [
        ContextureEmbedding(
            KNNContext(15, algorithm="nndescent", n_jobs=n_jobs, random_state=0),
            n_components=4,
            random_state=0,
        ).fit(X)
        for n_jobs in (1, 2)
    ]
    one, two = (fit.context_ for fit in fits)
    np.testing.assert_array_equal(one.joint_.indices, two.joint_.indices)
    np.testing.assert_array_equal(one.joint_.data, two.joint_.data)
    np.testing.assert_array_equal(fits[0].embedding_, fits[1].embedding_)
    np.testing.assert_array_equal(one.conditional(X[:50]).toarray(),
                                  two.conditional(X[:50]).toarray())

GEOMETRIC = [
    KNNContext(5),
    RBFContext(),
    RBFContext(gamma=1.0, n_neighbors=10),
    GaussianNoiseContext(n_draws=2, n_neighbors=5, random_state=0),
]


@pytest.mark.parametrize("context", GEOMETRIC, ids=lambda c: type(c).__name__)
def test_overflowing_coordinates_are_named_at_fit_and_in_conditional(context, X, X_huge):
    with pytest.raises(ValueError, match=r"reach \S+e\+300 .*overflow float64.*StandardScaler"):
        context.fit(X_huge)
    fitted = context.fit(X)
    with pytest.raises(ValueError, match=r"Values in X reach \S+e\+300"):
        fitted.conditional(X_huge[:2])


def test_float32_coordinates_are_checked_against_float32():
    X_32 = np.random.RandomState(0).normal(size=(60, 40)).astype(np.float32) * 1e20
    with pytest.raises(ValueError, match="overflow float32"):
        KNNContext(5).fit(X_32)


def test_overflowing_coordinates_are_named_by_the_embedding_and_label_context(X_huge):
    with pytest.raises(ValueError, match="overflow float64"):
        ContextureEmbedding(RBFContext()).fit(X_huge)
    with pytest.raises(ValueError, match="overflow float64"):
        LabelContext(5).fit(X_huge, np.arange(50) % 2)


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


def test_cosine_of_a_zero_row_is_named(X):
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


@pytest.mark.slow
def test_auto_nndescent_breaks_ties_as_the_exact_search(monkeypatch):
    pytest.importorskip("pynndescent")
    monkeypatch.setattr(_neighbors, "NNDESCENT_MIN_SAMPLES", 10)
    monkeypatch.setattr(_neighbors, "PYKDTREE_MAX_SAMPLES", 9)
    X_grid = _grid()
    approx = KNNContext(3, random_state=0).fit(X_grid)
    assert approx.index_.algorithm_ == "nndescent"
    exact = KNNContext(3, algorithm="exact").fit(X_grid)
    np.testing.assert_array_equal(approx.joint_.toarray(), exact.joint_.toarray())


def test_rows_with_more_copies_than_neighbours_warn():
    with pytest.warns(UserWarning, match=r"100% of the fit rows have more than n_neighbors=15"):
        KNNContext().fit(np.ones((100, 3)))


def test_exact_search_counts_the_copies_of_every_row():
    # one point with more copies than n_neighbors, at rows a sample of 256 would not visit
    X = np.random.RandomState(0).normal(size=(3000, 3))
    sampled = np.linspace(0, len(X) - 1, COPIES_SAMPLE_ROWS).astype(int)
    copies = np.setdiff1d(np.arange(len(X)), sampled)[:18]  # 18 copies
    X[copies[0], 2] = 0.0
    X[copies] = X[copies[0]]
    X[copies[5], 2] = -0.0  # the same point whatever the sign of its zero
    index = KNNContext(15, algorithm="exact").fit(X).index_
    assert index.copies_ is not None
    _, indices = index.kneighbors(X[copies[:1]], 15)
    np.testing.assert_array_equal(indices[0], copies[:15])  # the first copies in fit order
    assert KNNContext(18, algorithm="exact").fit(X).index_.copies_ is None


def test_a_few_duplicated_rows_do_not_warn():
    digits = load_digits().data
    every_row_twice = np.repeat(digits[::2], 2, axis=0)
    a_few_rows_often = np.vstack([digits, np.repeat(digits[:4], 20, axis=0)])  # 4% of rows
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        KNNContext(15).fit(every_row_twice)
        KNNContext(15).fit(a_few_rows_often)


@pytest.mark.parametrize(
    "context",
    [KNNContext(5), RBFContext(gamma=1.0), RBFContext(gamma=1.0, n_neighbors=10)],
    ids=lambda c: repr(c),
)
def test_queries_in_the_other_format_than_the_fit_data(context, X):
    dense_fit = context.fit(X)
    expected = dense_fit.conditional(X[:5]).toarray()
    np.testing.assert_allclose(dense_fit.conditional(sp.csr_matrix(X[:5])).toarray(), expected)
    sparse_fit = context.fit(sp.csr_matrix(X))
    np.testing.assert_allclose(sparse_fit.conditional(X[:5]).toarray(), expected)


@pytest.mark.parametrize(
    "metric, sparse",
    [("euclidean", False), ("euclidean", True), ("cosine", False), ("cosine", True),
     ("manhattan", False)],
)
def test_within_finds_every_fit_point_up_to_the_radius(metric, sparse):
    rng = np.random.RandomState(0)
    X_fit, X_query = rng.normal(size=(300, 4)), rng.normal(size=(80, 4))
    X_query[:5] = X_fit[:5]  # distance 0
    if sparse:
        X_fit, X_query = sp.csr_matrix(X_fit), sp.csr_matrix(X_query)
    index = NeighborIndex("exact", metric, 10, None, None).fit(X_fit)
    distances, _ = index.kneighbors(X_query, 300)  # every fit point, nearest first
    radii = distances[np.arange(80), rng.randint(0, 40, size=80)]
    radii[-1] = 0.0
    found_distances, found, counts = index.within(X_query, radii)
    assert len(found_distances) == len(found) == counts.sum()
    all_distances, all_indices = index.kneighbors(X_query, 300)
    start = 0
    for row in range(80):
        mine = slice(start, start + counts[row])
        start += counts[row]
        inside = all_distances[row] <= radii[row]
        # every point at most the radius away is found, with its distance
        assert set(all_indices[row][inside]) <= set(found[mine])
        lookup = dict(zip(all_indices[row], all_distances[row]))
        np.testing.assert_allclose(found_distances[mine], [lookup[i] for i in found[mine]],
                                   rtol=1e-12, atol=1e-12)
        assert np.all(found_distances[mine] <= radii[row] * (1 + 1e-6) + 1e-12)


@pytest.mark.filterwarnings("ignore:X has many duplicated rows")  # k = 1 with copies
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("k", [1, 7, 12])
@pytest.mark.parametrize("data", ["swiss roll", "grid", "copies"])
def test_pykdtree_finds_what_scikit_learn_finds(monkeypatch, data, k, metric):
    X = {"swiss roll": _swiss_roll(400), "grid": _grid() + 1, "copies": _copies(40, 3)}[data]
    query = np.vstack([X[::3], X[:4] + 0.25])
    index = NeighborIndex("exact", metric, k, None, None).fit(X)
    assert isinstance(index.index_, _neighbors._KDTree)
    with monkeypatch.context() as patch:
        patch.setattr(_neighbors, "PYKDTREE_MAX_FEATURES", 0)
        reference = NeighborIndex("exact", metric, k, None, None).fit(X)
    assert not isinstance(reference.index_, _neighbors._KDTree)
    for rows in (X, query):
        distances, indices = index.kneighbors(rows, k)
        expected_distances, expected = reference.kneighbors(rows, k)
        np.testing.assert_array_equal(indices, expected)
        np.testing.assert_allclose(distances, expected_distances, rtol=1e-12, atol=1e-15)
    if data == "copies":  # a row's copies come first, at distance exactly 0, in fit order
        distances, indices = index.kneighbors(X, k)
        first = min(k, 3)
        np.testing.assert_array_equal(distances[:, :first], 0)
        np.testing.assert_array_equal(indices[:, :first],
                                      np.arange(120)[:, None] // 3 * 3 + np.arange(first))


def test_pykdtree_is_the_same_for_any_n_jobs_and_survives_pickling():
    X = np.random.RandomState(0).normal(size=(3000, 5))
    one, two = (KNNContext(10, n_jobs=n_jobs).fit(X) for n_jobs in (1, 2))
    assert isinstance(one.index_.index_, _neighbors._KDTree)
    np.testing.assert_array_equal(one.joint_.indices, two.joint_.indices)
    restored = pickle.loads(pickle.dumps(one))
    np.testing.assert_array_equal(restored.conditional(X[:20]).toarray(),
                                  one.conditional(X[:20]).toarray())

