"""scikit-learn's estimator checks for every estimator and context."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skcontexture import (
    ContextureEmbedding,
    CooccurrenceContext,
    KNNContext,
    LabelContext,
    RBFContext,
)

ESTIMATORS = [
    ContextureEmbedding(KNNContext(n_neighbors=5), n_components=2),
    ContextureEmbedding(RBFContext(), n_components=2),
    ContextureEmbedding(RBFContext(gamma=0.5, n_neighbors=6), n_components=2),
    ContextureEmbedding(LabelContext(n_neighbors=5), n_components=1),
    ContextureEmbedding(CooccurrenceContext(), n_components=1),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
