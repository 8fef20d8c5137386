"""Question: does the RBF context scale to 50,000 points within 4 GB, and how exact is it?

An exact kernel method on 50,000 points (such as scikit-learn's KernelPCA)
needs the 50,000 x 50,000 float64 kernel, 20 GB. ``RBFContext(n_neighbors=K)``
keeps each row's K largest kernel entries instead. Data: a 10-d noisy swiss
roll (``_common.noisy_swiss_roll``, columns standardised); the real datasets at hand (e.g.
california_housing, 20,640 rows) are smaller than 50,000 points.

1. Accuracy, on a random subsample (``--subsample``, at most 5,000 points):
   the exact operator, ``RBFContext(gamma, n_neighbors=None)`` (every kernel
   entry kept) with ``solver="dense"`` (timed once: it is the slow case),
   against the truncated ``RBFContext(gamma, n_neighbors=K)``. Reported: the
   largest relative error of the d singular values, the smallest canonical
   correlation of the two (centred) embeddings, and the context's
   ``kernel_mass_kept_``. If K misses the 1e-3 target, every K of ``--sweep``
   is measured and the smallest meeting it is fitted at full size as well.
2. Full size: ``ContextureEmbedding(RBFContext(gamma, n_neighbors=K * n /
   subsample), n_components=d, n_jobs=2, random_state=0, tol=1e-6).fit(X)``
   (the same neighbourhood radius holds n / subsample times more points),
   median of ``--repeats`` runs after one warm-up, in a fresh process of its
   own, whose peak resident memory is the figure compared with the 4,096 MB
   target. gamma is ``--gamma``, else the context's default rule on the full data
   (``RBFContext().gamma_``: from the distances to the 7th nearest fit point).
3. Peer: ``KernelPCA(kernel="rbf", gamma, n_components=d)`` on the subsample,
   timed, with the memory its kernel alone would take at full size
   (n^2 * 8 bytes). KernelPCA centres the kernel matrix, a different operator
   from the normalised context, so only its time and memory are compared.

Every case runs in its own subprocess of this script, so each peak memory
belongs to that case alone. Writes benchmarks/results/rbf_large.json
(rbf_large_gammaG.json with ``--gamma G``).

    python benchmarks/rbf_large.py [--n 50000] [--d 16] [--n-neighbors 100]
                                   [--subsample 5000] [--repeats 3] [--gamma G]
"""

import argparse
import json
import subprocess
import sys
import time
import warnings

import numpy as np
import scipy.linalg
from _common import median_time, noisy_swiss_roll, peak_rss_mb, print_table, write_json
from sklearn.base import clone
from sklearn.decomposition import KernelPCA

from skcontexture import ContextureEmbedding, RBFContext

TARGET_REL_ERR = 1e-3
TARGET_MB = 4096
CASES = ("fit", "exact", "truncated", "kernel_pca")


def swiss_roll(n, seed=0):
    """The 10-d noisy swiss roll with standardised columns."""
    X = noisy_swiss_roll(n, seed)
    return (X - X.mean(axis=0)) / X.std(axis=0)


def default_gamma(X):
    """``RBFContext()``'s ``gamma_`` on ``X``: its rule (a tenth of the inverse median squared
    distance of sampled rows to their 7th nearest fit point) does not depend on
    ``n_neighbors``, so the cheapest fit (one kept atom per row) gives it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # one atom keeps little of the kernel
        return RBFContext(n_neighbors=1, n_jobs=2).fit(X).gamma_


def subsample(X, size, seed=0):
    """``size`` rows of ``X`` drawn without replacement with a fixed seed."""
    return X[np.random.RandomState(seed).choice(len(X), size, replace=False)]


def run_case(args):
    """Time one case in this process and return its measurements."""
    X = swiss_roll(args.n)
    if args.child != "fit":
        X = subsample(X, args.subsample)
    if args.child == "kernel_pca":
        model = KernelPCA(n_components=args.d, kernel="rbf", gamma=args.gamma,
                          eigen_solver=args.kpca_solver, random_state=0)
    else:
        dense = args.child == "exact"
        context = RBFContext(gamma=args.gamma, n_neighbors=None if dense else args.n_neighbors)
        model = ContextureEmbedding(context, n_components=args.d, tol=args.tol, n_jobs=2,
                                    solver="dense" if dense else "auto", random_state=0)
    repeats = 1
    if args.child != "exact":
        clone(model).fit(X)  # warm-up
        repeats = args.repeats
    # a fresh estimator per run: a refit would hold the previous fit's arrays meanwhile
    seconds, fitted = median_time(lambda: clone(model).fit(X), repeats)
    result = {"seconds": seconds, "peak_mb": peak_rss_mb()}
    if args.child != "kernel_pca":
        result.update(singular_values=fitted.singular_values_.tolist(),
                      gamma=fitted.context_.gamma_, nnz=int(fitted.context_.joint_.nnz),
                      mass_kept=fitted.context_.kernel_mass_kept_)
        if args.child != "fit":
            result["embedding"] = fitted.embedding_.tolist()
    return result


def in_subprocess(args, case, n_neighbors=None, gamma=None):
    """Run ``case`` in a fresh process of this script and read its JSON line."""
    command = [sys.executable, __file__, "--child", case, "--n", str(args.n), "--d", str(args.d),
               "--subsample", str(args.subsample), "--repeats", str(args.repeats),
               "--tol", repr(args.tol), "--kpca-solver", args.kpca_solver]
    if n_neighbors is not None:
        command += ["--n-neighbors", str(n_neighbors)]
    if gamma is not None:
        command += ["--gamma", repr(gamma)]
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def accuracy(result, exact):
    """Largest relative error of the singular values, smallest canonical correlation."""
    rel = float(np.max(np.abs(np.divide(result["singular_values"], exact["singular_values"]) - 1)))
    Z, Z_exact = np.array(result["embedding"]), np.array(exact["embedding"])
    angles = scipy.linalg.subspace_angles(Z - Z.mean(axis=0), Z_exact - Z_exact.mean(axis=0))
    return rel, float(np.cos(angles).min())


def row(case, n, K, result, rel=None, corr=None):
    """One table row."""
    return {"case": case, "n": n, "K": K, "seconds": result["seconds"],
            "peak_mb": result["peak_mb"], "mass_kept": result.get("mass_kept"),
            "max_rel_err_s": rel, "min_canon_corr": corr}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--n-neighbors", type=int, default=100)
    parser.add_argument("--subsample", type=int, default=5_000)
    parser.add_argument("--sweep", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--kpca-solver", choices=["arpack", "randomized"], default="arpack")
    parser.add_argument("--gamma", type=float, default=None,
                        help="kernel width (default: the context's rule on the full data)")
    parser.add_argument("--child", choices=CASES, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args)))
        return

    start = time.perf_counter()
    X = swiss_roll(args.n)
    gamma = default_gamma(X) if args.gamma is None else args.gamma
    print(f"swiss roll: {args.n} x {X.shape[1]}, d = {args.d}, gamma = {gamma:.6g}")
    columns = ["case", "n", "K", "seconds", "peak_mb", "mass_kept", "max_rel_err_s",
               "min_canon_corr"]
    rows = []

    def add(new):
        rows.append(new)
        print_table([new], columns)

    exact = in_subprocess(args, "exact", gamma=gamma)
    add(row("exact dense (subsample)", args.subsample, "all", exact))
    errors = {}
    for K in [args.n_neighbors] + sorted(set(args.sweep) - {args.n_neighbors}):
        truncated = in_subprocess(args, "truncated", K, gamma)
        errors[K], corr = accuracy(truncated, exact)
        add(row("truncated (subsample)", args.subsample, K, truncated, errors[K], corr))
        if K == args.n_neighbors and errors[K] <= TARGET_REL_ERR:
            break
    meeting = [K for K in sorted(errors) if errors[K] <= TARGET_REL_ERR]
    k_target = meeting[0] if meeting else None

    # At full size the same neighbourhood radius holds n / subsample times more points.
    density = args.n / args.subsample
    fits = {}
    for K in dict.fromkeys([args.n_neighbors, k_target] if k_target else [args.n_neighbors]):
        full_k = int(round(K * density))
        fits[full_k] = in_subprocess(args, "fit", full_k, gamma)
        add(row("contexture fit", args.n, full_k, fits[full_k]))
        if not np.isclose(fits[full_k]["gamma"], gamma, rtol=1e-12):
            raise RuntimeError(f"full-size gamma {fits[full_k]['gamma']} differs from {gamma}")

    kpca = in_subprocess(args, "kernel_pca", gamma=gamma)
    add(row(f"KernelPCA {args.kpca_solver} (subsample)", args.subsample, "all", kpca))
    kernel_mb = args.n**2 * 8 / 2**20

    print()
    print_table(rows, columns)
    print(f"\nKernelPCA at n = {args.n}: its kernel alone takes {kernel_mb:,.0f} MB "
          f"({args.n**2 * 8 / 1e9:.1f} GB); target for the fit: {TARGET_MB} MB")
    print(f"smallest K with max rel err of s <= {TARGET_REL_ERR:g} on the subsample: {k_target}")
    path = write_json("rbf_large" if args.gamma is None else f"rbf_large_gamma{args.gamma:g}", {
        "question": "does RBFContext(n_neighbors=K) fit 50,000 points within 4 GB, "
                    "and how close are its singular values to the dense kernel's?",
        "options": {k: v for k, v in vars(args).items() if k != "child"},
        "gamma": gamma,
        "target_rel_err": TARGET_REL_ERR,
        "target_mb": TARGET_MB,
        "k_meeting_target": k_target,
        "rows": rows,
        "fit_within_target_mb": {str(K): fit["peak_mb"] < TARGET_MB for K, fit in fits.items()},
        "fit_joint_nnz": {str(K): fit["nnz"] for K, fit in fits.items()},
        "fit_singular_values": {str(K): fit["singular_values"] for K, fit in fits.items()},
        "exact_subsample_singular_values": exact["singular_values"],
        "kernel_pca_kernel_mb_at_n": kernel_mb,
        "seconds": time.perf_counter() - start,
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
