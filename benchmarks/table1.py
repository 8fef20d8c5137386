"""Reproduce Table 1 of Zhai et al. (ICML 2025): does tau predict the downstream error of a context?

For every dataset of ``../shared/data`` that the paper uses (MANIFEST.json field ``paper_name``):

1. split the rows once (seed 0): test = min(25%, 2,000), labelled = min(25%, 2,000), pretrain =
   the rest capped at ``--max-pretrain`` (default 1,500); features standardised on the pretrain
   split;
2. for 4 context families (KNN, RBF, KNN+mask, RBF+mask) x a geometric grid of strengths from
   very strong to very weak, compute the exact top-d0 singular values and functions of the
   context on the pretrain split (dense Gram eigendecomposition, d0 = min(512, n_pretrain - 1));
3. embed the labelled and test splits with the Nystrom extension, fit a ridge probe on the
   labelled split for every d in {1, 2, 4, ..., d0} (regulariser chosen by leave-one-out over
   10 values, ``RidgeCV``), and take the test MSE (classification: one-hot targets, squared
   error summed over classes; regression: target standardised on the labelled split) minimised
   over d;
4. correlate, across the contexts of the dataset, tau (beta = 1, d0 = 512) with that error
   (Pearson and distance correlation), and the same for the baselines RankMe, alpha-ReQ and the
   spectral decay rate, all computed from the same spectrum (see ``docs/context_selection.md``).

Writes ``benchmarks/results/table1[_quick].json`` and ``.md`` and prints the markdown table.

    python benchmarks/table1.py            # full run: 12 min on the 2-core machine (2 workers)
    python benchmarks/table1.py --quick    # 3 small datasets, small grids: under 2 minutes
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
import scipy.linalg
import scipy.stats
from joblib import Parallel, delayed
from sklearn.linear_model import RidgeCV
from threadpoolctl import threadpool_limits

from skcontexture import KNNContext, MaskedContext, RBFContext
from skcontexture._operator import ContextOperator
from skcontexture.metrics import alpha_req, decay_rate, rankme, tau_curve

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: Paper Table 1 (Pearson, distance correlation) for the datasets we ship (THEORY.md section 7).
PAPER = {
    "cmc": (0.867, 0.860),
    "diabetes": (0.737, 0.740),
    "spambase": (0.775, 0.858),
    "dna": (0.881, 0.843),
    "splice": (0.831, 0.801),
    "kr-vs-kp": (0.543, 0.512),
    "health_insurance": (0.601, 0.749),
    "cps88wages": (0.250, 0.479),
    "solar_flare": (0.019, 0.262),
    "breast-w": (0.072, 0.255),
    "credit-approval": (0.583, 0.683),
    "mushroom": (0.185, 0.340),
}
PAPER_MEAN_28 = (0.431, 0.611)
PAPER_MEDIAN_28 = (0.587, 0.659)

BASELINES = ("rankme", "alpha_req", "decay_rate")
#: Orientation of each metric as a predictor of the error ("badness": larger = predicted worse).
#: tau: lower is better. RankMe: higher is better. alpha-ReQ: alpha close to 1 is best (a band).
#: decay rate: no direction is given by its authors; we orient it as "faster decay (weaker
#: context) is worse" and also report the best sign chosen in hindsight (|r|).
BADNESS = {
    "tau": lambda v: v,
    "rankme": lambda v: -v,
    "alpha_req": lambda v: np.abs(v - 1.0),
    "decay_rate": lambda v: v,
}

FULL = dict(max_pretrain=1500, max_split=2000, n_strengths=12, n_masks=25, max_dim=512)
QUICK = dict(max_pretrain=300, max_split=300, n_strengths=4, n_masks=8, max_dim=128)
QUICK_DATASETS = ("diabetes", "breast-w", "credit-approval")
RIDGE_ALPHAS = np.logspace(-4, 5, 10)


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


def data_dir(cli_value=None):
    """``--data-dir``, else $SKCONTEXTURE_DATA, else ../shared/data next to the repository."""
    for candidate in (cli_value, os.environ.get("SKCONTEXTURE_DATA")):
        if candidate:
            return Path(candidate)
    default = HERE.parent.parent / "shared" / "data"
    return default if default.exists() else None


def paper_datasets(folder, names=None):
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    out = []
    for key, meta in manifest.items():
        if not meta.get("paper_name"):
            continue
        if names and meta["paper_name"] not in names and key not in names:
            continue
        out.append((key, meta))
    return out


def load(folder, key, meta):
    with np.load(folder / f"{key}.npz", allow_pickle=False) as data:
        X = np.asarray(data["X"], dtype=float)
        y = np.asarray(data["y"])
    return X, y, meta["task"]


def split(X, y, task, max_pretrain, max_split, seed=0):
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
    return (Xs[pre], Xs[lab], Y[lab], Xs[test], Y[test])


# ------------------------------------------------------------------------------------------------
# contexts
# ------------------------------------------------------------------------------------------------


def context_grid(n_pre, n_features, n_strengths, n_masks, seed=0):
    """(family, strength label, context) for the 4 families, strong to weak within each."""
    ks = np.unique(np.round(np.geomspace(2, max(3, n_pre // 3), n_strengths)).astype(int))
    # gamma relative to sklearn's "scale" rule on standardised data: 1 / n_features
    gs = np.geomspace(30.0, 0.03, n_strengths)
    grid = [("KNN", f"K={k}", KNNContext(int(k))) for k in ks]
    grid += [("RBF", f"g={g:.3g}", RBFContext(gamma=g / n_features)) for g in gs]
    grid += [
        ("KNN+mask", f"K={k}",
         MaskedContext(KNNContext(int(k)), mask_ratio=0.2, n_masks=n_masks, random_state=seed))
        for k in ks
    ]
    grid += [
        ("RBF+mask", f"g={g:.3g}",
         MaskedContext(RBFContext(gamma=g / n_features), mask_ratio=0.2, n_masks=n_masks,
                       random_state=seed))
        for g in gs
    ]
    return grid


def exact_top(context, X_pre, d0):
    """Exact top-d0 singular values and atom functions nu_i / s_i of a fitted context."""
    op = ContextOperator(context.joint_)
    G = op.gram()  # deflated Gram of the atom side (square contexts: n = m)
    size = G.shape[0]
    k = min(d0, size - 1)
    try:
        w, V = scipy.linalg.eigh(G, subset_by_index=(size - k, size - 1))
    except scipy.linalg.LinAlgError:
        w, V = scipy.linalg.eigh(G, driver="evd")
        w, V = w[size - k :], V[:, size - k :]
    w, V = w[::-1], V[:, ::-1]
    s = np.sqrt(np.clip(w, 0.0, 1.0))
    if op.shape[1] > op.shape[0]:  # Gram of the row side: map to atom vectors
        V = op.rmatmat(V) / np.where(s > 0, s, 1.0)
    nu = np.zeros((context.n_atoms_, k))
    nu[op.atoms] = V / op.v0[:, None]
    return s, nu


# ------------------------------------------------------------------------------------------------
# one context
# ------------------------------------------------------------------------------------------------


def d_grid(d_max):
    ds = [2**i for i in range(int(math.log2(max(d_max, 1))) + 1)]
    if ds[-1] != d_max:
        ds.append(d_max)
    return ds


def spectrum_metrics(s, max_dim):
    taus, best_d = tau_curve(s, beta=1.0, max_dim=max_dim)
    return {
        "tau": float(np.min(taus)),
        "tau_best_d": int(best_d),
        "rankme": float(rankme(np.diag(s))),
        "alpha_req": float(alpha_req(np.vstack([np.diag(s), -np.diag(s)]))),
        "decay_rate": float(decay_rate(s)),
    }


def evaluate(family, label, context, data, max_dim):
    X_pre, X_lab, Y_lab, X_test, Y_test = data
    start = time.perf_counter()
    context.fit(X_pre)
    d0 = min(max_dim, X_pre.shape[0] - 1)
    s, nu = exact_top(context, X_pre, d0)
    record = {"family": family, "strength": label}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record.update(spectrum_metrics(s, max_dim))
    record["s_head"] = [float(v) for v in s[:16]]
    usable = int(np.sum(s > 1e-8))
    proj = nu[:, :usable] / s[:usable]
    Z_lab = np.asarray(context.conditional(X_lab) @ proj)
    Z_test = np.asarray(context.conditional(X_test) @ proj)
    errors = {}
    for d in d_grid(usable):
        probe = RidgeCV(alphas=RIDGE_ALPHAS).fit(Z_lab[:, :d], Y_lab)
        residual = probe.predict(Z_test[:, :d]).reshape(Y_test.shape) - Y_test
        errors[d] = float(np.mean(np.sum(residual**2, axis=1)))
    best = min(errors, key=errors.get)
    record.update(error=errors[best], error_best_d=int(best),
                  errors={str(k): v for k, v in errors.items()},
                  seconds=time.perf_counter() - start)
    return record


# ------------------------------------------------------------------------------------------------
# correlations
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


def correlations(records):
    out = {}
    err = np.array([r["error"] for r in records])
    for metric in ("tau",) + BASELINES:
        values = np.array([r[metric] for r in records], dtype=float)
        ok = np.isfinite(values) & np.isfinite(err)
        bad = BADNESS[metric](values[ok])
        if ok.sum() < 3 or np.std(bad) == 0 or np.std(err[ok]) == 0:
            out[metric] = {"pearson": None, "dcor": None, "spearman": None, "n": int(ok.sum())}
            continue
        r = float(np.corrcoef(bad, err[ok])[0, 1])
        out[metric] = {"pearson": r, "abs_pearson": abs(r),
                       "dcor": distance_correlation(bad, err[ok]),
                       # not in the paper: a rank correlation, robust to the huge tau of
                       # near-disconnected contexts (reported as a diagnostic)
                       "spearman": float(scipy.stats.spearmanr(bad, err[ok])[0]),
                       "n": int(ok.sum())}
    return out


# ------------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------------


def run_dataset(name, X, y, task, cfg, seed=0):
    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        data = split(X, y, task, cfg["max_pretrain"], cfg["max_split"], seed)
        n_pre = data[0].shape[0]
        grid = context_grid(n_pre, X.shape[1], cfg["n_strengths"], cfg["n_masks"], seed)
        records = []
        for family, label, context in grid:
            try:
                records.append(evaluate(family, label, context, data, cfg["max_dim"]))
            except Exception as exc:  # report, do not hide
                records.append({"family": family, "strength": label, "failed": repr(exc)})
    ok = [r for r in records if "failed" not in r]
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {len(ok)}/{len(records)} contexts in "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return {
        "dataset": name,
        "task": task,
        "n_pretrain": n_pre,
        "n_labelled": int(data[1].shape[0]),
        "n_test": int(data[3].shape[0]),
        "n_features": int(X.shape[1]),
        "n_contexts": len(ok),
        "n_failed": len(records) - len(ok),
        "n_infinite_tau": int(sum(not np.isfinite(r["tau"]) for r in ok)),
        "families": sorted({r["family"] for r in ok}),
        "correlations": correlations(ok),
        "paper": PAPER.get(name),
        "seconds": time.perf_counter() - start,
        "contexts": records,
    }


def _fmt(x):
    return "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.3f}"


def markdown(results, meta):
    lines = [
        f"Table 1 reproduction ({meta['mode']} run). Families: {', '.join(meta['families'])}; "
        f"{meta['config']['n_strengths']} strengths per family; pretrain <= "
        f"{meta['config']['max_pretrain']} rows; d0 = {meta['config']['max_dim']}; "
        f"{meta['config']['n_masks']} masks; seed {meta['seed']}. Baselines oriented as predicted "
        "badness (−RankMe, |α−1|, decay rate); |r| in parentheses is the best sign in "
        "hindsight.",
        "",
        "| dataset | n_pre | contexts | τ Pearson | paper | τ dCor | paper | τ Spearman | "
        "RankMe Pearson (abs) | α-ReQ Pearson (abs) | decay Pearson (abs) | RankMe dCor | "
        "α-ReQ dCor | decay dCor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        c = res["correlations"]
        paper = res["paper"] or (None, None)
        base = []
        for m in BASELINES:
            base.append(f"{_fmt(c[m]['pearson'])} ({_fmt(c[m].get('abs_pearson'))})")
        lines.append(
            f"| {res['dataset']} | {res['n_pretrain']} | {res['n_contexts']}"
            f"{' (' + str(res['n_infinite_tau']) + ' τ=∞)' if res['n_infinite_tau'] else ''} | "
            f"{_fmt(c['tau']['pearson'])} | {_fmt(paper[0])} | {_fmt(c['tau']['dcor'])} | "
            f"{_fmt(paper[1])} | {_fmt(c['tau'].get('spearman'))} | " + " | ".join(base) + " | "
            + " | ".join(_fmt(c[m]["dcor"]) for m in BASELINES) + " |"
        )
    summary = meta["summary"]
    for stat in ("mean", "median"):
        s = summary[stat]
        lines.append(
            f"| **{stat}** | | | **{_fmt(s['tau']['pearson'])}** | {_fmt(s['paper']['pearson'])} | "
            f"**{_fmt(s['tau']['dcor'])}** | {_fmt(s['paper']['dcor'])} | "
            f"{_fmt(s['tau']['spearman'])} | "
            + " | ".join(f"{_fmt(s[m]['pearson'])} ({_fmt(s[m]['abs_pearson'])})"
                         for m in BASELINES)
            + " | " + " | ".join(_fmt(s[m]["dcor"]) for m in BASELINES) + " |"
        )
    lines.append(
        f"\nPaper over its 28 datasets: mean {PAPER_MEAN_28[0]} / {PAPER_MEAN_28[1]}, median "
        f"{PAPER_MEDIAN_28[0]} / {PAPER_MEDIAN_28[1]} (Pearson / distance correlation). "
        f"'paper' rows above average the paper's values over the same datasets."
    )
    return "\n".join(lines)


def summarise(results):
    summary = {}
    for stat, fn in (("mean", np.mean), ("median", np.median)):
        block = {}
        for m in ("tau",) + BASELINES:
            vals = {k: [r["correlations"][m].get(k) for r in results] for k in
                    ("pearson", "abs_pearson", "dcor", "spearman")}
            block[m] = {k: (float(fn([v for v in vs if v is not None]))
                            if any(v is not None for v in vs) else None)
                        for k, vs in vals.items()}
        papers = [r["paper"] for r in results if r["paper"]]
        block["paper"] = {
            "pearson": float(fn([p[0] for p in papers])) if papers else None,
            "dcor": float(fn([p[1] for p in papers])) if papers else None,
        }
        summary[stat] = block
    return summary


def bundled_datasets():
    """Fallback for --quick without ../shared/data: scikit-learn's bundled datasets."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    out = []
    for name, loader, task in (("sk_breast_cancer", load_breast_cancer, "classification"),
                               ("sk_wine", load_wine, "classification"),
                               ("sk_diabetes", load_diabetes, "regression")):
        X, y = loader(return_X_y=True)
        out.append((name, X.astype(float), y, task))
    return out


def rescore(path, output=None):
    """Recompute correlations, summary and markdown of a saved run from its per-context records."""
    saved = json.loads(path.read_text())
    results, meta = saved["datasets"], saved["meta"]
    for res in results:
        res["correlations"] = correlations([r for r in res["contexts"] if "failed" not in r])
    meta["summary"] = summarise(results)
    table = markdown(results, meta)
    stem = Path(output) if output else path.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".json"), "w") as fh:
        json.dump({"meta": meta, "datasets": results}, fh, indent=1)
    stem.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 small datasets, small grids")
    parser.add_argument("--data-dir", help="folder with MANIFEST.json and the .npz files")
    parser.add_argument("--datasets", nargs="*", help="restrict to these paper names")
    parser.add_argument("--n-strengths", type=int, help="strengths per family")
    parser.add_argument("--max-pretrain", type=int)
    parser.add_argument("--n-masks", type=int)
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="datasets in parallel processes (default: 2, 1 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="output stem (default benchmarks/results/table1[_quick])")
    parser.add_argument("--rescore", metavar="JSON",
                        help="recompute the correlations and tables of a saved run (no fitting)")
    args = parser.parse_args(argv)
    if args.rescore:
        return rescore(Path(args.rescore), args.output)

    cfg = dict(QUICK if args.quick else FULL)
    if args.n_jobs is None:
        args.n_jobs = 1 if args.quick else 2
    for key in ("n_strengths", "max_pretrain", "n_masks"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)

    folder = data_dir(args.data_dir)
    jobs = []
    if folder is not None and (folder / "MANIFEST.json").exists():
        names = args.datasets or (QUICK_DATASETS if args.quick else None)
        for key, meta in paper_datasets(folder, names):
            X, y, task = load(folder, key, meta)
            jobs.append((meta["paper_name"], X, y, task))
    elif args.quick:
        print("note: no data folder found; --quick runs on scikit-learn's bundled datasets")
        jobs = bundled_datasets()
    else:
        print("error: no data folder (give --data-dir or set SKCONTEXTURE_DATA)", file=sys.stderr)
        return 2

    start = time.perf_counter()
    load_before = os.getloadavg()
    # largest datasets first so the parallel workers finish together
    jobs.sort(key=lambda j: -min(j[1].shape[0], 4 * cfg["max_pretrain"]))
    results = Parallel(n_jobs=args.n_jobs, verbose=0)(
        delayed(run_dataset)(name, X, y, task, cfg, args.seed) for name, X, y, task in jobs
    )
    order = list(PAPER) + [j[0] for j in jobs if j[0] not in PAPER]
    results.sort(key=lambda r: order.index(r["dataset"]))
    for res in results:
        c = res["correlations"]["tau"]
        print(f"{res['dataset']:>18}: {res['n_contexts']} contexts, tau Pearson "
              f"{_fmt(c['pearson'])}, dCor {_fmt(c['dcor'])}  ({res['seconds']:.0f} s)")
    meta = {
        "mode": "quick" if args.quick else "full",
        "config": cfg,
        "seed": args.seed,
        "families": ["KNN", "RBF", "KNN+mask", "RBF+mask"],
        "ridge_alphas": RIDGE_ALPHAS.tolist(),
        "seconds": time.perf_counter() - start,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "n_jobs": args.n_jobs,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "summary": summarise(results),
    }
    table = markdown(results, meta)
    default = RESULTS / ("table1_quick" if args.quick else "table1")
    stem = Path(args.output) if args.output else default
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".json"), "w") as fh:
        json.dump({"meta": meta, "datasets": results}, fh, indent=1)
    stem.with_suffix(".md").write_text(table + "\n")
    print()
    print(table)
    print(f"\ntotal {meta['seconds']:.0f} s; load average before {load_before}, after "
          f"{meta['loadavg_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
