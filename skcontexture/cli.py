"""The command-line main job: learn a contexture embedding and probe it.

``python -m skcontexture [DATA]`` (or ``skcontexture [DATA]``) loads a dataset
(scikit-learn's digits by default; an ``.npz`` with arrays ``X`` and ``y``, or a
``.csv`` whose target column is given by ``--target``, last column by default),
splits it, fits a contexture embedding on the training rows without labels,
and compares a linear probe on the embedding with the same probe on the raw
features and on PCA features of the same dimension.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target

from ._embedding import ContextureEmbedding
from .contexts import KNNContext, RBFContext


def load_dataset(path=None, target=None):
    """Return ``(X, y, name)`` from a path, or scikit-learn's digits when None.

    Parameters
    ----------
    path : str or None
        An ``.npz`` with arrays ``X`` and ``y``, or a ``.csv`` with a header.
    target : str or None
        Target column of a ``.csv`` (default: the last column).
    """
    if path is None:
        X, y = load_digits(return_X_y=True)
        return X.astype(float), y, "digits (scikit-learn)"
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return np.asarray(data["X"], dtype=float), np.asarray(data["y"]), path.stem
    if path.suffix == ".csv":
        import pandas as pd

        frame = pd.read_csv(path)
        target = frame.columns[-1] if target is None else target
        y = frame.pop(target).to_numpy()
        return frame.to_numpy(dtype=float), y, path.stem
    raise ValueError(f"Unsupported file type {path.suffix!r}: give an .npz or a .csv file.")


def _probe(task):
    if task == "classification":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-4, 4, 17)))


def run(X, y, *, n_components=32, n_neighbors=15, test_size=0.3, random_state=0, n_jobs=None):
    """Fit the embeddings and probes; return the result rows as dicts."""
    task = "regression" if type_of_target(y) == "continuous" else "classification"
    stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=random_state, stratify=stratify
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    d = min(n_components, X_train.shape[0] - 2)
    candidates = {
        "raw features": None,
        f"PCA (d={min(d, X.shape[1])})": PCA(min(d, X.shape[1]), random_state=random_state),
        f"contexture kNN K={n_neighbors} (d={d})": ContextureEmbedding(
            KNNContext(n_neighbors, n_jobs=n_jobs), d, n_jobs=n_jobs, random_state=random_state
        ),
        f"contexture RBF K={3 * n_neighbors} (d={d})": ContextureEmbedding(
            RBFContext(n_neighbors=3 * n_neighbors, n_jobs=n_jobs),
            d,
            n_jobs=n_jobs,
            random_state=random_state,
        ),
    }
    rows = []
    for name, embedding in candidates.items():
        start = time.perf_counter()
        if embedding is None:
            Z_train, Z_test = X_train, X_test
        else:
            Z_train = embedding.fit_transform(X_train)
            Z_test = embedding.transform(X_test)
        seconds = time.perf_counter() - start
        score = _probe(task).fit(Z_train, y_train).score(Z_test, y_test)
        rows.append({"representation": name, "dims": Z_train.shape[1], "score": score,
                     "seconds": seconds})
    return task, rows


def main(argv=None):
    """Entry point of ``python -m skcontexture`` and the ``skcontexture`` script."""
    parser = argparse.ArgumentParser(prog="skcontexture", description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", help=".npz (X, y) or .csv file; default: digits")
    parser.add_argument("--target", help="target column of a .csv (default: last)")
    parser.add_argument("--n-components", type=int, default=32, help="embedding dimension")
    parser.add_argument("--n-neighbors", type=int, default=15, help="K of the kNN context")
    parser.add_argument("--test-size", type=float, default=0.3)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=None)
    args = parser.parse_args(argv)

    X, y, name = load_dataset(args.data, args.target)
    task, rows = run(
        X,
        y,
        n_components=args.n_components,
        n_neighbors=args.n_neighbors,
        test_size=args.test_size,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
    )
    metric = "accuracy" if task == "classification" else "R^2"
    probe = "logistic regression" if task == "classification" else "ridge regression"
    print(f"dataset: {name}  ({X.shape[0]} samples x {X.shape[1]} features, {task})")
    print(f"probe: {probe} on each representation; test {metric} on a "
          f"{args.test_size:.0%} held-out split; embeddings are fitted without labels")
    width = max(len(r["representation"]) for r in rows)
    print(f"\n{'representation':<{width}}  {'dims':>5}  {metric:>9}  {'fit+transform s':>15}")
    for r in rows:
        print(f"{r['representation']:<{width}}  {r['dims']:>5}  {r['score']:>9.4f}  "
              f"{r['seconds']:>15.2f}")
    return 0
