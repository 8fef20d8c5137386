"""ContextureUnion: representations side by side, each block of total variance 1."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from skcontexture import ContextureEmbedding, ContextureUnion, KNNContext, LinearTeacherContext
from skcontexture._union import union_of_fitted


@pytest.fixture(scope="module")
def wine():
    X = StandardScaler().fit_transform(load_wine().data)
    return X[:120], X[120:]


def _parts():
    return [("raw", FunctionTransformer(feature_names_out="one-to-one")),
            ("knn", ContextureEmbedding(KNNContext(10), n_components=4, random_state=0))]


def test_every_block_has_total_variance_one_on_the_fit_rows(wine):
    X, X_new = wine
    union = ContextureUnion(_parts()).fit(X)
    Z = union.transform(X)
    assert Z.shape == (120, 13 + 4)
    np.testing.assert_allclose([Z[:, :13].var(axis=0).sum(), Z[:, 13:].var(axis=0).sum()], 1.0)
    np.testing.assert_allclose(union.fit_transform(X), Z, atol=1e-12)
    # new rows: each part's own output divided by its block's scale
    knn = ContextureEmbedding(KNNContext(10), n_components=4, random_state=0).fit(X)
    expected = np.hstack([X_new / union.block_scales_[0],
                          knn.transform(X_new) / union.block_scales_[1]])
    np.testing.assert_allclose(union.transform(X_new), expected, atol=1e-12)
    np.testing.assert_allclose(union.block_scales_[0], np.sqrt(X.var(axis=0).sum()))


def test_the_default_is_the_linear_kernel_beside_the_knn_context(wine):
    X, _ = wine
    union = ContextureUnion(random_state=0).fit(X)
    (linear_name, linear), (knn_name, knn) = union.embeddings_
    assert (linear_name, knn_name) == ("linear", "knn")
    assert isinstance(linear.context_, LinearTeacherContext) and not linear.context.whiten
    assert linear.n_components == 13  # min(32, n_features)
    assert isinstance(knn.context_, KNNContext) and knn.n_components == 16
    assert linear.scale == knn.scale == "propagation"
    assert union.transform(X).shape == (120, 13 + 16)
    assert union.get_feature_names_out()[0] == "linear__contextureembedding0"
    assert union.get_feature_names_out()[-1] == "knn__contextureembedding15"


def test_an_integer_random_state_seeds_the_parts_left_unseeded(wine):
    X, X_new = wine
    parts = [("a", ContextureEmbedding(KNNContext(10), n_components=3, solver="arpack")),
             ("b", ContextureEmbedding(KNNContext(20), n_components=3, solver="arpack"))]
    first = ContextureUnion(parts, random_state=3).fit(X)
    second = ContextureUnion(parts, random_state=3).fit(X)
    seeds = [part.random_state for _, part in first.embeddings_]
    assert all(isinstance(seed, int) for seed in seeds) and seeds[0] != seeds[1]
    assert [part.random_state for _, part in second.embeddings_] == seeds
    np.testing.assert_array_equal(first.transform(X_new), second.transform(X_new))
    assert all(part.random_state is None for _, part in parts)  # the parameters untouched


def test_float32_pickling_and_pandas_output(wine):
    pd = pytest.importorskip("pandas")
    X, X_new = wine
    union = ContextureUnion(_parts()).fit(X.astype(np.float32))
    assert union.transform(X_new.astype(np.float32)).dtype == np.float32
    again = pickle.loads(pickle.dumps(union))
    np.testing.assert_array_equal(again.transform(X_new), union.transform(X_new))
    frame = ContextureUnion(_parts()).set_output(transform="pandas").fit(X).transform(X_new)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns[:2]) == ["raw__x0", "raw__x1"]
    assert frame.columns[-1] == "knn__contextureembedding3"


@pytest.mark.parametrize("embeddings, error, match", [
    ([], ValueError, "non-empty list of \\(name, transformer\\) tuples"),
    ([ContextureEmbedding()], ValueError, "\\(name, transformer\\) tuples"),
    ([("a", FunctionTransformer()), ("a__b", ContextureEmbedding())], ValueError, "__"),
    ([(1, ContextureEmbedding())], ValueError, "string names"),
    ([("a", FunctionTransformer()), ("a", ContextureEmbedding())], ValueError, "unique"),
    ([("a", StandardScaler), ("b", ContextureEmbedding())], TypeError, "estimator instance"),
    ([("a", "raw")], TypeError, "fit and transform"),
])
def test_malformed_parts_are_refused_with_the_cause(wine, embeddings, error, match):
    with pytest.raises(error, match=match):
        ContextureUnion(embeddings).fit(wine[0])


def test_a_constant_block_is_refused(wine):
    X, _ = wine
    constant = FunctionTransformer(lambda X: np.zeros((X.shape[0], 2)))
    with pytest.raises(ValueError, match="'zero' is constant on the fit rows"):
        ContextureUnion([("zero", constant), ("raw", FunctionTransformer())]).fit(X)


def test_input_is_left_unchanged(wine):
    X, X_new = wine
    X_copy, new_copy = X.copy(), X_new.copy()
    ContextureUnion(_parts()).fit(X).transform(X_new)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(X_new, new_copy)


def test_the_parts_parameters_are_nested_for_a_search(wine):
    """As FeatureUnion's: ``<name>__<parameter>``, so that GridSearchCV can tune a part."""
    from sklearn.base import clone

    X, _ = wine
    union = ContextureUnion(_parts())
    assert union.get_params()["knn__n_components"] == 4
    tuned = clone(union).set_params(knn__n_components=2)
    assert tuned.fit(X).transform(X).shape == (120, 13 + 2)
    assert union.get_params()["knn__n_components"] == 4  # the clone's parts are its own
    assert "knn__n_components" not in ContextureUnion().get_params()  # the default: no parts yet


def test_a_union_of_fitted_parts_is_the_union_fitted():
    # the main job's model: parts fitted once in its grid, put side by side without refitting
    X = StandardScaler().fit_transform(load_wine().data)
    X_new = X[::3] + 0.1
    parts = [("linear", ContextureEmbedding(LinearTeacherContext(whiten=False), n_components=5,
                                            scale="propagation", random_state=0)),
             ("local", ContextureEmbedding(KNNContext(10), n_components=8, random_state=0))]
    fitted = [(name, clone(part).fit(X)) for name, part in parts]
    union = union_of_fitted(fitted, X)
    reference = ContextureUnion(parts).fit(X)
    np.testing.assert_allclose(union.block_scales_, reference.block_scales_, rtol=1e-10)
    np.testing.assert_allclose(np.abs(union.transform(X_new)), np.abs(reference.transform(X_new)),
                               atol=1e-10)
    assert union.n_features_in_ == X.shape[1]
    # its parameters are unfitted clones: it clones and refits like any union
    with pytest.raises(NotFittedError):
        check_is_fitted(union.embeddings[0][1])
    np.testing.assert_allclose(np.abs(clone(union).fit(X).transform(X_new)),
                               np.abs(reference.transform(X_new)), atol=1e-10)


def test_a_search_over_contexts_is_a_part():
    # the label-free search beside the linear kernel: a part with fit and transform but no
    # fit_transform (GridSearchCV) is fitted, then asked for the fit rows' embedding
    from sklearn.model_selection import GridSearchCV

    from skcontexture import ContextScorer

    X = StandardScaler().fit_transform(load_wine().data)
    rows = np.arange(len(X))
    search = GridSearchCV(ContextureEmbedding(n_components=4, random_state=0),
                          {"context": [KNNContext(5), KNNContext(30)]},
                          scoring=ContextScorer(), cv=[(rows, rows)])
    assert not hasattr(search, "fit_transform")
    linear = ContextureEmbedding(LinearTeacherContext(whiten=False), n_components=4,
                                 random_state=0)
    union = ContextureUnion([("linear", linear), ("local", search)]).fit(X)
    chosen = union.embeddings_[1][1].best_params_["context"]
    fixed = ContextureUnion([("linear", linear),
                             ("local", ContextureEmbedding(chosen, n_components=4,
                                                           random_state=0))]).fit(X)
    np.testing.assert_allclose(union.transform(X), fixed.transform(X), atol=1e-10)
    np.testing.assert_allclose(union.block_scales_, fixed.block_scales_, rtol=1e-10)
