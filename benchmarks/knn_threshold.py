"""Question: from how many fit points is NN-descent faster than exact kNN search?

Times the neighbour stage of ``KNNContext`` (index build plus the K = 15
query of every fit point, which is what ``fit`` does) with
``algorithm="exact"`` (scikit-learn) and ``algorithm="nndescent"``
(pynndescent, timed warm: after one run in the same process), on Gaussian
blobs of several sizes and dimensions, median of 3 runs. The cold first call of
pynndescent in a fresh process (numba compilation) is timed once in a
subprocess. Writes benchmarks/results/knn_threshold.json.

    python benchmarks/knn_threshold.py [--sizes 10000 30000 100000 300000] [--n-jobs 2]
"""

import argparse
import subprocess
import sys
import time

import numpy as np
from _common import median_time, print_table, write_json

from skcontexture.contexts._neighbors import NeighborIndex

COLD = """
import time, numpy as np
from skcontexture.contexts._neighbors import NeighborIndex
X = np.random.RandomState(0).normal(size=(5000, 10))
t = time.perf_counter()
NeighborIndex("nndescent", "euclidean", 15, 2, 0).fit(X).kneighbors(X, 15)
print(time.perf_counter() - t)
"""


def neighbour_stage(X, algorithm, n_jobs):
    index = NeighborIndex(algorithm, "euclidean", 15, n_jobs, 0).fit(X)
    return index.kneighbors(X, 15)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 300_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    cold = float(subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True,
                                check=True).stdout.strip())
    rng = np.random.RandomState(0)
    neighbour_stage(rng.normal(size=(2000, 10)), "nndescent", args.n_jobs)  # warm-up
    rows = []
    for dim in args.dims:
        for n in args.sizes:
            centers = rng.normal(scale=4, size=(20, dim))
            X = centers[rng.randint(20, size=n)] + rng.normal(size=(n, dim))
            exact_s, exact = median_time(lambda: neighbour_stage(X, "exact", args.n_jobs),
                                         args.repeats)
            approx_s, approx = median_time(lambda: neighbour_stage(X, "nndescent", args.n_jobs),
                                           args.repeats)
            recall = np.mean([len(np.intersect1d(a, b)) / 15 for a, b in zip(exact, approx)])
            rows.append({"n": n, "dim": dim, "exact_s": exact_s, "nndescent_warm_s": approx_s,
                         "speedup": exact_s / approx_s, "recall": recall})
            print_table(rows[-1:], list(rows[-1]))
    print(f"\ncold first NN-descent call in a fresh process (5,000 x 10): {cold:.1f} s\n")
    print_table(rows, list(rows[0]))
    path = write_json("knn_threshold", {"n_jobs": args.n_jobs, "cold_first_call_s": cold,
                                        "rows": rows, "seconds": time.perf_counter() - start})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
