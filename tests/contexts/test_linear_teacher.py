"""LinearTeacherContext against the dissertation's kernel, and the "YLinear" contexts.

The reference (``knowledge/teacher.py`` of RuntianZ/contextures-dissertation)
defines k(x, x') = n (z(x) - m)^T proj proj^T (z(x') - m) + 1 on a teacher's
outputs z, proj = V D V^T from the SVD of the centred fit outputs, and learns
the top eigenfunctions of (1/n) K. :func:`reference_kernel` recomputes it densely.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from skcontexture import (ContextureEmbedding, LabelContext, LinearTeacherContext,
                          SpectralContextEncoder, TargetContext)

from .._reference import dense


def reference_kernel(Z_fit, Z_other=None, threshold=1e-3, whiten=True):
    """The reference's kernel k(z_i, z'_j) and its operator's eigenvalues (1/n) K.

    Its thresholding is absolute; the library's is relative to the largest singular
    value, so the absolute threshold here is ``threshold * S_1``.
    """
    n = len(Z_fit)
    mean = Z_fit.mean(axis=0)
    _, S, Vt = np.linalg.svd(Z_fit - mean, full_matrices=False)
    if whiten:
        keep = S >= threshold * S[0]
        D = np.diag(np.where(keep, 1.0 / np.where(keep, S, 1.0), 0.0))
    else:
        keep = S >= threshold * S[0]  # the reference keeps all: D = I / S_1
        D = np.diag(np.where(keep, 1.0, 0.0)) / S[0]
    proj = Vt.T @ D @ Vt
    left = (Z_fit - mean) @ proj
    right = left if Z_other is None else (Z_other - mean) @ proj
    return n * left @ right.T + 1


def dual_kernel(context, X):
    """The dual kernel k(x_i, x_k) = sum_a P(a | x_i) P(a | x_k) / P_A(a) of a fitted context."""
    J = dense(context.joint_)
    p_x, p_a = J.sum(axis=1), J.sum(axis=0)
    P = J / p_x[:, None]
    kept = p_a > 0
    return (P[:, kept] / p_a[kept]) @ P[:, kept].T


def projector(Z):
    """Orthogonal projector onto span(Z) in L2(P_X) (uniform weights)."""
    Q = scipy.linalg.orth(Z)
    return Q @ Q.T


def nontrivial_eigh(K):
    """Eigenvalues and eigenvectors of (1/n) K on the functions of mean 0 (the trivial
    constant pair dropped: H K H / n, H the centring matrix), descending."""
    n = len(K)
    H = np.eye(n) - 1.0 / n
    values, vectors = scipy.linalg.eigh(H @ K @ H / n)
    return values[::-1], vectors[:, ::-1]


@pytest.fixture(scope="module")
def correlated():
    """60 rows of 5 correlated features (a rank-5 cloud)."""
    rng = np.random.RandomState(0)
    return rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5)) + rng.normal(size=5)


@pytest.mark.parametrize("whiten", [True, False])
def test_dual_kernel_is_the_reference_kernel_mixed_with_the_constant(correlated, whiten):
    X = correlated
    context = LinearTeacherContext(whiten=whiten).fit(X)
    lam = context.kernel_weight_
    K = reference_kernel(X, whiten=whiten)
    assert np.any(K < 0)  # no context has it as its dual kernel
    np.testing.assert_allclose(dual_kernel(context, X), (1 - lam) + lam * K, atol=1e-10)
    np.testing.assert_allclose(context.direction_weights_.sum(), 1)
    # lam is the largest weight with probability rows: some row sits at an end
    assert np.isclose(dense(context.joint_).min(), 0, atol=1e-15)


def test_embedding_is_the_exact_top_eigenspace_of_the_whitened_kernel(correlated):
    X, n = correlated, len(correlated)
    context = LinearTeacherContext().fit(X)
    r = context.n_directions_
    emb = ContextureEmbedding(LinearTeacherContext(), n_components=r, scale="none",
                              random_state=0).fit(X)
    values, vectors = nontrivial_eigh(reference_kernel(X))
    np.testing.assert_allclose(values[:r], 1, atol=1e-10)  # every kept direction: s = 1
    np.testing.assert_allclose(values[r:], 0, atol=1e-10)
    np.testing.assert_allclose(projector(emb.embedding_), projector(vectors[:, :r]), atol=1e-10)
    np.testing.assert_allclose(emb.singular_values_, np.sqrt(context.kernel_weight_), atol=1e-10)
    np.testing.assert_allclose(emb.embedding_.T @ emb.embedding_ / n, np.eye(r), atol=1e-10)
    np.testing.assert_allclose(emb.transform(X), emb.embedding_, atol=1e-10)


def test_embedding_is_each_eigenfunction_of_the_unwhitened_kernel(correlated):
    X, n = correlated, len(correlated)
    emb = ContextureEmbedding(LinearTeacherContext(whiten=False), n_components=3,
                              scale="none", random_state=0).fit(X)
    lam = emb.context_.kernel_weight_
    values, vectors = nontrivial_eigh(reference_kernel(X, whiten=False))
    values, vectors = values[:3], vectors[:, :3] * np.sqrt(n)
    np.testing.assert_allclose(emb.singular_values_**2 / lam, values, atol=1e-10)
    signs = np.sign(np.sum(emb.embedding_ * vectors, axis=0))
    np.testing.assert_allclose(emb.embedding_, vectors * signs, atol=1e-10)
    np.testing.assert_allclose(emb.fit_transform(X), emb.transform(X), atol=1e-12)


def test_new_points_are_linear_inside_the_range_and_clipped_beyond(correlated):
    X, n = correlated, len(correlated)
    emb = ContextureEmbedding(LinearTeacherContext(whiten=False), n_components=5,
                              scale="none").fit(X)
    context = emb.context_
    mean = X.mean(axis=0)
    _, S, Vt = np.linalg.svd(X - mean, full_matrices=False)

    def whitened(points):  # sqrt(n) (x - m)^T v_j / S_j
        return np.sqrt(n) * (points - mean) @ Vt.T / S

    signs = np.sign(np.sum(whitened(X) * emb.embedding_, axis=0))
    inside = 0.5 * (X[:20] + X[20:40])  # midpoints: inside the fit range along every direction
    np.testing.assert_allclose(emb.transform(inside), whitened(inside) * signs, atol=1e-10)
    far = mean + 100 * (X[:3] - mean)
    # clipped to the fit range of each direction, as the context orients it
    own = np.sign(np.sum(whitened(X) * ((X * context.scale_ - context.mean_)
                                        @ context.components_), axis=0))
    expected = np.clip(whitened(far) * own, context.lower_, context.upper_) * own * signs
    np.testing.assert_allclose(emb.transform(far), expected, atol=1e-10)
    assert np.all(np.isfinite(emb.transform(mean + 1e300 * (X[:3] - mean))))


def test_threshold_is_relative_to_the_largest_singular_value(correlated):
    X = np.c_[correlated, correlated[:, 0] + 1e-6 * np.random.RandomState(1).normal(size=60)]
    assert LinearTeacherContext().fit(X).n_directions_ == 5
    assert LinearTeacherContext(threshold=0).fit(X).n_directions_ == 6
    assert LinearTeacherContext(threshold=0.5).fit(X).n_directions_ < 5
    relative = LinearTeacherContext().fit(X).relative_singular_values_
    assert relative[0] == 1 and np.all(np.diff(relative) <= 0) and relative[-1] >= 1e-3
    # scale-free: a power of two, or a huge factor, gives the same joint
    joint = dense(LinearTeacherContext().fit(X).joint_)
    np.testing.assert_array_equal(dense(LinearTeacherContext().fit(X * 2.0**40).joint_), joint)
    np.testing.assert_allclose(dense(LinearTeacherContext().fit(X * 1e300).joint_), joint,
                               rtol=1e-9, atol=1e-14)


def test_teachers_outputs(data):
    X, y, y_reg = data["X"], data["y"], data["y_reg"]
    pca = LinearTeacherContext(PCA(3)).fit(X)
    assert pca.output_ == "transform" and pca.n_directions_ == 3
    proba = LinearTeacherContext(LogisticRegression(max_iter=1000)).fit(X, y)
    assert proba.output_ == "proba" and proba.n_directions_ == 2  # probabilities sum to 1
    trees = LinearTeacherContext(HistGradientBoostingRegressor(max_iter=7), output="trees")
    trees.fit(X, y_reg)
    outputs = trees._tree_outputs(X)
    assert outputs.shape == (len(X), trees.teacher_.n_iter_)
    # the iterations' outputs add up to the model's prediction
    np.testing.assert_allclose(outputs.sum(axis=1), trees.teacher_.predict(X), atol=1e-10)
    classes = LinearTeacherContext(HistGradientBoostingClassifier(max_iter=4), output="trees")
    classes.fit(X, y)
    scores = classes._tree_outputs(X)
    assert scores.shape == (len(X), 4 * 3)
    np.testing.assert_allclose(scores.reshape(len(X), 4, 3).sum(axis=1),
                               classes.teacher_.decision_function(X), atol=1e-10)


def test_fitted_teacher_is_shared_and_frozen(data):
    X = data["X"]
    pca = PCA(3).fit(X)
    context = LinearTeacherContext(pca)
    assert clone(context).teacher.estimator is pca
    assert LinearTeacherContext().__sklearn_clone__().teacher is None


def test_errors(data):
    X, y = data["X"], data["y"]
    with pytest.raises(ValueError, match="needs a teacher"):
        LinearTeacherContext(output="proba").fit(X)
    with pytest.raises(ValueError, match="output='trees'.*staged"):
        LinearTeacherContext(PCA(2), output="trees").fit(X)
    with pytest.raises(ValueError, match="X is constant"):
        LinearTeacherContext().fit(np.ones((10, 3)))
    # subnormal values (the scale that makes them order 1 overflows): a clear error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="below the smallest normal float64.*Scale"):
            LinearTeacherContext().fit(X * 1e-310)
        # tiny but normal values are fitted as the data is (the kernel is scale-free)
        linear = ContextureEmbedding(LinearTeacherContext(whiten=False), n_components=2)
        small = clone(linear).fit(X * 1e-300)
    np.testing.assert_allclose(np.abs(small.embedding_), np.abs(linear.fit(X).embedding_),
                               atol=1e-8)
    with pytest.raises(ValueError, match="requires y"):
        LinearTeacherContext(LogisticRegression()).fit(X)
    assert LinearTeacherContext(LogisticRegression()).traits().requires_y
    assert not LinearTeacherContext().traits().accepts_sparse


# ------------------------------------------------------------------------------------------
# "YLinear": the reference's linear kernel of the target
# ------------------------------------------------------------------------------------------


def test_label_context_is_the_reference_class_kernel(data):
    """k(x, x') = n / n_y 1[y = y']: the dual kernel of LabelContext, exactly (with the
    unlabelled rows, n and n_y counted on the labelled rows, and k = 1 for the others)."""
    X, y = data["X"], data["y"]
    n = len(y)
    counts = np.bincount(y)
    expected = (y[:, None] == y[None, :]) * (n / counts[y])[:, None]
    np.testing.assert_allclose(dual_kernel(LabelContext().fit(X, y), X), expected, atol=1e-12)
    y_few = np.where(np.arange(n) % 5 == 0, y, -1)
    labelled = y_few >= 0
    counts = np.bincount(y_few[labelled])
    expected = np.ones((n, n))
    same = (y_few[:, None] == y_few[None, :]) & labelled[:, None] & labelled[None, :]
    expected[labelled[:, None] & labelled[None, :]] = 0
    expected[same] = (labelled.sum() / counts[y_few])[np.nonzero(same)[0]]
    np.testing.assert_allclose(dual_kernel(LabelContext().fit(X, y_few), X), expected,
                               atol=1e-12)


@pytest.mark.parametrize("estimator", [ContextureEmbedding, SpectralContextEncoder])
def test_fewer_components_than_tied_whitened_directions_warn(correlated, estimator):
    """With whiten=True every kept direction has the same singular value: fewer components
    than directions are an arbitrary pick, and the warning says what to change."""
    r = LinearTeacherContext().fit(correlated).n_directions_
    with pytest.warns(UserWarning, match=rf"its {r} kept directions.*whiten=False.*"
                                         rf"n_components >= {r}"):
        estimator(LinearTeacherContext(), n_components=r - 1).fit(correlated)
    for context, d in [(LinearTeacherContext(), r), (LinearTeacherContext(whiten=False), 1)]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            estimator(context, n_components=d).fit(correlated)


def test_linear_teacher_on_one_hot_labels_spans_the_label_functions(data):
    X, y = data["X"], data["y"]
    one_hot = np.eye(3)[y]
    teacher = ContextureEmbedding(LinearTeacherContext(), n_components=2).fit(one_hot)
    labels = ContextureEmbedding(LabelContext(), n_components=2).fit(X, y)
    np.testing.assert_allclose(projector(teacher.embedding_), projector(labels.embedding_),
                               atol=1e-10)
    np.testing.assert_allclose(labels.singular_values_, 1)
    assert np.all(teacher.singular_values_ < 1)  # sqrt(lam): the whitened kernel, mixed


def test_target_context_with_a_linear_base_is_the_reference_target_kernel(data):
    """k(x, x') = 1 + (y - m)(y' - m) / var(y), mixed with the constant: TargetContext(
    base=LinearTeacherContext()); a NaN target is unlabelled (k = 1 with every row)."""
    X, y = data["X"], data["y_reg"]
    context = TargetContext(LinearTeacherContext()).fit(X, y)
    lam = context.base_.kernel_weight_
    standardised = (y - y.mean()) / y.std()
    expected = 1 + lam * np.outer(standardised, standardised)
    np.testing.assert_allclose(dual_kernel(context, X), expected, atol=1e-10)
    np.testing.assert_allclose(reference_kernel(y[:, None]), 1 + np.outer(standardised,
                                                                           standardised))
    y_few = np.where(np.arange(len(y)) % 3 == 0, y, np.nan)
    known = ~np.isnan(y_few)
    context = TargetContext(LinearTeacherContext()).fit(X, y_few)
    np.testing.assert_array_equal(context.labelled_, known)
    lam = context.base_.kernel_weight_
    standardised = np.where(known, (y_few - y[known].mean()) / y[known].std(), 0.0)
    np.testing.assert_allclose(dual_kernel(context, X),
                               1 + lam * np.outer(standardised, standardised), atol=1e-10)
    np.testing.assert_allclose(dense(context.joint_).sum(axis=1), 1 / len(y))
    emb = ContextureEmbedding(TargetContext(LinearTeacherContext()), n_components=1,
                              scale="none").fit(X, y_few)
    unit = standardised / np.sqrt(np.mean(standardised**2))  # unit norm under P_X
    np.testing.assert_allclose(np.abs(emb.embedding_[:, 0]), np.abs(unit), atol=1e-10)


def test_target_context_unlabelled_rows_with_point_atoms(data):
    from skcontexture import KNNContext

    X, y = data["X"], data["y_reg"]
    y_few = np.where(np.arange(len(y)) % 4 == 0, y, np.nan)
    known = np.flatnonzero(~np.isnan(y_few))
    context = TargetContext(KNNContext(5)).fit(X, y_few)
    joint = dense(context.joint_)
    assert joint.shape == (len(y), len(y))
    on_labelled = dense(KNNContext(5).fit(y[known, None]).joint_)
    np.testing.assert_allclose(joint[np.ix_(known, known)] * len(y),
                               on_labelled * len(known), atol=1e-12)
    assert not joint[:, np.setdiff1d(np.arange(len(y)), known)].any()  # no mass on them
    np.testing.assert_allclose(dual_kernel(context, X)[np.isnan(y_few)], 1, atol=1e-10)
    with pytest.raises(ValueError, match="Every row of y is unlabelled"):
        TargetContext().fit(X, np.full(len(y), np.nan))
    with pytest.raises(ValueError, match="some targets"):
        TargetContext().fit(X, np.c_[y, np.where(np.arange(len(y)) % 2, y, np.nan)])
    with pytest.raises(ValueError, match="NaN"):
        TargetContext(unlabelled=None).fit(X, y_few)
