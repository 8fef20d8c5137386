"""PairedContext: its base in a second view of the rows, passed as A=."""

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcontexture import ContextureEmbedding, CooccurrenceContext, KNNContext, PairedContext

from .._reference import dense


class _SelfPairedContext(PairedContext):
    """A PairedContext whose second view defaults to X, so that the estimator checks can run.

    scikit-learn's checks call ``fit(X, y)`` and ``transform(X)`` and cannot pass ``A=``.
    """

    def fit(self, X, y=None, A=None):
        return super().fit(X, y, A=X if A is None else A)

    def conditional(self, X, A=None):
        return super().conditional(X, A=X if A is None else A)


@parametrize_with_checks([ContextureEmbedding(_SelfPairedContext(KNNContext(5)), n_components=2)])
def test_paired_context_passes_the_estimator_checks(estimator, check):
    check(estimator)


def test_paired_is_its_base_in_the_second_view(data):
    X, A = data["X"], data["A"]
    context = PairedContext(KNNContext(8)).fit(X, A=A)
    np.testing.assert_array_equal(dense(context.joint_), dense(KNNContext(8).fit(A).joint_))
    paired_counts = PairedContext(CooccurrenceContext()).fit(X, A=np.abs(A))
    assert paired_counts.n_atoms_ == A.shape[1]


def test_paired_needs_the_second_view(data):
    X, A = data["X"], data["A"]
    with pytest.raises(ValueError, match="requires the second view A"):
        PairedContext().fit(X)
    emb = ContextureEmbedding(PairedContext(KNNContext(8)), n_components=2).fit(X, A=A)
    with pytest.raises(ValueError, match="set_transform_request"):
        emb.transform(X)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        emb.transform(X, A=A[:10])


def test_paired_view_through_a_pipeline(data):
    X, y, A = data["X"], data["y"], data["A"]
    pipe = make_pipeline(
        ContextureEmbedding(PairedContext(KNNContext(8)), n_components=2),
        LogisticRegression(),
    )
    pipe.fit(X, y, contextureembedding__A=A)
    emb = ContextureEmbedding(PairedContext(KNNContext(8)), n_components=2).fit(X, A=A)
    np.testing.assert_allclose(pipe[0].embedding_, emb.embedding_)


def test_paired_view_with_metadata_routing(data):
    X, y, A = data["X"], data["y"], data["A"]
    with sklearn.config_context(enable_metadata_routing=True):
        embedding = ContextureEmbedding(PairedContext(KNNContext(8)), n_components=2)
        pipe = make_pipeline(
            embedding.set_fit_request(A=True).set_transform_request(A=True),
            LogisticRegression(),
        )
        pipe.fit(X, y, A=A)
        predicted = pipe.predict(data["X_new"], A=data["A_new"])
        Z_new = pipe[0].transform(data["X_new"], A=data["A_new"])
        reference = LogisticRegression().fit(pipe[0].embedding_, y)
        np.testing.assert_array_equal(predicted, reference.predict(Z_new))
        # the folds split A like X, for fit and for score
        grid = GridSearchCV(
            pipe, {"contextureembedding__context__base__n_neighbors": [5, 10]}, cv=2
        ).fit(X, y, A=A)
    assert grid.best_score_ > 0.5  # chance is 1/3
