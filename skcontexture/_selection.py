"""The main job's context selection: its grid, the task of a target, and the ranking.

:func:`select` fits a grid of contexts on the training rows, scores each by the
label-free ``feature_prediction`` proxy task and by tau, ranks the grid and fits the
model a downstream model should get (the linear kernel of the features beside the
best-ranked local context); with labels it also probes every context on held-out rows. The
command line (:mod:`skcontexture.cli`) parses, reads the data and prints the report.
"""

import copy
import time
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import RidgeClassifierCV, RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from ._constraints import blas_threads
from ._defaults import (DEFAULT_GAMMA, DEFAULT_K, LABELS_PER_COMPONENT,
                        MODEL_COMPONENTS, ROWS_PER_CLASS, TASK_CHOICES)
from ._metric_table import MAIN_JOB_METRICS, METRICS
from ._progress import Progress
from ._embedding import ContextureEmbedding, concentrated_columns
from ._scorer import LabelledProbeScorer, spectrum_for_tau
from ._union import union_of_fitted
from .contexts import KNNContext, LinearTeacherContext, RBFContext
from .linalg import DENSE_MAX_SIDE
from .metrics import PROBE_ALPHAS, feature_prediction, probe_dims, tau_curve, tau_regime


def default_grid(n_samples, n_features, k_grid=DEFAULT_K, gamma_grid=DEFAULT_GAMMA):
    """The default contexts: kNN with K in ``k_grid`` (K < n_samples), RBF kernels, and the
    linear kernel of the features.

    RBF widths are ``gamma = g / n_features`` on standardised features (g = 1 is
    scikit-learn's "scale" rule); above 5,000 samples each RBF row keeps its 200
    nearest atoms. The linear kernel (``LinearTeacherContext(whiten=False)``) is the
    context whose contexture is PCA: the grid then holds the representation a user
    would otherwise fit by hand, and the proxy task keeps it where local contexts
    predict left-out features worse than a linear map does.
    """
    grid = [
        (f"kNN K={k}", KNNContext(int(k)))
        for k in k_grid
        if k < n_samples
    ]
    truncate = None if n_samples <= RBFContext.DENSE_MAX_SAMPLES else min(200, n_samples - 1)
    grid += [
        (f"RBF g={g:g}", RBFContext(gamma=g / n_features, n_neighbors=truncate))
        for g in gamma_grid
    ]
    grid.append(("linear", LinearTeacherContext(whiten=False)))
    return grid


def infer_task(y):
    """The task a target asks for, and why: ``(task, reason)``.

    The rule of ``--task auto``: labels that are not numbers (strings, booleans) are
    classes; numbers with a fractional part are a quantity (regression); whole numbers
    are classes when there are at least ``ROWS_PER_CLASS`` rows per distinct value on
    average and every value has 2 rows (the held-out split is stratified by class), and
    a quantity otherwise.

    Parameters
    ----------
    y : array-like of shape (n_samples,)

    Returns
    -------
    task : {"classification", "regression"}
    reason : str
        The rule that decided, with the counts it looked at.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iuf":
        return "classification", "its values are not numbers"
    if np.any(y != np.round(y)):
        return "regression", "its values are not all whole numbers"
    values, counts = np.unique(y, return_counts=True)
    if values.size * ROWS_PER_CLASS > y.size:
        return "regression", (f"{values.size} distinct whole numbers over {y.size} rows, "
                              f"fewer than {ROWS_PER_CLASS} rows per value")
    if counts.min() < 2:
        return "regression", (f"the value {values[np.argmin(counts)]:g} has a single row "
                              "and a class needs 2")
    return "classification", (f"{values.size} distinct whole numbers over {y.size} rows, "
                               "every one on 2 rows or more")


def _check_task(task, y):
    """``task`` for the labels ``y``, with the reason when it is inferred (``task="auto"``)."""
    if task not in TASK_CHOICES:
        raise ValueError(f"task must be one of {TASK_CHOICES}, got {task!r}.")
    reason = None
    if task == "auto":
        task, reason = infer_task(y)
    elif task == "regression" and y.dtype.kind not in "iuf":
        raise ValueError(f"--task regression needs numbers; the target has labels such as "
                         f"{y[0].item()!r}.")
    if task == "classification":
        values, counts = np.unique(y, return_counts=True)
        if counts.min() < 2:
            raise ValueError(
                f"Class {values[np.argmin(counts)].item()!r} of the target has a single row, and "
                "the held-out split needs 2 rows of every class: drop that row, or pass "
                "--task regression if the target is a quantity."
            )
    return task, reason


def _probe(task, alphas=np.logspace(-4, 4, 9)):
    # ridge probes (as in the paper's experiments), regulariser by leave-one-out
    if task == "classification":
        return RidgeClassifierCV(alphas=alphas)
    return RidgeCV(alphas=alphas)


def proxy_score(context, X, X_held=None, *, n_components=128, random_state=0):
    """``feature_prediction`` of a ContextureEmbedding of ``context`` with ``n_components``.

    A left-out context with fewer nonzero singular values embeds in fewer components (the
    embedding warns and keeps those). Returns ``(r2, best_d)``.
    """
    d = max(1, min(n_components, X.shape[0] // 2 - 2))
    estimator = ContextureEmbedding(context, n_components=d, solver=_solver(X),
                                    random_state=random_state)
    return feature_prediction(estimator, X, X_held, random_state=random_state, return_dim=True)


def select(X, y=None, *, grid=None, k_grid=DEFAULT_K, gamma_grid=DEFAULT_GAMMA,
           metric="feature_prediction", task="auto", labelled=None, beta=1.0, max_dim=512,
           test_size=0.3, max_samples=5000, max_probe_dim=128, random_state=0, n_jobs=None):
    """Score a grid of contexts on the training rows and rank them; probe them when ``y`` is given.

    Every context gets its ``feature_prediction`` (the label-free proxy task, with its best
    dimension) and its tau (with d* = argmin_d tau_d and whether tau is trusted). The grid
    is ranked by ``metric``: "feature_prediction" (greater is better), "tau" (trusted
    contexts first, each group by increasing tau) or "labelled" (a cross-validated probe on
    ``labelled`` labelled training rows, the label-efficient choice; needs ``y``). With
    ``y``, every context is also probed on held-out rows, and so is the model with all its
    columns ("model_score"): reported, never used to choose.
    ``task`` ("auto", "classification" or "regression") says what ``y`` is; "auto"
    infers it by :func:`infer_task`. Without ``grid``, the grid is :func:`default_grid`
    of ``k_grid`` and ``gamma_grid`` on the training rows. A context that cannot be fitted
    or embedded (a ``ValueError`` of the context or the solver) gets a row with NaN
    scores and the reason under "error", ranked last. ``n_jobs`` processes score the
    contexts side by side (None: 1, -1: all cores); the result does not depend on it.

    Returns a dict with the task (and the reason when it was inferred), the split sizes,
    the rows (one dict per context, ranked), the spectra, the metric, the scaler fitted on
    the training rows, and the model fitted on the scaled training rows ("embedding"):
    the contexts of :func:`model_parts` (the linear kernel beside the best-ranked local
    context, a :class:`ContextureUnion`), each with the components of
    :func:`model_components` weighted by ``scale="propagation"``; "model_parts" lists
    them (name, context, fitted embedding, the reason for its number of components).
    """
    if metric not in MAIN_JOB_METRICS:
        raise ValueError(f"metric must be one of {MAIN_JOB_METRICS}, got {metric!r}.")
    if metric == "labelled" and (y is None or labelled is None):
        raise ValueError("metric='labelled' needs labels y and a number of labelled rows.")
    if y is None:
        task, task_reason = None, None
        X_train, X_test, y_train, y_test = X, None, None, None
    else:
        task, task_reason = _check_task(task, np.asarray(y))
        stratify = y if task == "classification" else None
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, random_state=random_state, stratify=stratify
        )
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train)
    rng = np.random.RandomState(random_state)
    if X_train.shape[0] > max_samples:
        keep = np.sort(rng.choice(X_train.shape[0], max_samples, replace=False))
        X_train = X_train[keep]
        y_train = None if y_train is None else y_train[keep]
    labelled_rows = None
    if labelled is not None and y is not None:
        if not 2 <= labelled < X_train.shape[0]:
            raise ValueError(
                f"--labelled must be between 2 and the {X_train.shape[0]} training rows, "
                f"got {labelled}."
            )
        labelled_rows = np.sort(rng.permutation(X_train.shape[0])[:labelled])
    if grid is None:
        grid = default_grid(X_train.shape[0], X_train.shape[1], k_grid, gamma_grid)
        if not grid:
            raise ValueError(f"No context is left in the grid: every K is at least the "
                             f"{X_train.shape[0]} training rows. Give smaller --k or some "
                             "--gamma.")
    X_test_s = None if X_test is None else scaler.transform(X_test)
    n_labelled = None if labelled_rows is None else labelled_rows.size

    setting = dict(X_train=X_train, y_train=y_train, X_test=X_test_s, y_test=y_test,
                   labelled_rows=labelled_rows, task=task, beta=beta, max_dim=max_dim,
                   max_probe_dim=max_probe_dim, random_state=random_state)
    # the contexts in parallel processes (each with one BLAS thread and its own warnings)
    scored = Parallel(n_jobs=n_jobs)(delayed(_scored)(name, context, **setting)
                                     for name, context in grid)
    rows, spectra, skipped = [], {}, {}
    for row, s, proxy_error in scored:
        rows.append(row)
        if s is not None:
            spectra[row["context"]] = s
        if proxy_error:
            skipped[row["context"]] = proxy_error
    rows.sort(key=ranking(metric))
    winner = rows[0]
    if winner[metric] != winner[metric]:
        reasons = "; ".join([f"{name}: {reason}" for name, reason in skipped.items()]
                            + [f"{r['context']}: {r['error']}" for r in rows if "error" in r])
        raise ValueError(f"No context of the grid could be scored by {metric}"
                         + (f" ({reasons})" if reasons else "") + ".")
    parts = model_parts(rows, metric)
    models = []
    for part, row in parts:
        models.append({"name": part, "context": row["context"], "embedding": row["model"],
                       "reason": model_components(row["n_probe"], n_labelled)[1]})
    embedding = (models[0]["embedding"] if len(models) == 1 else
                 union_of_fitted([(m["name"], m["embedding"]) for m in models], X_train))
    model_score = None
    if y is not None:
        # the model as a downstream model gets it: every column, on the held-out rows
        model_score = float(_probe(task).fit(embedding.transform(X_train), y_train)
                            .score(embedding.transform(X_test_s), y_test))
    return {"task": task, "task_reason": task_reason, "n_train": X_train.shape[0],
            "metric": metric, "scaler": scaler,
            "n_test": None if X_test is None else X_test.shape[0], "n_labelled": n_labelled,
            "rows": rows, "spectra": spectra, "embedding": embedding, "model_parts": models,
            "model_score": model_score, "skipped": skipped}


def is_linear_kernel(context):
    """Whether ``context`` is the linear kernel of the features (the grid's "linear")."""
    return isinstance(context, LinearTeacherContext) and context.teacher is None


def model_parts(rows, metric):
    """The contexts of the main job's model, as ``[(part name, row), ...]`` from the ranked rows.

    A label-free ranking (the proxy task or tau) cannot tell whether a downstream task is
    served better by what is linear in the features or by the data's local structure:
    its pick of the linear kernel against the grid's best local context is at the level
    of its own noise, and each wins on different data (docs/downstream.md). So the model
    keeps both, side by side as a :class:`ContextureUnion` (each block at total
    variance 1) and lets the downstream model's labels weigh them: the linear kernel of
    the features ("linear") beside the best-ranked other context that can be fitted and
    does not isolate outlying rows ("local"). Without either (a grid without the linear
    kernel, or none of its other contexts usable), the best-ranked context alone; with
    ``metric="labelled"`` too, since labels made the choice.
    """
    usable = [r for r in rows if "error" not in r and not r["outlying"]]
    linear = next((r for r in usable if is_linear_kernel(r["estimator"])), None)
    local = next((r for r in usable if not is_linear_kernel(r["estimator"])), None)
    if metric == "labelled" or linear is None or local is None:
        return [("winner", rows[0])]
    return [("linear", linear), ("local", local)]


def _scored(name, context, **setting):
    """One context's row of the table (ranked later), its spectrum (None when it is n/a)
    and why its ``feature_prediction`` is n/a (None when it is not).

    A context or solver that cannot fit these rows (a ``ValueError``) gives a row of NaN
    scores with the reason under "error". Run in a worker process of :func:`select`, with
    one BLAS thread (as the main job runs) and the library's advice silenced: the report
    says what matters.
    """
    start = time.perf_counter()
    with blas_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            row, s, proxy_error = _score(context, **setting)
        except ValueError as exc:
            keys = (["tau", "feature_prediction", "s1"]
                    + ["score"] * (setting["y_train"] is not None)
                    + ["labelled"] * (setting["labelled_rows"] is not None))
            row = dict.fromkeys(keys, float("nan"))
            row.update(d_tau=None, d_proxy=None, tau_trusted=None, n_probe=None, outlying=0,
                       error=" ".join(str(exc).split()))
            s, proxy_error = None, None
    row.update(context=name, estimator=context, seconds=time.perf_counter() - start)
    return row, s, proxy_error


def _score(context, *, X_train, y_train, X_test, y_test, labelled_rows, task, beta, max_dim,
           max_probe_dim, random_state):
    """The scores of one context (see :func:`_scored`).

    The context is fitted once on the training rows, as the model's estimator seeds it,
    and its operator serves both its spectrum and the model (or, with labels, the probed
    embedding): where the solver is dense, one reduction of its Gram matrix gives both.
    """
    solver = _solver(X_train)
    estimator = ContextureEmbedding(context, solver=solver, scale="none",
                                    random_state=random_state)
    progress = Progress(0, "ContextureEmbedding")
    X_checked, fitted, operator = estimator._fit_context(X_train, None, {}, progress)
    # the values from the Gram matrix the triplets are taken from (exact), when it is formed
    s = spectrum_for_tau(operator, max_dim, solver="dense" if solver == "dense" else "auto",
                         random_state=random_state)
    taus, best_d = tau_curve(s, beta=beta, max_dim=max_dim)
    rank = int(np.sum(s > 1e-6))
    if rank == 0:
        raise ValueError(f"no singular value above 1e-6 besides the trivial one "
                         f"(s_1 = {s[0]:.1e}): every row has nearly the same context.")
    n_probe = max(1, min(max_probe_dim, rank, X_train.shape[0] - 2))
    proxy_error = None
    try:
        r2, d_proxy = proxy_score(context, X_train, n_components=n_probe,
                                  random_state=random_state)
    except ValueError as exc:  # e.g. more neighbours than half the rows
        r2, d_proxy, proxy_error = float("nan"), None, str(exc)
    row = {"tau": float(np.min(taus)), "d_tau": int(best_d),
           "tau_trusted": tau_regime(s, beta=beta, max_dim=max_dim) is None,
           "feature_prediction": r2, "d_proxy": d_proxy, "s1": float(s[0]),
           "n_probe": n_probe}
    n_labelled = None if labelled_rows is None else labelled_rows.size
    n_model = model_components(n_probe, n_labelled)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if y_train is not None:
            # the probed functions, unweighted: a shallow copy of the fitted estimator whose
            # second half of fit re-sets its own attributes from the shared operator
            probed = copy.copy(estimator).set_params(n_components=n_probe)._fit_operator(
                fitted, operator, X_checked.dtype, progress)
            row["score"] = _probe_score(probed, y_train, X_test, y_test, task)
            if labelled_rows is not None:
                row["labelled"] = _labelled_score(probed, labelled_rows, y_train, task,
                                                  random_state)
        # the model the main job keeps, fitted once per context
        estimator.set_params(n_components=n_model, scale="propagation")
        row["model"] = estimator._fit_operator(fitted, operator, X_checked.dtype, progress)
    # functions on a handful of rows among those the model keeps: outliers isolated by the
    # context, nothing a downstream model can use, where the context can give a row a context
    # of its own (the estimator's warning reads the same trait); elsewhere (the linear kernel:
    # a direction of variance that few rows carry) such a function is one new rows share.
    isolates = fitted.traits().isolates_rows
    row["outlying"] = (int(concentrated_columns(row["model"].embedding_)[0].size) if isolates
                       else 0)
    return row, s, proxy_error


def ranking(metric):
    """The sort key of the rows of a grid under ``metric``: the best context first.

    Contexts that could not be fitted come last, before them those whose model would
    have functions on a handful of rows.
    """
    score = METRICS[metric].score

    def by_metric(r):
        worse = -np.nan_to_num(score(r[metric]), nan=-np.inf)
        if metric == "tau":
            # the trusted contexts first (the paper advises against ranking the others by tau)
            return r["tau_trusted"] is not True, worse
        return (worse,)
    return lambda r: ("error" in r, r["outlying"] > 0, *by_metric(r))


def _solver(X):
    # up to DENSE_MAX_SIDE rows one dense eigendecomposition beats the iterative solvers
    # at the ~100 components probed here
    return "dense" if X.shape[0] <= DENSE_MAX_SIDE else "auto"


def model_components(n_probe, n_labelled=None):
    """Components of the main job's model, and why: ``(n_components, reason)``.

    ``MODEL_COMPONENTS``, at most the ``n_probe`` functions the context was probed with,
    and with ``n_labelled`` labelled rows at most ``n_labelled // LABELS_PER_COMPONENT``
    (and at least 2).
    """
    caps = [(MODEL_COMPONENTS, "the main job's default")]
    if n_labelled is not None:
        caps.append((max(2, n_labelled // LABELS_PER_COMPONENT),
                     f"1 per {LABELS_PER_COMPONENT} of the {n_labelled} labelled rows a "
                     "downstream model is fitted on"))
    caps.append((n_probe, "the functions the context was probed with (--max-probe-dim, its "
                          "nonzero singular values and the rows bound them)"))
    return min(caps, key=lambda cap: cap[0])


def _probe_score(emb, y_train, X_test, y_test, task):
    # the best held-out score over the leading d functions, as in benchmarks/selection.py
    Z_train, Z_test = emb.embedding_, emb.transform(X_test)
    return max(float(_probe(task).fit(Z_train[:, :d], y_train).score(Z_test[:, :d], y_test))
               for d in probe_dims(Z_train.shape[1]))


def _labelled_score(emb, rows, y_train, task, random_state):
    try:
        scorer = LabelledProbeScorer(_probe(task, PROBE_ALPHAS), random_state=random_state)
        return scorer.score_embedding(emb.embedding_[rows], y_train[rows])
    except ValueError:  # e.g. a class with a single labelled row
        return float("nan")
