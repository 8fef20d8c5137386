"""Question: which solver is fastest for a given operator size and number of components?

Sets ``solver="auto"``. On symmetric kNN affinities (K = 15) of the 10-d noisy
swiss roll at several sizes, times the solver stage
(``skcontexture.linalg.top_singular_functions``: the operator and the solver,
``n_jobs=2``, the estimator's default ``tol=1e-6``)
for the dense Gram eigendecomposition (short side <= 5,000), ARPACK and the
Chebyshev block solver, median of ``--repeats`` runs, and reports the largest
relative difference of the singular values between the solvers. Writes
benchmarks/results/solver_crossover.json.

    python benchmarks/solver_crossover.py [--sizes 1000 3000 10000 30000 100000] [--dims 2 8 32 64]
"""

import argparse
import time

import numpy as np
from _common import median_time, print_table, swiss_roll_affinity, write_json

from skcontexture.linalg import DENSE_MAX_SIDE, top_singular_functions


def solve(A, d, solver, tol):
    return top_singular_functions(A, d, solver=solver, tol=tol, n_jobs=2, random_state=0)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000, 30000, 100000])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 8, 32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args()
    start = time.perf_counter()
    rows = []
    for n in args.sizes:
        A = swiss_roll_affinity(n)
        for d in args.dims:
            solvers = ["dense"] if n <= DENSE_MAX_SIDE else []
            solvers += ["arpack", "chebyshev"]
            row = {"n": n, "d": d}
            values = []
            for solver in solvers:
                seconds, s = median_time(lambda: solve(A, d, solver, args.tol), args.repeats)
                row[f"{solver}_s"] = seconds
                values.append(s)
            row["fastest"] = min(solvers, key=lambda solver: row[f"{solver}_s"])
            row["max_rel_diff_s"] = max(float(np.max(np.abs(v / values[0] - 1))) for v in values)
            rows.append(row)
            print_table([row], ["n", "d", "dense_s", "arpack_s", "chebyshev_s", "fastest",
                                "max_rel_diff_s"])
    print()
    print_table(rows, ["n", "d", "dense_s", "arpack_s", "chebyshev_s", "fastest", "max_rel_diff_s"])
    path = write_json("solver_crossover", {"tol": args.tol, "repeats": args.repeats, "rows": rows,
                                           "seconds": time.perf_counter() - start})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
