"""Question: does a whole fit scale to one million points and to Fashion-MNIST
on two cores, in what time and memory?

Two cases (``--case``), each run in a fresh subprocess of this script so that
the peak RSS it reports is its own:

- million: ``--n`` points of the 10-d noisy swiss roll (targets: fit < 120 s,
  peak RSS < 4096 MB);
- fashion: Fashion-MNIST, 70,000 x 784 pixels scaled to [0, 1] as float32,
  from ``fashion_mnist.npz`` in the data folder (target: fit < 60 s), plus the
  test accuracy of ``LogisticRegression(max_iter=1000)`` on the embedding
  (first 60,000 rows train, last 10,000 test; not timed) as a sanity check.
  ``--max-rows`` subsamples it.

Each case fits ``ContextureEmbedding(KNNContext(15, n_jobs=2, random_state=0),
n_components=16, n_jobs=2, random_state=0, tol=--tol)``: first a warm-up fit
on ``--warmup-rows`` random rows with the neighbour search the full fit uses
(it compiles NN-descent's numba kernels; its time is reported), then the timed
public ``fit`` (peak RSS read right after it), then the same fit stage by
stage: the context (neighbour search and joint), the operator
(``ContextOperator``: normalisation and reordering) and the solver
(``top_singular_triplets``); ``other_s`` is the fit minus the stages
(validation, Nyström extension, connectivity check). With ``--check`` the
operator is solved again by ARPACK at tol=1e-12 (minutes at a million points)
and the largest relative error of the singular values and the smallest
canonical correlation of the embedding are reported. Writes
benchmarks/results/large_scale.json.

    python benchmarks/large_scale.py [--case both] [--n 1000000] [--tol 1e-6]
        [--check] [--data-dir DIR]
"""

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from _common import (
    canonical_correlation,
    data_dir,
    noisy_swiss_roll,
    peak_rss_mb,
    print_table,
    write_json,
)
from sklearn.linear_model import LogisticRegression

from skcontexture import ContextureEmbedding, KNNContext
# the stages of a fit, timed one by one (no public function separates them)
from skcontexture._solvers import top_singular_triplets
from skcontexture._operator import ContextOperator
from skcontexture.linalg import top_singular_functions
from skcontexture.contexts._neighbors import uses_nndescent

#: Per case: fit time target (s) and peak RSS target (MB, None: no target).
TARGETS = {"million": (120, 4096), "fashion": (60, None)}
#: Fashion-MNIST's first 60,000 rows are its training set.
N_TRAIN = 60_000


def log(message):
    """Progress on stderr (stdout carries the child's result)."""
    print(message, file=sys.stderr, flush=True)


def timed(func):
    """Wall time of ``func()`` and its result."""
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def load(case, args):
    """Data, labels and training mask of a case (labels and mask None for million)."""
    if case == "million":
        return noisy_swiss_roll(args.n), None, None
    data = np.load(data_dir(args.data_dir) / "fashion_mnist.npz")
    rows = np.arange(len(data["y"]))
    if args.max_rows and args.max_rows < len(rows):
        rows = np.sort(np.random.RandomState(0).choice(rows, args.max_rows, replace=False))
    return data["X"][rows].astype(np.float32) / 255, data["y"][rows], rows < N_TRAIN


def context(args, algorithm="auto"):
    """The benchmarked kNN context."""
    return KNNContext(n_neighbors=args.k, algorithm=algorithm, n_jobs=2, random_state=0)


def embedding(args, algorithm="auto"):
    """The benchmarked estimator."""
    return ContextureEmbedding(context(args, algorithm), n_components=args.d, solver=args.solver,
                               n_jobs=2, random_state=0, tol=args.tol)


def run_case(case, args):
    """Warm-up, public fit, stages and checks of one case."""
    X, y, train = load(case, args)
    log(f"{case}: {X.shape[0]} x {X.shape[1]}, K = {args.k}, d = {args.d}")
    warm_rows = np.random.RandomState(0).choice(len(X), min(args.warmup_rows, len(X)),
                                                replace=False)
    search = "nndescent" if uses_nndescent(*X.shape) else "exact"
    warmup_s, _ = timed(lambda: embedding(args, search).fit(X[warm_rows]))
    log(f"  warm-up fit ({len(warm_rows)} rows, {search}): {warmup_s:.1f} s")
    fit_s, model = timed(lambda: embedding(args).fit(X))
    target_s, target_mb = TARGETS[case]
    out = {"case": case, "n": X.shape[0], "n_features": X.shape[1],
           "search": model.context_.index_.algorithm_, "warmup_rows": len(warm_rows),
           "warmup_s": warmup_s, "fit_s": fit_s, "target_s": target_s,
           "peak_rss_mb": peak_rss_mb(), "target_mb": target_mb, "n_products": model.n_products_}
    log(f"  fit: {fit_s:.1f} s, peak RSS {out['peak_rss_mb']:.0f} MB")
    if y is not None:
        Z = model.embedding_
        probe = LogisticRegression(max_iter=1000).fit(Z[train], y[train])
        out["test_accuracy"] = probe.score(Z[~train], y[~train])
    model = None
    out["context_s"], fitted = timed(lambda: context(args).fit(X))
    out["operator_s"], op = timed(lambda: ContextOperator(fitted.joint_, n_jobs=2))
    out["solver_s"], (s, U, _, _) = timed(lambda: top_singular_triplets(
        op, args.d, solver=args.solver, tol=args.tol, random_state=0))
    out["other_s"] = fit_s - out["context_s"] - out["operator_s"] - out["solver_s"]
    out["peak_rss_mb_stages"] = peak_rss_mb()
    log(f"  stages: context {out['context_s']:.1f} s, operator {out['operator_s']:.1f} s, "
        f"solver {out['solver_s']:.1f} s")
    if args.check:
        out["check_s"], (s_ref, mu_ref, _) = timed(lambda: top_singular_functions(
            fitted.joint_, args.d, solver="arpack", tol=1e-12, n_jobs=2, random_state=1))
        out["max_rel_err_s"] = float(np.max(np.abs(s / s_ref - 1)))
        out["min_canon_corr"] = canonical_correlation(
            op.sample_functions(U), mu_ref, np.asarray(fitted.joint_.sum(axis=1)).ravel())
    out["meets_targets"] = "yes" if fit_s < target_s and (
        target_mb is None or out["peak_rss_mb"] < target_mb) else "no"
    return out


def run_child(case):
    """Run one case in a fresh process of this script; return its result."""
    command = [sys.executable, __file__, *sys.argv[1:], "--case", case, "--child"]
    stdout = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=["million", "fashion", "both"], default="both")
    parser.add_argument("--n", type=int, default=1_000_000, help="points of the million case")
    parser.add_argument("--max-rows", type=int, default=None,
                        help="subsample Fashion-MNIST to this many rows")
    parser.add_argument("--warmup-rows", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--check", action="store_true",
                        help="compare with ARPACK at tol=1e-12 (slow)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_case(args.case, args), default=float))
        return
    start = time.perf_counter()
    cases = ["million", "fashion"] if args.case == "both" else [args.case]
    rows = [run_child(case) for case in cases]
    columns = ["case", "n", "search", "warmup_s", "fit_s", "target_s", "context_s",
               "operator_s", "solver_s", "other_s", "peak_rss_mb", "target_mb",
               "meets_targets", "test_accuracy"]
    if args.check:
        columns += ["max_rel_err_s", "min_canon_corr"]
    print()
    print_table(rows, columns)
    options = {k: v for k, v in vars(args).items() if k != "child"}
    path = write_json("large_scale", {
        "question": __doc__.split("\n\n")[0],
        "options": options,
        "targets": {case: {"fit_s": s, "peak_rss_mb": mb} for case, (s, mb) in TARGETS.items()},
        "notes": {
            "peak_rss_mb": "peak RSS of the case's own process after the public fit "
                           "(data and warm-up included); peak_rss_mb_stages: after the stages",
            "warmup_s": "warm-up fit (not in fit_s) on warmup_rows rows, with the neighbour "
                        "search of the full fit",
            "other_s": "fit_s minus context_s, operator_s and solver_s",
        },
        "cases": rows,
        "seconds": time.perf_counter() - start,
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
