"""The solvers (``skcontexture._solvers``): the Chebyshev solver against a dense SVD, the
shared solver rule, determinism across threads, and reliability: every solver returns
exactly k consistent triplets or a clear error, and reports what it reached (residual,
rank, clustered spectrum).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.sparse.linalg import ArpackError
from sklearn.exceptions import ConvergenceWarning

from skcontexture import ContextureEmbedding, KNNContext, _solvers
from skcontexture._operator import ContextOperator
from skcontexture._solvers import SINGLE_MIN_SIDE, top_singular_triplets
from skcontexture._sparse_blocks import _row_chunks
from skcontexture.contexts import GaussianNoiseContext
from skcontexture.linalg import context_spectrum

from ._joints import knn_joint, low_rank_joint, random_joint
from ._reference import deflated, dense_singular_functions, dense_svd

pytestmark = pytest.mark.usefixtures("single_threaded_blas")


# Singular values closer than this are treated as one cluster: only the
# subspace of the cluster is determined.
CLUSTER = 1e-6

SOLVERS = ["dense", "arpack", "lobpcg", "chebyshev"]


def _solve(op, k, **kwargs):
    """Chebyshev solve, tol 1e-10 and a fixed seed unless overridden."""
    kwargs = {"solver": "chebyshev", "tol": 1e-10, "random_state": 0, **kwargs}
    return top_singular_triplets(op, k, **kwargs)


def _assert_same_vectors(A, s, A_ref, s_ref, atol=1e-6):
    """Each column of A is its reference singular vector up to sign, or lies in
    the span of the reference cluster when singular values are within CLUSTER."""
    for j in range(A.shape[1]):
        basis = A_ref[:, np.abs(s_ref - s[j]) <= CLUSTER]
        assert basis.shape[1] >= 1
        residual = A[:, j] - basis @ (basis.T @ A[:, j])
        assert np.linalg.norm(residual) <= atol, j


def _assert_triplets(op, result, reference, k):
    """Chebyshev triplets match the dense SVD and are orthonormal, deflated."""
    s, U, V, _ = result
    s_ref, U_ref, V_ref = reference
    assert s.shape == (k,) and U.shape == (op.shape[0], k) and V.shape == (op.shape[1], k)
    assert_allclose(s, s_ref[:k], rtol=1e-8)
    _assert_same_vectors(U, s, U_ref, s_ref)
    _assert_same_vectors(V, s, V_ref, s_ref)
    eye = np.eye(k)
    assert_allclose(U.T @ U, eye, atol=1e-8)
    assert_allclose(V.T @ V, eye, atol=1e-8)
    assert_allclose(U.T @ op.u0, 0, atol=1e-8)
    assert_allclose(V.T @ op.v0, 0, atol=1e-8)
    # deterministic sign: the largest-magnitude entry of every V column is positive
    assert np.all(V[np.argmax(np.abs(V), axis=0), np.arange(k)] > 0)


def _noise_joint():
    """A joint whose top 50 singular values are 1 to round-off (connected graph)."""
    X9 = np.random.RandomState(9).normal(size=(60, 4))
    context = GaussianNoiseContext(sigma=0.1, n_draws=2, n_neighbors=5, random_state=9)
    return context.fit(X9).joint_


def _assert_consistent(op, s, U, V):
    """Orthonormal on both sides, orthogonal to the trivial vectors, A V = U s."""
    k = len(s)
    assert U.shape == (op.shape[0], k) and V.shape == (op.shape[1], k)
    assert_allclose(U.T @ U, np.eye(k), atol=1e-8)
    assert_allclose(V.T @ V, np.eye(k), atol=1e-8)
    assert_allclose(op.u0 @ U, 0, atol=1e-10)
    assert_allclose(op.v0 @ V, 0, atol=1e-10)


@pytest.fixture(scope="module")
def knn_problem(knn_operator):
    """The shared kNN operator of 1,500 swiss-roll points and its dense SVD (computed once)."""
    return knn_operator, dense_svd(deflated(knn_operator))


@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_chebyshev_matches_svd_random_joint(shape, k):
    op = ContextOperator(random_joint(*shape, seed=1))
    _assert_triplets(op, _solve(op, k), dense_svd(deflated(op)), k)


@pytest.mark.parametrize("k", [1, 5, 20])
@pytest.mark.parametrize("single", [False, True])
def test_chebyshev_matches_svd_knn(knn_problem, k, single, monkeypatch):
    # single: filtering in float32, then the double-precision polish reaches tol
    monkeypatch.setattr(_solvers, "SINGLE_MIN_SIDE", 0 if single else np.inf)
    op, reference = knn_problem
    _assert_triplets(op, _solve(op, k), reference, k)


@pytest.mark.parametrize("single", [False, True])
def test_chebyshev_bit_identical_across_n_jobs(single, monkeypatch):
    monkeypatch.setattr(_solvers, "SINGLE_MIN_SIDE", 0 if single else np.inf)
    W = knn_joint(9000, 4)
    # more than one fixed row chunk in the tall-skinny products
    assert len(_row_chunks(min(W.shape))) > 1
    results = []
    for n_jobs in (1, 2):
        op = ContextOperator(W, n_jobs=n_jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            results.append(_solve(op, 3, tol=1e-6))
    for a, b in zip(*results):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "joint",
    [
        # three identical all-ones blocks: deflated singular values (1, 1, 0, ...)
        sp.block_diag([np.ones((10, 8))] * 3, format="csr"),
        low_rank_joint(60, 50, rank=3),
    ],
    ids=["block-diagonal", "rank-3"],
)
def test_rank_deficient_returns_the_nonzero_triplets_with_a_warning(joint):
    op = ContextOperator(joint)
    s2, U2, V2, _ = _solve(op, 2)
    assert np.all(s2 > 1e-3)
    for solver in SOLVERS:
        with pytest.warns(UserWarning, match=r"n_components=4 were requested.*only 2 nonzero"):
            s, U, V, _ = top_singular_triplets(op, 4, solver=solver, tol=1e-10, random_state=0)
        assert s.shape == (2,)
        assert_allclose(s, s2, rtol=1e-8)
        _assert_consistent(op, s, U, V)
        assert_allclose(op.matmat(V), U * s, atol=1e-8)


def test_more_triplets_than_the_shape_allows_are_capped():
    op = ContextOperator(sp.csr_matrix(np.random.RandomState(0).uniform(size=(30, 6))))
    with pytest.warns(UserWarning, match=r"30 samples x 6 atoms with mass allow at most 5"):
        s, U, V, _ = top_singular_triplets(op, 9, solver="dense")
    assert s.shape == (5,)
    _assert_consistent(op, s, U, V)


def test_chebyshev_max_iter_warns(knn_problem):
    op, _ = knn_problem
    with pytest.warns(ConvergenceWarning, match="chebyshev"):
        _solve(op, 5, max_iter=1)


def test_chebyshev_stopped_early_returns_ritz_vectors_and_warns(knn_problem):
    # Stopped by max_iter, the result is still orthonormal Ritz vectors, and the
    # shortfall is reported.
    op, _ = knn_problem
    with pytest.warns(ConvergenceWarning, match="chebyshev"):
        _, U, V, _ = _solve(op, 5, tol=1e-13, max_iter=1)
    assert_allclose(U.T @ U, np.eye(5), atol=1e-8)
    assert_allclose(V.T @ V, np.eye(5), atol=1e-8)


def test_chebyshev_n_products(knn_problem):
    op, _ = knn_problem
    tight, loose = _solve(op, 5, tol=1e-10)[3], _solve(op, 5, tol=1e-4)[3]
    # two products per Gram product, one for the final U (or V)
    assert tight % 2 == 1 and loose % 2 == 1
    assert 0 < loose <= tight


@pytest.mark.parametrize("single", [False, True])
def test_chebyshev_warm_start_reaches_the_same_triplets_with_fewer_products(
        knn_problem, single, monkeypatch):
    monkeypatch.setattr(_solvers, "SINGLE_MIN_SIDE", 0 if single else np.inf)
    op, reference = knn_problem
    cold = _solve(op, 8)
    n = op.shape[1]
    # near the wanted vectors of the short side (the atoms' here): the reference's, perturbed
    nearby = reference[2][:, :8] + 1e-3 * np.random.RandomState(0).normal(size=(n, 8)) / n**0.5
    warm = _solve(op, 8, start=nearby)
    _assert_triplets(op, warm, reference, 8)
    assert warm[3] < cold[3]
    # any start, even a poor one, still converges to the top triplets
    _assert_triplets(op, _solve(op, 8, start=np.ones((n, 3))), reference, 8)


@pytest.mark.parametrize(
    "short, k, expected", [(1000, 8, "dense"), (1001, 8, "chebyshev"), (2048, 512, "dense"),
                           (2049, 512, "chebyshev")],
)
def test_one_auto_rule_for_triplets_and_values(short, k, expected):
    assert _solvers.choose_solver("auto", short, k) == expected
    values = "dense" if expected == "dense" else "randomized"
    assert _solvers.choose_solver("auto", short, k, iterative="randomized") == values


def test_one_dense_limit_for_triplets_and_values():
    big = _solvers.DENSE_MAX_SIDE + 1
    with pytest.raises(ValueError, match="solver='dense' .* use solver='chebyshev'"):
        _solvers.choose_solver("dense", big, 4)
    with pytest.raises(ValueError, match="solver='dense' .* use solver='randomized'"):
        _solvers.choose_solver("dense", big, 4, iterative="randomized")


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("tol", [1e-6, 0.0])
def test_every_solver_matches_dense_reference(solver, tol, X):
    joint = KNNContext(10).fit(X).joint_
    s_ref = dense_singular_functions(joint)[0][:4]
    op = ContextOperator(joint)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning for tol=0, no scipy remark
        s, U, V, _ = top_singular_triplets(op, 4, solver=solver, tol=tol, random_state=0)
    assert_allclose(s, s_ref, rtol=1e-8)
    _assert_consistent(op, s, U, V)


@pytest.mark.parametrize("k", [2, 4])
def test_dense_returns_k_triplets_on_a_spectrum_clustered_at_one(k):
    # LAPACK's subset driver returned 0 (k=2) or 2 (k=4) eigenpairs here
    op = ContextOperator(_noise_joint())
    with pytest.warns(UserWarning, match="nearly the identity"):
        s, U, V, _ = top_singular_triplets(op, k, solver="dense")
    assert_allclose(s, 1.0, atol=1e-12)
    _assert_consistent(op, s, U, V)
    assert len(context_spectrum(_noise_joint(), k, solver="dense").values) == k


def test_clustered_spectrum_stalls_early_and_warns():
    # Nearly the identity: each point sees itself, and its ring neighbours with weight 1e-9.
    n = 1200
    ring = sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], format="csr")
    op = ContextOperator(sp.identity(n, format="csr") + 1e-9 * ring)
    with pytest.warns(UserWarning, match="nearly the identity"):
        s, U, V, n_products = top_singular_triplets(op, 16, solver="chebyshev", tol=1e-10)
    assert n_products < 1000  # stopped on the stall, not by the cap (100 rounds of 80)
    assert_allclose(s, 1.0, atol=1e-6)
    _assert_consistent(op, s, U, V)


def test_no_clustered_warning_for_separate_components():
    # s = 1 from disconnected components is the estimator's warning, not the solver's
    blocks = sp.block_diag([np.ones((5, 5))] * 4 + [np.eye(5) + 0.5], format="csr")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        s = top_singular_triplets(ContextOperator(blocks), 3, solver="dense")[0]
    assert_allclose(s, 1.0)


def test_zero_operator_raises_for_every_solver():
    # a uniform joint: every singular value but the trivial one is 0
    # (ARPACK answered "Starting vector is zero")
    op = ContextOperator(sp.csr_matrix(np.ones((50, 40))))
    for solver in SOLVERS:
        with pytest.raises(ValueError, match="no nonzero singular value") as info:
            top_singular_triplets(op, 2, solver=solver, random_state=1)
        assert "Lower n_components" not in str(info.value)


def test_arpack_no_convergence_falls_back_with_a_warning():
    X = np.random.RandomState(0).normal(size=(300, 3))
    joint = KNNContext(10).fit(X).joint_
    op = ContextOperator(joint)
    with pytest.warns(ConvergenceWarning, match="ARPACK failed .*solver='dense'"):
        s, U, V, _ = top_singular_triplets(op, 6, solver="arpack", tol=1e-12, max_iter=1)
    assert_allclose(s, dense_singular_functions(joint)[0][:6], rtol=1e-10)
    _assert_consistent(op, s, U, V)


def test_arpack_internal_error_falls_back(monkeypatch, X):
    def failing_svds(*args, **kwargs):
        raise ArpackError(-9999)

    monkeypatch.setattr(_solvers, "svds", failing_svds)
    op = ContextOperator(KNNContext(10).fit(X).joint_)
    with pytest.warns(ConvergenceWarning, match="ARPACK failed"):
        s = top_singular_triplets(op, 3, solver="arpack")[0]
    assert s.shape == (3,)


def test_loose_tol_non_convergence_is_reported():
    # tol >= 1e-3 was never reported (the warning fired above 1e3 * tol)
    X = np.random.RandomState(0).normal(size=(300, 3))
    emb = ContextureEmbedding(
        KNNContext(10), n_components=4, solver="lobpcg", tol=1e-3, max_iter=3, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="residual of") as record:
        emb.fit(X)
    assert record[0].filename == __file__  # at the user's call


@pytest.mark.parametrize("n_neighbors", [2, 3])
def test_lobpcg_on_a_tied_grid_returns_centred_columns(n_neighbors):
    X = np.arange(40.0)[:, None]
    emb = ContextureEmbedding(KNNContext(n_neighbors), n_components=4, solver="lobpcg",
                              random_state=0).fit(X)
    assert_allclose(emb.embedding_.mean(axis=0), 0, atol=1e-8)
    s_ref = dense_singular_functions(emb.context_.joint_)[0][:4]
    assert_allclose(emb.singular_values_, s_ref, rtol=1e-5)


def test_basis_outside_the_deflated_space_is_repaired():
    # a non-orthonormal basis with a trivial component: Rayleigh-Ritz restores the triplets
    X = np.random.RandomState(0).normal(size=(50, 3))
    op = ContextOperator(KNNContext(10).fit(X).joint_)
    s_ref, _, V_ref = _solvers.top_singular_triplets(op, 3, solver="dense")[:3]
    rng = np.random.default_rng(0)
    basis = V_ref @ rng.normal(size=(3, 3)) + 5 * op.v0[:, None]
    s, U, V = _solvers._rayleigh_ritz_triplets(_solvers._CountingOperator(op), basis, "test")
    assert_allclose(s, s_ref, rtol=1e-10)
    _assert_consistent(op, s, U, V)


def test_lobpcg_small_problem_leaks_no_scipy_warning():
    X = np.random.RandomState(0).normal(size=(12, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ContextureEmbedding(KNNContext(4), n_components=2, solver="lobpcg",
                            random_state=0).fit(X)


def test_single_precision_path_bit_identical_across_n_jobs():
    # a ring lattice with random shortcuts, at the size where "chebyshev" filters in float32
    n, half = SINGLE_MIN_SIDE, 7
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n), 2 * half)
    cols = (rows + np.tile(np.r_[-half:0, 1 : half + 1], n)) % n
    shortcuts = rng.integers(0, n, size=(2, n // 10))
    W = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    W = W + sp.csr_matrix((np.ones(n // 10), tuple(shortcuts)), shape=(n, n))
    W = (W + W.T).tocsr()
    results = [
        top_singular_triplets(ContextOperator(W, n_jobs=n_jobs), 4, solver="chebyshev",
                              tol=1e-6, random_state=0)
        for n_jobs in (1, 2)
    ]
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_arpack_missing_a_multiple_singular_value_falls_back():
    # three components: singular value 1 twice among the nontrivial ones, which a
    # one-vector Krylov solver can miss (found by the property suite's deep profile)
    from skcontexture import ContextureEmbedding, KNNContext

    from .strategies import make_X

    X = make_X("gaussian", 33, 2, 1)  # its manhattan 3-NN graph has 3 components
    for solver in ("arpack", "lobpcg", "dense"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the disconnected graph (and the fallback) warn
            emb = ContextureEmbedding(KNNContext(3, metric="manhattan"), n_components=2,
                                      solver=solver, random_state=0).fit(X)
        np.testing.assert_allclose(emb.singular_values_, [1.0, 1.0], atol=1e-8)


@pytest.mark.parametrize("k", [1, 7, 40])
def test_top_eigh_values_alone_match_the_subset_and_the_vectors(k):
    # the values alone come from the whole spectrum, the vectors from the subset driver:
    # the same top-k values, ascending, from both and from numpy
    rng = np.random.default_rng(k)
    A = rng.standard_normal((60, 60))
    A = A @ A.T
    values = _solvers.top_eigh(A, k, vectors=False)
    with_vectors, basis = _solvers.top_eigh(A, k)
    expected = np.linalg.eigvalsh(A)[-k:]
    assert values.shape == (k,) and basis.shape == (60, k)
    assert_allclose(values, expected, rtol=1e-12)
    assert_allclose(with_vectors, expected, rtol=1e-12)
    assert_allclose(A @ basis, basis * with_vectors, atol=1e-9 * expected[-1])


@pytest.mark.parametrize("n, k", [(1, 1), (2, 1), (3, 2), (60, 5), (300, 40)])
def test_symmetric_eigensystem_matches_a_full_decomposition(n, k):
    """One tridiagonal reduction gives every eigenvalue and the top-k eigenpairs."""
    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n))
    A = A + A.T
    before = A.copy()
    system = _solvers.SymmetricEigensystem(A)
    values, vectors = system.top(k)
    reference = np.linalg.eigvalsh(A)
    assert_allclose(system.values(), reference, atol=1e-12 * np.abs(reference).max())
    assert_allclose(values, reference[n - k:], atol=1e-12 * np.abs(reference).max())
    assert_allclose(A @ vectors, vectors * values, atol=1e-10 * np.abs(reference).max())
    assert_allclose(vectors.T @ vectors, np.eye(k), atol=1e-12)
    assert_allclose(system.top(k, vectors=False), values, atol=1e-12 * np.abs(reference).max())
    assert_allclose(A, before, rtol=0)  # the matrix is kept, not overwritten


def test_symmetric_eigensystem_on_a_degenerate_spectrum():
    # ten equal blocks: eigenvalue 1 ten times, 0 forty times
    A = np.kron(np.eye(10), np.full((5, 5), 0.2))
    values, vectors = _solvers.top_eigh(A, 12)
    assert_allclose(values[2:], 1.0, atol=1e-12)
    assert_allclose(values[:2], 0.0, atol=1e-12)
    assert_allclose(A @ vectors, vectors * values, atol=1e-12)
    assert_allclose(vectors.T @ vectors, np.eye(12), atol=1e-12)


def test_spectrum_and_triplets_of_one_operator_share_its_gram_reduction():
    op = ContextOperator(knn_joint(200, 10, seed=3))
    values = _solvers.top_singular_values(op, 50, solver="dense")[0]
    reduction = _solvers.gram_eigensystem(op)
    s = top_singular_triplets(op, 8, solver="dense")[0]
    assert _solvers.gram_eigensystem(op) is reduction
    assert_allclose(s, values[:8], rtol=1e-10)
    exact = dense_svd(deflated(op), compute_uv=False)
    assert_allclose(values, exact[:50], atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 80), k_fraction=st.floats(0.05, 1.0),
       levels=st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.999, 1.0]), min_size=1, max_size=4),
       seed=st.integers(0, 2**16))
def test_symmetric_eigensystem_on_clustered_spectra(n, k_fraction, levels, seed):
    """Spectra of a few repeated values (a Gram matrix of disconnected or low-rank
    contexts): the top-k eigenpairs still solve A v = lambda v, orthonormal, with the
    values of a full decomposition."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((n, n)))[0]
    values = np.array(levels)[rng.integers(0, len(levels), n)] + 1e-9 * rng.standard_normal(n)
    A = (basis * values) @ basis.T
    A = (A + A.T) / 2
    k = max(1, int(k_fraction * n))
    top, vectors = _solvers.top_eigh(A, k)
    reference = np.linalg.eigvalsh(A)
    assert_allclose(top, reference[n - k:], atol=1e-10)
    assert_allclose(A @ vectors, vectors * top, atol=1e-8)
    assert_allclose(vectors.T @ vectors, np.eye(k), atol=1e-8)


def test_eigensystem_of_a_graph_of_isolated_pairs_is_finite():
    """A 1-nearest-neighbour graph splits into pairs: its Gram's tridiagonal form decouples
    into blocks of equal eigenvalues, on which LAPACK's MRRR returned NaN vectors (found by
    the property tests): the eigenpairs are finite and exact."""
    X = np.random.RandomState(0).normal(size=(24, 1))
    op = ContextOperator(KNNContext(algorithm="exact", n_neighbors=1).fit(X).joint_)
    G = op.gram()
    values, vectors = _solvers.top_eigh(G, 3)
    assert np.isfinite(vectors).all()
    assert_allclose(G @ vectors, vectors * values, atol=1e-10)
    assert_allclose(values, np.linalg.eigvalsh(G)[-3:], atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        emb = ContextureEmbedding(KNNContext(algorithm="exact", n_neighbors=1), n_components=1,
                                  solver="dense", scale="none", random_state=0).fit(X)
    assert np.isfinite(emb.embedding_).all()


def test_eigensystem_falls_back_to_the_full_decomposition_on_non_finite_output(monkeypatch):
    import scipy.linalg

    original = scipy.linalg.eigh_tridiagonal

    def nan_vectors(*args, **kwargs):
        result = original(*args, **kwargs)
        if kwargs.get("eigvals_only"):
            return np.full_like(result, np.nan)
        return result[0], np.full_like(result[1], np.nan)

    monkeypatch.setattr(scipy.linalg, "eigh_tridiagonal", nan_vectors)
    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 30))
    A = A + A.T
    system = _solvers.SymmetricEigensystem(A)
    values, vectors = system.top(4)
    assert_allclose(values, np.linalg.eigvalsh(A)[-4:], atol=1e-12)
    assert_allclose(A @ vectors, vectors * values, atol=1e-10)
    assert_allclose(system.values(), np.linalg.eigvalsh(A), atol=1e-12)
