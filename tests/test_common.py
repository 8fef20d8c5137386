"""scikit-learn's estimator checks for every estimator and context."""

from sklearn.kernel_approximation import Nystroem
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn.preprocessing import FunctionTransformer

from skcontexture import (ContextureEmbedding, ContextureUnion, GaussianNoiseContext, KNNContext,
                          LinearTeacherContext, MaskedContext, SpectralContextEncoder)

from ._instances import CONTEXTS, embeddings

# PairedContext needs A, which these checks cannot pass: its checks are in test_contexts.py
ESTIMATORS = embeddings() + [
    # the defaults, as a user runs check_estimator on them: K = 15 and d = 8 meet
    # the checks' 10- to 30-row data sets (fewer neighbours and components, warned)
    ContextureEmbedding(),
    ContextureEmbedding(KNNContext(5)),
    ContextureEmbedding(MaskedContext(KNNContext(5))),
    ContextureEmbedding(GaussianNoiseContext()),
    SpectralContextEncoder(),
    SpectralContextEncoder(CONTEXTS["knn"], n_components=2),
    SpectralContextEncoder(
        CONTEXTS["rbf_truncated"], backbone=Nystroem(n_components=10), n_components=2
    ),
    SpectralContextEncoder(CONTEXTS["label"], n_components=1),
    SpectralContextEncoder(CONTEXTS["cooccurrence"], n_components=1),
    ContextureUnion(),
    ContextureUnion([("raw", FunctionTransformer()),
                     ("linear", ContextureEmbedding(LinearTeacherContext(whiten=False),
                                                    n_components=1)),
                     ("knn", ContextureEmbedding(KNNContext(5), n_components=2))],
                    random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
