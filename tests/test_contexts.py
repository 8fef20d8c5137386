"""Contexts beyond graphs: masks, noise, teachers, targets, paired views, and the algebra."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from skcontexture import (
    ContextureEmbedding,
    ConvexCombination,
    Convolution,
    CooccurrenceContext,
    GaussianNoiseContext,
    KNNContext,
    LabelContext,
    MaskedContext,
    PairedContext,
    RBFContext,
    TargetContext,
    TeacherContext,
)
from skcontexture.contexts._base import normalize_rows

from skcontexture.utils.estimator_checks import _set_in_contexts

from ._instances import CONTEXTS, NAMES, fit_args, new_args
from ._reference import dense_singular_functions


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=200, centers=3, n_features=6, cluster_std=3.0, random_state=0)
    rng = np.random.RandomState(1)
    y_reg = X[:, 0] + 0.5 * X[:, 1] ** 2 / 10 + 0.1 * rng.normal(size=len(X))
    A = np.c_[X[:, :2] @ rng.normal(size=(2, 4)), rng.normal(size=(len(X), 2))]
    X_new = X[:20] + 0.3 * rng.normal(size=(20, X.shape[1]))
    A_new = A[:20] + 0.3 * rng.normal(size=(20, A.shape[1]))
    return {"X": X, "y": y, "y_reg": y_reg, "A": A, "X_new": X_new, "A_new": A_new}


def _dense(matrix):
    return np.asarray(matrix.todense())


def _dual_kernel(joint):
    """k_X(x_i, x_k) = sum_a P(a | x_i) P(a | x_k) / P_A(a), dense."""
    W = _dense(joint)
    p_x, p_a = W.sum(axis=1), W.sum(axis=0)
    conditional = W / p_x[:, None]
    kept = p_a > 0
    return (conditional[:, kept] / p_a[kept]) @ conditional[:, kept].T


def _strength(joint, d=32):
    """Sum of s_i^2 over the top d nontrivial singular values (dense reference)."""
    W = sp.csr_matrix(joint)
    p_x, p_a = np.asarray(W.sum(axis=1)).ravel(), np.asarray(W.sum(axis=0)).ravel()
    kept = p_a > 0
    Q = sp.diags(1 / np.sqrt(p_x)) @ W[:, kept] @ sp.diags(1 / np.sqrt(p_a[kept]))
    with threadpool_limits(1):  # threaded BLAS crawls on a busy 2-core machine
        eigenvalues = np.linalg.eigvalsh(_dense(Q @ Q.T))[::-1]
    return float(np.sum(eigenvalues[1 : d + 1]))


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("name", NAMES)
def test_joint_and_conditional_contract(data, name):
    context = clone(CONTEXTS[name])
    X, y, fit_kw = fit_args(name, data)
    X_new, new_kw = new_args(name, data)
    context.fit(X, y, **fit_kw)
    joint = context.joint_
    assert sp.issparse(joint) and joint.format == "csr"
    assert joint.shape == (len(X), context.n_atoms_)
    assert joint.data.min() >= 0
    np.testing.assert_allclose(joint.sum(), 1.0)
    if not isinstance(context, CooccurrenceContext):  # a count row's mass is its total
        # every other context gives each fit row the same mass: P_X is uniform
        np.testing.assert_allclose(np.asarray(joint.sum(axis=1)).ravel(), 1 / len(X))
    rows = context.conditional(X_new, **new_kw)
    assert rows.shape == (20, context.n_atoms_) and rows.data.min() >= 0
    np.testing.assert_allclose(np.asarray(rows.sum(axis=1)).ravel(), 1.0)
    fit_rows = context.conditional(X, **fit_kw)
    np.testing.assert_allclose(np.asarray(fit_rows.sum(axis=1)).ravel(), 1.0)
    if context.traits().conditional_reproduces_joint:
        np.testing.assert_allclose(_dense(fit_rows), _dense(normalize_rows(joint)), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_embedding_transform_equals_fit_transform(data, name):
    X, y, fit_kw = fit_args(name, data)
    X_new, new_kw = new_args(name, data)
    emb = ContextureEmbedding(CONTEXTS[name], n_components=2, random_state=0)
    Z = emb.fit_transform(X, y, **fit_kw)
    np.testing.assert_allclose(emb.transform(X, **fit_kw), Z, rtol=1e-8, atol=1e-10)
    head = {key: value[:7] for key, value in fit_kw.items()}
    np.testing.assert_allclose(emb.transform(X[:7], **head), Z[:7], rtol=1e-8, atol=1e-10)
    assert np.all(np.isfinite(emb.transform(X_new, **new_kw)))


@pytest.mark.parametrize(
    "name",
    [name for name in NAMES
     if any(key.rpartition("__")[2] == "n_jobs" for key in CONTEXTS[name].get_params(deep=True))],
)
def test_same_result_for_any_n_jobs(data, name):
    X, y, fit_kw = fit_args(name, data)
    X_new, new_kw = new_args(name, data)

    def make(n_jobs):  # every n_jobs of the context and of the contexts inside it
        return _set_in_contexts(clone(CONTEXTS[name]), "n_jobs", n_jobs)

    one, two = make(1).fit(X, y, **fit_kw), make(2).fit(X, y, **fit_kw)
    np.testing.assert_array_equal(_dense(one.joint_), _dense(two.joint_))
    np.testing.assert_array_equal(
        _dense(one.conditional(X_new, **new_kw)), _dense(two.conditional(X_new, **new_kw))
    )
    emb1 = ContextureEmbedding(make(1), n_components=2, random_state=0).fit(X, y, **fit_kw)
    emb2 = ContextureEmbedding(make(2), n_components=2, random_state=0).fit(X, y, **fit_kw)
    np.testing.assert_array_equal(
        emb1.transform(X_new, **new_kw), emb2.transform(X_new, **new_kw)
    )


class _SelfPairedContext(PairedContext):
    """A PairedContext whose second view defaults to X, so that the estimator checks can run.

    scikit-learn's checks call ``fit(X, y)`` and ``transform(X)`` and cannot pass ``A=``.
    """

    def fit(self, X, y=None, A=None):
        return super().fit(X, y, A=X if A is None else A)

    def conditional(self, X, A=None):
        return super().conditional(X, A=X if A is None else A)


@parametrize_with_checks([ContextureEmbedding(_SelfPairedContext(KNNContext(5)), n_components=2)])
def test_paired_context_passes_the_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize("base", [KNNContext(7), RBFContext(gamma=0.2, n_neighbors=15)])
def test_masked_with_ratio_zero_is_its_base(data, base):
    X = data["X"]
    masked = MaskedContext(base, mask_ratio=0, n_masks=5, random_state=0).fit(X)
    plain = clone(base).fit(X)
    np.testing.assert_array_equal(_dense(masked.joint_), _dense(plain.joint_))
    np.testing.assert_array_equal(
        _dense(masked.conditional(data["X_new"])), _dense(plain.conditional(data["X_new"]))
    )
    s_masked = ContextureEmbedding(masked.set_params(), n_components=4, random_state=0).fit(X)
    s_plain = ContextureEmbedding(base, n_components=4, random_state=0).fit(X)
    np.testing.assert_array_equal(s_masked.singular_values_, s_plain.singular_values_)


def test_masked_is_the_average_over_its_masks(data):
    X = data["X"]
    masked = MaskedContext(KNNContext(6), mask_ratio=0.5, n_masks=7, random_state=0).fit(X)
    assert masked.masks_.shape == (7, 6)
    np.testing.assert_array_equal(masked.masks_.sum(axis=1), 3)
    joint = np.zeros((len(X), len(X)))
    rows = np.zeros((20, len(X)))
    for mask in masked.masks_:
        base = KNNContext(6).fit(X[:, mask])
        joint += _dense(base.joint_) / 7
        rows += _dense(base.conditional(data["X_new"][:, mask])) / 7
    np.testing.assert_allclose(_dense(masked.joint_), joint, atol=1e-15)
    np.testing.assert_allclose(_dense(masked.conditional(data["X_new"])), rows, atol=1e-15)


def test_masks_keep_at_least_one_feature():
    X = np.random.RandomState(0).normal(size=(30, 2))
    masked = MaskedContext(KNNContext(4), mask_ratio=0.9, n_masks=5, random_state=0).fit(X)
    np.testing.assert_array_equal(masked.masks_.sum(axis=1), 1)
    assert len(masked.bases_) == 2  # two distinct masks, fitted once each
    np.testing.assert_allclose(masked.mask_weights_.sum(), 1)


def test_masked_label_base_keeps_fixed_atoms(data):
    X, y = data["X"], data["y"]
    masked = MaskedContext(LabelContext(5), n_masks=4, random_state=0).fit(X, y)
    np.testing.assert_array_equal(_dense(masked.joint_), _dense(LabelContext(5).fit(X, y).joint_))
    traits = masked.traits()
    assert not traits.conditional_reproduces_joint and traits.block_structured


# --------------------------------------------------------------------------- noise


def test_noise_matches_the_dense_importance_weights():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(25, 3))
    sigma, n = 0.7, len(X)
    context = GaussianNoiseContext(sigma=sigma, n_draws=2, n_neighbors=n, random_state=0).fit(X)
    atoms = context.atoms_
    np.testing.assert_array_equal(context.atom_sources_, np.repeat(np.arange(n), 2))

    def likelihood(points):  # N(a_j; x, sigma^2 I) up to a constant, rows x atoms
        squared = ((points[:, None, :] - atoms[None, :, :]) ** 2).sum(-1)
        return np.exp(-squared / (2 * sigma**2))

    p_a = likelihood(X).mean(axis=0)
    weights = likelihood(X) / p_a
    np.testing.assert_allclose(_dense(context.joint_), weights / weights.sum(1, keepdims=True) / n)
    X_new = rng.normal(size=(4, 3))
    weights = likelihood(X_new) / p_a
    np.testing.assert_allclose(
        _dense(context.conditional(X_new)), weights / weights.sum(1, keepdims=True)
    )


def test_noise_default_sigma_is_the_median_nearest_neighbour_distance(data):
    X = data["X"]
    distances, _ = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)
    context = GaussianNoiseContext(random_state=0).fit(X)
    np.testing.assert_allclose(context.sigma_, np.median(distances[:, 1]))
    assert context.n_atoms_ == 5 * len(X)


def test_noise_strong_end_has_singular_values_one(data):
    X = data["X"][:60]
    context = GaussianNoiseContext(sigma=1e-3, n_draws=2, n_neighbors=5, random_state=0).fit(X)
    s, *_ = dense_singular_functions(context.joint_)
    np.testing.assert_allclose(s[:20], 1.0, atol=1e-9)


def test_noise_tends_to_knn_as_sigma_grows(data):
    X = data["X"]
    noise = GaussianNoiseContext(sigma=1e6, n_draws=2, n_neighbors=8, random_state=0).fit(X)
    # merging each point's draws gives the kNN context with the same K
    merge = sp.csr_matrix((np.ones(2 * len(X)), (noise.atom_sources_, np.arange(2 * len(X)))))
    np.testing.assert_allclose(
        _dense(noise.joint_ @ merge.T), _dense(KNNContext(8).fit(X).joint_), rtol=1e-3
    )


# --------------------------------------------------------------------------- strength


@pytest.fixture(scope="module")
def digits():
    X, _ = load_digits(return_X_y=True)
    return X[::2]


def _assert_falls(strengths):
    assert np.all(np.diff(strengths) < 0), strengths


def test_strength_falls_as_n_neighbors_grows(digits):
    _assert_falls([_strength(KNNContext(k).fit(digits).joint_) for k in (5, 10, 20, 40)])


def test_strength_falls_as_mask_ratio_grows(digits):
    contexts = [
        MaskedContext(KNNContext(10), r, n_masks=10, random_state=0) for r in (0, 0.3, 0.6, 0.9)
    ]
    _assert_falls([_strength(c.fit(digits).joint_) for c in contexts])


def test_strength_falls_as_sigma_grows(digits):
    sigma = GaussianNoiseContext(random_state=0).fit(digits).sigma_
    contexts = [
        GaussianNoiseContext(sigma=f * sigma, n_draws=3, random_state=0) for f in (0.5, 1, 2, 4)
    ]
    _assert_falls([_strength(c.fit(digits).joint_) for c in contexts])


# --------------------------------------------------------------------------- teachers and targets


def test_one_hot_teacher_equals_label_context(data):
    X, y = data["X"], data["y"]
    labels = LabelContext().fit(X, y)
    fitted = KNeighborsClassifier(n_neighbors=1).fit(X, y)
    for teacher in (fitted, KNeighborsClassifier(n_neighbors=1)):
        context = TeacherContext(teacher).fit(X, y)
        assert context.output_ == "proba" and context.traits().block_structured
        np.testing.assert_array_equal(_dense(context.joint_), _dense(labels.joint_))
        np.testing.assert_array_equal(context.classes_, labels.classes_)
    s_teacher = ContextureEmbedding(TeacherContext(fitted), n_components=2).fit(X).singular_values_
    np.testing.assert_allclose(s_teacher, 1.0)


def test_fitted_teacher_is_used_as_is(data):
    X = data["X"]
    pca = PCA(n_components=2).fit(np.random.RandomState(5).normal(size=(50, 6)))
    components = pca.components_.copy()
    context = TeacherContext(pca, base=KNNContext(5))
    assert context.fit(X).teacher_ is pca
    assert clone(context).teacher.estimator is pca  # shared, frozen
    emb = ContextureEmbedding(context, n_components=2).fit(X)
    assert emb.context_.teacher_.estimator is pca
    np.testing.assert_array_equal(pca.components_, components)
    with pytest.raises(ValueError, match="frozen"):
        clone(emb).set_params(context__teacher__n_components=1)
    expected = KNNContext(5).fit(pca.transform(X)).joint_
    np.testing.assert_array_equal(_dense(emb.context_.joint_), _dense(expected))


def test_unfitted_teacher_is_cloned_and_fitted(data):
    X = data["X"]
    pca = PCA(n_components=2)
    context = TeacherContext(pca, base=KNNContext(5)).fit(X)
    assert not hasattr(pca, "components_") and context.teacher_ is not pca
    expected = KNNContext(5).fit(PCA(n_components=2).fit_transform(X)).joint_
    np.testing.assert_allclose(_dense(context.joint_), _dense(expected))


def test_regressor_teacher_is_a_kernel_on_its_predictions(data):
    X, y = data["X"], data["y_reg"]
    context = TeacherContext(Ridge(), base=KNNContext(6)).fit(X, y)
    assert context.output_ == "predict"
    prediction = Ridge().fit(X, y).predict(X)[:, None]
    np.testing.assert_allclose(_dense(context.joint_), _dense(KNNContext(6).fit(prediction).joint_))


def test_teacher_errors(data):
    X, y = data["X"], data["y"]
    with pytest.raises(ValueError, match="requires y"):
        TeacherContext(LogisticRegression()).fit(X)
    with pytest.raises(ValueError, match="needs a teacher with predict_proba"):
        TeacherContext(PCA(2), output="proba").fit(X)
    with pytest.raises(ValueError, match="needs a teacher with transform"):
        TeacherContext(LogisticRegression(), output="transform").fit(X, y)


def test_target_context_is_knn_on_the_targets(data):
    X, y = data["X"], data["y_reg"]
    context = TargetContext(KNNContext(7), n_neighbors=4).fit(X, y)
    expected = KNNContext(7).fit(y[:, None]).joint_
    np.testing.assert_array_equal(_dense(context.joint_), _dense(expected))
    # a new point averages the fit rows of its 4 nearest fit points in X
    _, neighbours = NearestNeighbors(n_neighbors=4).fit(X).kneighbors(data["X_new"])
    rows = _dense(normalize_rows(expected))[neighbours].mean(axis=1)
    np.testing.assert_allclose(_dense(context.conditional(data["X_new"])), rows)
    with pytest.raises(ValueError, match="requires y"):
        TargetContext().fit(X)


def test_target_context_with_rbf_and_multioutput(data):
    X, y = data["X"], data["y_reg"]
    Y = np.c_[y, -y]
    context = TargetContext(RBFContext(gamma=1.0)).fit(X, Y)
    np.testing.assert_allclose(_dense(context.joint_), _dense(RBFContext(gamma=1.0).fit(Y).joint_))


# --------------------------------------------------------------------------- paired views


def test_paired_is_its_base_in_the_second_view(data):
    X, A = data["X"], data["A"]
    context = PairedContext(KNNContext(8)).fit(X, A=A)
    np.testing.assert_array_equal(_dense(context.joint_), _dense(KNNContext(8).fit(A).joint_))
    paired_counts = PairedContext(CooccurrenceContext()).fit(X, A=np.abs(A))
    assert paired_counts.n_atoms_ == A.shape[1]


def test_paired_needs_the_second_view(data):
    X, A = data["X"], data["A"]
    with pytest.raises(ValueError, match="requires the second view A"):
        PairedContext().fit(X)
    emb = ContextureEmbedding(PairedContext(KNNContext(8)), n_components=2).fit(X, A=A)
    with pytest.raises(ValueError, match="set_transform_request"):
        emb.transform(X)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        emb.transform(X, A=A[:10])


def test_paired_view_through_a_pipeline(data):
    X, y, A = data["X"], data["y"], data["A"]
    pipe = make_pipeline(
        ContextureEmbedding(PairedContext(KNNContext(8)), n_components=2),
        LogisticRegression(),
    )
    pipe.fit(X, y, contextureembedding__A=A)
    emb = ContextureEmbedding(PairedContext(KNNContext(8)), n_components=2).fit(X, A=A)
    np.testing.assert_allclose(pipe[0].embedding_, emb.embedding_)


def test_paired_view_with_metadata_routing(data):
    X, y, A = data["X"], data["y"], data["A"]
    with sklearn.config_context(enable_metadata_routing=True):
        embedding = ContextureEmbedding(PairedContext(KNNContext(8)), n_components=2)
        pipe = make_pipeline(
            embedding.set_fit_request(A=True).set_transform_request(A=True),
            LogisticRegression(),
        )
        pipe.fit(X, y, A=A)
        predicted = pipe.predict(data["X_new"], A=data["A_new"])
        Z_new = pipe[0].transform(data["X_new"], A=data["A_new"])
        reference = LogisticRegression().fit(pipe[0].embedding_, y)
        np.testing.assert_array_equal(predicted, reference.predict(Z_new))
        # the folds split A like X, for fit and for score
        grid = GridSearchCV(
            pipe, {"contextureembedding__context__base__n_neighbors": [5, 10]}, cv=2
        ).fit(X, y, A=A)
    assert grid.best_score_ > 0.5  # chance is 1/3


# --------------------------------------------------------------------------- combinators


def test_convex_dual_kernel_is_the_weighted_sum(data):
    X = data["X"][:80]
    parts = [("knn", KNNContext(6)), ("rbf", RBFContext(gamma=0.05)), ("masked", MaskedContext(
        KNNContext(6), n_masks=3, random_state=0))]
    weights = np.array([0.5, 0.3, 0.2])
    convex = ConvexCombination(parts, weights=[5, 3, 2]).fit(X)
    np.testing.assert_allclose(convex.weights_, weights)
    mass = np.add.reduceat(np.asarray(convex.joint_.sum(axis=0)).ravel(), convex.atom_offsets_[:-1])
    np.testing.assert_allclose(mass, weights)
    expected = sum(w * _dual_kernel(clone(c).fit(X).joint_) for w, (_, c) in zip(weights, parts))
    np.testing.assert_allclose(_dual_kernel(convex.joint_), expected, atol=1e-12)


def test_convex_combination_nested_parameters(data):
    convex = ConvexCombination([("knn", KNNContext(5)), ("rbf", RBFContext())])
    params = convex.get_params()
    assert params["knn__n_neighbors"] == 5 and "rbf__gamma" in params
    convex.set_params(knn__n_neighbors=9, rbf=RBFContext(gamma=0.3))
    assert convex.contexts[0][1].n_neighbors == 9 and convex.contexts[1][1].gamma == 0.3
    X, y = data["X"], data["y"]
    pipe = make_pipeline(ContextureEmbedding(convex, n_components=2), LogisticRegression())
    grid = GridSearchCV(
        pipe,
        {
            "contextureembedding__context__knn__n_neighbors": [4, 8],
            "contextureembedding__context__weights": [None, [3, 1]],
        },
        cv=2,
    ).fit(X, y)
    assert grid.best_score_ > 0.8


def test_convex_combination_errors(data):
    X = data["X"]
    with pytest.raises(ValueError, match="nonnegative numbers"):
        ConvexCombination([("a", KNNContext()), ("b", KNNContext())], weights=[1, -1]).fit(X)
    with pytest.raises(ValueError, match="list of \\(name, context\\) tuples"):
        ConvexCombination([KNNContext(), RBFContext()]).fit(X)
    with pytest.raises(ValueError, match="not unique"):
        ConvexCombination([("a", KNNContext()), ("a", KNNContext())]).fit(X)
    with pytest.raises(TypeError, match="takes the parameter"):
        ConvexCombination([("a", KNNContext())]).fit(X, B=X)


def test_convolution_of_knn_is_the_two_hop_walk(data):
    X, k = data["X"], 6
    _, neighbours = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
    P = np.zeros((len(X), len(X)))
    np.put_along_axis(P, neighbours, 1 / k, axis=1)
    context = Convolution(KNNContext(k), KNNContext(k)).fit(X)
    np.testing.assert_allclose(_dense(context.joint_), P @ P / len(X), atol=1e-15)
    _, new_neighbours = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(data["X_new"])
    P_new = np.zeros((20, len(X)))
    np.put_along_axis(P_new, new_neighbours, 1 / k, axis=1)
    np.testing.assert_allclose(_dense(context.conditional(data["X_new"])), P_new @ P, atol=1e-15)


@pytest.mark.parametrize(
    "first",
    [
        KNNContext(8),
        RBFContext(gamma=0.1, n_neighbors=15),
        TeacherContext(PCA(3), base=KNNContext(8)),
    ],
    ids=["knn", "rbf", "teacher"],
)
def test_convolution_weakens_its_first_step(data, first):
    X = data["X"]
    walk = Convolution(first, KNNContext(8)).fit(X)
    assert walk.second_.n_features_in_ == X.shape[1]  # second fitted on X itself
    assert _strength(walk.joint_, d=10) < _strength(clone(first).fit(X).joint_, d=10)


def test_convolution_needs_point_atoms(data):
    X, y = data["X"], data["y"]
    with pytest.raises(ValueError, match="no point representation"):
        Convolution(LabelContext(), KNNContext()).fit(X, y)
    with pytest.raises(ValueError, match="no point representation"):
        Convolution(TeacherContext(LogisticRegression()), KNNContext()).fit(X, y)


def test_convolution_walks_on_from_noise_draws_and_second_views(data):
    X, A = data["X"], data["A"]
    noise = GaussianNoiseContext(n_draws=2, n_neighbors=6, random_state=0)
    walk = Convolution(noise, KNNContext(5)).fit(X)
    np.testing.assert_array_equal(walk.second_.index_.index_._fit_X, walk.first_.atoms_)
    paired = Convolution(PairedContext(KNNContext(5)), KNNContext(5)).fit(X, A=A)
    assert paired.second_.n_features_in_ == A.shape[1]


def test_feature_union_concatenates_embeddings(data):
    X = data["X"]
    union = FeatureUnion(
        [
            ("knn", ContextureEmbedding(KNNContext(8), n_components=2, random_state=0)),
            ("noise", ContextureEmbedding(GaussianNoiseContext(random_state=0), n_components=3,
                                          random_state=0)),
        ]
    )
    Z = union.fit_transform(X)
    knn = ContextureEmbedding(KNNContext(8), n_components=2, random_state=0).fit_transform(X)
    assert Z.shape == (len(X), 5)
    np.testing.assert_allclose(Z[:, :2], knn)
    np.testing.assert_allclose(union.transform(X), Z, atol=1e-10)


def test_grid_search_over_nested_mask_parameters():
    X, y = load_digits(return_X_y=True)
    X, y = X[::4], y[::4]
    pipe = make_pipeline(
        StandardScaler(),
        ContextureEmbedding(
            MaskedContext(KNNContext(), n_masks=4, random_state=0), n_components=12
        ),
        LogisticRegression(max_iter=500),
    )
    grid = GridSearchCV(
        pipe,
        {
            "contextureembedding__context__mask_ratio": [0.1, 0.4],
            "contextureembedding__context__base__n_neighbors": [5, 15],
        },
        cv=2,
    ).fit(X, y)
    assert grid.best_score_ > 0.8
    assert set(grid.cv_results_["param_contextureembedding__context__mask_ratio"]) == {0.1, 0.4}


def test_rbf_truncation_reports_the_kernel_mass_it_drops():
    X = np.random.RandomState(0).normal(size=(600, 10))
    with pytest.warns(UserWarning, match="kernel mass"):
        wide = RBFContext(n_neighbors=10).fit(X)  # default gamma: a wide kernel
    assert wide.kernel_mass_kept_ < 0.5
    # the measured share is the one the kept rows carry, checked on one fit row
    row = np.exp(-wide.gamma_ * ((X - X[0]) ** 2).sum(axis=1))
    assert np.sort(row)[::-1][:10].sum() / row.sum() < 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        narrow = RBFContext(n_neighbors=10, gamma=5.0).fit(X)
    assert narrow.kernel_mass_kept_ > 0.99
    assert RBFContext().fit(X[:200]).kernel_mass_kept_ == 1.0


def test_cooccurrence_leaves_a_non_canonical_csr_untouched():
    # duplicate entries: scipy sums them in place on the first reduction
    X = sp.csr_matrix((np.array([1.0, 2, 3, 4, 5]), np.array([1, 1, 0, 2, 0]),
                       np.array([0, 3, 5])), shape=(2, 3))
    data, indices = X.data.copy(), X.indices.copy()
    context = CooccurrenceContext().fit(X)
    context.conditional(X)
    np.testing.assert_array_equal(X.data, data)
    np.testing.assert_array_equal(X.indices, indices)
    np.testing.assert_allclose(context.joint_.toarray(), np.array([[3, 3, 0], [5, 0, 4]]) / 15)


@pytest.mark.parametrize("part", [None, "knn", 5])
def test_convex_combination_names_a_part_that_is_not_a_context(part):
    X = np.random.RandomState(0).normal(size=(30, 3))
    with pytest.raises(TypeError, match="Part 'a' of ConvexCombination must be a context"):
        ConvexCombination([("a", part), ("b", KNNContext(5))]).fit(X)


def test_composites_keep_one_joint_not_one_per_part():
    # A fitted composite holds its own joint; its parts keep only what their
    # conditional needs (25 dense kernels would otherwise be 25 n x n joints).
    import pickle

    X = np.random.RandomState(0).normal(size=(120, 8))
    y = np.repeat([0, 1, 2], 40)
    dense = RBFContext(gamma=0.05)
    composites = [
        MaskedContext(dense, mask_ratio=0.25, n_masks=25, random_state=0),
        ConvexCombination([("rbf", dense), ("knn", KNNContext(5)), ("label", LabelContext())]),
        Convolution(KNNContext(5), dense),
        MaskedContext(TargetContext(KNNContext(5)), n_masks=4, random_state=0),
        MaskedContext(TeacherContext(PCA(2), base=dense), n_masks=4, random_state=0),
    ]
    for context in composites:
        fitted = context.fit(X, y)
        joint_bytes = fitted.joint_.data.nbytes + fitted.joint_.indices.nbytes
        parts = getattr(fitted, "bases_", None) or getattr(fitted, "contexts_", None) or [
            fitted.first_, fitted.second_]
        assert not any(hasattr(part, "joint_") for part in parts)
        # a teacher's base is released too (a target context's base keeps the rows
        # its conditional reads)
        assert not any(hasattr(part.base_, "joint_") for part in parts
                       if isinstance(part, TeacherContext))
        # the conditional of the fit rows is unchanged by the release
        expected = fitted.joint_ * len(X) if fitted.traits().conditional_reproduces_joint else None
        rows = fitted.conditional(X)
        np.testing.assert_allclose(rows.sum(axis=1), 1)
        if expected is not None:
            np.testing.assert_allclose(rows.toarray(), expected.toarray(), atol=1e-12)
        assert len(pickle.dumps(fitted)) < 3 * joint_bytes + 400_000
