"""The one table of built-in contexts the tests check, with the data each needs.

Each row is ``(name, context, needs)``: ``needs`` holds ``"y"`` (class labels),
``"y_reg"`` (real targets), ``"A"`` (a second view of the rows, passed as ``A=``)
or ``"counts"`` (nonnegative counts for X). Every built-in context passes every
check of :mod:`skcontexture.utils.estimator_checks` and of scikit-learn's. Parameters
are small enough for scikit-learn's estimator checks.
The tests import the context classes from here (one list of them).
"""

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from skcontexture import ContextureEmbedding, MinimaxCombination
from skcontexture.contexts import (ConvexCombination, Convolution, CooccurrenceContext,
                                   CutMixContext, CutoutContext, GaussianNoiseContext, KNNContext,
                                   LabelContext, LinearTeacherContext, MaskedContext,
                                   PairedContext, RBFContext, SCARFContext, TargetContext,
                                   TeacherContext)
from skcontexture.utils.estimator_checks import ContextCase


def _noise():
    return GaussianNoiseContext(n_draws=2, n_neighbors=5, random_state=0)


INSTANCES = [
    ("knn", KNNContext(5), ()),
    ("rbf", RBFContext(), ()),
    ("rbf_truncated", RBFContext(gamma=0.1, n_neighbors=10), ()),
    ("label", LabelContext(5), ("y",)),
    ("cooccurrence", CooccurrenceContext(), ("counts",)),
    ("masked_knn", MaskedContext(KNNContext(5), n_masks=3, random_state=0), ()),
    ("masked_rbf", MaskedContext(RBFContext(gamma=0.1, n_neighbors=10), mask_ratio=0.4,
                                 n_masks=4, random_state=0), ()),
    ("noise", _noise(), ()),
    ("scarf", SCARFContext(n_draws=2, random_state=0), ()),
    ("cutmix", CutMixContext(partner="row", n_draws=2, random_state=0), ()),
    ("cutout", CutoutContext(n_draws=2, random_state=0), ()),
    ("teacher_proba", TeacherContext(LogisticRegression(max_iter=1000)), ("y",)),
    ("teacher_transform", TeacherContext(PCA(), base=KNNContext(5)), ()),
    ("teacher_predict", TeacherContext(Ridge(), base=RBFContext()), ("y_reg",)),
    ("target", TargetContext(KNNContext(8), n_neighbors=5), ("y_reg",)),
    ("linear_teacher", LinearTeacherContext(), ()),
    ("linear_teacher_proba", LinearTeacherContext(LogisticRegression(max_iter=1000), whiten=False),
     ("y",)),
    ("linear_teacher_trees",
     LinearTeacherContext(HistGradientBoostingRegressor(max_iter=5, min_samples_leaf=2),
                          output="trees"),
     ("y_reg",)),
    ("paired", PairedContext(KNNContext(5)), ("A",)),
    ("convex", ConvexCombination([("knn", KNNContext(5)),
                                  ("rbf", RBFContext(gamma=0.5, n_neighbors=6))],
                                 weights=[2, 1]), ()),
    ("convex_paired", ConvexCombination([("x", KNNContext(5)),
                                         ("view", PairedContext(KNNContext(5)))]), ("A",)),
    ("convex_masked_noise", ConvexCombination(
        [("a", MaskedContext(KNNContext(5), n_masks=3, random_state=3)), ("b", _noise())]
    ), ()),
    ("minimax", MinimaxCombination([("knn", KNNContext(5)), ("linear", LinearTeacherContext())],
                                   n_components=2, step_size=0.3, max_iter=4), ()),
    ("two_hops", Convolution(KNNContext(6), KNNContext(6)), ()),
    ("noise_then_knn", Convolution(_noise(), KNNContext(5)), ()),
    ("teacher_then_knn", Convolution(TeacherContext(PCA(), base=KNNContext(5)), KNNContext(5)),
     ()),
    ("knn_then_labels", Convolution(KNNContext(5), LabelContext(5)), ("y",)),
    ("knn_then_target", Convolution(KNNContext(5), TargetContext(KNNContext(5), n_neighbors=5)),
     ("y_reg",)),
]

NAMES = [name for name, *_ in INSTANCES]
CONTEXTS = {name: context for name, context, *_ in INSTANCES}
NEEDS = {name: needs for name, _, needs in INSTANCES}


def make_data(n_samples=60, n_features=4, random_state=0):
    """Blobs with class labels, real targets, a second view, and new points.

    Returns
    -------
    data : dict
        ``X``, ``y`` (3 classes), ``y_reg``, ``A`` (a second view, 6 columns),
        ``X_new`` and ``A_new`` (20 perturbed fit rows and their views).
    """
    X, y = make_blobs(n_samples=n_samples, centers=3, n_features=n_features, cluster_std=3.0,
                      random_state=random_state)
    rng = np.random.RandomState(random_state + 1)
    y_reg = X[:, 0] + 0.5 * X[:, 1] ** 2 / 10 + 0.1 * rng.normal(size=len(X))
    A = np.c_[X[:, :2] @ rng.normal(size=(2, 4)), rng.normal(size=(len(X), 2))]
    X_new = X[:20] + 0.3 * rng.normal(size=(20, X.shape[1]))
    A_new = A[:20] + 0.3 * rng.normal(size=(20, A.shape[1]))
    return {"X": X, "y": y, "y_reg": y_reg, "A": A, "X_new": X_new, "A_new": A_new}


def _points(name, X):
    """``X`` as the context ``name`` takes it: counts for a co-occurrence context."""
    return np.ceil(np.abs(X)) if "counts" in NEEDS[name] else X


def fit_args(name, data):
    """``(X, y, fit_params)`` to fit the context ``name`` on ``data``."""
    needs = NEEDS[name]
    target = next((need for need in needs if need in ("y", "y_reg")), None)
    y = None if target is None else data[target]
    return _points(name, data["X"]), y, {"A": data["A"]} if "A" in needs else {}


def new_args(name, data):
    """``(X_new, params)`` for ``conditional`` and ``transform`` of new points."""
    params = {"A": data["A_new"]} if "A" in NEEDS[name] else {}
    return _points(name, data["X_new"]), params


def context_cases(data):
    """A :class:`ContextCase` per row of the table, fitted on ``data``."""
    cases = []
    for name in NAMES:
        X, y, fit_params = fit_args(name, data)
        cases.append(ContextCase(CONTEXTS[name], X, y=y, fit_params=fit_params))
    return cases


def embeddings():
    """A ``ContextureEmbedding`` per context that scikit-learn's checks can fit.

    Those checks pass no ``A=`` (paired contexts are left out) and give class
    labels at most: contexts that use ``y`` or counts embed in one component.
    """
    return [
        ContextureEmbedding(context, n_components=1 if needs else 2)
        for name, context, needs in INSTANCES
        if "A" not in needs
    ]
