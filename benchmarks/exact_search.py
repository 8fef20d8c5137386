"""Question: is pykdtree's k-d tree a faster exact search than scikit-learn's, and up to
how many features (sets ``PYKDTREE_MAX_FEATURES``)?

The library's exact path (``NeighborIndex(algorithm="exact")``: index, then the K = 15
nearest fit rows of every fit row, ties broken by fit index) with pykdtree's k-d tree
and with scikit-learn's ``NearestNeighbors`` (k-d tree up to 15 features, brute force
above), on the float32 Gaussian mixtures of ``knn_search.py`` (intrinsic dimension
min(dim, 16)), fixed seed, ``n_jobs=2`` and ``n_jobs=1``, ``--repeats`` runs
interleaved, medians; whether the two searches, and the two ``n_jobs``, return the same
neighbour lists (the fraction of rows that differ). Writes benchmarks/results/exact_search.json (``--output NAME``: NAME.json).

    python benchmarks/exact_search.py [--sizes 20000 100000] [--dims 10 16 32 64 127]
        [--repeats 3] [--output NAME]
"""

import argparse
import os
import statistics
import time

import numpy as np

from _common import print_table, write_json
from knn_search import K, mixture, rows_differ

from skcontexture.contexts import _neighbors

SEARCHES = {"pykdtree": 127, "scikit-learn": 0}  # PYKDTREE_MAX_FEATURES of each


def run(X, search, n_jobs):
    """One index and query of every row: (seconds, indices)."""
    _neighbors.PYKDTREE_MAX_FEATURES = SEARCHES[search]
    start = time.perf_counter()
    index = _neighbors.NeighborIndex("exact", "euclidean", K, n_jobs, None).fit(X)
    _, indices = index.kneighbors(X, K)
    seconds = time.perf_counter() - start
    assert isinstance(index.index_, _neighbors._KDTree) == (search == "pykdtree")
    return seconds, indices


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 16, 32, 64, 127])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default="exact_search", help="JSON name in results/")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        for dim in args.dims:
            X = mixture(n, dim)
            times = {(s, j): [] for s in SEARCHES for j in (2, 1)}
            found = {}
            for _ in range(args.repeats):
                for key in times:
                    seconds, found[key] = run(X, *key)
                    times[key].append(seconds)
            for search in SEARCHES:
                rows.append({
                    "n": n, "dim": dim, "search": search, "load_average": os.getloadavg()[0],
                    "warm_s": statistics.median(times[search, 2]),
                    "warm_1_s": statistics.median(times[search, 1]),
                    "n_jobs_differ": rows_differ(found[search, 2], found[search, 1]),
                    "differs_from_scikit_learn": rows_differ(found[search, 2],
                                                             found["scikit-learn", 2]),
                })
                print(rows[-1], flush=True)
    path = write_json(args.output, {"question": __doc__.split("\n\n")[0],
                                       "options": vars(args), "k": K, "rows": rows})
    print_table(rows, list(rows[0]))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
