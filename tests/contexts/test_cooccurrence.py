"""CooccurrenceContext: counts as the joint."""

import numpy as np
import scipy.sparse as sp

from skcontexture import CooccurrenceContext


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


def test_cooccurrence_counts_whose_total_overflows():
    counts = np.array([[1e308, 1e308, 0.0], [1.0, 2.0, 3.0], [0.0, 1.0, 5.0]])
    joint = CooccurrenceContext().fit(counts).joint_
    np.testing.assert_allclose(joint.toarray()[0], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(joint.sum(), 1.0)
    rows = CooccurrenceContext().fit(counts[1:]).conditional(counts[:1])
    np.testing.assert_allclose(rows.toarray(), [[0.5, 0.5, 0.0]])
