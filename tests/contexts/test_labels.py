"""TargetContext: a context on the targets, extended to new points by their neighbours in X."""

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from skcontexture import KNNContext, RBFContext, TargetContext
from skcontexture.contexts._base import normalize_rows

from .._reference import dense


def test_target_context_is_knn_on_the_targets(data):
    X, y = data["X"], data["y_reg"]
    context = TargetContext(KNNContext(7), n_neighbors=4).fit(X, y)
    expected = KNNContext(7).fit(y[:, None]).joint_
    np.testing.assert_array_equal(dense(context.joint_), dense(expected))
    # a new point averages the fit rows of its 4 nearest fit points in X
    _, neighbours = NearestNeighbors(n_neighbors=4).fit(X).kneighbors(data["X_new"])
    rows = dense(normalize_rows(expected))[neighbours].mean(axis=1)
    np.testing.assert_allclose(dense(context.conditional(data["X_new"])), rows)
    with pytest.raises(ValueError, match="requires y"):
        TargetContext().fit(X)


def test_target_context_with_rbf_and_multioutput(data):
    X, y = data["X"], data["y_reg"]
    Y = np.c_[y, -y]
    context = TargetContext(RBFContext(gamma=1.0)).fit(X, Y)
    np.testing.assert_allclose(dense(context.joint_), dense(RBFContext(gamma=1.0).fit(Y).joint_))


def test_unlabelled_rows_carry_the_class_prior_and_nothing_else(data):
    from skcontexture import ContextureEmbedding, LabelContext

    X, y = data["X"], data["y"]
    y_few = np.full_like(y, -1)
    known = np.arange(0, len(y), 10)
    y_few[known] = y[known]
    context = LabelContext().fit(X, y_few)
    classes, counts = np.unique(y[known], return_counts=True)
    np.testing.assert_array_equal(context.classes_, classes)
    np.testing.assert_allclose(context.class_prior_, counts / counts.sum())
    joint = dense(context.joint_)
    np.testing.assert_allclose(joint.sum(), 1)
    np.testing.assert_allclose(joint.sum(axis=1), 1 / len(y))  # P_X stays uniform
    unknown = np.setdiff1d(np.arange(len(y)), known)
    np.testing.assert_allclose(joint[unknown] * len(y), np.tile(context.class_prior_,
                                                                 (unknown.size, 1)))
    # the dual kernel of an unlabelled row is constant: it sits at the origin of every
    # singular function, and the labelled rows alone give the class structure
    emb = ContextureEmbedding(LabelContext(), n_components=len(classes) - 1).fit(X, y_few)
    np.testing.assert_allclose(emb.embedding_[unknown], 0, atol=1e-10)
    labelled = emb.embedding_[known]
    for c in classes:
        rows = labelled[y[known] == c]
        np.testing.assert_allclose(rows, np.tile(rows[0], (len(rows), 1)), atol=1e-10)
    # new points: rows of their neighbours, labelled or not, summing to 1
    np.testing.assert_allclose(context.conditional(data["X_new"]).sum(axis=1), 1)


def test_unlabelled_marker_can_be_a_class_or_refused(data):
    from skcontexture import LabelContext

    X = data["X"]
    y = np.where(np.arange(len(X)) % 2, 1, -1)  # -1 / +1 labels
    assert LabelContext(unlabelled=None).fit(X, y).n_atoms_ == 2
    # -1 read as unlabelled leaves one class: refused, with the way out
    with pytest.raises(ValueError, match=r"single class \(1\).*set unlabelled=None"):
        LabelContext().fit(X, y)
    with pytest.raises(ValueError, match="Every row of y is unlabelled.*unlabelled=None"):
        LabelContext().fit(X, np.full(len(X), -1))
    labels = np.array(["a", "b"] * (len(X) // 2))
    np.testing.assert_array_equal(LabelContext().fit(X, labels).classes_, ["a", "b"])
