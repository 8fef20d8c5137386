"""The algebra of contexts: ConvexCombination, Convolution, and embeddings side by side."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import FeatureUnion, make_pipeline

from skcontexture import (ContextureEmbedding, ConvexCombination, Convolution, GaussianNoiseContext,
                          KNNContext, LabelContext, MaskedContext, PairedContext, RBFContext,
                          TeacherContext)

from .._reference import dense, strength


def _dual_kernel(joint):
    """k_X(x_i, x_k) = sum_a P(a | x_i) P(a | x_k) / P_A(a), dense."""
    W = dense(joint)
    p_x, p_a = W.sum(axis=1), W.sum(axis=0)
    conditional = W / p_x[:, None]
    kept = p_a > 0
    return (conditional[:, kept] / p_a[kept]) @ conditional[:, kept].T


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


@pytest.mark.parametrize("part", [None, "knn", 5])
def test_convex_combination_names_a_part_that_is_not_a_context(part):
    X = np.random.RandomState(0).normal(size=(30, 3))
    with pytest.raises(TypeError, match="Part 'a' of ConvexCombination must be a context"):
        ConvexCombination([("a", part), ("b", KNNContext(5))]).fit(X)


def test_convolution_of_knn_is_the_two_hop_walk(data):
    X, k = data["X"], 6
    _, neighbours = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
    P = np.zeros((len(X), len(X)))
    np.put_along_axis(P, neighbours, 1 / k, axis=1)
    context = Convolution(KNNContext(k), KNNContext(k)).fit(X)
    np.testing.assert_allclose(dense(context.joint_), P @ P / len(X), atol=1e-15)
    _, new_neighbours = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(data["X_new"])
    P_new = np.zeros((20, len(X)))
    np.put_along_axis(P_new, new_neighbours, 1 / k, axis=1)
    np.testing.assert_allclose(dense(context.conditional(data["X_new"])), P_new @ P, atol=1e-15)


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
    assert strength(walk.joint_, d=10) < strength(clone(first).fit(X).joint_, d=10)


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
    # the second step is fitted on the noise draws: each draw is a fit point
    assert walk.second_.index_.n_samples_fit_ == len(walk.first_.atoms_)
    distances, _ = walk.second_.index_.kneighbors(walk.first_.atoms_, 1)
    np.testing.assert_array_equal(distances, 0)
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
