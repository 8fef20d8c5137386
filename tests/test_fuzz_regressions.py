"""Regressions of the fuzzing findings (issue 21, item 6): each case failed before its fix.

Each test names the class of failure it stands for; the property tests that
generate such inputs are in ``tests/test_properties.py`` (``awkward_joints``,
``unseeded`` and the ``ADVERSARIAL_KINDS`` of data in ``tests/strategies.py``).
"""

import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import Ridge
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from skcontexture import (
    ContextScorer,
    ContextureEmbedding,
    CooccurrenceContext,
    GaussianNoiseContext,
    KNNContext,
    MaskedContext,
    PairedContext,
    RBFContext,
    SpectralContextEncoder,
    TargetContext,
    TeacherContext,
    metrics,
)
from skcontexture._operator import check_joint

ENCODER_METRICS = [
    pytest.param(metrics.ratio_trace, id="ratio_trace"),
    pytest.param(metrics.posthoc_spectrum, id="posthoc_spectrum"),
    pytest.param(metrics.lidar, id="lidar"),
]


def _non_canonical_csr():
    """A 2 x 2 CSR joint with unsorted indices and a duplicate entry in row 1."""
    return sp.csr_matrix(
        (np.array([1.0, 2.0, 3.0, 0.5, 1.0]), np.array([1, 0, 0, 1, 1]), np.array([0, 2, 5])),
        shape=(2, 2),
    )


def _assert_same_sparse(before, after):
    assert before.format == after.format
    for name in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(before, name), getattr(after, name))
        assert getattr(before, name).dtype == getattr(after, name).dtype


@pytest.mark.parametrize("metric", ENCODER_METRICS)
def test_metrics_leave_a_non_canonical_joint_as_it_was(metric):
    # scipy sums duplicates and sorts indices in place on the first reduction
    joint = _non_canonical_csr()
    before = copy.deepcopy(joint)
    metric(np.array([[0.0], [1.0]]), joint)
    _assert_same_sparse(before, joint)
    assert not joint.has_canonical_format


@pytest.mark.parametrize("metric", ENCODER_METRICS)
def test_metrics_equal_on_a_joint_and_its_canonical_form(metric):
    Z = np.array([[0.0, 1.0], [1.0, 0.5], [3.0, -1.0]])
    joint = sp.csr_matrix(
        (np.array([1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 0.0]),
         np.array([1, 0, 1, 2, 2, 0, 1]), np.array([0, 2, 5, 7])),
        shape=(3, 3),
    )
    canonical = joint.copy()
    canonical.sum_duplicates()
    np.testing.assert_allclose(metric(Z, joint), metric(Z, canonical))


def test_check_joint_shares_only_a_canonical_float64_csr():
    joint = sp.random(6, 5, density=0.5, format="csr", random_state=0)
    J, _, _ = check_joint(joint, normalize=False)
    assert J.data is joint.data or np.shares_memory(J.data, joint.data)
    messy = _non_canonical_csr()
    J, _, _ = check_joint(messy, normalize=False)
    assert not np.shares_memory(J.data, messy.data)
    assert J.has_canonical_format


def test_joint_whose_duplicates_sum_past_float_max_is_finite():
    # COO duplicates are summed by the conversion to CSR: 1e308 + 1e308 overflowed and the
    # finite input was reported as "joint contains NaN or infinity"
    joint = sp.coo_matrix(
        (np.array([1e308, 1e308, 1.0, 1e308]), (np.array([0, 0, 1, 1]), np.array([0, 0, 1, 0]))),
        shape=(2, 2),
    )
    Z = np.array([[0.0], [1.0]])
    value = metrics.ratio_trace(Z, joint)
    expected = metrics.ratio_trace(Z, sp.csr_matrix(np.array([[2.0, 0.0], [1.0, 1e-308]])))
    assert np.isfinite(value)
    np.testing.assert_allclose(value, expected)


@pytest.mark.parametrize("metric", ENCODER_METRICS)
def test_subnormal_joint_gives_the_values_of_its_rescaled_copy(metric):
    # the total 1e-320 is subnormal: 1 / total overflowed and NaN reached scipy's eigh
    dense = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0]])
    Z = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, -1.0]])
    tiny = sp.csr_matrix(dense * 1e-320)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        value = metric(Z, tiny)
    # subnormals hold few digits: 1e-320 * dense is exact to about 1e-3 relative
    np.testing.assert_allclose(value, metric(Z, sp.csr_matrix(dense)), rtol=1e-2, atol=1e-6)


@pytest.mark.parametrize("scale", [1e-300, 1e300, np.finfo(np.float64).max / 8])
def test_joint_scale_does_not_change_the_metrics(scale):
    dense = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0]])
    Z = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, -1.0]])
    for metric in (metrics.ratio_trace, metrics.posthoc_spectrum, metrics.lidar):
        np.testing.assert_allclose(metric(Z, dense * scale), metric(Z, dense), rtol=1e-12)


def test_joint_of_unsupported_values_is_a_type_error():
    with pytest.raises(TypeError, match="real numbers"):
        metrics.ratio_trace(np.ones((2, 1)), np.array([[1 + 1j, 0], [0, 1]]))


# ------------------------------------------------------------------------------------------
# fit_transform(X) == fit(X).transform(X) and n_jobs for contexts that draw at random
# ------------------------------------------------------------------------------------------

UNSEEDED = [
    pytest.param(GaussianNoiseContext(n_neighbors=5, n_draws=2), id="noise"),
    pytest.param(MaskedContext(KNNContext(5), n_masks=3), id="masked_knn"),
    pytest.param(PairedContext(GaussianNoiseContext(n_neighbors=5)), id="paired_noise"),
]


def _fit_params(context, X):
    if isinstance(context, PairedContext):
        return {"A": np.random.RandomState(1).normal(size=(X.shape[0], 2))}
    return {}


@pytest.mark.parametrize("context", UNSEEDED)
def test_seeded_estimator_reproduces_an_unseeded_context(context):
    # the context's own seed is None: the estimator's random_state seeds it (on the clone),
    # so fit_transform equals fit().transform, as scikit-learn's check_transformer_general
    # and check_fit_idempotent require
    X = np.random.RandomState(0).normal(size=(40, 4))
    params = _fit_params(context, X)
    est = ContextureEmbedding(context, n_components=2, random_state=0)
    Z = clone(est).fit_transform(X, **params)
    fitted = clone(est).fit(X, **params)
    np.testing.assert_allclose(fitted.transform(X, **params), Z, atol=1e-10)
    threaded = clone(est).set_params(n_jobs=2)
    if "context__n_jobs" in threaded.get_params():
        threaded.set_params(context__n_jobs=2)
    np.testing.assert_allclose(threaded.fit_transform(X, **params), Z, atol=1e-10)
    assert context.get_params()["random_state" if "random_state" in context.get_params()
                                else "base__random_state"] is None  # the user's is unchanged


def test_context_seed_set_by_the_user_is_kept():
    X = np.random.RandomState(0).normal(size=(40, 4))
    context = GaussianNoiseContext(n_neighbors=5, n_draws=2, random_state=7)
    fitted = ContextureEmbedding(context, n_components=2, random_state=0).fit(X)
    assert fitted.context_.random_state == 7
    np.testing.assert_array_equal(
        fitted.context_.atoms_, clone(context).fit(X).atoms_
    )


def test_encoder_seeds_an_unseeded_context():
    X = np.random.RandomState(0).normal(size=(40, 4))
    enc = SpectralContextEncoder(MaskedContext(KNNContext(5), n_masks=3), n_components=2,
                                 random_state=0)
    np.testing.assert_allclose(clone(enc).fit_transform(X), clone(enc).fit(X).transform(X))


def test_paired_cooccurrence_fit_transform_equals_transform():
    rng = np.random.RandomState(0)
    A = rng.poisson(1.0, size=(20, 4)).astype(float)
    A[np.arange(20), rng.randint(4, size=20)] += 1
    X = rng.normal(size=(20, 2))
    est = ContextureEmbedding(PairedContext(CooccurrenceContext()), n_components=2)
    Z = clone(est).fit_transform(X, A=A)
    np.testing.assert_allclose(clone(est).fit(X, A=A).transform(X, A=A), Z, atol=1e-10)


# ------------------------------------------------------------------------------------------
# Neighbour contexts: tiny coordinates and non-canonical sparse input
# ------------------------------------------------------------------------------------------

TINY_SCALE = [-1000, -600, -520]


@pytest.mark.parametrize("exponent", TINY_SCALE)
@pytest.mark.parametrize("context", [
    pytest.param(KNNContext(5), id="knn"),
    pytest.param(RBFContext(), id="rbf"),
    pytest.param(RBFContext(n_neighbors=10), id="rbf_truncated"),
    pytest.param(GaussianNoiseContext(n_neighbors=5, random_state=0), id="noise"),
    pytest.param(MaskedContext(KNNContext(5), n_masks=3, random_state=0), id="masked_knn"),
])
def test_coordinates_whose_squared_distances_underflow_raise(context, exponent):
    # X * 2**-1000 has the geometry of X, but its squared distances are 0: the kNN graph was
    # chosen by tie-breaking (a wrong answer under a misleading "duplicated rows" warning),
    # the dense RBF kernel differed without a warning and at 2**-520 was NaN
    X = np.ldexp(np.random.RandomState(0).normal(size=(60, 3)), exponent)
    with pytest.raises(ValueError, match="underflow"):
        clone(context).fit(X)


def test_cosine_and_manhattan_neighbours_of_tiny_coordinates_are_those_of_the_data():
    X = np.random.RandomState(0).normal(size=(60, 3))
    for context in (KNNContext(5, metric="cosine"), KNNContext(5, metric="manhattan")):
        expected = clone(context).fit(X).joint_
        got = clone(context).fit(np.ldexp(X, -1000)).joint_
        assert abs(expected - got).max() == 0


def test_tiny_rows_are_valid_queries():
    # the check is on the fit data's scale: a new row near the origin is a query like any other
    X = np.random.RandomState(0).normal(size=(60, 3))
    context = KNNContext(5).fit(X)
    rows = context.conditional(np.full((2, 3), 1e-300))
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)


def test_cosine_neighbours_leave_a_non_canonical_csr_as_it_was():
    rng = np.random.RandomState(0)
    dense = rng.poisson(1.0, size=(20, 5)).astype(float) + np.eye(20, 5)
    rows, cols = np.nonzero(dense)
    values = dense[rows, cols]
    order = rng.permutation(len(values))  # unsorted within rows once compressed
    halves = np.r_[values[order] / 2, values[order] / 2]  # every entry a duplicate
    coo = sp.coo_matrix((halves, (np.r_[rows[order], rows[order]], np.r_[cols[order], cols[order]])),
                        shape=dense.shape)
    major = np.argsort(coo.row, kind="stable")
    X = sp.csr_matrix((coo.data[major], coo.col[major],
                       np.r_[0, np.cumsum(np.bincount(coo.row, minlength=20))]), shape=dense.shape)
    before = copy.deepcopy(X)
    est = ContextureEmbedding(KNNContext(3, metric="cosine"), n_components=2).fit(X)
    est.transform(X)
    _assert_same_sparse(before, X)
    np.testing.assert_allclose(est.transform(sp.csr_matrix(dense)), est.embedding_, atol=1e-10)


@pytest.mark.xdist_group("nndescent")  # with the other NN-descent tests (test_neighbors.py)
def test_masked_nndescent_base_follows_the_masks_seed():
    # the base's NN-descent seed was left at None: every fit drew another approximate
    # graph, whatever n_jobs, though the masks had a seed
    X = np.random.RandomState(0).uniform(size=(800, 60))
    context = MaskedContext(KNNContext(3, algorithm="nndescent"), n_masks=2, random_state=0)
    first = clone(context).fit(X).joint_
    for other in (clone(context), clone(context).set_params(n_jobs=2)):
        assert abs(other.fit(X).joint_ - first).max() == 0
    assert context.base.random_state is None


@pytest.mark.parametrize("sparse", [False, True])
def test_cosine_neighbours_of_subnormal_rows(sparse):
    # the sparse path multiplied each row by 1 / its largest entry, which overflows for a
    # subnormal row: "Input contains infinity" for a finite X
    X = np.random.RandomState(0).normal(size=(20, 4))
    tiny = np.ldexp(X, -1060)  # a few bits each: compared with the same values, scaled up
    expected = KNNContext(3, metric="cosine").fit(np.ldexp(tiny, 1060)).joint_
    got = KNNContext(3, metric="cosine").fit(sp.csr_matrix(tiny) if sparse else tiny).joint_
    assert abs(got - expected).max() < 1e-12


# ------------------------------------------------------------------------------------------
# Co-occurrences at the edges of float64
# ------------------------------------------------------------------------------------------


def _counts(n=20, m=4, seed=0):
    rng = np.random.RandomState(seed)
    counts = rng.poisson(1.0, size=(n, m)).astype(float)
    counts[np.arange(n), rng.randint(m, size=n)] += 1
    return counts


@pytest.mark.parametrize("paired", [False, True])
def test_cooccurrence_rows_whose_mass_underflows_raise(paired):
    # rows 1e600 times lighter than others had no mass in the joint (embedded at the
    # origin by fit_transform) but a full conditional row (embedded elsewhere by transform)
    counts = _counts()
    counts[:10] *= 1e300
    counts[10:] *= 1e-300
    est = ContextureEmbedding(PairedContext(CooccurrenceContext()) if paired
                              else CooccurrenceContext(), n_components=2)
    params = {"A": counts} if paired else {}
    with pytest.raises(ValueError, match="underflows float64"):
        est.fit(np.zeros((20, 1)) if paired else counts, **params)


@pytest.mark.parametrize("exponent", [-1070, -1000, 1020])
@pytest.mark.parametrize("sparse", [False, True])
def test_cooccurrence_at_any_scale(exponent, sparse):
    # X / X.max() on a sparse X multiplied by 1 / X.max(), infinite for a subnormal maximum:
    # "joint contains NaN or infinity" for finite counts
    counts = _counts()
    scaled = np.ldexp(counts, exponent)
    est = ContextureEmbedding(CooccurrenceContext(), n_components=2)
    Z = clone(est).fit_transform(sp.csr_matrix(scaled) if sparse else scaled)
    np.testing.assert_allclose(np.abs(Z), np.abs(clone(est).fit_transform(counts)), atol=1e-10)
    np.testing.assert_allclose(clone(est).fit(scaled).transform(scaled), Z, atol=1e-10)


@pytest.mark.parametrize("exponent", [1000, 1019])
def test_feature_prediction_of_counts_near_the_float_maximum(exponent):
    # the held-out features were standardised with a variance that overflowed: "y contains
    # NaN or infinity" for finite data a co-occurrence context accepts
    counts = _counts(n=60, m=6)
    est = ContextureEmbedding(CooccurrenceContext(), n_components=3, random_state=0)
    expected = ContextScorer("feature_prediction")(clone(est).fit(counts), counts)
    huge = np.ldexp(counts, exponent)
    assert ContextScorer("feature_prediction")(clone(est).fit(huge), huge) == pytest.approx(
        expected, abs=1e-9)


# ------------------------------------------------------------------------------------------
# The encoder's backbone on values near the float64 maximum
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backbone, match", [
    pytest.param(PCA(2), "backbone PCA could not be fitted", id="pca"),  # numpy LinAlgError
    pytest.param(Nystroem(n_components=5, random_state=0), "backbone Nystroem could not be",
                 id="nystroem"),
    pytest.param(StandardScaler(), r"backbone's transform \(StandardScaler\) returned NaN",
                 id="scaler"),  # scikit-learn's "contains NaN" for finite X
    pytest.param(PolynomialFeatures(2), r"backbone's transform \(PolynomialFeatures\)",
                 id="polynomial"),
])
def test_encoder_backbone_overflow_is_a_clear_error(backbone, match):
    counts = np.ldexp(_counts(n=40, m=4), 997)  # finite; the backbones overflow on it
    encoder = SpectralContextEncoder(CooccurrenceContext(), backbone=backbone, n_components=2,
                                     random_state=0)
    with pytest.raises(ValueError, match=match):
        encoder.fit(counts)


# ------------------------------------------------------------------------------------------
# The exact neighbour search on many exact copies
# ------------------------------------------------------------------------------------------


def test_exact_search_on_many_copies_is_fast_and_breaks_ties_by_fit_index():
    # a k-d tree cannot prune among exact copies: 70,000 copies of 3 points took over a
    # minute (quadratic); the distinct points are now searched and expanded to their copies
    import time

    X = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]]), 20_000, axis=0)[
        np.random.RandomState(0).permutation(60_000)]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the duplicated-rows warning
        context = KNNContext(5, algorithm="exact").fit(X)
    assert time.perf_counter() - start < 10
    joint = context.joint_.tocsr()
    for point in range(3):
        copies = np.flatnonzero((X == X[np.flatnonzero(
            (X == [[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]][point]).all(axis=1))[0]]).all(axis=1))
        # every copy's neighbours: the first 5 copies of its point in fit order
        np.testing.assert_array_equal(np.unique(joint[copies].indices), copies[:5])


def test_exact_search_with_copies_matches_the_brute_force_reference():
    rng = np.random.RandomState(3)
    X = rng.randint(0, 3, size=(60, 2)).astype(float)  # 9 points, about 7 copies each
    queries = np.vstack([X, rng.uniform(-1, 3, size=(10, 2))])
    for k in (1, 4, 9, 30):
        index = KNNContext(k, algorithm="exact").fit(X).index_
        assert (index.copies_ is not None) == (k < 15)  # a point has 15 copies
        distances, indices = index.kneighbors(queries, k)
        exact = np.sqrt(((queries[:, None, :] - X[None]) ** 2).sum(axis=-1))
        expected = np.array([np.lexsort((np.arange(len(X)), row))[:k] for row in exact])
        np.testing.assert_array_equal(indices, expected)
        np.testing.assert_allclose(distances, np.take_along_axis(exact, expected, axis=1),
                                   atol=1e-12)


@pytest.mark.parametrize("context", [
    pytest.param(MaskedContext(KNNContext(5), n_masks=3), id="masked_knn"),
    pytest.param(GaussianNoiseContext(n_neighbors=5, n_draws=2), id="noise"),
])
@pytest.mark.parametrize("check", ["check_transformer_general", "check_fit_idempotent",
                                   "check_transformer_data_not_an_array"])
def test_unseeded_context_passes_the_transformer_checks(context, check):
    # scikit-learn seeds only the estimator's own random_state: "fit_transform and transform
    # outcomes not consistent" (and idempotency) failed while the context drew anew each fit
    from sklearn.utils import estimator_checks

    est = ContextureEmbedding(context, n_components=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        getattr(estimator_checks, check)(type(est).__name__, est)


def test_target_context_names_the_targets_when_they_are_out_of_range():
    # "Values in X reach 1.94e+300" named X for values of y
    X = np.random.RandomState(0).normal(size=(30, 3))
    y = np.random.RandomState(1).normal(size=30) * 1e300
    with pytest.raises(ValueError, match=r"fitted on the targets y \(its X\): Values in X reach"):
        TargetContext(KNNContext(5), n_neighbors=5).fit(X, y)


@pytest.mark.parametrize("teacher", [pytest.param(Ridge(), id="ridge"),
                                     pytest.param(PCA(1), id="pca")])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_teacher_overflow_on_huge_finite_x_names_the_values(teacher, dtype):
    # the teacher's own message spoke of NaN or infinity in a finite X
    X = (np.random.RandomState(0).uniform(-1, 1, size=(8, 2))
         * np.finfo(dtype).max).astype(dtype)
    y = np.random.RandomState(1).normal(size=8)
    with pytest.raises(ValueError, match="whose squares overflow") as caught:
        TeacherContext(teacher, base=KNNContext(2)).fit(X, y)
    assert "NaN" not in str(caught.value) and "infinit" not in str(caught.value)
