import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import SpectralEmbedding
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import kneighbors_graph
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcontexture import (
    ContextureEmbedding,
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

from ._reference import canonical_correlations, dense_singular_functions, dense_svd, gap_dimension


def _contexts_and_data(blobs):
    X, y = blobs
    rng = np.random.RandomState(0)
    counts = rng.poisson(2.0, size=(120, 40)).astype(float)
    return [
        (KNNContext(n_neighbors=10), X, None),
        (RBFContext(gamma=0.05), X, None),
        (RBFContext(gamma=0.05, n_neighbors=30), X, None),
        (CooccurrenceContext(), counts, None),
    ]


@pytest.mark.parametrize("solver", ["dense", "arpack", "lobpcg", "chebyshev"])
@pytest.mark.parametrize("case", range(4))
def test_matches_dense_reference(blobs, case, solver):
    context, X, y = _contexts_and_data(blobs)[case]
    fitted = clone(context).fit(X, y)
    s_ref, mu_ref, _, p_x, _ = dense_singular_functions(fitted.joint_)
    d = gap_dimension(s_ref)
    emb = ContextureEmbedding(context, n_components=d, solver=solver, random_state=0)
    Z = emb.fit_transform(X, y)
    np.testing.assert_allclose(emb.singular_values_, s_ref[:d], rtol=1e-6)
    corr = canonical_correlations(Z, mu_ref[:, :d], p_x)
    assert corr.min() >= 1 - 1e-6


@pytest.mark.parametrize("case", range(4))
def test_orthonormal_in_L2_PX_and_nystrom_identity(blobs, case):
    context, X, y = _contexts_and_data(blobs)[case]
    emb = ContextureEmbedding(context, n_components=5, scale="none", random_state=0).fit(X, y)
    p_x = np.asarray(emb.context_.joint_.sum(axis=1)).ravel()
    Z = emb.embedding_
    np.testing.assert_allclose(p_x @ Z, 0, atol=1e-10)
    np.testing.assert_allclose((Z * p_x[:, None]).T @ Z, np.eye(5), atol=1e-8)
    # the Nystrom extension reproduces the fit embedding, row by row
    Zt = emb.transform(X)
    np.testing.assert_allclose(Zt, Z, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(emb.transform(X[:7]), Z[:7], rtol=1e-8, atol=1e-10)
    assert np.all(np.diff(emb.singular_values_) <= 0)
    assert np.all((emb.singular_values_ > 0) & (emb.singular_values_ <= 1 + 1e-12))


def test_singular_scaling(blobs):
    X, _ = blobs
    plain = ContextureEmbedding(KNNContext(10), n_components=4, scale="none", random_state=0).fit(X)
    scaled = clone(plain).set_params(scale="singular_values").fit(X)
    np.testing.assert_allclose(scaled.transform(X), plain.transform(X) * plain.singular_values_)


def test_propagation_scaling_is_the_label_spreading_kernel(blobs):
    # the inner products of the weighted columns are sum_t alpha^(t-1) k_t = sum_i
    # s_i^2 / (1 - alpha s_i^2) mu_i mu_i on the leading functions: the embedding Z of the fit
    # rows has Z^T P_X Z = diag(s^2 / (1 - alpha s^2)), the smoothest functions weigh the
    # most, and new rows get the same weights
    from skcontexture._embedding import PROPAGATION_ALPHA

    X, _ = blobs
    plain = ContextureEmbedding(KNNContext(10), n_components=6, scale="none", random_state=0).fit(X)
    weighted = clone(plain).set_params(scale="propagation").fit(X)
    s = plain.singular_values_
    kernel = s**2 / (1 - PROPAGATION_ALPHA * s**2)
    p_x = np.asarray(plain.context_.joint_.sum(axis=1)).ravel()
    Z = weighted.embedding_
    np.testing.assert_allclose(Z.T @ (p_x[:, None] * Z), np.diag(kernel), atol=1e-8 * kernel[0])
    assert np.all(np.diff(kernel) < 0)
    np.testing.assert_allclose(weighted.transform(X[:9]), plain.transform(X[:9]) * np.sqrt(kernel),
                               rtol=1e-10)


def test_label_context_spans_class_indicators():
    X, y = load_iris(return_X_y=True)
    emb = ContextureEmbedding(LabelContext(), n_components=2).fit(X, y)
    np.testing.assert_allclose(emb.singular_values_, 1.0)
    assert emb.n_connected_components_ == 3
    indicators = (y[:, None] == np.unique(y)).astype(float)
    centred = indicators - indicators.mean(axis=0)
    corr = canonical_correlations(emb.embedding_, centred[:, :2])
    assert corr.min() >= 1 - 1e-10
    # transform extends through the neighbours' labels and fit_transform equals it
    Z = clone(emb).fit_transform(X, y)
    np.testing.assert_allclose(Z, emb.transform(X))
    assert not np.allclose(Z, emb.embedding_)


def test_label_context_needs_y_and_limits_components():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="requires y"):
        ContextureEmbedding(LabelContext(), n_components=2).fit(X)
    emb = ContextureEmbedding(LabelContext(), n_components=3)
    with pytest.warns(UserWarning, match=r"n_components=3 were requested.*only 2 nonzero"):
        Z = emb.fit_transform(X, y)
    assert emb.n_components_ == 2 and Z.shape == (150, 2)
    assert emb.singular_values_.shape == (2,)
    assert list(emb.get_feature_names_out()) == ["contextureembedding0", "contextureembedding1"]
    assert emb.transform(X).shape == (150, 2)


def test_label_context_with_one_class_names_the_cause():
    X, _ = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="single class"):
        ContextureEmbedding(LabelContext(), n_components=1).fit(X, np.zeros(150))


def test_cooccurrence_of_symmetric_affinity_is_laplacian_eigenmap():
    X, _ = load_digits(return_X_y=True)
    X = X[:600]
    A = kneighbors_graph(X, 10, include_self=False)
    A = (0.5 * (A + A.T)).toarray()
    s_ref, *_ = dense_singular_functions(A)
    eigenvalues = np.linalg.eigvalsh(A / np.sqrt(np.outer(A.sum(1), A.sum(1))))
    assert np.all(np.sort(np.abs(eigenvalues))[::-1][1:9] == np.sort(eigenvalues)[::-1][1:9])
    d = 8
    emb = ContextureEmbedding(CooccurrenceContext(), n_components=d, random_state=0)
    Z = emb.fit_transform(A)
    se = SpectralEmbedding(n_components=d, affinity="precomputed", random_state=0)
    Zse = se.fit_transform(A)
    assert canonical_correlations(Z, Zse).min() >= 0.999


def test_cooccurrence_is_correspondence_analysis():
    N = np.array([[20, 5, 3, 2], [4, 18, 6, 1], [2, 6, 15, 9], [1, 2, 8, 25], [7, 7, 7, 7]], float)
    P = N / N.sum()
    r, c = P.sum(1), P.sum(0)
    S = (P - np.outer(r, c)) / np.sqrt(np.outer(r, c))
    sv, U, _ = dense_svd(S)
    standard = U[:, :3] / np.sqrt(r)[:, None]
    emb = ContextureEmbedding(CooccurrenceContext(), n_components=3, scale="none").fit(N)
    np.testing.assert_allclose(emb.singular_values_, sv[:3], rtol=1e-10)
    signs = np.sign(np.sum(emb.embedding_ * standard, axis=0))
    np.testing.assert_allclose(emb.embedding_, standard * signs, atol=1e-10)
    # a new row is embedded by the Nystrom formula (supplementary row coordinates)
    new = np.array([[3.0, 1.0, 0.0, 6.0]])
    profile = new / new.sum()
    column_standard = (emb.atom_functions_ / emb.singular_values_)
    np.testing.assert_allclose(emb.transform(new), profile @ column_standard)


def test_two_components_are_detected_and_warned():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 100])
    with pytest.warns(UserWarning, match="2 connected components.*increase n_neighbors") as record:
        emb = ContextureEmbedding(KNNContext(5), n_components=3).fit(X)
    assert record[0].filename == __file__  # the warning points at the user's call
    assert emb.n_connected_components_ == 2
    np.testing.assert_allclose(emb.singular_values_[0], 1.0)


def test_sparse_input_gives_the_dense_result(blobs):
    X, _ = blobs
    X = np.abs(X)
    dense = ContextureEmbedding(KNNContext(8), n_components=3, random_state=0).fit(X)
    sparse = clone(dense).fit(sp.csr_matrix(X))
    np.testing.assert_allclose(sparse.singular_values_, dense.singular_values_, rtol=1e-10)
    assert canonical_correlations(sparse.embedding_, dense.embedding_).min() > 1 - 1e-8


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_rejects_non_finite_input(blobs, bad):
    X = blobs[0].copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        ContextureEmbedding().fit(X)


def test_more_components_than_exist_warns_and_keeps_those_that_exist(blobs):
    X, _ = blobs
    emb = ContextureEmbedding(KNNContext(5), n_components=300)
    with pytest.warns(UserWarning, match=r"n_components=300 were requested.*only \d+ nonzero"):
        Z = emb.fit_transform(X)
    assert emb.n_components_ <= 299 and Z.shape == (300, emb.n_components_)
    assert emb.singular_values_.shape == (emb.n_components_,)
    assert np.all(emb.singular_values_ > 1e-7)
    # the same columns as a request for exactly that many
    ref = ContextureEmbedding(KNNContext(5), n_components=emb.n_components_).fit(X)
    np.testing.assert_allclose(np.abs(emb.singular_values_[:5]), ref.singular_values_[:5])


def test_neighbours_not_below_the_rows_are_lowered_with_a_warning(blobs):
    X, _ = blobs
    with pytest.warns(UserWarning, match=r"n_neighbors=400 is not below the number of fit "
                                         r"rows \(300\).*using n_neighbors=299"):
        emb = ContextureEmbedding(KNNContext(400), n_components=2).fit(X)
    assert emb.context_.n_neighbors_ == 299


def test_default_estimator_fits_a_few_rows():
    # the default K = 15 and d = 8 on 10 rows: lowered with warnings, never an error,
    # and none of the warnings blames duplicated rows or asks for a smaller K than given
    X, _ = load_iris(return_X_y=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Z = ContextureEmbedding().fit_transform(X[:10])
    messages = " ".join(str(w.message) for w in caught)
    assert Z.shape[0] == 10 and 1 <= Z.shape[1] <= 8 and np.all(np.isfinite(Z))
    assert "n_neighbors=15 is not below the number of fit rows (10)" in messages
    assert "duplicated" not in messages


def test_nearly_complete_neighbourhoods_warn(blobs):
    # K = n - 1 of n: every neighbourhood holds almost every row (s_1 ~ 0.06)
    X, _ = load_iris(return_X_y=True)
    with pytest.warns(UserWarning, match="more than half of the 150 fit rows.*about 15"):
        emb = ContextureEmbedding(KNNContext(149), n_components=2).fit(X)
    assert emb.singular_values_[0] < 0.1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ContextureEmbedding(KNNContext(75), n_components=2).fit(X)
    assert not any("half" in str(w.message) for w in caught)


def test_rejects_wrong_feature_count(blobs):
    X, _ = blobs
    emb = ContextureEmbedding(KNNContext(5), n_components=2).fit(X)
    with pytest.raises(ValueError, match="features"):
        emb.transform(X[:, :3])


def test_uninformative_context_is_an_error_naming_the_cause():
    # every row co-occurs with every column alike: the joint is uniform
    with pytest.raises(ValueError, match="no nonzero singular value.*same distribution") as info:
        ContextureEmbedding(CooccurrenceContext(), n_components=2).fit(np.ones((20, 5)))
    assert "duplicated" not in str(info.value) and "Lower n_components" not in str(info.value)


def test_solver_non_convergence_warns(blobs):
    X, _ = blobs
    emb = ContextureEmbedding(
        KNNContext(15), n_components=6, solver="chebyshev", tol=1e-13, max_iter=1
    )
    with pytest.warns(ConvergenceWarning, match="Increase max_iter"):
        emb.fit(X)


def test_dense_solver_refuses_large_operators(monkeypatch, blobs):
    from skcontexture import _solvers

    monkeypatch.setattr(_solvers, "DENSE_MAX_SIDE", 100)
    with pytest.raises(ValueError, match="solver='dense'"):
        ContextureEmbedding(KNNContext(5), solver="dense").fit(blobs[0])


def test_does_not_mutate_input(blobs):
    X, _ = blobs
    X_copy = X.copy()
    ContextureEmbedding(RBFContext(n_neighbors=20)).fit(X).transform(X)
    np.testing.assert_array_equal(X, X_copy)


def test_same_result_for_any_n_jobs(blobs):
    X, _ = blobs
    one = ContextureEmbedding(KNNContext(8, n_jobs=1), n_jobs=1, random_state=3).fit(X)
    two = ContextureEmbedding(KNNContext(8, n_jobs=2), n_jobs=2, random_state=3).fit(X)
    np.testing.assert_array_equal(one.embedding_, two.embedding_)
    np.testing.assert_array_equal(one.transform(X[:10]), two.transform(X[:10]))


def test_pandas_output_feature_names_and_pickle(blobs):
    pd = pytest.importorskip("pandas")
    X, _ = blobs
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    emb = ContextureEmbedding(KNNContext(6), n_components=3).set_output(transform="pandas")
    out = emb.fit_transform(frame)
    assert list(out.columns) == ["contextureembedding0", "contextureembedding1", "contextureembedding2"]
    restored = pickle.loads(pickle.dumps(emb))
    np.testing.assert_allclose(restored.transform(frame).to_numpy(), out.to_numpy())


def test_pipeline_and_grid_search_over_contexts():
    X, y = load_digits(return_X_y=True)
    X, y = X[::3], y[::3]
    pipe = make_pipeline(
        StandardScaler(), ContextureEmbedding(n_components=20), LogisticRegression(max_iter=1000)
    )
    grid = GridSearchCV(
        pipe,
        {"contextureembedding__context": [KNNContext(), RBFContext(n_neighbors=30)],
         "contextureembedding__context__n_neighbors": [10, 30]},
        cv=3,
    )
    grid.fit(X, y)
    assert grid.best_score_ > 0.85


@pytest.mark.parametrize(
    "estimator",
    [
        ContextureEmbedding(n_components=True),
        ContextureEmbedding(max_iter=False),
        ContextureEmbedding(n_jobs=0),
        ContextureEmbedding(KNNContext(n_neighbors=True)),
        ContextureEmbedding(KNNContext(n_jobs=0)),
        ContextureEmbedding(RBFContext(n_neighbors=np.True_)),
        ContextureEmbedding(MaskedContext(n_masks=True)),
        ContextureEmbedding(GaussianNoiseContext(n_draws=True)),
        SpectralContextEncoder(n_components=True),
    ],
)
def test_booleans_and_zero_workers_are_rejected(estimator):
    # bool is an int to Python; as a count or a number of workers it is a mistake
    X = np.random.RandomState(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match="must be .*Got (True|False|0|np.True_) instead"):
        estimator.fit(X)


def test_negative_n_jobs_still_means_all_cores():
    X = np.random.RandomState(0).normal(size=(50, 3))
    a = ContextureEmbedding(KNNContext(5, n_jobs=-1), n_jobs=-1, random_state=0).fit_transform(X)
    b = ContextureEmbedding(KNNContext(5), random_state=0).fit_transform(X)
    np.testing.assert_array_equal(a, b)


def test_n_iter_is_n_products(blobs):
    # scikit-learn's checks ask an estimator with max_iter for n_iter_ >= 1
    X, _ = blobs
    emb = ContextureEmbedding(KNNContext(8), n_components=3, solver="chebyshev",
                              random_state=0).fit(X)
    assert emb.n_iter_ == emb.n_products_ > 0


def test_score_is_the_default_scorer(blobs):
    from skcontexture import ContextScorer

    X, _ = blobs
    emb = ContextureEmbedding(KNNContext(8), n_components=4, random_state=0).fit(X[:150])
    assert emb.score(X[150:]) == ContextScorer()(emb, X[150:])


def test_effective_rows_counts_the_rows_a_column_lives_on():
    from skcontexture._embedding import effective_rows

    Z = np.zeros((100, 3))
    Z[:, 0] = np.where(np.arange(100) % 2, 1.0, -1.0)  # every row
    Z[7, 1] = 1e200  # one row, at a scale whose fourth power overflows
    Z[:25, 2] = 3.0  # a quarter of the rows
    np.testing.assert_allclose(effective_rows(Z), [100, 1, 25])


def test_a_linear_direction_of_few_rows_is_not_warned_as_isolated_rows():
    """The linear kernel's function along a feature that 2 rows carry lives on them, but it
    is linear in the features, shared by new rows: no warning, unlike a context that can
    isolate rows; a mixture with such a context warns again."""
    from skcontexture import ConvexCombination, LinearTeacherContext
    from skcontexture._embedding import concentrated_columns

    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(size=(1000, 1)) + 0.1 * rng.normal(size=(1000, 4)),
                         np.zeros(1000)])
    X[:2, -1] = 1.0
    linear = LinearTeacherContext(whiten=False)
    assert not linear.traits().isolates_rows and KNNContext().traits().isolates_rows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emb = ContextureEmbedding(linear, n_components=5).fit(X)
    assert concentrated_columns(emb.embedding_)[0].size > 0
    assert ConvexCombination([("linear", linear), ("knn", KNNContext(10))]).traits().isolates_rows


def test_functions_on_a_handful_of_outlying_rows_are_warned():
    from skcontexture import RBFContext

    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(300, 4)), rng.normal(size=(3, 4)) * 40])  # 3 outliers
    with pytest.warns(UserWarning, match=r"live on fewer than 3 rows.*RobustScaler"):
        ContextureEmbedding(RBFContext(gamma=1.0), n_components=4).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ContextureEmbedding(KNNContext(15), n_components=4).fit(X[:300])


@pytest.mark.parametrize(
    "make",
    [
        lambda: ContextureEmbedding(context=KNNContext),
        lambda: ContextureEmbedding(MaskedContext(KNNContext)),
        lambda: ContextureEmbedding(TeacherContext("lr")),
        lambda: SpectralContextEncoder(context=KNNContext),
        lambda: ContextureEmbedding(TeacherContext(LogisticRegression)),
    ],
    ids=["class", "nested-class", "string-teacher", "encoder-class", "teacher-class"],
)
def test_a_wrong_type_is_named_before_any_internal_call(make):
    # a class or a string where an instance belongs: scikit-learn's parameter error naming
    # the parameter, not an error from inside traits() or the tags
    X, y = load_iris(return_X_y=True)
    estimator = make()
    estimator.__sklearn_tags__()  # tags never fail on a wrong parameter
    # (scikit-learn's clone names a class inside a parameter: "is a class, not an instance")
    with pytest.raises((TypeError, ValueError),
                       match=r"parameter of \w+ must be an instance|is a class, not an instance"):
        estimator.fit(X, y)


def test_target_context_with_class_labels_blames_y_not_x():
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ContextureEmbedding(TargetContext(), n_components=2).fit(X, y)
    messages = [str(w.message) for w in caught]
    assert any("y has only 3 distinct values" in m and "LabelContext" in m for m in messages)
    assert not any("X has many duplicated rows" in m for m in messages)


@pytest.mark.parametrize(
    "context",
    [GaussianNoiseContext(random_state=0), LabelContext(), RBFContext(n_neighbors=15),
     TargetContext()],
    ids=["noise", "label", "rbf-truncated", "target"],
)
def test_neighbour_counts_above_the_rows_mean_all_of_them(context):
    # K truncates a kernel or averages the neighbours' rows: with fewer fit rows than K,
    # the K nearest are all of them (not an error), as K = n_samples gives
    X, y = load_iris(return_X_y=True)
    X, y = X[::15], y[::15]  # 10 rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        big = ContextureEmbedding(clone(context), n_components=2, random_state=0).fit(X, y)
        exact = ContextureEmbedding(clone(context).set_params(n_neighbors=10), n_components=2,
                                    random_state=0).fit(X, y)
    np.testing.assert_allclose(big.transform(X), exact.transform(X), atol=1e-10)
