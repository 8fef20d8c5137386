"""Question: how fast is the solver stage against scipy's svds on the same operator?

Builds one symmetric kNN affinity (K = 15, 0.5 (A + A^T)) on a 10-d noisy swiss
roll, then times, in the same process (median of ``--repeats`` runs, interleaved:
each repeat runs every configuration once):

- scipy: normalisation ``D^-1/2 A D^-1/2`` plus ``svds(Q, k=d+1)`` (ARPACK,
  default tolerance), the trivial pair then dropped;
- skcontexture: ``ContextOperator`` (normalisation, deflation) plus
  ``top_singular_triplets`` with each ``--solvers`` entry, at ``n_jobs`` 1 and 2.

Accuracy of every path is checked against a tight reference (ARPACK on the
deflated operator, tol=1e-12): largest relative error of the singular values
and smallest canonical correlation of the right singular subspaces. Peak memory
is the process's peak RSS. Writes benchmarks/results/solver_stage.json.

    python benchmarks/solver_stage.py [--n 100000] [--d 64] [--repeats 3] [--tols 1e-6 1e-4]
"""

import argparse
import functools
import statistics
import time

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from _common import peak_rss_mb, print_table, swiss_roll_affinity, write_json
from scipy.sparse.linalg import svds

from skcontexture.linalg import top_singular_functions


def scipy_svds(A, d, seed):
    degree = np.asarray(A.sum(axis=1)).ravel()
    scale = sp.diags(1 / np.sqrt(degree))
    Q = (scale @ A @ scale).tocsr()
    v0 = np.random.RandomState(seed).uniform(-1, 1, Q.shape[0])
    U, s, Vt = svds(Q, k=d + 1, v0=v0)
    order = np.argsort(-s)[1:]
    return s[order], Vt[order].T


def ours(A, d, solver, n_jobs, seed, tol):
    s, _, nu = top_singular_functions(A, d, solver=solver, tol=tol, n_jobs=n_jobs,
                                      random_state=seed)
    p_a = np.asarray(A.sum(axis=0)).ravel() / A.sum()
    return s, nu * np.sqrt(p_a)[:, None]  # the unit singular vectors


def accuracy(result, reference):
    s, V = result
    s_ref, V_ref = reference
    rel = float(np.max(np.abs(s / s_ref - 1)))
    corr = float(np.cos(scipy.linalg.subspace_angles(V, V_ref)).min())
    return rel, corr


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solvers", nargs="+", default=["chebyshev", "arpack"])
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-6, 1e-4])
    args = parser.parse_args()

    start = time.perf_counter()
    A = swiss_roll_affinity(args.n)
    print(f"affinity: {A.shape[0]} points, {A.nnz} nonzeros; d = {args.d}")
    reference = ours(A, args.d, "arpack", 1, 1, 1e-12)
    configs = [("scipy svds(Q, k=d+1)", 0.0, 1, lambda: scipy_svds(A, args.d, 0))]
    for tol in args.tols:
        for solver in args.solvers:
            for n_jobs in (1, 2):
                configs.append((f"skcontexture {solver}", tol, n_jobs,
                                functools.partial(ours, A, args.d, solver, n_jobs, 0, tol)))
    # Interleaved: every repeat runs each configuration once, so a slow spell of
    # the machine hits all of them alike.
    times = [[] for _ in configs]
    results = [None] * len(configs)
    for repeat in range(args.repeats):
        for i, (name, tol, n_jobs, run) in enumerate(configs):
            started = time.perf_counter()
            results[i] = run()
            times[i].append(time.perf_counter() - started)
        print(f"repeat {repeat + 1}/{args.repeats}: " + ", ".join(f"{t[-1]:.2f}" for t in times))
    peer_s = statistics.median(times[0])
    rows = []
    for (name, tol, n_jobs, _), seconds, result in zip(configs, times, results):
        rel, corr = accuracy(result, reference)
        rows.append({"method": name, "tol": tol, "n_jobs": n_jobs,
                     "seconds": statistics.median(seconds), "times_s": seconds,
                     "speedup_vs_svds": peer_s / statistics.median(seconds),
                     "max_rel_err_s": rel, "min_canon_corr": corr})
    print()
    print_table(rows, [c for c in rows[0] if c != "times_s"])
    path = write_json("solver_stage", {
        "n": args.n, "d": args.d, "nnz": int(A.nnz), "tols": args.tols, "repeats": args.repeats,
        "rows": rows, "peak_rss_mb": peak_rss_mb(), "seconds": time.perf_counter() - start})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
