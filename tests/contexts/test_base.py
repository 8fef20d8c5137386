"""What every context inherits: a composite releases the joints of its parts."""

import numpy as np
from sklearn.decomposition import PCA

from skcontexture import (ConvexCombination, Convolution, KNNContext, LabelContext, MaskedContext,
                          RBFContext, TargetContext, TeacherContext)


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


def test_dense_rows_are_the_normalised_rows_as_csr():
    import scipy.sparse as sp

    from skcontexture.contexts._base import dense_rows, normalize_rows

    rng = np.random.default_rng(0)
    full = rng.random((6, 4)) + 0.1
    with_zeros = full.copy()
    with_zeros[1] = 0.0  # an empty row stays empty
    with_zeros[3, 2] = 0.0
    for weights in (full, with_zeros):
        before = weights.copy()
        rows = dense_rows(weights)
        expected = normalize_rows(sp.csr_matrix(weights))
        assert sp.isspmatrix_csr(rows) and rows.has_canonical_format
        assert rows.nnz == np.count_nonzero(weights)
        np.testing.assert_allclose(rows.toarray(), expected.toarray(), rtol=1e-15)
        np.testing.assert_array_equal(weights, before)
