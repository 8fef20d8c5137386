"""The main job's route (skcontexture._selection): its task rule, grid and model size."""

import numpy as np
import pytest

from skcontexture._defaults import MODEL_COMPONENTS
from skcontexture._selection import default_grid, infer_task, model_components


def test_default_grid_respects_sample_size():
    names = [name for name, _ in default_grid(30, 4)]
    assert "kNN K=50" not in names and "kNN K=20" in names
    assert all(ctx.n_neighbors is None for name, ctx in default_grid(100, 4) if "RBF" in name)
    assert all(ctx.n_neighbors == 200 for name, ctx in default_grid(6000, 4) if "RBF" in name)


@pytest.mark.parametrize("y, task", [
    (np.array(["a", "b"] * 20), "classification"),
    (np.array([True, False] * 20), "classification"),
    (np.repeat([0, 1, 2], 20), "classification"),
    (np.linspace(0, 1, 40), "regression"),
    (np.arange(40) % 10, "regression"),                  # 4 rows per value
    (np.r_[np.repeat([0, 1], 30), 2], "regression"),     # a value on a single row
])
def test_infer_task(y, task):
    assert infer_task(y)[0] == task


def test_model_components():
    assert model_components(128) == (MODEL_COMPONENTS, "the main job's default")
    assert model_components(10)[0] == 10
    # at most 1 component per 4 labelled rows, at least 2
    assert model_components(128, 30) == (
        7, "1 per 4 of the 30 labelled rows a downstream model is fitted on")
    assert model_components(128, 5)[0] == 2
    assert model_components(128, 1000)[0] == MODEL_COMPONENTS
    assert model_components(5, 30)[0] == 5


def test_a_context_is_scored_from_one_fit_and_one_operator():
    """The spectrum and the model of a context share its fit and its operator; both equal
    what separate, public computations give."""
    from numpy.testing import assert_allclose
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    from skcontexture import ContextureEmbedding, RBFContext
    from skcontexture._selection import _score
    from skcontexture.linalg import context_spectrum

    X = StandardScaler().fit_transform(load_wine().data)
    context = RBFContext(gamma=0.05)
    row, s, _ = _score(context, X_train=X, y_train=None, X_test=None, y_test=None,
                       labelled_rows=None, task=None, beta=1.0, max_dim=64, max_probe_dim=16,
                       random_state=0)
    assert_allclose(s, context_spectrum(RBFContext(gamma=0.05).fit(X).joint_, 64,
                                        solver="dense").values, atol=1e-12)
    model = row["model"]
    reference = ContextureEmbedding(RBFContext(gamma=0.05), n_components=model.n_components,
                                    scale="propagation", solver="dense",
                                    random_state=0).fit(X)
    assert model.scale == "propagation"
    assert_allclose(model.singular_values_, reference.singular_values_, rtol=1e-10)
    assert_allclose(np.abs(model.transform(X[:20])), np.abs(reference.transform(X[:20])),
                    atol=1e-8)
    assert not hasattr(context, "joint_")  # the grid's context is left unfitted


def test_labels_are_probed_on_the_unweighted_functions():
    """With labels, each context is probed on its singular functions themselves
    (``scale="none"``), as a separately fitted embedding gives them."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from skcontexture import ContextureEmbedding, KNNContext
    from skcontexture._selection import _probe_score, select

    X, y = load_digits(return_X_y=True)
    result = select(X, y, grid=[("kNN K=50", KNNContext(50))], max_dim=64, max_probe_dim=32,
                    n_jobs=1)
    row = result["rows"][0]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0,
                                                        stratify=y)
    scaler = StandardScaler().fit(X_train)
    emb = ContextureEmbedding(KNNContext(50), n_components=row["n_probe"], solver="dense",
                              scale="none", random_state=0).fit(scaler.transform(X_train))
    assert row["score"] == _probe_score(emb, y_train, scaler.transform(X_test), y_test,
                                        "classification")
    # the model beside it is the same context's leading functions, weighted
    model = row["model"]
    assert model.scale == "propagation" and model.n_components_ == min(32, row["n_probe"])
    np.testing.assert_allclose(np.abs(model.embedding_),
                               np.abs(emb.embedding_[:, :model.n_components_])
                               * model._column_weights(), atol=1e-8)
