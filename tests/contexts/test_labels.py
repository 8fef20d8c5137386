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
