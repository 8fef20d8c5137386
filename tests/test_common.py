"""scikit-learn's estimator checks for every estimator and context."""

from sklearn.decomposition import PCA
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcontexture import (
    ContextureEmbedding,
    ConvexCombination,
    Convolution,
    CooccurrenceContext,
    GaussianNoiseContext,
    KNNContext,
    LabelContext,
    MaskedContext,
    RBFContext,
    SpectralContextEncoder,
    TargetContext,
    TeacherContext,
)

ESTIMATORS = [
    ContextureEmbedding(KNNContext(n_neighbors=5), n_components=2),
    ContextureEmbedding(RBFContext(), n_components=2),
    ContextureEmbedding(RBFContext(gamma=0.5, n_neighbors=6), n_components=2),
    ContextureEmbedding(LabelContext(n_neighbors=5), n_components=1),
    ContextureEmbedding(CooccurrenceContext(), n_components=1),
    SpectralContextEncoder(KNNContext(n_neighbors=5), n_components=2),
    SpectralContextEncoder(
        RBFContext(gamma=0.5, n_neighbors=6), backbone=Nystroem(n_components=10), n_components=2
    ),
    SpectralContextEncoder(LabelContext(n_neighbors=5), n_components=1),
    SpectralContextEncoder(CooccurrenceContext(), n_components=1),
    # contexts beyond graphs (PairedContext needs A: its checks are in test_contexts.py)
    ContextureEmbedding(
        MaskedContext(KNNContext(n_neighbors=5), n_masks=3, random_state=0), n_components=2
    ),
    ContextureEmbedding(
        GaussianNoiseContext(n_draws=2, n_neighbors=5, random_state=0), n_components=2
    ),
    ContextureEmbedding(TeacherContext(LogisticRegression()), n_components=1),
    ContextureEmbedding(TeacherContext(PCA(), base=KNNContext(n_neighbors=5)), n_components=2),
    ContextureEmbedding(TeacherContext(Ridge(), base=KNNContext(n_neighbors=5)), n_components=2),
    ContextureEmbedding(TargetContext(KNNContext(n_neighbors=5), n_neighbors=5), n_components=1),
    ContextureEmbedding(
        ConvexCombination(
            [("knn", KNNContext(n_neighbors=5)), ("rbf", RBFContext(gamma=0.5, n_neighbors=6))]
        ),
        n_components=2,
    ),
    ContextureEmbedding(
        Convolution(KNNContext(n_neighbors=3), KNNContext(n_neighbors=3)), n_components=2
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
