"""Question: when does a context search pay on a Dask cluster?

A ``GridSearchCV`` over 24 contexts (12 kNN K values and 12 RBF gammas, truncated to 50
neighbours) x 3 folds on digits (deduplicated, shuffled, standardised; ``--quick``: 300 rows
and 8 contexts), scored by the default ``score`` (``ContextScorer``, label-free) and by a
labelled probe (a Pipeline with ``LogisticRegression``, accuracy), run three ways:

- the default backend with ``n_jobs=1`` (sequential) and ``n_jobs=2`` (loky processes);
- joblib's dask backend on ``Client(LocalCluster(n_workers=2, threads_per_worker=1,
  processes=True))``.

This process runs with one BLAS and OpenMP thread, as loky's and dask's worker processes do, so
that the ways differ only by their parallel backend.

Per way: the median wall time of ``fit`` over ``--repeats`` runs (after one warm-up search of
each way, so that worker start-up and numba's kernel loading are not counted), the largest
difference of its ``cv_results_`` test scores from the sequential search (0 expected) and the
number of failed (nan) scores, which must be the same.
Writes benchmarks/results/dask_search.json (``--quick``: dask_search_quick.json).

    python benchmarks/dask_search.py            # full run (about 5 min per repeat on 2 shared cores)
    python benchmarks/dask_search.py --quick    # CI: 300 rows, 8 contexts, one repeat
"""

import argparse
import warnings

import joblib
import numpy as np
from _common import median_time, print_table, write_json
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skcontexture import ContextureEmbedding, KNNContext, RBFContext

K_VALUES = [5, 7, 10, 12, 15, 20, 25, 30, 35, 40, 45, 50]
GAMMAS = np.geomspace(0.3, 10.0, 12)  # times 1 / n_features
N_COMPONENTS = 8


def contexts(n_features, quick):
    step = 3 if quick else 1
    return [KNNContext(k) for k in K_VALUES[::step]] + [
        RBFContext(gamma=g / n_features, n_neighbors=50) for g in GAMMAS[::step]
    ]


def search(scoring, n_features, n_jobs, quick):
    embedding = ContextureEmbedding(n_components=N_COMPONENTS, random_state=0)
    grid = {"context": contexts(n_features, quick)}
    if scoring == "accuracy":
        embedding = Pipeline([("embed", embedding), ("clf", LogisticRegression(max_iter=500))])
        grid = {"embed__context": grid["context"]}
    cv = KFold(3, shuffle=True, random_state=0)
    return GridSearchCV(
        embedding, grid, scoring=None if scoring == "ContextScorer" else scoring, cv=cv,
        n_jobs=n_jobs,
    )


def run(way, scoring, X, y, quick):
    """Fit one search the given way and return its test scores."""
    if way == "dask":
        with joblib.parallel_backend("dask"):
            fitted = search(scoring, X.shape[1], None, quick).fit(X, y)
    else:
        fitted = search(scoring, X.shape[1], int(way[-1]), quick).fit(X, y)
    return np.array([fitted.cv_results_[f"split{i}_test_score"] for i in range(3)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 rows, 8 contexts, one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="runs per way (default 3)")
    args = parser.parse_args()
    # a candidate that fails scores nan (counted in the table), as in any search
    warnings.simplefilter("ignore")
    repeats = args.repeats or (1 if args.quick else 3)
    X, y = load_digits(return_X_y=True)
    X, first = np.unique(X, axis=0, return_index=True)  # duplicates make kNN degenerate
    order = np.random.RandomState(0).permutation(len(X))
    X, y = X[order], y[first][order]
    if args.quick:
        X, y = X[:300], y[:300]
    X = StandardScaler().fit_transform(X)

    ways = ["default n_jobs=1", "default n_jobs=2", "dask"]
    rows = []
    # one BLAS / OpenMP thread here, as in loky's and dask's worker processes: the ways then
    # differ only by their parallel backend
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster), threadpool_limits(1):
        for scoring in ("ContextScorer", "accuracy"):
            for way in ways:  # warm-up: worker start-up, imports, numba kernels
                run(way, scoring, X[:200], y[:200], args.quick)
            reference = None
            for way in ways:
                seconds, scores = median_time(lambda: run(way, scoring, X, y, args.quick), repeats)
                reference = scores if reference is None else reference
                rows.append({
                    "scoring": scoring,
                    "way": way,
                    "seconds": seconds,
                    "max_score_difference": float(np.nanmax(np.abs(scores - reference))),
                    "same_nan_scores": bool(np.array_equal(np.isnan(scores), np.isnan(reference))),
                    "failed_fits": int(np.isnan(scores).sum()),
                })
            sequential = rows[-3]["seconds"]
            for row in rows[-3:]:
                row["speedup_vs_n_jobs_1"] = sequential / row["seconds"]

    payload = {
        "question": "wall time of a 24-context x 3-fold GridSearchCV: default backend vs dask",
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "n_candidates": len(contexts(X.shape[1], args.quick)),
        "n_folds": 3,
        "repeats": repeats,
        "cluster": "LocalCluster(n_workers=2, threads_per_worker=1, processes=True)",
        "rows": rows,
    }
    path = write_json("dask_search_quick" if args.quick else "dask_search", payload)
    print_table(rows, ["scoring", "way", "seconds", "speedup_vs_n_jobs_1", "max_score_difference",
                       "same_nan_scores", "failed_fits"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
