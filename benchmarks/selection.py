"""Does a label-free metric pick a good context? Regret of the chosen context, per metric.

For every dataset of the data folder whose MANIFEST.json entry has a ``task`` (plus
scikit-learn's bundled iris, wine, breast cancer, digits and diabetes):

1. split the rows once (seed 0): test = min(25%, 2,000), labelled = min(25%, 2,000),
   pretrain = the rest capped at ``--max-pretrain`` (default 1,500); features
   standardised on the pretrain split;
2. contexts: the paper's four families (KNN, RBF, KNN+mask, RBF+mask), each at
   ``--n-strengths`` (default 20) strengths from very strong to very weak, the main
   job's default grid (``skcontexture._selection.default_grid``), and the "tabular" grid of
   the contexture dissertation's tabular contexts (``tabular_grid``): kNN (K = 15), CutMix
   and the linear kernel of the features, SCARF (uniform marginal), Cutout, and
   ``MinimaxCombination`` of the first three (d = MODEL_COMPONENTS);
3. per context: the exact top-d0 singular values and functions on the pretrain split
   (d0 = min(512, n_pretrain - 1)); the labelled and test rows embedded by the Nystrom
   extension; the probe error = test MSE of a ridge probe fitted on the labelled split,
   minimised over d in {1, 2, 4, ..., d0} (classification: one-hot targets, squared
   error summed over classes; regression: target standardised on the labelled split).
   Choosing d on the test split flatters every context, so each also gets the error of
   the model the main job keeps, chosen without any label: its first MODEL_COMPONENTS
   (32) functions weighted as ``scale="propagation"``, the same probe ("model error");
4. per context, every label-free score, each the value ``ContextScorer(metric=name)``
   returns (greater is better): tau, feature_prediction, rankme, alpha_req, decay_rate,
   lidar (its embedding: the top min(32, d0) functions of the fit rows);
   feature_prediction uses the labelled split's *inputs only* as the held-out rows;
   and the label-efficient scores ``labelled_m``: a cross-validated ridge probe on
   m = 50, 100, 200 rows of the labelled split (``LabelledProbeScorer``);
5. per dataset, grid and metric: Pearson, Spearman and distance correlation between
   the score and the error (oriented so that a good metric is positive), the
   normalised regret (err(chosen) - err(best)) / (err(median) - err(best)) clipped at 0,
   and whether the chosen context is among the best 3; the same against the model
   error ("regret at the model's d": what a user of the main job's saved model loses).
6. the tabular grid also asks the dissertation's question, combine or choose: per
   dataset and metric, the model error of the minimax mixture against that of the part
   the metric chooses among the mixture's three parts (``minimax_stats``).

Datasets are reported in groups: the development half of the shared data (every design
choice of the new metric was fixed on it), the validation half, scikit-learn's bundled
datasets, and any other dataset of ``--data-dir`` ("external").

    python benchmarks/selection.py                  # full run (about 40 min, 2 workers)
    python benchmarks/selection.py --quick          # CI: 3 small datasets, small grids
    python benchmarks/selection.py --data-dir DIR   # any folder with MANIFEST.json + .npz
    python benchmarks/selection.py --rescore benchmarks/results/selection.json
    python benchmarks/selection.py --grids tabular   # only the dissertation's tabular grid

Writes ``benchmarks/results/selection[_quick].json`` (a ``datasets`` list, each with
``dataset`` and ``contexts`` whose entries carry ``error`` and ``scores``) and ``.md``.
"""

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.stats
from joblib import Parallel, delayed
from sklearn.linear_model import RidgeCV
from threadpoolctl import threadpool_limits

from sklearn.base import clone

from _common import data_dir
from skcontexture import (
    ContextScorer,
    CutMixContext,
    CutoutContext,
    KNNContext,
    LabelledProbeScorer,
    LinearTeacherContext,
    MaskedContext,
    MinimaxCombination,
    RBFContext,
    SCARFContext,
)
from skcontexture._defaults import MODEL_COMPONENTS
from skcontexture._embedding import PROPAGATION_ALPHA
from skcontexture._selection import default_grid, proxy_score
from skcontexture.linalg import context_spectrum, top_singular_functions
from skcontexture.metrics import PROBE_ALPHAS, lidar, probe_dims, tau_regime

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: The shared datasets, split once by a fixed rule before any metric was designed:
#: sorted by name within each task, alternately development and validation.
DEVELOPMENT = ("adult", "breast-w", "credit-approval", "dna", "kr-vs-kp", "spambase",
               "california_housing", "health_insurance")
VALIDATION = ("bio_kdd04", "cmc", "diabetes", "fashion_mnist", "mushroom", "splice",
              "cps88wages", "solar_flare")
BUNDLED = ("sk_iris", "sk_wine", "sk_breast_cancer", "sk_digits", "sk_diabetes")
GROUPS = ("development", "validation", "bundled", "external")
GRIDS = ("paper", "main", "tabular")

LABEL_FREE = ("tau", "feature_prediction", "rankme", "alpha_req", "decay_rate", "lidar")
LABELLED = (50, 100, 200)
METRICS = LABEL_FREE + ("tau_guarded",) + tuple(f"labelled_{m}" for m in LABELLED)

FULL = dict(max_pretrain=1000, max_split=1000, n_strengths=20, n_masks=10, max_dim=512,
            proxy_dim=128)
QUICK = dict(max_pretrain=300, max_split=300, n_strengths=4, n_masks=4, max_dim=128,
             proxy_dim=32)
QUICK_DATASETS = ("diabetes", "breast-w", "credit-approval")
QUICK_BUNDLED = ("sk_iris", "sk_wine", "sk_diabetes")


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


def group_of(name):
    if name in DEVELOPMENT:
        return "development"
    if name in VALIDATION:
        return "validation"
    return "bundled" if name in BUNDLED else "external"


def folder_datasets(folder, names=None):
    """(name, X, y, task) for every MANIFEST entry with a task (restricted to ``names``)."""
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    out = []
    for key, meta in manifest.items():
        if meta.get("task") not in ("classification", "regression"):
            continue
        if names and key not in names and meta.get("paper_name") not in names:
            continue
        try:
            with np.load(folder / f"{key}.npz", allow_pickle=False) as data:
                X, y = np.asarray(data["X"], dtype=float), np.asarray(data["y"])
        except (OSError, KeyError, ValueError) as exc:  # unreadable: say so, run the others
            print(f"skipping {key}: {exc}", file=sys.stderr)
            continue
        if X.ndim != 2 or y.shape[0] != X.shape[0]:
            print(f"skipping {key}: X must be 2-D with one y per row", file=sys.stderr)
            continue
        complete = np.isfinite(X).all(axis=1)
        if meta["task"] == "regression":
            y = y.astype(float)
            complete &= np.isfinite(y)
        if not complete.all():
            print(f"{key}: dropping {np.sum(~complete)} rows with a missing value",
                  file=sys.stderr)
        out.append((key, X[complete], y[complete], meta["task"]))
    return out


def bundled_datasets(names=None):
    """scikit-learn's bundled iris, wine, breast cancer, digits (classification), diabetes."""
    from sklearn import datasets

    out = []
    for name, loader, task in (("sk_iris", datasets.load_iris, "classification"),
                               ("sk_wine", datasets.load_wine, "classification"),
                               ("sk_breast_cancer", datasets.load_breast_cancer, "classification"),
                               ("sk_digits", datasets.load_digits, "classification"),
                               ("sk_diabetes", datasets.load_diabetes, "regression")):
        if names and name not in names:
            continue
        X, y = loader(return_X_y=True)
        out.append((name, X.astype(float), y, task))
    return out


def split(X, y, task, max_pretrain, max_split, seed=0):
    """(pretrain X, labelled X, labelled Y, labelled y, test X, test Y); Y one-hot or scaled."""
    rng = np.random.RandomState(seed)
    order = rng.permutation(X.shape[0])
    n = X.shape[0]
    n_test = min(n // 4, max_split)
    n_lab = min(n // 4, max_split)
    test, lab = order[:n_test], order[n_test : n_test + n_lab]
    pre = order[n_test + n_lab :][:max_pretrain]
    mean, std = X[pre].mean(axis=0), X[pre].std(axis=0)
    std[std == 0] = 1.0
    Xs = (X - mean) / std
    if task == "classification":
        classes = np.unique(y)
        Y = (y[:, None] == classes[None, :]).astype(float)
    else:
        t = y.astype(float)
        Y = ((t - t[lab].mean()) / (t[lab].std() or 1.0))[:, None]
    return Xs[pre], Xs[lab], Y[lab], y[lab], Xs[test], Y[test]


# ------------------------------------------------------------------------------------------------
# contexts
# ------------------------------------------------------------------------------------------------


def context_grid(n_pre, n_features, n_strengths, n_masks, seed=0):
    """(grid, family, strength label, context): the paper's 4 families and the main job's grid."""
    ks = np.unique(np.round(np.geomspace(2, max(3, n_pre // 3), n_strengths)).astype(int))
    # gamma relative to sklearn's "scale" rule on standardised data: 1 / n_features
    gs = np.geomspace(30.0, 0.03, n_strengths)
    grid = [("paper", "KNN", f"K={k}", KNNContext(int(k))) for k in ks]
    grid += [("paper", "RBF", f"g={g:.3g}", RBFContext(gamma=g / n_features)) for g in gs]
    grid += [("paper", "KNN+mask", f"K={k}",
              MaskedContext(KNNContext(int(k)), mask_ratio=0.2, n_masks=n_masks,
                            random_state=seed)) for k in ks]
    grid += [("paper", "RBF+mask", f"g={g:.3g}",
              MaskedContext(RBFContext(gamma=g / n_features), mask_ratio=0.2, n_masks=n_masks,
                            random_state=seed)) for g in gs]
    grid += [("main", *name.partition(" ")[::2], context)  # "kNN K=5" -> "kNN", "K=5"
             for name, context in default_grid(n_pre, n_features)]
    return grid + tabular_grid(seed)


#: The minimax mixture's parts in the tabular grid (family names).
MINIMAX_PARTS = ("kNN", "CutMix", "linear")


def tabular_parts(seed=0):
    """The minimax mixture's parts: kNN, CutMix (SCARF's empirical marginal), the linear
    kernel of the features."""
    return [("kNN", KNNContext(15)), ("CutMix", CutMixContext(random_state=seed)),
            ("linear", LinearTeacherContext(whiten=False))]


def tabular_grid(seed=0):
    """(grid, family, strength label, context) of the dissertation's tabular contexts: the
    minimax mixture's parts, SCARF and Cutout at their defaults, and the mixture, its weights
    chosen for the main job's model size."""
    grid = [("tabular", name, "default", context) for name, context in tabular_parts(seed)]
    grid += [("tabular", "SCARF", "uniform", SCARFContext(random_state=seed)),
             ("tabular", "Cutout", "0", CutoutContext(random_state=seed)),
             ("tabular", "minimax", f"d={MODEL_COMPONENTS}",
              MinimaxCombination(tabular_parts(seed), n_components=MODEL_COMPONENTS,
                                 random_state=seed))]
    return grid


def exact_top(context, d0):
    """Exact top-d0 singular values and the atom functions nu_i of the nonzero ones."""
    s = context_spectrum(context.joint_, d0, solver="dense").values
    usable = int(np.sum(s > 1e-7))
    nu = top_singular_functions(context.joint_, usable, solver="dense")[2]
    return s, nu


# ------------------------------------------------------------------------------------------------
# one context
# ------------------------------------------------------------------------------------------------


def label_free_scores(context, s, Z_fit, X_pre, X_lab, max_dim, proxy_dim, seed):
    """Every label-free score of one context, each as ContextScorer(metric=name) computes it.

    feature_prediction: the function ContextScorer("feature_prediction") calls, with the
    pretrain rows as fit rows and the labelled split's inputs (no labels) as held-out rows,
    for a ContextureEmbedding of ``proxy_dim`` components (fewer if the context has fewer;
    ``skcontexture._selection.proxy_score``, as the main job).
    """
    scores = {}
    for metric in ("tau", "rankme", "alpha_req", "decay_rate"):
        scores[metric] = float(ContextScorer(metric, max_dim=max_dim).score_spectrum(s))
    try:
        scores["feature_prediction"] = proxy_score(
            clone(context), X_pre, X_lab, n_components=min(proxy_dim, int(np.sum(s > 1e-6))),
            random_state=seed)[0]
    except ValueError:  # e.g. a single feature: nothing to leave out
        scores["feature_prediction"] = float("nan")
    try:
        scores["lidar"] = float(lidar(Z_fit[:, : min(32, Z_fit.shape[1])], context.joint_))
    except ValueError:  # LiDAR needs atoms that are the fit rows (not the linear kernel's)
        scores["lidar"] = float("nan")
    return scores


def labelled_scores(Z_lab, y_lab, task, seed=0):
    """Cross-validated probe on m labelled rows (LabelledProbeScorer's rule), per m.

    The probe follows the dataset's task (a regression target with integer values,
    such as hours or counts, would otherwise be taken for classes).
    """
    rng = np.random.RandomState(seed + 1)
    probe = RidgeCV(alphas=PROBE_ALPHAS) if task == "regression" else None
    out = {}
    for m in LABELLED:
        if m > y_lab.shape[0]:
            continue
        rows = np.sort(rng.permutation(y_lab.shape[0])[:m])
        scorer = LabelledProbeScorer(probe, cv=5, random_state=seed)
        try:
            out[f"labelled_{m}"] = float(scorer.score_embedding(Z_lab[rows], y_lab[rows]))
        except ValueError:  # e.g. a class with fewer than 5 of the m rows
            out[f"labelled_{m}"] = float("nan")
    return out


def probe_error(Z_lab, Y_lab, Z_test, Y_test):
    """Test squared error (summed over targets) of a ridge probe fitted on the labelled rows."""
    probe = RidgeCV(alphas=PROBE_ALPHAS).fit(Z_lab, Y_lab)
    residual = probe.predict(Z_test).reshape(Y_test.shape) - Y_test
    return float(np.mean(np.sum(residual**2, axis=1)))


def evaluate(grid, family, label, context, data, max_dim, proxy_dim, seed):
    X_pre, X_lab, Y_lab, y_lab, X_test, Y_test, task = data
    start = time.perf_counter()
    context.fit(X_pre)
    d0 = min(max_dim, X_pre.shape[0] - 1)
    s, nu = exact_top(context, d0)
    usable = nu.shape[1]
    proj = nu / s[:usable]
    Z_fit = np.asarray(context.joint_ @ proj) / np.asarray(context.joint_.sum(axis=1))
    Z_lab = np.asarray(context.conditional(X_lab) @ proj)
    Z_test = np.asarray(context.conditional(X_test) @ proj)
    errors = {d: probe_error(Z_lab[:, :d], Y_lab, Z_test[:, :d], Y_test)
              for d in probe_dims(usable)}
    best = min(errors, key=errors.get)
    # the main job's model: d fixed without labels, columns weighted as scale="propagation"
    kept = s[: min(MODEL_COMPONENTS, usable)]
    weights = kept / np.sqrt(1.0 - PROPAGATION_ALPHA * kept**2)
    error_model = probe_error(Z_lab[:, :kept.size] * weights, Y_lab,
                              Z_test[:, :kept.size] * weights, Y_test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = label_free_scores(context, s, Z_fit, X_pre, X_lab, max_dim, proxy_dim, seed)
        scores.update(labelled_scores(Z_lab[:, :proxy_dim], y_lab, task, seed))
    trusted = tau_regime(s, max_dim=max_dim) is None
    return {"grid": grid, "family": family, "strength": label, "error": errors[best],
            "error_best_d": int(best), "errors": {str(k): v for k, v in errors.items()},
            "error_model": error_model,
            "scores": scores, "tau_trusted": bool(trusted), "s_head": [float(v) for v in s[:16]],
            "seconds": time.perf_counter() - start}


# ------------------------------------------------------------------------------------------------
# selection statistics
# ------------------------------------------------------------------------------------------------


def distance_correlation(a, b):
    """Szekely's (biased, V-statistic) distance correlation of two samples."""
    a, b = np.asarray(a, float), np.asarray(b, float)

    def centred(x):
        D = np.abs(x[:, None] - x[None, :])
        return D - D.mean(0) - D.mean(1)[:, None] + D.mean()

    A, B = centred(a), centred(b)
    dcov = (A * B).mean()
    dvar = math.sqrt((A * A).mean() * (B * B).mean())
    return float(math.sqrt(max(dcov, 0.0) / dvar)) if dvar > 0 else float("nan")


def selection_stats(records, metric, target="error"):
    """Correlations, normalised regret and top-3 hit of one metric over one grid, against
    ``target``: "error" (d chosen on the test split) or "error_model" (the main job's d)."""
    err = np.array([r[target] for r in records])
    if metric == "tau_guarded":  # tau, with every trusted context ranked above the untrusted
        score = np.array([r["scores"]["tau"] - (0.0 if r["tau_trusted"] else 1e6)
                          for r in records])
    else:
        score = np.array([r["scores"].get(metric, np.nan) for r in records], dtype=float)
    ok = np.isfinite(score)
    if ok.sum() < 3:
        return None
    chosen = np.flatnonzero(ok)[np.argmax(score[ok])]
    best, median = err.min(), np.median(err)
    regret = max(0.0, (err[chosen] - best) / (median - best)) if median > best else 0.0
    third = np.sort(err)[min(2, err.size - 1)]
    out = {"regret": float(regret), "top3": bool(err[chosen] <= third),
           "chosen": f"{records[chosen]['family']} {records[chosen]['strength']}",
           "chosen_error": float(err[chosen]), "n": int(ok.sum())}
    # a good metric is high where the error is low: correlate the score with -error
    if np.std(score[ok]) > 0 and np.std(err[ok]) > 0:
        out["pearson"] = float(np.corrcoef(score[ok], -err[ok])[0, 1])
        out["spearman"] = float(scipy.stats.spearmanr(score[ok], -err[ok])[0])
        out["dcor"] = distance_correlation(score[ok], err[ok])
    return out


def minimax_stats(records):
    """Combine or choose: per metric, the model error of the minimax mixture and of the part
    each metric chooses among its parts (None without the mixture or three scored parts)."""
    mixture = [r for r in records if r["family"] == "minimax"]
    parts = [r for r in records if r["family"] in MINIMAX_PARTS]
    if not mixture or len(parts) < len(MINIMAX_PARTS):
        return None
    out = {"minimax_error": mixture[0]["error_model"],
           "best_part_error": min(r["error_model"] for r in parts), "chosen": {}}
    for metric in METRICS:
        stats = selection_stats(parts, metric, "error_model")
        if stats is not None:
            out["chosen"][metric] = {"part": stats["chosen"], "error": stats["chosen_error"],
                                     "minimax_better": mixture[0]["error_model"]
                                     < stats["chosen_error"]}
    return out


def dataset_stats(result):
    out = {}
    for grid in GRIDS:
        recs = [r for r in result["contexts"] if "failed" not in r and r["grid"] == grid]
        if len(recs) < 3:
            out[grid] = None
            continue
        errs = np.array([r["error"] for r in recs])
        out[grid] = {"best": float(errs.min()), "median": float(np.median(errs)),
                     "metrics": {m: selection_stats(recs, m) for m in METRICS}}
        if all("error_model" in r for r in recs):  # runs saved before it have none
            out[grid]["metrics_model"] = {m: selection_stats(recs, m, "error_model")
                                          for m in METRICS}
        if grid == "tabular":
            out[grid]["minimax"] = minimax_stats(recs)
    return out


def summarise(results):
    """Per group and grid: mean/median regret, top-3 rate, mean correlations of every metric."""
    summary = {}
    for group in GROUPS:
        members = [r for r in results if r["group"] == group]
        if not members:
            continue
        summary[group] = {}
        for grid in GRIDS:
            block = {}
            for m in METRICS:
                rows = [r["stats"][grid]["metrics"][m] for r in members if r["stats"][grid]]
                rows = [x for x in rows if x is not None]
                if not rows:
                    continue

                def mean(key, rows=rows):
                    vals = [x[key] for x in rows if x.get(key) is not None]
                    return float(np.mean(vals)) if vals else None

                model = [r["stats"][grid].get("metrics_model", {}).get(m) for r in members
                         if r["stats"][grid]]
                model = [x["regret"] for x in model if x is not None]
                block[m] = {"n_datasets": len(rows),
                            "regret_model_median": float(np.median(model)) if model else None,
                            "regret_mean": mean("regret"),
                            "regret_median": float(np.median([x["regret"] for x in rows])),
                            "top3_rate": mean("top3"),
                            "pearson_mean": mean("pearson"),
                            "spearman_mean": mean("spearman"),
                            "dcor_mean": mean("dcor")}
            summary[group][grid] = block
    return summary


# ------------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------------


def run_dataset(name, X, y, task, cfg, seed=0):
    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        parts = split(X, y, task, cfg["max_pretrain"], cfg["max_split"], seed)
        data = parts + (task,)
        n_pre = parts[0].shape[0]
        records = []
        for grid, family, label, context in context_grid(n_pre, X.shape[1], cfg["n_strengths"],
                                                          cfg["n_masks"], seed):
            if grid not in cfg["grids"]:
                continue
            try:
                records.append(evaluate(grid, family, label, context, data, cfg["max_dim"],
                                        cfg["proxy_dim"], seed))
            except Exception as exc:  # report, do not hide
                records.append({"grid": grid, "family": family, "strength": label,
                                "failed": repr(exc)})
    ok = [r for r in records if "failed" not in r]
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {len(ok)}/{len(records)} contexts in "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    result = {"dataset": name, "group": group_of(name), "task": task, "n_pretrain": n_pre,
              "n_labelled": int(parts[1].shape[0]), "n_test": int(parts[4].shape[0]),
              "n_features": int(X.shape[1]), "n_contexts": len(ok),
              "n_failed": len(records) - len(ok), "seconds": time.perf_counter() - start,
              "contexts": records}
    result["stats"] = dataset_stats(result)
    return result


def _fmt(x, spec=".2f"):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    return format(x, spec)


SHOWN = ("tau", "tau_guarded", "feature_prediction", "rankme", "alpha_req", "decay_rate", "lidar",
         "labelled_50", "labelled_100", "labelled_200")


def markdown(results, meta):
    summary = meta["summary"]
    cfg = meta["config"]
    lines = [
        f"Context selection ({meta['mode']} run): 4 families x {cfg['n_strengths']} strengths "
        f"(paper grid), the main job's grid and the dissertation's tabular contexts "
        f"(tabular grid; grids run: {', '.join(cfg.get('grids', GRIDS))}); "
        f"pretrain <= {cfg['max_pretrain']} rows, "
        f"d0 = {cfg['max_dim']}, {cfg['n_masks']} masks, seed {meta['seed']}. Regret = "
        "(err(chosen) - err(best)) / (err(median) - err(best)), clipped at 0: 0 is the best "
        "context, 1 a median one. Correlations are of the score with -error (positive = good). "
        "Regret at the model's d: the same, each context's error taken at the d of the main "
        "job's model (32 scaled components, no label used), not at the d best on the test split.",
    ]
    for grid in GRIDS:
        for group in GROUPS:
            block = summary.get(group, {}).get(grid)
            if not block:
                continue
            n = max(v["n_datasets"] for v in block.values())
            lines += ["", f"**{group}, {grid} grid** ({n} datasets)", "",
                      "| metric | regret mean | regret median | regret median at the model's d | "
                      "top-3 | Spearman | Pearson | dCor |", "|---|---|---|---|---|---|---|---|"]
            for m in SHOWN:
                if m not in block:
                    continue
                v = block[m]
                lines.append(f"| {m} | {_fmt(v['regret_mean'])} | {_fmt(v['regret_median'])} | "
                             f"{_fmt(v.get('regret_model_median'))} | {_fmt(v['top3_rate'])} | {_fmt(v['spearman_mean'])} | "
                             f"{_fmt(v['pearson_mean'])} | {_fmt(v['dcor_mean'])} |")
    lines += ["", "Per dataset (paper grid): regret / top-3 / Spearman of tau, feature_prediction "
              "and labelled_100, and the contexts each picks.", "",
              "| dataset | group | tau | picks | feature_prediction | picks | labelled_100 | "
              "best context |", "|---|---|---|---|---|---|---|---|"]
    for res in results:
        if res["stats"]["paper"] is None:
            continue
        st = res["stats"]["paper"]["metrics"]
        recs = [r for r in res["contexts"] if "failed" not in r and r["grid"] == "paper"]
        best = min(recs, key=lambda r: r["error"])

        def cell(m):
            v = st.get(m)
            return "—" if v is None else (f"{v['regret']:.2f} / {int(v['top3'])} / "
                                          f"{_fmt(v.get('spearman'))}")

        lines.append(f"| {res['dataset']} | {res['group']} | {cell('tau')} | "
                     f"{st['tau']['chosen'] if st['tau'] else '—'} | "
                     f"{cell('feature_prediction')} | "
                     f"{st['feature_prediction']['chosen'] if st['feature_prediction'] else '—'}"
                     f" | {cell('labelled_100')} | {best['family']} {best['strength']} |")
    return "\n".join(lines + combine_or_choose(results))


def combine_or_choose(results):
    """The tabular grid's minimax mixture against the part a metric chooses (model error)."""
    rows = [(res, res["stats"].get("tabular") and res["stats"]["tabular"].get("minimax"))
            for res in results]
    rows = [(res, mm) for res, mm in rows if mm]
    if not rows:
        return []
    shown = ("feature_prediction", "tau", "labelled_100")
    lines = ["", "Combine or choose (tabular grid, model error: 32 scaled components): the "
             f"minimax mixture of {', '.join(MINIMAX_PARTS)} against the best part and the "
             "part each metric chooses without the test labels; * = the mixture's error is "
             "lower.", "",
             "| dataset | group | minimax | best part | "
             + " | ".join(f"{m}: part, error" for m in shown) + " |",
             "|---|---|---|---|" + "---|" * len(shown)]
    for res, mm in rows:
        cells = []
        for m in shown:
            c = mm["chosen"].get(m)
            cells.append("—" if c is None else f"{c['part'].split()[0]}, {c['error']:.3f}"
                         + (" *" if c["minimax_better"] else ""))
        lines.append(f"| {res['dataset']} | {res['group']} | {mm['minimax_error']:.3f} | "
                     f"{mm['best_part_error']:.3f} | " + " | ".join(cells) + " |")
    for m in shown:
        votes = [mm["chosen"][m]["minimax_better"] for _, mm in rows if m in mm["chosen"]]
        lines.append(f"\nThe mixture beats the part {m} chooses on {sum(votes)} of "
                     f"{len(votes)} datasets, and the best part on "
                     f"{sum(mm['minimax_error'] < mm['best_part_error'] for _, mm in rows)} of "
                     f"{len(rows)}." if m == shown[0] else
                     f"The mixture beats the part {m} chooses on {sum(votes)} of "
                     f"{len(votes)} datasets.")
    return lines


def write(results, meta, stem):
    meta["summary"] = summarise(results)
    table = markdown(results, meta)
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".json"), "w") as fh:
        json.dump({"meta": meta, "datasets": results}, fh, indent=1)
    stem.with_suffix(".md").write_text(table + "\n")
    print(table)


def rescore(path, output=None):
    """Recompute the statistics and tables of a saved run from its per-context records."""
    saved = json.loads(path.read_text())
    results, meta = saved["datasets"], saved["meta"]
    for res in results:
        res["group"] = group_of(res["dataset"])
        res["stats"] = dataset_stats(res)
    write(results, meta, Path(output) if output else path.with_suffix(""))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 small datasets, small grids")
    parser.add_argument("--data-dir", help="folder with MANIFEST.json and the .npz files")
    parser.add_argument("--datasets", nargs="*", help="restrict to these dataset names")
    parser.add_argument("--no-bundled", action="store_true",
                        help="leave out scikit-learn's bundled datasets")
    parser.add_argument("--n-strengths", type=int, help="strengths per family")
    parser.add_argument("--max-pretrain", type=int)
    parser.add_argument("--n-masks", type=int)
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="datasets in parallel processes (default: 2, 1 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grids", nargs="+", choices=GRIDS, default=list(GRIDS),
                        help="the grids to run (default: all)")
    parser.add_argument("--output", help="output stem (default benchmarks/results/selection)")
    parser.add_argument("--rescore", metavar="JSON",
                        help="recompute the statistics and tables of a saved run (no fitting)")
    args = parser.parse_args(argv)
    if args.rescore:
        return rescore(Path(args.rescore), args.output)

    cfg = dict(QUICK if args.quick else FULL)
    if args.n_jobs is None:
        args.n_jobs = 1 if args.quick else 2
    for key in ("n_strengths", "max_pretrain", "n_masks"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    cfg["grids"] = tuple(args.grids)

    try:
        folder = data_dir(args.data_dir)
    except FileNotFoundError:
        folder = None
    names = args.datasets or (QUICK_DATASETS if args.quick else None)
    jobs = []
    if folder is not None and (folder / "MANIFEST.json").exists():
        jobs += folder_datasets(folder, names)
    elif args.quick:
        print("note: no data folder found; --quick runs on scikit-learn's bundled datasets")
    elif args.data_dir:
        print(f"error: no MANIFEST.json in {folder}", file=sys.stderr)
        return 2
    if args.quick:
        if not jobs:
            jobs = bundled_datasets(args.datasets or QUICK_BUNDLED)
    elif not args.no_bundled:
        jobs += bundled_datasets(args.datasets)
    if not jobs:
        print("error: no dataset selected", file=sys.stderr)
        return 2

    start = time.perf_counter()
    load_before = os.getloadavg()
    # largest first so that the parallel workers finish together
    jobs.sort(key=lambda j: -min(j[1].shape[0], 4 * cfg["max_pretrain"]) * j[1].shape[1] ** 0.3)
    results = Parallel(n_jobs=args.n_jobs)(
        delayed(run_dataset)(name, X, y, task, cfg, args.seed) for name, X, y, task in jobs
    )
    order = DEVELOPMENT + VALIDATION + BUNDLED
    results.sort(key=lambda r: (GROUPS.index(r["group"]),
                                order.index(r["dataset"]) if r["dataset"] in order else 0,
                                r["dataset"]))
    meta = {"mode": "quick" if args.quick else "full", "config": cfg, "seed": args.seed,
            "data_dir": str(folder) if folder else None,
            "seconds": time.perf_counter() - start, "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(), "n_jobs": args.n_jobs,
            "cpu_count": os.cpu_count(), "python": platform.python_version()}
    default = RESULTS / ("selection_quick" if args.quick else "selection")
    write(results, meta, Path(args.output) if args.output else default)
    print(f"\ntotal {meta['seconds']:.0f} s; load average before {load_before}, after "
          f"{meta['loadavg_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
