"""The distributed fit on a dask array equals the in-memory fit (LocalCluster, 2 processes)."""

import warnings

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from skcontexture import (
    ContextureEmbedding,
    CooccurrenceContext,
    GaussianNoiseContext,
    KNNContext,
    LabelContext,
    RBFContext,
)

ROW_CHUNKS = (700, 900, 1000, 400)  # unequal, two per worker


@pytest.fixture(scope="module")
def points():
    rng = np.random.RandomState(0)
    return rng.normal(size=(sum(ROW_CHUNKS), 5)), rng.normal(size=(300, 5))


@pytest.fixture(scope="module")
def counts():
    """Sparse counts with a row and a column without any (dropped, as in memory)."""
    C = sp.random(sum(ROW_CHUNKS) + 300, 300, density=0.03, random_state=1, format="lil")
    C[5, :] = 0
    C[:, 7] = 0
    C = sp.csr_matrix(C)
    C.data = np.ceil(10 * C.data)
    return C[: sum(ROW_CHUNKS)], C[sum(ROW_CHUNKS):]


CASES = {
    "knn": (KNNContext(10), "points", False),
    "rbf": (RBFContext(n_neighbors=20), "points", False),
    "cooccurrence-sparse": (CooccurrenceContext(), "counts", False),
    "cooccurrence-dense": (CooccurrenceContext(), "counts", True),
}


def _canonical_correlations(A, B):
    return np.linalg.svd(np.linalg.qr(A)[0].T @ np.linalg.qr(B)[0], compute_uv=False)


def _as_dask(X, densify=False):
    if sp.issparse(X) and densify:
        X = X.toarray()
    return da.from_array(X, chunks=(ROW_CHUNKS, 2 if not sp.issparse(X) else -1), asarray=False)


@pytest.fixture(scope="module")
def fits(dask_client, points, counts):
    """Per case: the model fitted on the cluster, the in-memory one, and their data."""
    results = {}
    for name, (context, source, densify) in CASES.items():
        X_fit, X_new = points if source == "points" else counts
        if densify:
            X_fit, X_new = X_fit.toarray(), X_new.toarray()
        fitted = []
        for X in (_as_dask(X_fit), X_fit):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                estimator = ContextureEmbedding(context, n_components=5, random_state=0).fit(X)
            fitted.append((estimator, [type(w.message) for w in caught]))
        (on_cluster, warned_on_cluster), (in_memory, warned_in_memory) = fitted
        assert warned_on_cluster == warned_in_memory, name  # RBF mass, rows without counts
        results[name] = on_cluster, in_memory, X_fit, X_new
    return results


@pytest.mark.parametrize("case", CASES)
def test_fit_on_the_cluster_matches_the_in_memory_fit(fits, case):
    on_cluster, in_memory, X_fit, _ = fits[case]
    assert_allclose(on_cluster.singular_values_, in_memory.singular_values_, rtol=1e-8)
    assert on_cluster.n_connected_components_ == in_memory.n_connected_components_
    assert isinstance(on_cluster.embedding_, da.Array)
    assert on_cluster.embedding_.chunks == (ROW_CHUNKS, (5,))
    embedding = on_cluster.embedding_.compute()
    assert embedding.dtype == in_memory.embedding_.dtype
    assert _canonical_correlations(embedding, in_memory.embedding_).min() >= 0.9999
    assert on_cluster.atom_functions_.shape == in_memory.atom_functions_.shape
    assert on_cluster.context_.n_atoms_ == in_memory.context_.n_atoms_
    assert on_cluster.n_features_in_ == X_fit.shape[1]
    if case == "rbf":
        assert on_cluster.context_.gamma_ == pytest.approx(in_memory.context_.gamma_, rel=1e-12)
        assert on_cluster.context_.kernel_mass_kept_ == pytest.approx(
            in_memory.context_.kernel_mass_kept_, rel=1e-10
        )
    if case.startswith("cooccurrence"):  # the row without counts embeds at the origin
        assert np.all(embedding[5] == 0) and np.all(in_memory.embedding_[5] == 0)


@pytest.mark.filterwarnings("ignore:.*no co-occurrence:UserWarning")  # a new row without counts
@pytest.mark.parametrize("case", CASES)
def test_transform_after_a_fit_on_the_cluster(fits, case):
    on_cluster, in_memory, X_fit, X_new = fits[case]
    expected = on_cluster.transform(X_new)  # in-memory rows: the neighbours come from the cluster
    assert isinstance(expected, np.ndarray)
    X_dask = da.from_array(X_new, chunks=(120, -1), asarray=False)
    Z = on_cluster.transform(X_dask)
    assert isinstance(Z, da.Array) and Z.chunks == ((120, 120, 60), (5,))
    assert_allclose(Z.compute(), expected, rtol=0, atol=1e-10)
    assert _canonical_correlations(expected, in_memory.transform(X_new)).min() >= 0.9999
    # the fit rows' conditional is their joint row: transform reproduces embedding_
    embedding = on_cluster.embedding_.compute()
    assert_allclose(on_cluster.transform(_as_dask(X_fit)).compute(), embedding, atol=1e-10)


@pytest.mark.filterwarnings("ignore:.*no co-occurrence:UserWarning")  # a new row without counts
@pytest.mark.parametrize("case", CASES)
def test_conditional_of_a_dask_array_after_a_fit_on_the_cluster(fits, case):
    context, X_new = fits[case][0].context_, fits[case][3]
    rows = context.conditional(da.from_array(X_new, chunks=(120, -1), asarray=False))
    assert isinstance(rows, da.Array) and rows.chunks == ((120, 120, 60), (context.n_atoms_,))
    got, expected = rows.compute(), context.conditional(X_new)  # in memory, through the cluster
    assert sp.issparse(got) and got.format == "csr"
    assert abs(got - expected).max() <= 1e-12


def test_fit_transform_on_the_cluster(dask_client, points):
    X = _as_dask(points[0])
    estimator = ContextureEmbedding(KNNContext(10), n_components=3, random_state=0)
    Z = estimator.fit_transform(X)
    assert isinstance(Z, da.Array) and Z.chunks[0] == ROW_CHUNKS
    assert_allclose(Z.compute(), estimator.embedding_.compute(), rtol=0, atol=0)


def test_float32_and_singular_value_scaling(dask_client, points):
    X = points[0].astype(np.float32)
    kwargs = dict(n_components=3, scale="singular_values", random_state=0)
    on_cluster = ContextureEmbedding(KNNContext(10), **kwargs).fit(_as_dask(X))
    in_memory = ContextureEmbedding(KNNContext(10), **kwargs).fit(X)
    assert on_cluster.embedding_.dtype == np.float32 == on_cluster.atom_functions_.dtype
    assert_allclose(on_cluster.singular_values_, in_memory.singular_values_, rtol=1e-8)
    norms = np.linalg.norm(on_cluster.embedding_.compute(), axis=0)
    assert_allclose(norms, np.linalg.norm(in_memory.embedding_, axis=0), rtol=1e-5)


def test_disconnected_graph_and_dense_solver(dask_client):
    """Components counted across workers; a short side of 400 uses the "dense" solver."""
    rng = np.random.RandomState(2)
    X = np.vstack([rng.normal(size=(200, 3)), 100 + rng.normal(size=(200, 3))])
    X = X[rng.permutation(400)]
    kwargs = dict(n_components=3, random_state=0)
    with pytest.warns(UserWarning, match="2 connected components"):
        on_cluster = ContextureEmbedding(KNNContext(5), **kwargs).fit(
            da.from_array(X, chunks=(150, 3))
        )
    with pytest.warns(UserWarning, match="2 connected components"):
        in_memory = ContextureEmbedding(KNNContext(5), **kwargs).fit(X)
    assert on_cluster.n_connected_components_ == in_memory.n_connected_components_ == 2
    assert_allclose(on_cluster.singular_values_, in_memory.singular_values_, rtol=1e-8)


@pytest.mark.parametrize(
    "context, match",
    [
        (LabelContext(), "LabelContext"),
        (GaussianNoiseContext(), "GaussianNoiseContext"),
        (RBFContext(), r"RBFContext\(\)"),
        (KNNContext(algorithm="nndescent"), "algorithm='exact' or 'auto'"),
    ],
    ids=["labels", "noise", "rbf-dense", "nndescent"],
)
def test_unsupported_contexts_raise(dask_client, points, context, match):
    with pytest.raises(ValueError, match=match) as error:
        ContextureEmbedding(context, n_components=2).fit(_as_dask(points[0]))
    if "algorithm" not in match:
        assert "supports KNNContext, RBFContext with n_neighbors set" in str(error.value)
        assert "X.compute()" in str(error.value)


def test_bad_dask_input_raises(dask_client, points):
    estimator = ContextureEmbedding(KNNContext(5), n_components=2)
    frame = dd.from_pandas(pd.DataFrame(points[0]), npartitions=2)
    with pytest.raises(TypeError, match=r"to_dask_array\(lengths=True\)"):
        estimator.fit(frame)
    unknown = da.from_array(points[0], chunks=(1000, 5))
    unknown = unknown[unknown[:, 0] > 0]
    with pytest.raises(ValueError, match=r"compute_chunk_sizes\(\)"):
        estimator.fit(unknown)
    with pytest.raises(ValueError, match="2D"):
        estimator.fit(da.from_array(points[0][:, 0]))
    with pytest.raises(ValueError, match="n_neighbors=5000 is larger"):
        ContextureEmbedding(KNNContext(5000)).fit(_as_dask(points[0]))
    with pytest.raises(TypeError, match="no fit parameters"):
        estimator.fit(_as_dask(points[0]), A=points[0])


@pytest.fixture(scope="module")
def operator_on_workers(dask_client):
    """A distributed operator of a random joint with a row and an atom without mass."""
    from skcontexture._distributed.operator import DaskContextOperator

    joint = sp.random(1200, 900, density=0.01, random_state=3, format="lil")
    joint[10, :] = 0
    joint[:, 20] = 0
    joint = sp.csr_matrix(joint)
    bounds = [0, 300, 700, 1000, 1200]
    workers = sorted(dask_client.scheduler_info()["workers"])
    owners = [workers[0], workers[0], workers[1], workers[1]]
    chunks = [dask_client.scatter(joint[lo:hi], workers=[owner])
              for lo, hi, owner in zip(bounds[:-1], bounds[1:], owners)]
    return DaskContextOperator(dask_client, chunks, 900, owners), joint


def test_worker_held_blocks_follow_the_in_memory_algebra(operator_on_workers):
    """Every step of the block solver on worker-held blocks equals it on in-memory blocks."""
    from skcontexture._distributed.operator import WorkerBlock, WorkerBlocks
    from skcontexture._solvers import NumpyBlocks

    operator, _ = operator_on_workers
    blocks, here = operator.blocks, NumpyBlocks(1)
    assert isinstance(blocks, WorkerBlocks)
    m = operator.shape[1]
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):

        def close(actual, desired, tol=tol):
            assert_allclose(actual, desired, rtol=tol, atol=tol * np.abs(desired).max())

        X = blocks.random(np.random.RandomState(0), (m, 6), dtype)
        Y = blocks.random(np.random.RandomState(1), (m, 6), dtype)
        x, y = blocks.leading(X, 6), blocks.leading(Y, 6)
        assert x.shape == (m, 6) and x.dtype == dtype and np.all(np.abs(x) <= 1)
        assert not np.allclose(x, y)
        Z = np.random.RandomState(2).normal(size=(6, 6)).astype(dtype)
        close(blocks.cross(X, Y), here.cross(x, y))
        close(blocks.column_dots(X, Y), here.column_dots(x, y))
        close(blocks.leading(blocks.rotate(X, Z), 6), here.rotate(x, Z))
        close(blocks.leading(blocks.affine(Y, X, 0.3, 2.0), 6), here.affine(y, x, 0.3, 2.0))
        theta = np.array([0.5, 2.0])
        close(blocks.residual_norms(X, Y, theta), here.residual_norms(x, y, theta))
        assert blocks.astype(X, np.float64).dtype == np.float64
        assert_allclose(blocks.leading(blocks.astype(X, np.float64), 6), x, rtol=0)
        Q = blocks.leading(blocks.orthonormalize(X), 6)
        assert_allclose(Q.T @ Q, np.eye(6), atol=tol * 10)
        released = blocks.astype(X, dtype)
        assert blocks.spare(released) is None
        assert released.pieces is None  # released, whoever refers to it
        # the Gram product, with the affine terms of a Chebyshev step
        got = operator.gram_matmat(X, scale=0.7, shift=0.2, previous=Y, weight=-0.4)
        assert isinstance(got, WorkerBlock) and got.dtype == dtype
        expected = operator.gram_matmat(x, scale=0.7, shift=0.2, previous=y, weight=-0.4)
        close(blocks.leading(got, 6), expected)


def test_worker_held_gram_product_is_the_deflated_gram(operator_on_workers):
    """G = D^T D of the normalised joint, against its dense form."""
    operator, joint = operator_on_workers
    P = joint.toarray() / joint.sum()
    rows, atoms = operator.rows, operator.atoms
    P = P[rows][:, atoms]
    p_x, p_a = P.sum(axis=1), P.sum(axis=0)
    D = P / np.sqrt(np.outer(p_x, p_a)) - np.outer(np.sqrt(p_x), np.sqrt(p_a))
    X = operator.blocks.random(np.random.RandomState(0), (len(atoms), 4), np.float64)
    x = operator.blocks.leading(X, 4)
    assert_allclose(operator.blocks.leading(operator.gram_matmat(X), 4), D.T @ (D @ x),
                    atol=1e-12)


@pytest.mark.filterwarnings("ignore:The context graph has 2 connected components")
@pytest.mark.parametrize("k", [3, 6])
def test_neighbor_search_on_the_workers_is_the_exact_search(dask_client, k):
    """The same neighbours as the in-memory exact search, ties by fit index included."""
    from skcontexture.contexts._neighbors import NeighborIndex

    grid = np.array([(i, j) for i in range(12) for j in range(12)], dtype=float)
    X = np.vstack([grid, grid[:30]])[np.random.RandomState(0).permutation(174)]  # copies tie
    on_cluster = ContextureEmbedding(KNNContext(k), n_components=2).fit(
        da.from_array(X, chunks=(50, 2))
    )
    index = on_cluster.context_.index_
    expected = NeighborIndex("exact", "euclidean", k, None, None).fit(X).kneighbors(X, k)
    got = index.kneighbors(X, k)
    np.testing.assert_array_equal(got[1], expected[1])
    assert_allclose(got[0], expected[0], rtol=0, atol=0)
    # the fit's graph (each chunk searched from its own worker) is the same graph
    in_memory = ContextureEmbedding(KNNContext(k), n_components=2).fit(X)
    assert_allclose(on_cluster.singular_values_, in_memory.singular_values_, rtol=1e-10)


def test_rows_are_regrouped_by_region_and_put_back_in_order(dask_client):
    """Two far-apart blobs in shuffled chunks: each worker gets one blob; results come back
    in X's rows and chunks."""
    from skcontexture._distributed.layout import Layout

    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(600, 3)), 50 + rng.normal(size=(600, 3))])
    order = rng.permutation(len(X))
    X = X[order]
    layout = Layout(dask_client, da.from_array(X, chunks=(300, 3))).by_locality("euclidean")
    blobs = {}
    for owner, origin, part in zip(layout.owners, layout.origins, layout.parts):
        assert_allclose(part.result(), X[origin])
        assert np.all(np.diff(origin) > 0)
        blobs.setdefault(owner, set()).update(order[origin] >= 600)
    assert sorted(map(sorted, blobs.values())) == [[False], [True]]  # one blob per worker
    assert sorted(np.concatenate(layout.origins)) == list(range(len(X)))
    # per-chunk results, in the layout, back in X's order and chunks
    blocks = [dask_client.submit(np.multiply.outer, origin, [1.0, -1.0])
              for origin in layout.origins]
    back = layout.rows_of_X(blocks, 2, np.float64)
    assert back.chunks == ((300, 300, 300, 300), (2,))
    assert_allclose(back.compute(), np.multiply.outer(np.arange(len(X)), [1.0, -1.0]))


def test_duplicated_rows_keep_the_layout(dask_client):
    """No principal axis to cut along: the rows stay where they are."""
    from skcontexture._distributed.layout import Layout

    layout = Layout(dask_client, da.from_array(np.ones((400, 3)), chunks=(100, 3)))
    assert layout.by_locality("euclidean") is layout
