"""TeacherContext: a fitted or unfitted teacher's classes, features or predictions."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext, LabelContext, TeacherContext

from .._reference import dense


def test_one_hot_teacher_equals_label_context(data):
    X, y = data["X"], data["y"]
    labels = LabelContext().fit(X, y)
    fitted = KNeighborsClassifier(n_neighbors=1).fit(X, y)
    for teacher in (fitted, KNeighborsClassifier(n_neighbors=1)):
        context = TeacherContext(teacher).fit(X, y)
        assert context.output_ == "proba" and context.traits().block_structured
        np.testing.assert_array_equal(dense(context.joint_), dense(labels.joint_))
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
    np.testing.assert_array_equal(dense(emb.context_.joint_), dense(expected))


def test_unfitted_teacher_is_cloned_and_fitted(data):
    X = data["X"]
    pca = PCA(n_components=2)
    context = TeacherContext(pca, base=KNNContext(5)).fit(X)
    assert not hasattr(pca, "components_") and context.teacher_ is not pca
    expected = KNNContext(5).fit(PCA(n_components=2).fit_transform(X)).joint_
    np.testing.assert_allclose(dense(context.joint_), dense(expected))


def test_regressor_teacher_is_a_kernel_on_its_predictions(data):
    X, y = data["X"], data["y_reg"]
    context = TeacherContext(Ridge(), base=KNNContext(6)).fit(X, y)
    assert context.output_ == "predict"
    prediction = Ridge().fit(X, y).predict(X)[:, None]
    np.testing.assert_allclose(dense(context.joint_), dense(KNNContext(6).fit(prediction).joint_))


def test_teacher_errors(data):
    X, y = data["X"], data["y"]
    with pytest.raises(ValueError, match="requires y"):
        TeacherContext(LogisticRegression()).fit(X)
    with pytest.raises(ValueError, match="needs a teacher with predict_proba"):
        TeacherContext(PCA(2), output="proba").fit(X)
    with pytest.raises(ValueError, match="needs a teacher with transform"):
        TeacherContext(LogisticRegression(), output="transform").fit(X, y)


def test_teacher_output_that_overflows_is_named(X_huge):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # StandardScaler's own overflow
        with pytest.raises(ValueError, match=r"teacher's transform \(StandardScaler\).*NaN"):
            TeacherContext(StandardScaler()).fit(X_huge)
