"""Question: does the distributed fit on a dask array match the in-memory fit, at what cost?

``ContextureEmbedding(KNNContext(15, algorithm="exact"), n_components=16)`` on 2,000,000 points
of the 10-d noisy swiss roll (``--quick``: 20,000; ``--n N``: N), generated chunk by chunk
(``--chunk`` rows, each chunk from its own seed), fitted three ways:

- dask, ``fit`` of the lazy dask array on ``LocalCluster(n_workers=2, threads_per_worker=1,
  memory_limit="8GB")``;
- dask, the same on one worker (the 1-vs-2-worker wall-time ratio; not with ``--quick``;
  ``--workers`` chooses the worker counts);
- in memory, the same chunks concatenated, fitted in a subprocess (with the same libraries
  loaded as a worker, dask included).

Per way: wall time of the fit (after a warm-up fit of 1,000 points, not timed: imports and
numba's kernels), peak resident memory during the fit (sampled: of each worker, from its
system monitor, and of the client process; or of the in-memory subprocess), block products
and the bytes of blocks sent to and received from the workers by the client and between
the workers per Gram product (the distributed operator's own accounting of every block it
ships), and, against the in-memory
fit, the largest relative difference of the singular values and the smallest canonical
correlation of the two embeddings.
Writes benchmarks/results/dask_fit.json (``--quick``: dask_fit_quick.json; ``--n N``:
dask_fit_nN.json).

    python benchmarks/dask_fit.py --workers 2 --reference ref.npz
        # 2,000,000 points: the in-memory fit (about 30 min on 2 cores, kept in ref.npz
        # for later runs) and the fit on 2 workers (about 25-30 min); without --workers
        # the 1-worker fit follows (as long as the in-memory search)
    python benchmarks/dask_fit.py --n 500000 # an intermediate size, both worker counts (12 min)
    python benchmarks/dask_fit.py --quick    # CI: 20,000 points, 2 workers only (< 60 s)
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
from _common import PeakMemory, noisy_swiss_roll, print_table, worker_peak_mb, write_json
from distributed import Client, LocalCluster

import skcontexture._distributed.fit as distributed_fit
from skcontexture import ContextureEmbedding, KNNContext

N_COMPONENTS = 16


def estimator():
    return ContextureEmbedding(
        KNNContext(15, algorithm="exact"), n_components=N_COMPONENTS, random_state=0
    )


def chunk_rows(block_info=None):
    """The rows of one chunk: a noisy swiss roll drawn from the chunk's own seed."""
    info = block_info[None]
    return noisy_swiss_roll(info["chunk-shape"][0], seed=1 + info["chunk-location"][0])


def lazy_points(n, chunk):
    sizes = (chunk,) * (n // chunk) + ((n % chunk,) if n % chunk else ())
    return da.map_blocks(chunk_rows, chunks=(sizes, (10,)), dtype=np.float64)


class CountedOperator(distributed_fit.DaskContextOperator):
    """The distributed operator, remembered for its byte counts."""

    last = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        CountedOperator.last = self


def fit_on_cluster(n, chunk, n_workers):
    """Wall time, peak memory, traffic, singular values and embedding of a cluster fit."""
    with LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, memory_limit="8GB",
        dashboard_address=None,
    ) as cluster, Client(cluster) as client:
        estimator().fit(lazy_points(1_000, 500))  # warm-up, not timed
        start = time.perf_counter()
        with PeakMemory() as client_peak:
            model = estimator().fit(lazy_points(n, chunk))
        seconds = time.perf_counter() - start
        operator = CountedOperator.last
        peaks = client.run(worker_peak_mb)
        embedding = model.embedding_.compute()
    gram_products = operator.n_products / 2
    return {
        "way": f"dask, {n_workers} worker(s)",
        "seconds": seconds,
        "peak_mb_per_worker": max(peaks.values()),
        "peak_mb_client": client_peak.peak,
        "n_products": operator.n_products,
        "mb_sent_per_gram_product": operator.bytes_sent / gram_products / 1e6,
        "mb_received_per_gram_product": operator.bytes_received / gram_products / 1e6,
        "mb_between_workers_per_gram_product": (
            operator.bytes_between_workers / gram_products / 1e6
        ),
    }, model.singular_values_, embedding


def fit_in_memory(n, chunk, folder, reference=None):
    """The in-memory fit of the same chunks, in a subprocess (for its own peak memory).

    With ``reference`` (an .npz path): reuse the fit saved there by an earlier
    run of the same n and chunk, or save this one there.
    """
    if reference is not None and Path(reference).exists():
        saved = np.load(reference)
        if (int(saved["n"]), int(saved["chunk"])) != (n, chunk):
            raise SystemExit(f"{reference} holds a fit of n={saved['n']}, chunk={saved['chunk']}")
        facts = json.loads(str(saved["facts"]))
        print(f"in-memory fit read from {reference}: {facts['seconds']:.1f} s")
        return _in_memory_row(facts), saved["s"], saved["Z"]
    code = (
        "import json, sys, time, numpy as np\n"
        "sys.path.insert(0, %r)\n"
        "from dask_fit import estimator, lazy_points\n"
        "from _common import PeakMemory, noisy_swiss_roll\n"
        "estimator().fit(noisy_swiss_roll(1000, seed=0))  # warm-up\n"
        "X = lazy_points(%d, %d).compute(scheduler='sync')\n"
        "start = time.perf_counter()\n"
        "with PeakMemory() as peak:\n"
        "    model = estimator().fit(X)\n"
        "seconds = time.perf_counter() - start\n"
        "np.savez(%r, s=model.singular_values_, Z=model.embedding_)\n"
        "print(json.dumps({'seconds': seconds, 'peak_mb': peak.peak,"
        " 'n_products': model.n_products_}))\n"
    ) % (str(Path(__file__).resolve().parent), n, chunk, str(folder / "in_memory.npz"))
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True)
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    saved = np.load(folder / "in_memory.npz")
    if reference is not None:
        np.savez(reference, s=saved["s"], Z=saved["Z"], n=n, chunk=chunk, facts=json.dumps(facts))
    return _in_memory_row(facts), saved["s"], saved["Z"]


def _in_memory_row(facts):
    return {
        "way": "in memory (subprocess)",
        "seconds": facts["seconds"],
        "peak_mb_process": facts["peak_mb"],
        "n_products": facts["n_products"],
    }


def canonical_correlations(A, B):
    return np.linalg.svd(np.linalg.qr(A)[0].T @ np.linalg.qr(B)[0], compute_uv=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 points, 2 workers only")
    parser.add_argument("--n", type=int, default=None,
                        help="points (default: 2,000,000; 20,000 quick)")
    parser.add_argument("--chunk", type=int, default=None,
                        help="rows per chunk (default: 5,000 quick, else n / 20)")
    parser.add_argument("--reference", default=None,
                        help="an .npz path: reuse the in-memory fit saved there by an earlier run "
                        "of the same --n and --chunk, or save it there (it takes about an hour "
                        "at 2,000,000 points)")
    parser.add_argument("--workers", default=None,
                        help="comma-separated worker counts (default: 2,1; 2 with --quick)")
    args = parser.parse_args()
    n = args.n or (20_000 if args.quick else 2_000_000)
    chunk = args.chunk or (5_000 if args.quick else n // 20)
    distributed_fit.DaskContextOperator = CountedOperator

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        reference, s_ref, Z_ref = fit_in_memory(n, chunk, Path(folder), args.reference)
    counts = (2,) if args.quick else (2, 1)
    if args.workers:
        counts = tuple(int(count) for count in args.workers.split(","))
    for n_workers in counts:
        row, s, Z = fit_on_cluster(n, chunk, n_workers)
        row["max_relative_singular_value_difference"] = float(np.max(np.abs(s / s_ref - 1)))
        row["min_canonical_correlation"] = float(canonical_correlations(Z, Z_ref).min())
        rows.append(row)
        del Z
    if counts == (2, 1):
        rows[0]["wall_time_1_over_2_workers"] = rows[1]["seconds"] / rows[0]["seconds"]
        print(f"1-worker / 2-worker wall time: {rows[0]['wall_time_1_over_2_workers']:.2f}")
    rows.append(reference)

    payload = {
        "question": "does the distributed fit match the in-memory fit, and at what cost",
        "n_samples": n,
        "chunk": chunk,
        "context": "KNNContext(15, algorithm='exact')",
        "n_components": N_COMPONENTS,
        "cluster": "LocalCluster(n_workers=2 or 1, threads_per_worker=1, memory_limit='8GB')",
        "rows": rows,
    }
    name = "dask_fit_quick" if args.quick else "dask_fit"
    path = write_json(f"dask_fit_n{n}" if args.n else name, payload)
    print_table(
        rows,
        ["way", "seconds", "peak_mb_per_worker", "peak_mb_client", "peak_mb_process",
         "n_products", "mb_sent_per_gram_product", "mb_received_per_gram_product",
         "mb_between_workers_per_gram_product",
         "max_relative_singular_value_difference", "min_canonical_correlation"],
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
