"""Do the library's features help a downstream model, compared with what users would use instead?

For every dataset of the data folder whose MANIFEST.json entry has a ``task`` (plus
scikit-learn's bundled iris, wine, breast cancer, digits and diabetes):

1. split the rows once (seed 0): test = min(25%, 2,000) rows; the unlabelled pool = the
   remaining rows capped at ``--max-pool`` (default 2,000). Columns constant on the pool are
   dropped and the features standardised on the pool (StandardScaler fitted on the pool's
   inputs);
2. representations (the registry ``REPRESENTATIONS``), fitted on the inputs only:

   - ``raw``: the standardised features;
   - ``pca``: PCA with min(32, n_features, n_pool - 1) components;
   - ``kernel_pca``: KernelPCA(kernel="rbf", gamma=None) with min(32, n_pool - 1) components
     (not capped by n_features: the kernel's feature space is not the input space);
   - ``umap``: umap.UMAP(n_components=16, random_state=0) (n/a when umap-learn is missing);
   - ``spectral_embedding``: sklearn's SpectralEmbedding(n_components=16, random_state=0),
     transductive mode only (it has no ``transform``);
   - ``library_default``: ``ContextureEmbedding(random_state=0)``, the library's defaults;
   - ``library_auto``: the main job's label-free route (``automatic_route``: ``skcontexture
     POOL.npz --save-model FILE`` in-process on the pool's raw inputs, then the saved
     pipeline's ``transform``: the linear kernel of the features beside the grid's
     best-ranked local context, a ContextureUnion);
   - ``library_labelled``: the label-efficient choice (``labelled_route``): the main job's
     grid (``skcontexture._selection.default_grid``), each context a ContextureEmbedding with 32
     components fitted once on the pool without labels; per labelled draw the context and
     n_components in (4, 8, 16, 32) with the best ``LabelledProbeScorer()`` score on the pool,
     y = -1 (regression: NaN, and a RidgeCV probe) on the unlabelled rows; ties go to fewer
     components (as a GridSearchCV over both would choose). ``LABELLED_DIMS = (32,)`` gives
     the main job's ``--metric labelled`` rule, which keeps every component;
   - ``library_grid_best``: a CEILING, not a method: per draw and downstream model the best
     test score over the same grid contexts at d in (4, 8, 16, 32) leading components
     (chosen with the test labels; a ceiling of this grid only, so another library
     representation can exceed it). Its 36 candidates per cell dominate the run time;
   - ``library_union``: ``ContextureUnion()``, the linear kernel of the features (32
     components, fewer with fewer features) beside ``library_default``, each block scaled to
     total variance 1;
   - ``raw+library``: FeatureUnion of the standardised features and ``library_default``;
   - ``library_semi_supervised`` (classification only; ``semi_supervised_route``):
     FeatureUnion of the standardised features and ContextureEmbedding(ConvexCombination(
     [KNNContext(), LabelContext()], weights=[1, f]), n_components=min(16, ...)), f the
     labelled fraction of the fit rows, fitted on them with y = the class of the labelled
     rows and -1 elsewhere, per labelled draw;

   opt-in (``--representations``; not in the default set), the contexts of the contexture
   dissertation's tabular experiments, each a ContextureEmbedding with the main job's model
   rule, min(MODEL_COMPONENTS = 32, n_pool - 2) components weighted by
   ``scale="propagation"`` (``model_embedding``):

   - ``ctx_knn``, ``ctx_rbf``: ``KNNContext()`` (K = 15) and ``RBFContext()`` (gamma "scale",
     dense kernel), the references the tabular contexts are measured against;
   - ``ctx_scarf``: ``SCARFContext()`` (the reference's defaults: rate 0.5, uniform
     marginal); ``ctx_cutmix``: ``CutMixContext()``, which is also SCARF with the empirical
     marginal (the same copies, the same joint); ``ctx_cutout``: ``CutoutContext()``;
   - ``ctx_linear``: ``LinearTeacherContext(whiten=False)``, the linear kernel of the
     features (whitened top principal components, then scaled);
   - ``minimax``: ``MinimaxCombination(tabular_parts(), n_components=32)``, the
     dissertation's answer to "which context?" (combine robustly), over kNN, CutMix and
     the linear kernel (``tabular_parts``);
   - ``minimax_choice``: its rival, the main job's label-free choice among the same parts
     (``LabelFreeChoice``: ``skcontexture._selection.select`` with that grid, ranked by the
     proxy task, the winner's model fitted);

   opt-in too, the dissertation's label-dependent contexts (classification only; like
   ``library_semi_supervised`` fitted per labelled draw on the pool, y = the class of the
   labelled rows and -1 elsewhere; the same model rule, ``model_embedding``):

   - ``ctx_trees``: the boosted-tree teacher ("STK" on XGBoost's per-tree outputs):
     ``LinearTeacherContext(teacher, output="trees", threshold=0.001)``, the teacher a
     ``HistGradientBoostingClassifier(min_samples_leaf=max(1, min(20, n_labelled // 10)),
     random_state=0)`` fitted on the draw's labelled rows only (``tree_teacher``; the default
     leaf size 20 cannot split fewer than 40 rows, so it shrinks with the labelled rows; the
     rule was set before any result) and used as is; ``ctx_trees_unwhitened`` the same with
     ``whiten=False`` (the outputs' leading directions instead of the whitened kernel, whose
     kept directions all tie);
   - ``ctx_scarf_labels``, ``ctx_cutmix_labels``: ``Convolution(SCARFContext(),
     LabelContext())`` and ``Convolution(CutMixContext(), LabelContext())``, the reference's
     "SCARF * YLinear" (the class kernel; unlabelled rows carry the labelled rows' class
     frequencies). Their atoms are the classes: at most C - 1 components;
   - ``ctx_scarf_trees``: ``Convolution(SCARFContext(), <ctx_trees' context>)``, SCARF then
     the tree teacher. The other order, ``Convolution(LinearTeacherContext(...trees...),
     SCARFContext())``, raises a ValueError (the teacher's atoms, the ends of its whitened
     directions, are not points SCARF could walk on) and is not a row;

   two modes: ``inductive`` (fitted on the pool; test rows embedded by ``transform``) and
   ``transductive`` (fitted on pool + test inputs; the rows taken from that embedding). The
   label-free representations are fitted once per dataset and mode and reused for every m,
   draw and model; the label-dependent ones once per (m, draw). The labelled and test rows of a
   transformer are embedded by ``fit_transform`` and ``transform``;
3. labels: m labelled rows per class drawn from the pool (classification, m in 5, 20, 100,
   all; a class with fewer pool rows gives them all) or m rows in total (regression, m in 50,
   200, all); 3 draws (seeds 0, 1, 2; m = all is one draw, every draw being the same rows);
4. downstream models fitted on the labelled rows' representation, as is (no scaling),
   scored on the test rows: classification ``logreg`` (LogisticRegressionCV, C in
   logspace(-3, 3, 7) by stratified CV on the labelled rows with min(3, smallest labelled
   class) folds, max_iter 2000; C = 1 when a class has a single labelled row; solver
   newton-cholesky while its Hessian is small, lbfgs otherwise: the same optimum),
   ``knn`` (KNeighborsClassifier, K = min(5, smallest labelled class)), ``hgb``
   (HistGradientBoostingClassifier(random_state=0): with its default min_samples_leaf=20 it
   predicts one class from fewer than 40 labelled rows), accuracy; regression ``ridge``
   (RidgeCV, alphas logspace(-3, 3, 13)) and ``hgb`` (HistGradientBoostingRegressor), R^2;
5. summary per group (development / validation halves of the shared data, bundled,
   external; as ``selection.py``) and over all datasets, per mode, task, model and m: the mean
   score of every representation, its mean rank among the representations scored on a dataset
   (the ceiling left out; 1 = best), the datasets where each library representation scores
   >= raw and >= umap, and the mean fit time.

Fit times are of one fit, after a warm-up fit per process (numba's first-call compilation is
in the total wall time, not in the fit times). Every fit runs under ``warnings.catch_warnings``;
the first distinct messages are kept in the JSON (degenerate embeddings show there). A failing
representation is recorded with its error and shows n/a; the run goes on.

``--quick`` (CI, under 4 minutes on 2 cores): bundled wine, breast cancer and digits (and the
data folder's diabetes and breast-w when it exists), pool <= 500, m in (5, 20), 2 draws,
logreg / ridge only, inductive.

    python benchmarks/downstream.py                      # full run, inductive (not timed: hours)
    python benchmarks/downstream.py --transductive       # both modes
    python benchmarks/downstream.py --quick              # CI
    python benchmarks/downstream.py --datasets sk_wine diabetes --m 5 20
    python benchmarks/downstream.py --representations raw umap library_auto --models logreg
    python benchmarks/downstream.py --representations raw library_default ctx_knn ctx_rbf \
        ctx_scarf ctx_cutmix ctx_cutout ctx_linear minimax minimax_choice --models logreg
    python benchmarks/downstream.py --representations raw library_default ctx_knn ctx_rbf \
        ctx_trees ctx_scarf_labels ctx_cutmix_labels ctx_scarf_trees --models logreg
    python benchmarks/downstream.py --data-dir DIR --n-jobs 2   # any folder with MANIFEST.json

Writes ``benchmarks/results/downstream[_quick].json`` (``meta``, ``datasets`` and
``summary``; per dataset and representation ``fit_seconds``, ``error``, ``warnings`` and
``scores[mode][model][m]``, a list over draws) and ``.md`` (the printed tables).
"""

import argparse
import contextlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import joblib
import numpy as np
import scipy.stats
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA, KernelPCA
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV
from sklearn.manifold import SpectralEmbedding
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import skcontexture  # noqa: E402
import skcontexture._selection  # noqa: E402
import skcontexture.cli  # noqa: E402
from _common import data_dir, machine  # noqa: E402
from selection import (  # noqa: E402
    BUNDLED,
    DEVELOPMENT,
    GROUPS,
    VALIDATION,
    bundled_datasets,
    folder_datasets,
    group_of,
)
from skcontexture import (  # noqa: E402
    ContextureEmbedding,
    ContextureUnion,
    ConvexCombination,
    Convolution,
    CutMixContext,
    CutoutContext,
    KNNContext,
    LabelContext,
    LabelledProbeScorer,
    LinearTeacherContext,
    MinimaxCombination,
    RBFContext,
    SCARFContext,
)
from skcontexture._defaults import MODEL_COMPONENTS  # noqa: E402
from skcontexture.metrics import PROBE_ALPHAS  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

MODES = ("inductive", "transductive")
TASKS = ("classification", "regression")
MODELS = {"classification": ("logreg", "knn", "hgb"), "regression": ("ridge", "hgb")}
ALL_MODELS = ("logreg", "knn", "hgb", "ridge")
METRIC = {"classification": "accuracy", "regression": "R^2"}
C_GRID = np.logspace(-3, 3, 7)
RIDGE_ALPHAS = np.logspace(-3, 3, 13)
GRID_DIMS = (4, 8, 16, 32)  # the grid's dimensions: library_grid_best's, library_labelled's
#: library_labelled chooses its n_components among these; (32,) is the main job's rule
LABELLED_DIMS = GRID_DIMS
SPLIT_SEED = 0
MAX_TEST = 2000
MAX_WARNINGS = 5

FULL = dict(max_pool=2000, draws=3, m_classification=(5, 20, 100, "all"),
            m_regression=(50, 200, "all"), models=ALL_MODELS)
QUICK = dict(max_pool=500, draws=2, m_classification=(5, 20), m_regression=(50, 200),
             models=("logreg", "ridge"))
QUICK_BUNDLED = ("sk_wine", "sk_breast_cancer", "sk_digits")
QUICK_FOLDER = ("diabetes", "breast-w")


class Unavailable(RuntimeError):
    """A representation whose package is not installed."""


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


@dataclass
class Data:
    """One dataset, split: standardised pool and test inputs, targets (classes as 0..C-1)."""

    name: str
    task: str
    X_pool: np.ndarray
    X_test: np.ndarray
    y_pool: np.ndarray
    y_test: np.ndarray
    scaler: StandardScaler  # fitted on the pool's raw inputs (constant columns dropped)
    n_classes: int = 0
    cache: dict = field(default_factory=dict)  # shared work of several representations

    @property
    def n_pool(self):
        return self.X_pool.shape[0]

    @property
    def n_features(self):
        return self.X_pool.shape[1]

    def fit_inputs(self, mode):
        """The rows a representation is fitted on: the pool, or pool + test (transductive)."""
        return self.X_pool if mode == "inductive" else np.vstack([self.X_pool, self.X_test])

    def unscale(self, X):
        """Standardised rows back to the raw inputs (for routes that standardise themselves)."""
        return self.scaler.inverse_transform(X)

    def partial_labels(self, rows, mode):
        """y on the fit rows: the labelled ``rows`` of the pool, -1 (NaN: regression) elsewhere."""
        n_fit = self.n_pool + (0 if mode == "inductive" else self.X_test.shape[0])
        if self.task == "classification":
            y = np.full(n_fit, -1, dtype=int)
        else:
            y = np.full(n_fit, np.nan)
        y[rows] = self.y_pool[rows]
        return y


def prepare(name, X, y, task, max_pool, seed=SPLIT_SEED):
    """Split once: test = min(25%, 2,000) rows, pool = the rest capped at ``max_pool``."""
    n = X.shape[0]
    order = np.random.RandomState(seed).permutation(n)
    n_test = min(n // 4, MAX_TEST)
    test, pool = order[:n_test], order[n_test:][:max_pool]
    keep = np.ptp(X[pool], axis=0) > 0
    if not keep.any():
        raise ValueError("every feature is constant on the pool")
    X = X[:, keep]
    scaler = StandardScaler().fit(X[pool])
    n_classes = 0
    if task == "classification":
        classes, y = np.unique(y, return_inverse=True)
        n_classes = classes.size
    else:
        y = y.astype(float)
    return Data(name, task, scaler.transform(X[pool]), scaler.transform(X[test]), y[pool],
                y[test], scaler, n_classes)


def labelled_rows(data, m, draw):
    """Pool rows with a label: m per class (classification) or m in total; all for m="all"."""
    if m == "all":
        return np.arange(data.n_pool)
    rng = np.random.RandomState(draw)
    if data.task == "classification":
        rows = []
        for c in np.unique(data.y_pool):
            members = np.flatnonzero(data.y_pool == c)
            rows.append(rng.choice(members, min(m, members.size), replace=False))
        return np.sort(np.concatenate(rows))
    return np.sort(rng.choice(data.n_pool, min(m, data.n_pool), replace=False))


def label_draws(cfg, task):
    """(m, draw) pairs: every m of the task, ``draws`` draws each (one for m="all")."""
    ms = cfg["m_classification"] if task == "classification" else cfg["m_regression"]
    return [(m, draw) for m in ms for draw in range(1 if m == "all" else cfg["draws"])]


# ------------------------------------------------------------------------------------------------
# downstream models
# ------------------------------------------------------------------------------------------------


def logreg_solver(n_rows, n_features, n_classes):
    """newton-cholesky while its Hessian is small, else lbfgs: the same L2-penalised optimum,
    but lbfgs crawls on few, separable rows at large C (about 20x slower measured here) and
    newton-cholesky on many rows of a large multinomial Hessian."""
    size = n_features * (n_classes if n_classes > 2 else 1)
    return "newton-cholesky" if n_rows * size**2 <= 2e7 else "lbfgs"


def downstream_model(name, task, y_lab, n_features):
    """An unfitted downstream model for the labelled targets ``y_lab``."""
    if task == "classification":
        counts = np.bincount(y_lab)[np.bincount(y_lab) > 0]
        smallest = int(counts.min())
        if name == "logreg":
            folds = min(3, smallest)
            solver = logreg_solver(y_lab.size, n_features, counts.size)
            if folds < 2:  # a class with one labelled row: no stratified CV possible
                return LogisticRegression(max_iter=2000, solver=solver)
            return LogisticRegressionCV(
                Cs=C_GRID, cv=StratifiedKFold(folds, shuffle=True, random_state=0),
                max_iter=2000, solver=solver, scoring="accuracy", l1_ratios=(0.0,),
                use_legacy_attributes=False)
        if name == "knn":
            return KNeighborsClassifier(n_neighbors=max(1, min(5, smallest, y_lab.size - 1)))
        if name == "hgb":
            return HistGradientBoostingClassifier(random_state=0)
    else:
        if name == "ridge":
            return RidgeCV(alphas=RIDGE_ALPHAS)
        if name == "hgb":
            return HistGradientBoostingRegressor(random_state=0)
    raise ValueError(f"model {name!r} does not apply to {task}")


def downstream_score(model_name, data, Z_pool, Z_test, rows):
    """Test accuracy / R^2 of the model fitted on the labelled rows' representation."""
    y_lab = data.y_pool[rows]
    model = downstream_model(model_name, data.task, y_lab, Z_pool.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the models' convergence notes are not the question
        model.fit(Z_pool[rows], y_lab)
        pred = model.predict(Z_test)
    if data.task == "classification":
        return float(accuracy_score(data.y_test, pred))
    return float(r2_score(data.y_test, pred))


# ------------------------------------------------------------------------------------------------
# library routes (one function each, so that they can be swapped)
# ------------------------------------------------------------------------------------------------


def automatic_route(X_pool):
    """The library's label-free automatic choice through its public main job.

    Runs ``skcontexture POOL.npz --save-model MODEL`` in-process on ``X_pool`` (an .npz with
    only ``X``: no labels) in a temporary folder, its stdout silenced, and returns the saved
    fitted pipeline (StandardScaler, then the main job's model) whose ``transform`` embeds new rows.
    The main job's stderr lines are re-issued as warnings (recorded); a failure raises.
    """
    with tempfile.TemporaryDirectory() as tmp:
        pool_path, model_path = Path(tmp) / "pool.npz", Path(tmp) / "model.joblib"
        np.savez(pool_path, X=X_pool)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            # one process: the benchmark already runs its datasets side by side
            status = skcontexture.cli.main([str(pool_path), "--save-model", str(model_path),
                                            "--n-jobs", "1"])
        for line in err.getvalue().splitlines():
            if line.strip() and status == 0:
                warnings.warn(f"main job stderr: {line.strip()}", RuntimeWarning, stacklevel=2)
        if status != 0:
            raise RuntimeError(f"main job exit status {status}: {err.getvalue().strip()}")
        return joblib.load(model_path)


def semi_supervised_route(X_pool, y_partial):
    """The semi-supervised route: the standardised features beside a kNN + labels embedding.

    ``y_partial`` holds the class of the labelled rows and -1 for the others. The context is
    ConvexCombination([KNNContext(), LabelContext()]) with weights proportional to the rows
    each part informs: n for the geometry, n_labelled for the labels (weights [1, f] / (1 + f),
    f the labelled fraction; [0.5, 0.5] when every row is labelled). With few labels the
    geometry keeps its spectrum: at [0.5, 0.5] the label part (singular values ~ sqrt(f)) only
    halves the kNN kernel, and the propagation weights of its leading functions with it.
    min(16, n - 2) components, beside the raw features (a FeatureUnion, as ``raw+library``).
    Returns the fitted transformer.
    """
    n = X_pool.shape[0]
    f = float(np.mean(np.asarray(y_partial) != -1))
    context = ConvexCombination([("geometry", KNNContext()), ("labels", LabelContext())],
                                weights=[1.0, f])
    semi = ContextureEmbedding(context, n_components=min(16, n - 2), random_state=0)
    return FeatureUnion([("raw", FunctionTransformer()), ("semi", semi)]).fit(X_pool, y_partial)


def fitted_grid(data, mode):
    """The main job's grid, each context a ContextureEmbedding of 32 components fitted without
    labels on the fit rows: ({name: (estimator, Z_pool, Z_test)}, seconds), cached on ``data``.

    Shared by library_labelled and library_grid_best (their first d columns are the d-component
    embedding, up to signs, which no downstream model here depends on).
    """
    key = ("grid", mode)
    if key not in data.cache:
        X_fit = data.fit_inputs(mode)
        n_components = min(max(GRID_DIMS), X_fit.shape[0] - 2)
        start = time.perf_counter()
        members, notes = {}, new_entry()
        for name, context in skcontexture._selection.default_grid(X_fit.shape[0], X_fit.shape[1]):
            with recording(notes, prefix=f"{name}: "):
                try:
                    est = ContextureEmbedding(context, n_components=n_components,
                                              random_state=0)
                    Z = finite(est.fit_transform(X_fit))
                    Z_test = finite(est.transform(data.X_test)) if mode == "inductive" \
                        else Z[data.n_pool:]
                    members[name] = (est, Z[: data.n_pool], Z_test)
                except Exception as exc:  # a context that fails leaves the grid, with a note
                    warnings.warn(f"failed, left out: {type(exc).__name__}: {exc}",
                                  RuntimeWarning, stacklevel=2)
        if not members:
            raise RuntimeError("every context of the main job's grid failed: "
                               + "; ".join(notes["warnings"]))
        data.cache[key] = (members, time.perf_counter() - start, notes)
    return data.cache[key][:2]


def grid_notes(data, mode):
    """The warnings of the grid's fits (recorded once, reported by each representation using
    it)."""
    return data.cache.get(("grid", mode), (None, None, None))[2]


def labelled_route(grid, X_fit, y_partial, task, dims=None):
    """The label-efficient choice of (context, n_components) by ``LabelledProbeScorer()``.

    ``grid`` maps names to fitted ContextureEmbeddings (their first d columns stand for the
    d-component embedding). The candidates are every context at every d in ``dims`` (None:
    the estimator's own n_components); the best score wins and a tie goes to the fewer
    components, then to the earlier context of the grid -- what ``GridSearchCV(
    ContextureEmbedding(), {"n_components": dims, "context": grid},
    scoring=LabelledProbeScorer(), cv=[(rows, rows)])`` selects. With ``dims=(32,)`` it is the
    main job's ``--metric labelled`` rule (all components).

    Every context is scored at its full dimension by the scorer's call on the fit rows, y
    marked unlabelled (-1; NaN for regression) off the labelled rows. The score at d is the
    best of the probe's curve over d' = 1, 2, 4, ..., d, so it never exceeds the full one:
    only the contexts tied at the best full score are scored at smaller d
    (``score_embedding`` of the labelled rows' first d columns), in increasing d until one
    reaches it. For regression the probe is given explicitly (RidgeCV): the scorer's default
    reads integer-valued targets (diabetes' disease progression) as classes.

    Returns (name, d, score, number of contexts tied at the best score).
    """
    if task == "classification":
        scorer, labelled = LabelledProbeScorer(), y_partial != -1
    else:
        scorer = LabelledProbeScorer(RidgeCV(alphas=PROBE_ALPHAS), unlabelled=np.nan)
        labelled = ~np.isnan(y_partial)
    full = {}
    for name, (est, *_rest) in grid.items():
        try:
            full[name] = scorer(est, X_fit, y_partial)
        except ValueError as exc:
            warnings.warn(f"LabelledProbeScorer failed on {name}: {exc}", RuntimeWarning,
                          stacklevel=2)
    if not full:
        raise RuntimeError("LabelledProbeScorer scored no context of the grid")
    best = max(full.values())
    tied = [name for name in grid if full.get(name) == best]  # in grid order
    for d in sorted(dims or ()):
        for name in tied:
            est = grid[name][0]
            if d >= est.n_components:
                continue
            Z_lab = est.transform(X_fit[labelled])[:, :d]
            if scorer.score_embedding(Z_lab, y_partial[labelled]) == best:
                return name, d, float(best), len(tied)
    return tied[0], grid[tied[0]][0].n_components, float(best), len(tied)


# ------------------------------------------------------------------------------------------------
# the registry of representations
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Representation:
    """How to build one representation.

    kind "transformer": ``build(data)`` returns an unfitted transformer on standardised
    inputs (fit_transform on the fit rows, transform for the test rows when inductive).
    kind "labelled": ``build(data, mode)`` returns ``route(y_partial) -> (Z_pool, Z_test,
    info)``, called per (m, draw) with the fit rows' partial labels.
    A route may carry ``shared_seconds`` and ``shared_notes``: the one-off label-free fit it
    reuses (added to its fit time) and that fit's recorded warnings.
    kind "candidates": ``build(data, mode)`` returns ({name: (Z_pool, Z_test)}, seconds,
    recorded warnings or None); the score is the best over the candidates (a ceiling).
    ``default``: in the set run without ``--representations``.
    """

    kind: str
    build: Callable
    modes: tuple = MODES
    tasks: tuple = TASKS
    library: bool = False
    ceiling: bool = False
    default: bool = True


class AutomaticRoute(TransformerMixin, BaseEstimator):
    """``automatic_route`` as a transformer of standardised rows (``unscale`` maps them back to
    the raw inputs the main job is given)."""

    def __init__(self, unscale=None):
        self.unscale = unscale

    def _raw(self, X):
        return X if self.unscale is None else self.unscale(X)

    def fit(self, X, y=None):
        self.model_ = automatic_route(self._raw(X))
        return self

    def transform(self, X):
        return self.model_.transform(self._raw(X))

    def describe(self):
        return describe(self.model_[-1])


def tabular_parts():
    """The parts of the minimax mixture and of its label-free rival: the library's default
    kNN context, CutMix (SCARF's empirical marginal) and the linear kernel of the features."""
    return [("knn", KNNContext()), ("cutmix", CutMixContext()),
            ("linear", LinearTeacherContext(whiten=False))]


def model_dims(data):
    """The main job's model size on this pool: MODEL_COMPONENTS, fewer on a tiny pool."""
    return min(MODEL_COMPONENTS, data.n_pool - 2)


def model_embedding(context, data):
    """``context`` with the main job's model rule: its leading ``model_dims`` functions
    weighted by ``scale="propagation"``."""
    return ContextureEmbedding(context, n_components=model_dims(data),
                               scale="propagation", random_state=0)


def build_minimax(data):
    """``MinimaxCombination`` of ``tabular_parts``, its weights chosen for the dimension the
    embedding keeps, as a user would write it."""
    d = model_dims(data)
    return model_embedding(MinimaxCombination(tabular_parts(), n_components=d), data)


class LabelFreeChoice(TransformerMixin, BaseEstimator):
    """The main job's label-free route among ``contexts``: ``skcontexture._selection.select``
    with them as its grid (ranked by the proxy task ``feature_prediction``), then its model
    (the linear kernel beside the best-ranked other context, each with its leading functions
    weighted by ``scale="propagation"``) on the rows the selection standardised."""

    def __init__(self, contexts=None):
        self.contexts = contexts

    def fit(self, X, y=None):
        grid = [(name, clone(context)) for name, context in self.contexts]
        result = skcontexture._selection.select(X, grid=grid, random_state=0)
        self.scaler_, self.model_ = result["scaler"], result["embedding"]
        self.chosen_ = result["rows"][0]["context"]
        return self

    def transform(self, X):
        return self.model_.transform(self.scaler_.transform(X))

    def describe(self):
        return {"chosen": self.chosen_} | describe(self.model_)


def umap_installed():
    try:
        return importlib.util.find_spec("umap") is not None
    except (ImportError, ValueError):
        return False


def build_umap(data):
    try:
        import umap
    except ImportError as exc:
        raise Unavailable(f"umap-learn is not installed ({exc})") from None
    return umap.UMAP(n_components=16, random_state=0)


def build_labelled(data, mode):
    X_fit = data.fit_inputs(mode)
    grid, grid_seconds = fitted_grid(data, mode)

    def route(y_partial):
        name, d, score, tied = labelled_route(grid, X_fit, y_partial, data.task, LABELLED_DIMS)
        _, Z_pool, Z_test = grid[name]
        return Z_pool[:, :d], Z_test[:, :d], {"chosen": name, "n_components": d,
                                              "probe_score": score, "n_tied": tied}

    route.shared_seconds = grid_seconds
    route.shared_notes = grid_notes(data, mode)
    return route


def build_semi_supervised(data, mode):
    X_fit = data.fit_inputs(mode)

    def route(y_partial):
        est = semi_supervised_route(X_fit, y_partial)
        Z = finite(est.transform(X_fit))
        Z_test = finite(est.transform(data.X_test)) if mode == "inductive" else Z[data.n_pool:]
        return Z[: data.n_pool], Z_test, {"singular_values_head": [
            float(s) for s in est.named_transformers["semi"].singular_values_[:4]]}

    return route


def tree_teacher(X_labelled, y_labelled):
    """The boosted-tree teacher of ``ctx_trees``, fitted on the labelled rows only:
    HistGradientBoostingClassifier with min_samples_leaf = max(1, min(20, n_labelled // 10))
    (the default 20 from 200 labelled rows on; it cannot split fewer than 40 rows),
    random_state=0, the other parameters scikit-learn's defaults."""
    n_labelled = len(y_labelled)
    return HistGradientBoostingClassifier(min_samples_leaf=max(1, min(20, n_labelled // 10)),
                                          random_state=0).fit(X_labelled, y_labelled)


def trees_context(X_fit, y_partial, whiten=True):
    """``LinearTeacherContext`` on the per-iteration outputs of ``tree_teacher`` fitted on the
    labelled fit rows (the reference's STK threshold 0.001; ``whiten=True``, the reference's
    whitened kernel, or ``whiten=False``, the outputs' leading directions); the fitted teacher
    is used as is."""
    labelled = y_partial != -1
    teacher = tree_teacher(X_fit[labelled], y_partial[labelled])
    return LinearTeacherContext(teacher, output="trees", threshold=0.001, whiten=whiten)


def build_label_context(make_context):
    """A ``labelled`` builder: per draw, ``model_embedding(make_context(X_fit, y_partial))``
    fitted on the fit rows with ``y_partial`` (the class of the labelled rows, -1 elsewhere)."""

    def build(data, mode):
        X_fit = data.fit_inputs(mode)

        def route(y_partial):
            est = model_embedding(make_context(X_fit, y_partial), data)
            Z = finite(est.fit_transform(X_fit, y_partial))
            Z_test = finite(est.transform(data.X_test)) if mode == "inductive" \
                else Z[data.n_pool:]
            return Z[: data.n_pool], Z_test, {
                "n_components": int(Z.shape[1]),
                "singular_values_head": [float(s) for s in est.singular_values_[:4]]}

        return route

    return build


def build_grid_candidates(data, mode):
    grid, seconds = fitted_grid(data, mode)
    candidates = {}
    for name, (est, Z_pool, Z_test) in grid.items():
        for d in GRID_DIMS:
            if d <= Z_pool.shape[1]:
                candidates[f"{name} d={d}"] = (Z_pool[:, :d], Z_test[:, :d])
    return candidates, seconds, grid_notes(data, mode)


REPRESENTATIONS = {
    "raw": Representation("transformer", lambda data: FunctionTransformer()),
    "pca": Representation("transformer", lambda data: PCA(
        n_components=min(32, data.n_features, data.n_pool - 1), random_state=0)),
    "kernel_pca": Representation("transformer", lambda data: KernelPCA(
        n_components=min(32, data.n_pool - 1), kernel="rbf", gamma=None, random_state=0)),
    "umap": Representation("transformer", build_umap),
    "spectral_embedding": Representation(
        "transformer", lambda data: SpectralEmbedding(n_components=16, random_state=0),
        modes=("transductive",)),
    "library_default": Representation(
        "transformer", lambda data: ContextureEmbedding(random_state=0), library=True),
    "library_auto": Representation(
        "transformer", lambda data: AutomaticRoute(unscale=data.unscale), library=True),
    "library_labelled": Representation("labelled", build_labelled, library=True),
    "library_grid_best": Representation("candidates", build_grid_candidates, library=True,
                                        ceiling=True),
    "library_union": Representation(
        "transformer", lambda data: ContextureUnion(random_state=0), library=True),
    "raw+library": Representation("transformer", lambda data: FeatureUnion(
        [("raw", FunctionTransformer()), ("library", ContextureEmbedding(random_state=0))]),
        library=True),
    "library_semi_supervised": Representation(
        "labelled", build_semi_supervised, tasks=("classification",), library=True),
    # opt-in: the dissertation's tabular contexts and its minimax mixture
    "ctx_knn": Representation("transformer", lambda data: model_embedding(KNNContext(), data),
                              library=True, default=False),
    "ctx_rbf": Representation("transformer", lambda data: model_embedding(RBFContext(), data),
                              library=True, default=False),
    "ctx_scarf": Representation(
        "transformer", lambda data: model_embedding(SCARFContext(), data), library=True,
        default=False),
    "ctx_cutmix": Representation(
        "transformer", lambda data: model_embedding(CutMixContext(), data), library=True,
        default=False),
    "ctx_cutout": Representation(
        "transformer", lambda data: model_embedding(CutoutContext(), data), library=True,
        default=False),
    "ctx_linear": Representation(
        "transformer", lambda data: model_embedding(LinearTeacherContext(whiten=False), data),
        library=True, default=False),
    "minimax": Representation("transformer", build_minimax, library=True, default=False),
    "minimax_choice": Representation(
        "transformer", lambda data: LabelFreeChoice(tabular_parts()), library=True,
        default=False),
    # opt-in: the dissertation's label-dependent contexts, fitted per labelled draw
    "ctx_trees": Representation(
        "labelled", build_label_context(trees_context), tasks=("classification",),
        library=True, default=False),
    "ctx_trees_unwhitened": Representation(
        "labelled", build_label_context(
            lambda X_fit, y_partial: trees_context(X_fit, y_partial, whiten=False)),
        tasks=("classification",), library=True, default=False),
    "ctx_scarf_labels": Representation(
        "labelled", build_label_context(
            lambda X_fit, y_partial: Convolution(SCARFContext(), LabelContext())),
        tasks=("classification",), library=True, default=False),
    "ctx_cutmix_labels": Representation(
        "labelled", build_label_context(
            lambda X_fit, y_partial: Convolution(CutMixContext(), LabelContext())),
        tasks=("classification",), library=True, default=False),
    "ctx_scarf_trees": Representation(
        "labelled", build_label_context(
            lambda X_fit, y_partial: Convolution(SCARFContext(),
                                                 trees_context(X_fit, y_partial))),
        tasks=("classification",), library=True, default=False),
}
#: Head-to-head counts printed when both representations ran: (challenger, reference).
HEAD_TO_HEAD = tuple(
    [(rep, ref) for rep in ("ctx_scarf", "ctx_cutmix", "ctx_cutout", "ctx_linear", "minimax",
                            "ctx_trees", "ctx_trees_unwhitened", "ctx_scarf_labels",
                            "ctx_cutmix_labels", "ctx_scarf_trees")
     for ref in ("ctx_knn", "ctx_rbf", "library_default", "raw")]
    + [("minimax", "minimax_choice"), ("minimax", "library_auto")])


# ------------------------------------------------------------------------------------------------
# running one dataset
# ------------------------------------------------------------------------------------------------


def finite(Z):
    Z = np.asarray(Z, dtype=float)
    if not np.isfinite(Z).all():
        raise ValueError(f"the embedding has {int(np.sum(~np.isfinite(Z)))} non-finite values")
    return Z


def new_entry():
    """The record of one representation on one dataset."""
    return {"fit_seconds": {}, "error": None, "other_errors": [], "warnings": [],
            "n_warnings": 0, "n_dims": {}, "info": {}, "scores": {}}


def add_warning(entry, text, count=1):
    entry["n_warnings"] += count
    if text not in entry["warnings"] and len(entry["warnings"]) < MAX_WARNINGS:
        entry["warnings"].append(text)


@contextlib.contextmanager
def recording(entry, prefix=""):
    """Record the warnings of the block into ``entry`` (first distinct ones, and a count)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:  # also when the block raises: its warnings often say why
            for w in caught:
                message = " ".join(str(w.message).split())
                add_warning(entry, f"{prefix}{w.category.__name__}: {message}"[:400])


def note_error(entry, where, exc):
    message = f"{where}: {type(exc).__name__}: {' '.join(str(exc).split())}"[:600]
    if entry["error"] is None:
        entry["error"] = message
    elif message not in entry["other_errors"] and len(entry["other_errors"]) < MAX_WARNINGS:
        entry["other_errors"].append(message)


def describe(estimator):
    """A few facts about a fitted library estimator (its context and leading s_i)."""
    if hasattr(estimator, "describe"):
        return estimator.describe()
    if isinstance(estimator, FeatureUnion):
        estimator = dict(estimator.transformer_list).get("library")
    if isinstance(estimator, ContextureUnion):
        return {"parts": {name: describe(part) for name, part in estimator.embeddings_},
                "block_scales": estimator.block_scales_.tolist()}
    if isinstance(estimator, ContextureEmbedding):
        info = {"context": repr(estimator.context_), "n_components": int(estimator.n_components_),
                "singular_values_head": [float(s) for s in estimator.singular_values_[:4]],
                "n_connected_components": int(estimator.n_connected_components_)}
        if isinstance(estimator.context_, MinimaxCombination):
            info.update(weights=estimator.context_.weights_.tolist(),
                        captured=estimator.context_.captured_.tolist(),
                        first_captured=estimator.context_.captured_history_[0].tolist(),
                        n_rounds=int(estimator.context_.n_iter_))
        return info
    return None


def score_cells(entry, mode, data, cfg, models, embed, where):
    """scores[mode][model][m] over the label draws; ``embed(m, draw, rows)`` gives
    (Z_pool, Z_test) or raises (that cell is then None)."""
    scores = entry["scores"].setdefault(mode, {})
    for m, draw in label_draws(cfg, data.task):
        rows = labelled_rows(data, m, draw)
        try:
            Z_pool, Z_test = embed(m, draw, rows)
        except Exception as exc:
            note_error(entry, f"{where} m={m} draw={draw}", exc)
            Z_pool = None
        for model in models:
            cell = scores.setdefault(model, {}).setdefault(str(m), [])
            if Z_pool is None:
                cell.append(None)
                continue
            try:
                cell.append(downstream_score(model, data, Z_pool, Z_test, rows))
            except Exception as exc:
                note_error(entry, f"{where} {model} m={m} draw={draw}", exc)
                cell.append(None)


def merge_notes(entry, notes):
    """Add the warnings of a shared fit (the grid's, recorded once) to a representation."""
    if notes:
        entry["n_warnings"] += notes["n_warnings"]
        for text in notes["warnings"]:
            add_warning(entry, f"grid {text}", count=0)


def run_representation(rep, entry, data, mode, cfg, models):
    if rep.kind == "transformer":
        with recording(entry):
            transformer = rep.build(data)
            start = time.perf_counter()
            if mode == "inductive":
                Z_pool = finite(transformer.fit_transform(data.X_pool))
                entry["fit_seconds"][mode] = time.perf_counter() - start
                Z_test = finite(transformer.transform(data.X_test))
            else:
                Z = finite(transformer.fit_transform(data.fit_inputs(mode)))
                entry["fit_seconds"][mode] = time.perf_counter() - start
                Z_pool, Z_test = Z[: data.n_pool], Z[data.n_pool:]
            info = describe(transformer)
        entry["n_dims"][mode] = int(Z_pool.shape[1])
        if info:
            entry["info"][mode] = info
        score_cells(entry, mode, data, cfg, models, lambda m, draw, rows: (Z_pool, Z_test), mode)
    elif rep.kind == "labelled":
        with recording(entry):
            route = rep.build(data, mode)
        merge_notes(entry, getattr(route, "shared_notes", None))
        seconds, infos = [], {}

        def embed(m, draw, rows):
            with recording(entry):
                start = time.perf_counter()
                Z_pool, Z_test, info = route(data.partial_labels(rows, mode))
                seconds.append(time.perf_counter() - start)
            entry["n_dims"][mode] = int(Z_pool.shape[1])
            infos.setdefault(str(m), []).append(info)
            return Z_pool, Z_test

        score_cells(entry, mode, data, cfg, models, embed, mode)
        shared = getattr(route, "shared_seconds", 0.0)  # a one-off label-free fit it reuses
        entry["fit_seconds"][mode] = shared + (float(np.mean(seconds)) if seconds else 0.0)
        entry["info"][mode] = infos
    elif rep.kind == "candidates":
        with recording(entry):
            candidates, seconds, notes = rep.build(data, mode)
        merge_notes(entry, notes)
        entry["fit_seconds"][mode] = seconds
        chosen = {}
        scores = entry["scores"].setdefault(mode, {})
        for m, draw in label_draws(cfg, data.task):
            rows = labelled_rows(data, m, draw)
            for model in models:
                best, best_name = None, None
                for name, (Z_pool, Z_test) in candidates.items():
                    try:
                        value = downstream_score(model, data, Z_pool, Z_test, rows)
                    except Exception as exc:
                        note_error(entry, f"{mode} {name} {model} m={m} draw={draw}", exc)
                        continue
                    if best is None or value > best:
                        best, best_name = value, name
                scores.setdefault(model, {}).setdefault(str(m), []).append(best)
                chosen.setdefault(model, {}).setdefault(str(m), []).append(best_name)
        entry["info"][mode] = {"best_candidate": chosen, "n_candidates": len(candidates)}
    else:
        raise ValueError(f"unknown kind {rep.kind!r}")


_WARM = []


def warm_up(representations):
    """Fit UMAP and a ContextureEmbedding once on tiny data in this process, so that numba's
    first-call compilation (pynndescent, UMAP, the library's kernels) is not in a fit time."""
    if _WARM:
        return
    X = np.random.RandomState(0).normal(size=(60, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(Exception):
            ContextureEmbedding(n_components=2, random_state=0).fit_transform(X)
        if "umap" in representations:
            with contextlib.suppress(Exception):
                build_umap(None).fit(X).transform(X[:5])
    _WARM.append(True)


def run_dataset(name, X, y, task, cfg):
    warm_up(cfg["representations"])
    start = time.perf_counter()
    models = [m for m in cfg["models"] if m in MODELS[task]]
    # One OpenMP thread (HistGradientBoosting): on these small fits its thread barriers cost
    # more than they give, and on a shared machine far more (a 15-row fit measured 9 s with
    # 2 threads while another job held the cores, 0.05 s alone).
    with threadpool_limits(limits=cfg["blas_threads"], user_api="blas"), \
            threadpool_limits(limits=1, user_api="openmp"):
        try:
            data = prepare(name, X, y, task, cfg["max_pool"])
        except Exception as exc:  # an unusable dataset: say so, run the others
            print(f"{name}: skipped: {exc}", file=sys.stderr, flush=True)
            return {"dataset": name, "group": group_of(name), "task": task, "n_pool": None,
                    "n_test": None, "n_features": None, "n_features_raw": int(X.shape[1]),
                    "n_classes": None, "seconds": time.perf_counter() - start,
                    "error": f"{type(exc).__name__}: {exc}", "representations": {}}
        reps = {}
        for rep_name in cfg["representations"]:
            rep = REPRESENTATIONS[rep_name]
            if task not in rep.tasks or not set(rep.modes) & set(cfg["modes"]):
                continue
            entry = new_entry()
            rep_start = time.perf_counter()
            for mode in cfg["modes"]:
                if mode not in rep.modes:
                    continue
                try:
                    run_representation(rep, entry, data, mode, cfg, models)
                except Exception as exc:  # record it, show n/a, go on
                    note_error(entry, mode, exc)
            entry["total_seconds"] = time.perf_counter() - rep_start  # fits and scoring
            reps[rep_name] = entry
        data.cache.clear()
    seconds = time.perf_counter() - start
    failed = [r for r, e in reps.items() if e["error"]]
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {len(reps)} representations in {seconds:.0f} s"
          + (f" (errors: {', '.join(failed)})" if failed else ""), file=sys.stderr, flush=True)
    return {"dataset": name, "group": group_of(name), "task": task, "n_pool": data.n_pool,
            "n_test": int(data.X_test.shape[0]), "n_features": int(data.n_features),
            "n_features_raw": int(X.shape[1]), "n_classes": int(data.n_classes),
            "seconds": seconds, "error": None, "representations": reps}


# ------------------------------------------------------------------------------------------------
# summary
# ------------------------------------------------------------------------------------------------


def mean_score(result, rep, mode, model, m):
    """Mean over the draws of one cell, None when it has no value."""
    entry = result["representations"].get(rep)
    if entry is None:
        return None
    values = entry["scores"].get(mode, {}).get(model, {}).get(str(m)) or []
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarise(results, cfg):
    """summary[mode][task][group][model] = {n_datasets, fit_seconds, by_m[m][rep]}."""
    reps = cfg["representations"]
    ceilings = {r for r in reps if REPRESENTATIONS[r].ceiling}
    summary = {}
    for mode in cfg["modes"]:
        for task in TASKS:
            task_results = [r for r in results if r["task"] == task]
            if not task_results:
                continue
            ms = cfg["m_classification"] if task == "classification" else cfg["m_regression"]
            for group in GROUPS + ("all",):
                members = [r for r in task_results if group in ("all", r["group"])]
                if not members:
                    continue
                fit = {}
                for rep in reps:
                    times = [r["representations"][rep]["fit_seconds"].get(mode)
                             for r in members if rep in r["representations"]]
                    times = [t for t in times if t is not None]
                    fit[rep] = float(np.mean(times)) if times else None
                for model in [m for m in cfg["models"] if m in MODELS[task]]:
                    by_m = {}
                    for m in ms:
                        table = {rep: [mean_score(r, rep, mode, model, m) for r in members]
                                 for rep in reps}
                        ranks = {rep: [] for rep in reps}
                        for i in range(len(members)):
                            scored = [rep for rep in reps
                                      if rep not in ceilings and table[rep][i] is not None]
                            if not scored:
                                continue
                            order = scipy.stats.rankdata([-table[rep][i] for rep in scored])
                            for rep, rank in zip(scored, order):
                                ranks[rep].append(float(rank))
                        block = {}
                        for rep in reps:
                            values = [v for v in table[rep] if v is not None]
                            row = {"mean": float(np.mean(values)) if values else None,
                                   "n": len(values),
                                   "mean_rank": float(np.mean(ranks[rep])) if ranks[rep] else None,
                                   "per_dataset": dict(zip([r["dataset"] for r in members],
                                                           table[rep]))}
                            if REPRESENTATIONS[rep].library:
                                for other in ("raw", "umap"):
                                    pairs = [(a, b) for a, b in zip(table[rep],
                                                                    table.get(other, []))
                                             if a is not None and b is not None]
                                    wins = sum(a >= b - 1e-12 for a, b in pairs)
                                    row[f"vs_{other}"] = {
                                        "wins": wins, "n": len(pairs),
                                        "fraction": wins / len(pairs) if pairs else None}
                            block[rep] = row
                        by_m[str(m)] = block
                    summary.setdefault(mode, {}).setdefault(task, {}).setdefault(group, {})[
                        model] = {"n_datasets": len(members), "fit_seconds": fit, "by_m": by_m}
    return summary


# ------------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------------


def _num(x, spec=".3f"):
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def _label(rep):
    return f"{rep} (ceiling)" if REPRESENTATIONS[rep].ceiling else rep


def _wins(block, rep, other, ms):
    cells = []
    for m in ms:
        v = block[str(m)][rep].get(f"vs_{other}")
        cells.append("—" if v is None or not v["n"] else f"{v['wins']}/{v['n']}")
    return " ".join(cells)


def markdown(results, meta, summary):
    cfg = meta["config"]
    reps = cfg["representations"]
    lines = [
        f"Downstream benchmark ({meta['run']} run): pool <= {cfg['max_pool']} unlabelled rows, "
        f"test = min(25%, {MAX_TEST}) rows (split seed {SPLIT_SEED}), {cfg['draws']} label "
        "draws (m = all: one), modes "
        f"{', '.join(cfg['modes'])}. Cells: mean over datasets of the test score (mean over "
        "draws), and in brackets the mean rank among the representations scored on a dataset "
        "(1 = best; the ceiling is not ranked). `>= raw` / `>= umap`: datasets where the "
        "library representation scores at least as well, one fraction per m. `fit s`: mean "
        "fit time (label-dependent: the shared grid fit plus one choice or fit per draw). "
        "library_grid_best is a ceiling chosen with the test labels, not a method.",
    ]
    for mode in cfg["modes"]:
        for task in TASKS:
            blocks = summary.get(mode, {}).get(task)
            if not blocks:
                continue
            ms = cfg["m_classification"] if task == "classification" else cfg["m_regression"]
            unit = "m per class" if task == "classification" else "m in total"
            for group in ("all",) + GROUPS:
                if group not in blocks:
                    continue
                for model, block in blocks[group].items():
                    if group != "all" and model != MODELS[task][0] and \
                            MODELS[task][0] in blocks[group]:
                        continue  # per group: the first model of the task only
                    n = block["n_datasets"]
                    title = "all datasets" if group == "all" else f"{group} datasets"
                    lines += ["", f"**{mode}, {task}, {model} ({METRIC[task]}), {title}** "
                              f"({n}; {unit})", "",
                              "| representation | " + " | ".join(f"m={m}" for m in ms)
                              + " | fit s | >= raw | >= umap |",
                              "|---|" + "---|" * (len(ms) + 3)]
                    for rep in reps:
                        if task not in REPRESENTATIONS[rep].tasks or \
                                mode not in REPRESENTATIONS[rep].modes:
                            continue
                        cells = []
                        for m in ms:
                            v = block["by_m"][str(m)][rep]
                            cells.append("n/a" if v["mean"] is None else
                                         f"{v['mean']:.3f} ({_num(v['mean_rank'], '.1f')})"
                                         if v["mean_rank"] is not None else f"{v['mean']:.3f}")
                        library = REPRESENTATIONS[rep].library
                        lines.append(
                            f"| {_label(rep)} | " + " | ".join(cells)
                            + f" | {_num(block['fit_seconds'].get(rep), '.2f')} | "
                            + (_wins(block["by_m"], rep, "raw", ms) if library else "")
                            + " | " + (_wins(block["by_m"], rep, "umap", ms) if library else "")
                            + " |")
    lines += head_to_head(summary, cfg)
    lines += per_dataset_tables(results, cfg)
    failures = [(r["dataset"], "(dataset)", r["error"]) for r in results if r.get("error")]
    failures += [(r["dataset"], rep, e["error"]) for r in results
                 for rep, e in r["representations"].items() if e["error"]]
    if failures:
        lines += ["", "Errors (the first per representation and dataset):", ""]
        lines += [f"- {d} / {rep}: {msg}" for d, rep, msg in failures]
    return "\n".join(lines)


def head_to_head(summary, cfg):
    """Per pair of ``HEAD_TO_HEAD`` that ran: on how many datasets the first scores above,
    level with (within 1e-12) and below the second, per m (all datasets, first model)."""
    reps = cfg["representations"]
    pairs = [(a, b) for a, b in HEAD_TO_HEAD if a in reps and b in reps]
    lines = []
    for mode in cfg["modes"]:
        for task in TASKS:
            blocks = summary.get(mode, {}).get(task, {}).get("all")
            if not blocks or not pairs:
                continue
            model = next(iter(blocks))
            ms = cfg["m_classification"] if task == "classification" else cfg["m_regression"]
            lines += ["", f"Head to head, {mode}, {task}, {model}, all datasets: datasets "
                      "where the first scores above / level with / below the second", "",
                      "| first | second | " + " | ".join(f"m={m}" for m in ms) + " |",
                      "|---|---|" + "---|" * len(ms)]
            for a, b in pairs:
                cells = []
                for m in ms:
                    block = blocks[model]["by_m"][str(m)]
                    both = [(x, y) for x, y in zip(block[a]["per_dataset"].values(),
                                                   block[b]["per_dataset"].values())
                            if x is not None and y is not None]
                    above = sum(x > y + 1e-12 for x, y in both)
                    below = sum(x < y - 1e-12 for x, y in both)
                    cells.append(f"{above} / {len(both) - above - below} / {below}")
                lines.append(f"| {a} | {b} | " + " | ".join(cells) + " |")
    return lines


def per_dataset_tables(results, cfg):
    """Per dataset: mean +- std over draws (first model; smallest and largest m); fit times."""
    reps = cfg["representations"]
    lines = []
    for mode in cfg["modes"]:
        for task in TASKS:
            rows = [r for r in results if r["task"] == task]
            models = [m for m in cfg["models"] if m in MODELS[task]]
            if not rows or not models:
                continue
            shown = [rep for rep in reps if task in REPRESENTATIONS[rep].tasks
                     and mode in REPRESENTATIONS[rep].modes]
            ms = cfg["m_classification"] if task == "classification" else cfg["m_regression"]
            for m in dict.fromkeys((ms[0], ms[-1])):
                lines += ["", f"Per dataset, {mode}, {task}, {models[0]}, m={m}: mean ± std "
                          "over draws", "",
                          "| dataset | group | " + " | ".join(_label(r) for r in shown) + " |",
                          "|---|---|" + "---|" * len(shown)]
                for r in rows:
                    cells = []
                    for rep in shown:
                        entry = r["representations"].get(rep, {})
                        values = entry.get("scores", {}).get(mode, {}).get(models[0], {}) \
                            .get(str(m)) or []
                        values = [v for v in values if v is not None]
                        cells.append("n/a" if not values else f"{np.mean(values):.3f} ± "
                                     f"{np.std(values):.3f}" if len(values) > 1
                                     else f"{values[0]:.3f}")
                    lines.append(f"| {r['dataset']} | {r['group']} | " + " | ".join(cells) + " |")
            lines += ["", f"Fit seconds per dataset, {mode}, {task}", "",
                      "| dataset | n_pool | n_features | " + " | ".join(_label(r) for r in shown)
                      + " |", "|---|---|---|" + "---|" * len(shown)]
            for r in rows:
                cells = [_num(r["representations"].get(rep, {}).get("fit_seconds", {})
                              .get(mode), ".2f") for rep in shown]
                lines.append(f"| {r['dataset']} | {r['n_pool'] or 'n/a'} | "
                             f"{r['n_features'] or 'n/a'} | "
                             + " | ".join(cells) + " |")
    return lines


# ------------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------------


def _m_value(text):
    return "all" if text == "all" else int(text)


def versions():
    out = {"skcontexture": skcontexture.__version__, "joblib": joblib.__version__}
    try:
        import umap

        out["umap-learn"] = umap.__version__
    except ImportError:
        out["umap-learn"] = None
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="CI: bundled wine, breast cancer, digits (and the data folder's "
                             "diabetes and breast-w), pool <= 500, m 5 and 20, 2 draws, "
                             "logreg/ridge")
    parser.add_argument("--data-dir", help="folder with MANIFEST.json and the .npz files")
    parser.add_argument("--datasets", nargs="*", help="restrict to these dataset names")
    parser.add_argument("--no-bundled", action="store_true",
                        help="leave out scikit-learn's bundled datasets")
    parser.add_argument("--max-pool", type=int, help="unlabelled pool cap (default 2000)")
    parser.add_argument("--representations", nargs="+", choices=list(REPRESENTATIONS),
                        metavar="NAME", help=f"subset of: {', '.join(REPRESENTATIONS)}")
    parser.add_argument("--m", nargs="+", type=_m_value, metavar="M",
                        help="labelled rows per class, classification (ints or 'all'; "
                             "default 5 20 100 all)")
    parser.add_argument("--m-regression", nargs="+", type=_m_value, metavar="M",
                        help="labelled rows in total, regression (default 50 200 all)")
    parser.add_argument("--draws", type=int, help="label draws per m (default 3)")
    parser.add_argument("--models", nargs="+", choices=ALL_MODELS,
                        help="downstream models (default all; --quick: logreg ridge)")
    parser.add_argument("--modes", nargs="+", choices=MODES, help="default: inductive")
    parser.add_argument("--transductive", action="store_true",
                        help="both modes (same as --modes inductive transductive)")
    parser.add_argument("--n-jobs", type=int, default=1, help="datasets in parallel processes")
    parser.add_argument("--out", help="output JSON path (the .md beside it; default "
                                      "benchmarks/results/downstream[_quick].json)")
    args = parser.parse_args(argv)

    cfg = dict(QUICK if args.quick else FULL)
    for key, value in (("max_pool", args.max_pool), ("draws", args.draws),
                       ("m_classification", args.m), ("m_regression", args.m_regression),
                       ("models", args.models)):
        if value is not None:
            cfg[key] = tuple(value) if isinstance(value, list) else value
    if args.quick and args.max_pool is not None:
        cfg["max_pool"] = min(args.max_pool, QUICK["max_pool"])
    cfg["modes"] = tuple(args.modes or (MODES if args.transductive else ("inductive",)))
    if args.transductive and args.modes:
        cfg["modes"] = tuple(dict.fromkeys(cfg["modes"] + ("transductive",)))
    cfg["representations"] = tuple(args.representations or
                                   [name for name, rep in REPRESENTATIONS.items() if rep.default])
    cfg["blas_threads"] = max(1, (os.cpu_count() or 1) // max(1, args.n_jobs))
    if "umap" in cfg["representations"] and not umap_installed():
        print("note: umap-learn is not installed; the umap column shows n/a")

    try:
        folder = data_dir(args.data_dir)
    except FileNotFoundError:
        folder = None
    jobs = []
    if folder is not None and (folder / "MANIFEST.json").exists():
        names = args.datasets or (QUICK_FOLDER if args.quick else None)
        jobs += folder_datasets(folder, names)
    elif args.data_dir:
        print(f"error: no MANIFEST.json in {folder}", file=sys.stderr)
        return 2
    elif args.quick:
        print("note: no data folder found; --quick runs on scikit-learn's bundled datasets only")
    if not args.no_bundled:
        jobs += bundled_datasets(args.datasets or (QUICK_BUNDLED if args.quick else None))
    if not jobs:
        print("error: no dataset selected", file=sys.stderr)
        return 2

    start = time.perf_counter()
    load_before = os.getloadavg()
    # largest first so that parallel workers finish together
    jobs.sort(key=lambda j: -min(j[1].shape[0], cfg["max_pool"]) * j[1].shape[1] ** 0.3)
    results = Parallel(n_jobs=args.n_jobs)(
        delayed(run_dataset)(name, X, y, task, cfg) for name, X, y, task in jobs)
    order = DEVELOPMENT + VALIDATION + BUNDLED
    results.sort(key=lambda r: (TASKS.index(r["task"]), GROUPS.index(r["group"]),
                                order.index(r["dataset"]) if r["dataset"] in order else 0,
                                r["dataset"]))
    summary = summarise(results, cfg)
    meta = {"run": "quick" if args.quick else "full",
            "config": {**cfg, "split_seed": SPLIT_SEED, "max_test": MAX_TEST,
                       "grid_dims": GRID_DIMS, "logreg_C": C_GRID.tolist(),
                       "ridge_alphas": RIDGE_ALPHAS.tolist()},
            "data_dir": str(folder) if folder else None, "n_jobs": args.n_jobs,
            "seconds": time.perf_counter() - start, "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(), "machine": {**machine(), **versions()},
            "argv": sys.argv[1:] if argv is None else list(argv)}
    table = markdown(results, meta, summary)
    out = Path(args.out) if args.out else RESULTS / (
        "downstream_quick.json" if args.quick else "downstream.json")
    out = out.with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "datasets": results, "summary": summary},
                              indent=1, default=float))
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"\ntotal {meta['seconds']:.0f} s; load average before {load_before}, after "
          f"{meta['loadavg_after']}; wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
