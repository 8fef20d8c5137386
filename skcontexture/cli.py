"""The command-line main job: choose a context without labels, by tau.

``python -m skcontexture [DATA]`` (or ``skcontexture [DATA]``) loads a dataset
(scikit-learn's digits by default; an ``.npz`` with an array ``X`` and optionally
``y``; or a ``.csv`` with a header, whose target column, if any, is named by
``--target``), standardises the features on the training rows, fits a grid of
contexts (kNN and RBF at several strengths) on them, and prints the grid ranked
by tau (lower is better) with each context's suggested dimension (argmin_d
tau_d). It then fits a ContextureEmbedding of the winner. When labels exist, it
also fits a ridge probe on every context's embedding (at its suggested
dimension, capped by ``--max-probe-dim``) and reports the held-out score of the
tau-chosen context next to the best and the worst context of the grid. Labels
are never used to choose. ``--plot FILE`` saves the spectra and tau_d curves.
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import RidgeClassifierCV, RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target
from threadpoolctl import threadpool_limits

from ._embedding import ContextureEmbedding
from ._spectrum import context_spectrum
from .contexts import KNNContext, RBFContext
from .contexts._kernel import DENSE_MAX_SAMPLES
from .metrics import tau_curve

DEFAULT_K = (5, 10, 20, 50, 100)
DEFAULT_GAMMA = (0.1, 0.3, 1.0, 3.0)


def load_dataset(path=None, target=None):
    """Return ``(X, y, name)``; ``y`` is None when the data has no labels.

    Parameters
    ----------
    path : str or None
        An ``.npz`` with ``X`` (and optionally ``y``), or a ``.csv`` with a header.
        None loads scikit-learn's digits.
    target : str or None
        Target column of a ``.csv``; None means the file has no labels.
    """
    if path is None:
        X, y = load_digits(return_X_y=True)
        return X.astype(float), y, "digits (scikit-learn)"
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            X = np.asarray(data["X"], dtype=float)
            y = np.asarray(data["y"]) if "y" in data.files else None
        return X, y, path.stem
    if path.suffix == ".csv":
        import pandas as pd

        frame = pd.read_csv(path)
        y = None
        if target is not None:
            if target not in frame.columns:
                raise ValueError(f"--target {target!r} is not a column of {path.name}.")
            y = frame.pop(target).to_numpy()
        return frame.to_numpy(dtype=float), y, path.stem
    raise ValueError(f"Unsupported file type {path.suffix!r}: give an .npz or a .csv file.")


def default_grid(n_samples, n_features, k_grid=DEFAULT_K, gamma_grid=DEFAULT_GAMMA, n_jobs=None):
    """The default contexts: kNN with K in ``k_grid`` (K < n_samples) and RBF kernels.

    RBF widths are ``gamma = g / n_features`` on standardised features (g = 1 is
    scikit-learn's "scale" rule); above 5,000 samples each RBF row keeps its 200
    nearest atoms.
    """
    grid = [
        (f"kNN K={k}", KNNContext(int(k), n_jobs=n_jobs))
        for k in k_grid
        if k < n_samples
    ]
    truncate = None if n_samples <= DENSE_MAX_SAMPLES else min(200, n_samples - 1)
    grid += [
        (f"RBF g={g:g}", RBFContext(gamma=g / n_features, n_neighbors=truncate, n_jobs=n_jobs))
        for g in gamma_grid
    ]
    return grid


def _probe(task):
    # ridge probes (as in the paper's experiments), regulariser by leave-one-out
    if task == "classification":
        return RidgeClassifierCV(alphas=np.logspace(-4, 4, 9))
    return RidgeCV(alphas=np.logspace(-4, 4, 9))


def select(X, y=None, *, grid=None, beta=1.0, max_dim=512, test_size=0.3, max_samples=5000,
           max_probe_dim=128, random_state=0, n_jobs=None):
    """Rank a grid of contexts by tau on the training rows; probe them when ``y`` is given.

    Returns a dict with the task, the split sizes, the rows (one dict per context,
    sorted by tau), the spectra, and the fitted winner.
    """
    task = None
    if y is not None:
        task = "regression" if type_of_target(y) == "continuous" else "classification"
        stratify = y if task == "classification" else None
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, random_state=random_state, stratify=stratify
        )
    else:
        X_train, X_test, y_train, y_test = X, None, None, None
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train)
    rng = np.random.RandomState(random_state)
    if X_train.shape[0] > max_samples:
        keep = np.sort(rng.choice(X_train.shape[0], max_samples, replace=False))
        X_train = X_train[keep]
        y_train = None if y_train is None else y_train[keep]
    if grid is None:
        grid = default_grid(X_train.shape[0], X_train.shape[1], n_jobs=n_jobs)

    rows, spectra = [], {}
    for name, context in grid:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            context.fit(X_train)
            s = context_spectrum(context.joint_, max_dim, random_state=random_state).values
            taus, best_d = tau_curve(s, beta=beta, max_dim=max_dim)
        spectra[name] = s
        rows.append({
            "context": name, "estimator": context, "tau": float(np.min(taus)), "d": int(best_d),
            "s1": float(s[0]), "seconds": time.perf_counter() - start,
        })
    rows.sort(key=lambda r: (not np.isfinite(r["tau"]), r["tau"]))

    if y is not None:
        X_test_s = scaler.transform(X_test)
        for row in rows:
            row["score"] = _probe_score(row, X_train, y_train, X_test_s, y_test, task,
                                        max_probe_dim, random_state)

    winner = rows[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        embedding = ContextureEmbedding(
            winner["estimator"], n_components=min(winner["d"], X_train.shape[0] - 2),
            random_state=random_state, n_jobs=n_jobs,
        ).fit(X_train)
    return {"task": task, "n_train": X_train.shape[0],
            "n_test": None if X_test is None else X_test.shape[0], "rows": rows,
            "spectra": spectra, "embedding": embedding}


def _probe_score(row, X_train, y_train, X_test, y_test, task, max_probe_dim, random_state):
    if not np.isfinite(row["tau"]):
        return float("nan")
    d = max(1, min(row["d"], max_probe_dim, X_train.shape[0] - 2))
    solver = "dense" if X_train.shape[0] <= 5000 else "auto"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            emb = ContextureEmbedding(row["estimator"], n_components=d, solver=solver,
                                      random_state=random_state).fit(X_train)
            Z_train, Z_test = emb.embedding_, emb.transform(X_test)
            return float(_probe(task).fit(Z_train, y_train).score(Z_test, y_test))
    except ValueError:  # e.g. rank-deficient context: fewer than d singular functions
        return float("nan")


def _fmt(x, spec=".4f"):
    return "inf" if x == np.inf else ("n/a" if x != x else format(x, spec))


def report(result, name, X, *, beta, max_dim, metric):
    """Print the ranked table and the downstream comparison."""
    rows = result["rows"]
    labelled = result["task"] is not None
    print(f"dataset: {name}  ({X.shape[0]} samples x {X.shape[1]} features"
          f"{', ' + result['task'] if labelled else ', no labels'})")
    print(f"contexts fitted without labels on {result['n_train']} training rows; "
          f"tau with beta={beta:g}, d0={max_dim} (lower is better); d* = argmin_d tau_d")
    if labelled:
        print(f"probe: {metric} on {result['n_test']} held-out rows of a ridge probe on each "
              "context's embedding at its d* (reported only, never used to choose)")
    width = max(len(r["context"]) for r in rows)
    head = f"\n{'rank':>4}  {'context':<{width}}  {'tau':>8}  {'d*':>4}  {'s_1':>7}  {'fit s':>6}"
    print(head + (f"  {metric:>9}" if labelled else ""))
    for i, r in enumerate(rows, 1):
        line = (f"{i:>4}  {r['context']:<{width}}  {_fmt(r['tau']):>8}  {r['d']:>4}  "
                f"{r['s1']:>7.4f}  {r['seconds']:>6.2f}")
        if labelled:
            line += f"  {_fmt(r['score']):>9}"
        print(line)
    emb = result["embedding"]
    print(f"\nchosen by tau: {rows[0]['context']}; fitted ContextureEmbedding with "
          f"n_components={emb.n_components} (s_1={emb.singular_values_[0]:.4f}, "
          f"s_d={emb.singular_values_[-1]:.4f})")
    if labelled:
        scored = [r for r in rows if r["score"] == r["score"]]
        if scored:
            best = max(scored, key=lambda r: r["score"])
            worst = min(scored, key=lambda r: r["score"])
            rank = 1 + sorted((r["score"] for r in scored), reverse=True).index(rows[0]["score"]) \
                if rows[0]["score"] == rows[0]["score"] else None
            print(f"downstream {metric}: tau-chosen {_fmt(rows[0]['score'])}  |  best of grid "
                  f"{_fmt(best['score'])} ({best['context']})  |  worst of grid "
                  f"{_fmt(worst['score'])} ({worst['context']})"
                  + (f"  |  tau-chosen ranks {rank}/{len(scored)}" if rank else ""))


def main(argv=None):
    """Entry point of ``python -m skcontexture`` and the ``skcontexture`` script."""
    parser = argparse.ArgumentParser(prog="skcontexture", description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", help=".npz (X[, y]) or .csv file; default: digits")
    parser.add_argument("--target", help="target column of a .csv (default: no labels)")
    parser.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_K),
                        help="kNN context sizes K of the grid")
    parser.add_argument("--gamma", type=float, nargs="+", default=list(DEFAULT_GAMMA),
                        help="RBF widths of the grid, in units of 1/n_features")
    parser.add_argument("--beta", type=float, default=1.0, help="tau's spread weight")
    parser.add_argument("--max-dim", type=int, default=512, help="d0 of tau")
    parser.add_argument("--max-samples", type=int, default=5000,
                        help="fit contexts on at most this many training rows")
    parser.add_argument("--max-probe-dim", type=int, default=128)
    parser.add_argument("--test-size", type=float, default=0.3)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--plot", metavar="FILE",
                        help="save the spectra and tau_d curves to FILE (needs matplotlib)")
    args = parser.parse_args(argv)

    X, y, name = load_dataset(args.data, args.target)
    n_train = X.shape[0] if y is None else int(round(X.shape[0] * (1 - args.test_size)))
    grid = default_grid(min(n_train, args.max_samples), X.shape[1], args.k, args.gamma,
                        n_jobs=args.n_jobs)
    # One BLAS thread: the dense eigenproblems here are small enough that threading gains
    # little on 2 cores and loses much when the cores are shared (measured 2x).
    with threadpool_limits(limits=1, user_api="blas"):
        result = select(X, y, grid=grid, beta=args.beta, max_dim=args.max_dim,
                        test_size=args.test_size, max_samples=args.max_samples,
                        max_probe_dim=args.max_probe_dim, random_state=args.random_state,
                        n_jobs=args.n_jobs)
    metric = None
    if result["task"] is not None:
        metric = "accuracy" if result["task"] == "classification" else "R^2"
    report(result, name, X, beta=args.beta, max_dim=args.max_dim, metric=metric)
    if args.plot:
        from .plotting import plot_context_selection

        plot_context_selection(result["spectra"], args.plot, beta=args.beta,
                               max_dim=args.max_dim)
        print(f"saved spectra and tau_d curves to {args.plot}")
    return 0
