"""Benchmark skcontexture._sparse_blocks.SparseOperator against scipy.

Random kNN-like square CSR matrix (n = 200,000 rows, 15 nonzeros per row at
random columns, positive weights), dense blocks of width 1, 8, 32, 64.
Timed (median of 5 runs after one warm-up):

- scipy ``Q @ X``;
- scipy ``QT @ X`` with ``QT = Q.T.tocsr()`` formed outside the timing;
- scipy ``Q.T @ X`` on the un-transposed matrix (a CSC view), as users write;
- ``SparseOperator.matmat`` / ``rmatmat`` with ``n_jobs=1`` and ``n_jobs=2``.

Prints a table (ratios are scipy time / our time, >1 means we are faster)
and writes ``benchmarks/results/bench_kernels.json``.

Run with ``PYTHONPATH=. python benchmarks/bench_kernels.py`` from the repo root.
"""

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import joblib
import numba
import numpy as np
import scipy
import scipy.sparse as sp
import sklearn

from skcontexture._sparse_blocks import _MIN_WORK_PARALLEL, SparseOperator

N = 200_000
NNZ_PER_ROW = 15
WIDTHS = (1, 8, 32, 64)
REPEATS = 5
SEED = 0
OUT = Path(__file__).resolve().parent / "results" / "bench_kernels.json"


def knn_like(n, k, seed):
    """Square CSR with ``k`` random distinct-ish columns per row."""
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n, size=(n, k)).ravel()
    data = rng.random(n * k) + 0.1
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    Q = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    Q.sum_duplicates()
    return Q


def median_time(fn, repeats=REPEATS):
    """Median wall time of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    Q = knn_like(N, NNZ_PER_ROW, SEED)
    QT = Q.T.tocsr()  # formed outside the timings
    ops = {nj: SparseOperator(Q, n_jobs=nj) for nj in (1, 2)}
    rng = np.random.default_rng(SEED + 1)
    load_before = os.getloadavg()

    rows = []
    for k in WIDTHS:
        X = rng.standard_normal((N, k))
        ref = Q @ X
        refT = QT @ X
        for nj, op in ops.items():  # sanity: same numbers as scipy
            assert np.allclose(op.matmat(X), ref, rtol=1e-12, atol=1e-12)
            assert np.allclose(op.rmatmat(X), refT, rtol=1e-12, atol=1e-12)
        cases = {
            "scipy Q@X": lambda: Q @ X,
            "scipy QT_csr@X": lambda: QT @ X,
            "scipy Q.T@X": lambda: Q.T @ X,
            "ours matmat nj=1": lambda: ops[1].matmat(X),
            "ours matmat nj=2": lambda: ops[2].matmat(X),
            "ours rmatmat nj=1": lambda: ops[1].rmatmat(X),
            "ours rmatmat nj=2": lambda: ops[2].rmatmat(X),
        }
        res = {"k": k}
        for name, fn in cases.items():
            med, all_t = median_time(fn)
            res[name] = med
            res[name + " runs"] = all_t
        rows.append(res)
        print(f"k={k} done", file=sys.stderr, flush=True)
    load_after = os.getloadavg()

    head = (
        f"{'k':>3} | {'Q@X':>8} {'QTcsr@X':>8} {'Q.T@X':>8} | "
        f"{'mm nj1':>8} {'mm nj2':>8} | {'rmm nj1':>8} {'rmm nj2':>8} | "
        f"{'mm1/':>5} {'mm2/':>5} | {'rmm1/':>5} {'rmm2/':>5} "
        f"{'rmm2/':>5}"
    )
    sub = (
        f"{'':>3} | {'ms':>8} {'ms':>8} {'ms':>8} | {'ms':>8} {'ms':>8} | "
        f"{'ms':>8} {'ms':>8} | {'Q@X':>5} {'Q@X':>5} | {'QTcsr':>5} "
        f"{'QTcsr':>5} {'Q.T':>5}"
    )
    print(head)
    print(sub)
    print("-" * len(head))
    for r in rows:
        ms = {key: v * 1e3 for key, v in r.items() if isinstance(v, float)}
        r["speedup matmat nj=1 vs Q@X"] = r["scipy Q@X"] / r["ours matmat nj=1"]
        r["speedup matmat nj=2 vs Q@X"] = r["scipy Q@X"] / r["ours matmat nj=2"]
        r["speedup rmatmat nj=1 vs QT_csr@X"] = (
            r["scipy QT_csr@X"] / r["ours rmatmat nj=1"]
        )
        r["speedup rmatmat nj=2 vs QT_csr@X"] = (
            r["scipy QT_csr@X"] / r["ours rmatmat nj=2"]
        )
        r["speedup rmatmat nj=2 vs Q.T@X"] = (
            r["scipy Q.T@X"] / r["ours rmatmat nj=2"]
        )
        print(
            f"{r['k']:>3} | {ms['scipy Q@X']:8.2f} {ms['scipy QT_csr@X']:8.2f} "
            f"{ms['scipy Q.T@X']:8.2f} | {ms['ours matmat nj=1']:8.2f} "
            f"{ms['ours matmat nj=2']:8.2f} | {ms['ours rmatmat nj=1']:8.2f} "
            f"{ms['ours rmatmat nj=2']:8.2f} | "
            f"{r['speedup matmat nj=1 vs Q@X']:5.2f} "
            f"{r['speedup matmat nj=2 vs Q@X']:5.2f} | "
            f"{r['speedup rmatmat nj=1 vs QT_csr@X']:5.2f} "
            f"{r['speedup rmatmat nj=2 vs QT_csr@X']:5.2f} "
            f"{r['speedup rmatmat nj=2 vs Q.T@X']:5.2f}"
        )
    print(
        "ratios = scipy time / our time (>1: ours faster); "
        f"load average before/after: {load_before} / {load_after}"
    )

    result = {
        "benchmark": "bench_kernels",
        "matrix": {
            "n_rows": N,
            "n_cols": N,
            "nnz": int(Q.nnz),
            "nnz_per_row": NNZ_PER_ROW,
            "kind": "random kNN-like CSR (random columns, positive weights)",
        },
        "widths": list(WIDTHS),
        "repeats": REPEATS,
        "statistic": "median of repeats after one warm-up, seconds",
        "min_work_parallel": _MIN_WORK_PARALLEL,
        "results": rows,
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpu_affinity": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else None,
            "cpu_model": cpu_model(),
            "platform": platform.platform(),
            "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
            "numba_threading_layer": numba.threading_layer(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
        },
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "numba": numba.__version__,
            "scikit-learn": sklearn.__version__,
            "joblib": joblib.__version__,
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set")


if __name__ == "__main__":
    main()
