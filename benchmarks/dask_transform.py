"""Question: how fast, and in what memory, does a Dask cluster embed rows that never fit in memory?

``ContextureEmbedding(KNNContext(15), n_components=16)`` is fitted on 200,000 rows of the 10-d
noisy swiss roll (``--quick``: 20,000), then embeds 10,000,000 new rows (``--quick``:
1,000,000; ``--rows N``: N), generated chunk by chunk (``--chunk`` rows, each chunk drawn from
its own seed; the rows are never held whole), two ways:

- dask: ``transform`` of a lazy dask array (``map_blocks`` of the generator) on
  ``Client(LocalCluster(n_workers=2, threads_per_worker=1, processes=True))``, reduced to the
  column sums of the embedding so that the output is not held either;
- in memory: the same chunks generated and transformed one after the other in this process
  (the batched loop a user writes without Dask).

Per way: rows per second, CPU seconds (of the workers, or of this process) and peak resident
memory, sampled (dask: of each worker process, from its system monitor; in memory: of this
process during the loop, also above its memory after the fit), and the largest relative
difference of the column sums between the two ways.
Writes benchmarks/results/dask_transform.json (``--quick``: dask_transform_quick.json;
``--rows N``: dask_transform_rowsN.json).

    python benchmarks/dask_transform.py            # full run (about 12 min on 2 shared cores)
    python benchmarks/dask_transform.py --rows 1000000   # the full fit, a tenth of the rows
    python benchmarks/dask_transform.py --quick    # CI: 20,000 fit rows, 1,000,000 rows (< 60 s)
"""

import argparse
import resource
import time

import dask.array as da
import numpy as np
from _common import PeakMemory, noisy_swiss_roll, print_table, worker_peak_mb, write_json
from distributed import Client, LocalCluster

from skcontexture import ContextureEmbedding, KNNContext


def chunk_rows(chunk, block_id=None):
    """The rows of one chunk: a noisy swiss roll drawn from the chunk's own seed."""
    return noisy_swiss_roll(chunk, seed=1 + block_id[0])


def cpu_seconds():
    """CPU seconds used by the calling process (a worker)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 fit rows, 1,000,000 rows")
    parser.add_argument("--rows", type=int, default=None,
                        help="rows to transform (default: 10,000,000; 1,000,000 quick)")
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per chunk")
    args = parser.parse_args()
    n_fit, n_rows = (20_000, 1_000_000) if args.quick else (200_000, 10_000_000)
    n_rows = args.rows or n_rows
    n_chunks = n_rows // args.chunk
    if n_chunks * args.chunk != n_rows:
        parser.error(f"--rows {n_rows} is not a multiple of --chunk {args.chunk}")

    start = time.perf_counter()
    embedding = ContextureEmbedding(KNNContext(15), n_components=16, random_state=0)
    embedding.fit(noisy_swiss_roll(n_fit, seed=0))
    fit_seconds = time.perf_counter() - start

    # in memory first: this process holds only the fitted model (no client yet)
    embedding.transform(chunk_rows(1000, (0,)))  # warm-up, as for the workers
    cpu, start = time.process_time(), time.perf_counter()
    sums = np.zeros(16)
    with PeakMemory() as peak:
        rss_after_fit = peak.peak
        for block in range(n_chunks):
            sums += embedding.transform(chunk_rows(args.chunk, (block,))).sum(axis=0)
    seconds = time.perf_counter() - start
    in_memory = {
        "way": "in memory (batches)",
        "seconds": seconds,
        "rows_per_second": n_rows / seconds,
        "cpu_seconds": time.process_time() - cpu,
        "peak_mb_process": peak.peak,
        "peak_mb_above_fit": peak.peak - rss_after_fit,
    }

    rows = []
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        X = da.map_blocks(
            chunk_rows, args.chunk, chunks=((args.chunk,) * n_chunks, (10,)), dtype=np.float64
        )
        # warm-up of every worker: imports and numba's compiled search kernels (not timed)
        client.run(lambda: embedding.transform(chunk_rows(1000, (0,))).shape)
        before = client.run(cpu_seconds)
        start = time.perf_counter()
        dask_sums = embedding.transform(X).sum(axis=0).compute()
        seconds = time.perf_counter() - start
        after = client.run(cpu_seconds)
        rows.append({
            "way": "dask (2 workers)",
            "seconds": seconds,
            "rows_per_second": n_rows / seconds,
            "cpu_seconds": sum(after[w] - before[w] for w in after),
            "peak_mb_per_worker": max(client.run(worker_peak_mb).values()),
        })
    rows.append(in_memory)

    difference = float(np.max(np.abs(dask_sums - sums) / np.maximum(np.abs(sums), 1.0)))
    for row in rows:
        row["max_relative_sum_difference"] = difference

    payload = {
        "question": "rows per second and memory of an out-of-core transform on Dask",
        "n_fit": n_fit,
        "n_rows": n_rows,
        "chunk": args.chunk,
        "fit_seconds": fit_seconds,
        "mb_after_fit": rss_after_fit,
        "cluster": "LocalCluster(n_workers=2, threads_per_worker=1, processes=True)",
        "rows": rows,
    }
    name = "dask_transform_quick" if args.quick else "dask_transform"
    path = write_json(f"dask_transform_rows{n_rows}" if args.rows else name, payload)
    print_table(
        rows,
        ["way", "seconds", "rows_per_second", "cpu_seconds", "peak_mb_per_worker",
         "peak_mb_process", "peak_mb_above_fit", "max_relative_sum_difference"],
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
