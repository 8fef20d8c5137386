"""MaskedContext: the average of its base over random feature masks."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext, LabelContext, MaskedContext, RBFContext

from .._reference import assert_falls, dense, strength


@pytest.mark.parametrize("base", [KNNContext(7), RBFContext(gamma=0.2, n_neighbors=15)])
def test_masked_with_ratio_zero_is_its_base(data, base):
    X = data["X"]
    masked = MaskedContext(base, mask_ratio=0, n_masks=5, random_state=0).fit(X)
    plain = clone(base).fit(X)
    np.testing.assert_array_equal(dense(masked.joint_), dense(plain.joint_))
    np.testing.assert_array_equal(
        dense(masked.conditional(data["X_new"])), dense(plain.conditional(data["X_new"]))
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
        joint += dense(base.joint_) / 7
        rows += dense(base.conditional(data["X_new"][:, mask])) / 7
    np.testing.assert_allclose(dense(masked.joint_), joint, atol=1e-15)
    np.testing.assert_allclose(dense(masked.conditional(data["X_new"])), rows, atol=1e-15)


def test_masks_keep_at_least_one_feature():
    X = np.random.RandomState(0).normal(size=(30, 2))
    masked = MaskedContext(KNNContext(4), mask_ratio=0.9, n_masks=5, random_state=0).fit(X)
    np.testing.assert_array_equal(masked.masks_.sum(axis=1), 1)
    assert len(masked.bases_) == 2  # two distinct masks, fitted once each
    np.testing.assert_allclose(masked.mask_weights_.sum(), 1)


def test_masked_label_base_keeps_fixed_atoms(data):
    X, y = data["X"], data["y"]
    masked = MaskedContext(LabelContext(5), n_masks=4, random_state=0).fit(X, y)
    np.testing.assert_array_equal(dense(masked.joint_), dense(LabelContext(5).fit(X, y).joint_))
    traits = masked.traits()
    assert not traits.conditional_reproduces_joint and traits.block_structured


def test_strength_falls_as_mask_ratio_grows(digits):
    contexts = [
        MaskedContext(KNNContext(10), r, n_masks=10, random_state=0) for r in (0, 0.3, 0.6, 0.9)
    ]
    assert_falls([strength(c.fit(digits).joint_) for c in contexts])


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
