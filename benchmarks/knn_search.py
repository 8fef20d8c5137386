"""Question: which neighbour search should the library use, per regime?

Every peer finds the K = 15 nearest fit rows of every fit row (a row counts
itself, as ``KNNContext`` does), Euclidean distance, on float32 data: a
mixture of 20 Gaussians with random centres (standard deviation 4 per
coordinate) and random covariances of rank min(dim, 16) plus isotropic noise
of standard deviation 0.1 (so that the 784-d case has a low intrinsic
dimension, as images do), fixed seed. Sizes ``--sizes`` x dimensions
``--dims``. The peers (a missing package is reported "not installed"):

- ``skcontexture nndescent`` / ``skcontexture exact``: the library's
  ``NeighborIndex`` (what ``KNNContext(algorithm=...)`` runs: pynndescent, or
  scikit-learn's ``NearestNeighbors``, with the library's tie-breaking by fit
  index);
- ``pynndescent``: ``NNDescent`` and its ``neighbor_graph`` (no query);
- ``faiss flat`` (``IndexFlatL2``, exact), ``faiss hnsw`` (``IndexHNSWFlat``),
  ``hnswlib``, ``usearch`` (HNSW graphs, all with M = 16,
  ef_construction = 100, ef_search = 32), ``pykdtree`` (k-d tree, exact).

The alternatives are not dependencies of the library: ``pip install faiss-cpu
hnswlib usearch pykdtree`` (hnswlib ships no wheel: pip compiles it, which
needs a C++ compiler).

Measured per regime and peer, all peers on the same array in this process:
build and query time, warm (every peer first runs once on 2,000 rows, which
compiles pynndescent; then ``--repeats`` runs interleaved across peers, each
with ``n_jobs=2`` and with ``n_jobs=1``, the library's default; medians;
fewer runs where one run is long, see ``runs``); recall@15 on a 2,000-row
query sample against an exact float64 search; the peak resident memory a run
adds to the process (``peak_extra_mb``, sampled every 10 ms); whether two runs
return identical neighbour lists (``runs_differ``, ``runs_differ_1``: the
fraction of rows whose index list differs, 0 = identical) and whether
``n_jobs=1`` returns the lists of ``n_jobs=2`` (``n_jobs_differ``). Peers
other than the library's run under ``threadpoolctl.threadpool_limits(n_jobs)``
and get ``n_jobs`` as their thread count.

Cold (at ``--cold-at``, 20,000 x 10: start-up costs grow neither with the rows
nor with the features, numba compiles per dtype): a fresh process of this
script times the peer's imports, build and query with ``n_jobs=1`` and an
empty ``NUMBA_CACHE_DIR`` (a fresh environment: ``cold_s``), then again in a
second process with the cache the first left (``cold_cached_s``, numba peers
only), and reports its peak RSS. The tie check builds 5,000 points with 4
exact copies each (20,000 rows, shuffled, 10-d) and reports for each peer the
fraction of rows whose copies come back first at distance exactly 0
(``ties_at_zero``) and in fit order (``ties_in_order``), the library's rule.

A peer is skipped at a size where its time, extrapolated from the previous
size, exceeds ``--max-seconds`` (as n^2 for exact search: k-d trees too, which
took 30 times longer for 5 times the rows on this data of intrinsic dimension
10 to 16; as n^1.3 for the graphs); a regime whose array would not fit 4
times in the available memory is skipped. Writes
benchmarks/results/knn_search.json (``--quick``: knn_search_quick.json,
20,000 x 10, warm only; ``--output NAME``: NAME.json).

    python benchmarks/knn_search.py [--quick] [--sizes 20000 100000 1000000]
        [--dims 10 784] [--repeats 3] [--max-seconds 600] [--cold-at 20000 10]
        [--peers NAME ...] [--output NAME]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

K = 15
#: HNSW parameters shared by faiss, hnswlib and usearch: recall near NN-descent's
#: (hnswlib at 20,000 rows: 0.9999 in 10-d, 0.992 in 784-d; with 200 and 64,
#: 1.0 in both at 1.6x the time).
M, EF_CONSTRUCTION, EF_SEARCH = 16, 100, 32
RECALL_ROWS = 2_000
WARM_UP_ROWS = 2_000
#: Runs per peer and n_jobs: all ``--repeats`` when a run takes less than
#: SHORT_RUN_S, two with n_jobs=2 (the determinism pair) and one with n_jobs=1
#: below LONG_RUN_S, else one with n_jobs=2.
SHORT_RUN_S, LONG_RUN_S = 20, 120


def mixture(n, dim, seed=0):
    """The benchmark's float32 Gaussian mixture, generated component by component."""
    rng = np.random.default_rng(seed)
    rank = min(dim, 16)
    centres = rng.normal(scale=4, size=(20, dim))
    factors = rng.normal(size=(20, rank, dim)) / np.sqrt(rank)
    labels = rng.integers(20, size=n)
    X = np.empty((n, dim), dtype=np.float32)
    for c in range(20):
        rows = np.flatnonzero(labels == c)
        latent = rng.standard_normal((len(rows), rank), dtype=np.float32)
        noise = rng.standard_normal((len(rows), dim), dtype=np.float32)
        X[rows] = centres[c] + latent @ factors[c].astype(np.float32) + 0.1 * noise
    return X


def copies(n_points=5_000, n_copies=4, seed=0):
    """10-d points with ``n_copies`` exact copies each, rows shuffled."""
    X = np.repeat(mixture(n_points, 10, seed), n_copies, axis=0)
    return X[np.random.default_rng(seed).permutation(len(X))]


# ---- the peers: build(X, n_jobs, seed) -> index, query(index, X, k, n_jobs) -> (dist, ind)

def library_build(algorithm):
    def build(X, n_jobs, seed):
        from skcontexture.contexts._neighbors import NeighborIndex

        return NeighborIndex(algorithm, "euclidean", K, n_jobs, seed).fit(X)

    return build


def library_query(index, X, k, n_jobs):
    return index.kneighbors(X, k)


def pynndescent_build(X, n_jobs, seed):
    from pynndescent import NNDescent

    return NNDescent(X, n_neighbors=K, random_state=seed, n_jobs=n_jobs)


def pynndescent_query(index, X, k, n_jobs):
    indices, distances = index.neighbor_graph  # the fit rows' graph: no search
    return distances[:, :k], indices[:, :k]


def faiss_flat_build(X, n_jobs, seed):
    import faiss

    faiss.omp_set_num_threads(n_jobs)
    index = faiss.IndexFlatL2(X.shape[1])
    index.add(X)
    return index


def faiss_hnsw_build(X, n_jobs, seed):
    import faiss

    faiss.omp_set_num_threads(n_jobs)
    index = faiss.IndexHNSWFlat(X.shape[1], M)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(X)
    index.hnsw.efSearch = EF_SEARCH
    return index


def faiss_query(index, X, k, n_jobs):
    import faiss

    faiss.omp_set_num_threads(n_jobs)
    return index.search(X, k)


def hnswlib_build(X, n_jobs, seed):
    import hnswlib

    index = hnswlib.Index(space="l2", dim=X.shape[1])
    index.init_index(max_elements=len(X), M=M, ef_construction=EF_CONSTRUCTION,
                     random_seed=seed)
    index.add_items(X, num_threads=n_jobs)
    index.set_ef(EF_SEARCH)
    return index


def hnswlib_query(index, X, k, n_jobs):
    indices, distances = index.knn_query(X, k=k, num_threads=n_jobs)
    return distances, indices


def usearch_build(X, n_jobs, seed):
    from usearch.index import Index

    index = Index(ndim=X.shape[1], metric="l2sq", dtype="f32", connectivity=M,
                  expansion_add=EF_CONSTRUCTION, expansion_search=EF_SEARCH)
    index.add(np.arange(len(X)), X, threads=n_jobs)
    return index


def usearch_query(index, X, k, n_jobs):
    matches = index.search(X, k, threads=n_jobs)
    return matches.distances, matches.keys


def pykdtree_build(X, n_jobs, seed):
    from pykdtree.kdtree import KDTree

    return KDTree(X)


def pykdtree_query(index, X, k, n_jobs):
    return index.query(X, k=k)


class Peer(NamedTuple):
    distributions: tuple  # what must be installed
    build: Callable
    query: Callable
    library: bool  # the library's own path (its n_jobs, no threadpool limits)
    exact: bool  # time ~ n^2 (brute force, or a tree on data of intrinsic dimension >= 10)
    max_dim: float = np.inf  # the most features it accepts


PEERS = {
    "skcontexture nndescent": Peer(("pynndescent",), library_build("nndescent"), library_query,
                                   True, False),
    "skcontexture exact": Peer(("scikit-learn",), library_build("exact"), library_query, True,
                               True),
    "pynndescent": Peer(("pynndescent",), pynndescent_build, pynndescent_query, False, False),
    "faiss flat": Peer(("faiss-cpu",), faiss_flat_build, faiss_query, False, True),
    "faiss hnsw": Peer(("faiss-cpu",), faiss_hnsw_build, faiss_query, False, False),
    "hnswlib": Peer(("hnswlib",), hnswlib_build, hnswlib_query, False, False),
    "usearch": Peer(("usearch",), usearch_build, usearch_query, False, False),
    "pykdtree": Peer(("pykdtree",), pykdtree_build, pykdtree_query, False, True, max_dim=127),
}
#: Peers that compile with numba on first use.
NUMBA_PEERS = {"skcontexture nndescent", "pynndescent"}


def installed(name):
    """Versions of the peer's distributions, or None if one is missing."""
    try:
        return {dist: version(dist) for dist in PEERS[name].distributions}
    except PackageNotFoundError:
        return None


def run(name, X, n_jobs, seed=0):
    """One build and query of every row: (build_s, query_s, distances, indices)."""
    peer = PEERS[name]
    if peer.library:
        limits = None
    else:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(n_jobs)
    try:
        start = time.perf_counter()
        index = peer.build(X, n_jobs, seed)
        built = time.perf_counter()
        distances, indices = peer.query(index, X, K, n_jobs)
        done = time.perf_counter()
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return built - start, done - built, np.asarray(distances), np.asarray(indices, np.int64)


# ---- accuracy and determinism

def exact_reference(X, rows, k, block=50_000):
    """Indices of the exact k nearest rows of X to X[rows], in float64, block by block."""
    queries = X[rows].astype(np.float64)
    query_norms = np.einsum("ij,ij->i", queries, queries)
    best_d = np.empty((len(rows), 0))
    best_i = np.empty((len(rows), 0), dtype=np.int64)
    for start in range(0, len(X), block):
        points = X[start:start + block].astype(np.float64)
        d = query_norms[:, None] + np.einsum("ij,ij->i", points, points) - 2 * queries @ points.T
        keep = np.argpartition(d, k - 1, axis=1)[:, :k]
        best_d = np.hstack([best_d, np.take_along_axis(d, keep, axis=1)])
        best_i = np.hstack([best_i, start + keep])
        keep = np.argpartition(best_d, k - 1, axis=1)[:, :k]
        best_d = np.take_along_axis(best_d, keep, axis=1)
        best_i = np.take_along_axis(best_i, keep, axis=1)
    return best_i


def recall(indices, rows, reference):
    """Mean fraction of the exact K neighbours found, over the sample rows."""
    return float(np.mean([len(np.intersect1d(found, exact)) / K
                          for found, exact in zip(indices[rows], reference)]))


def rows_differ(a, b):
    """Fraction of rows whose neighbour index lists differ (order included)."""
    return float(np.mean(np.any(a != b, axis=1)))


def tie_check(name, n_jobs=2):
    """Fractions of rows whose exact copies come first at distance 0, and in fit order."""
    X = copies()
    distances, indices = run(name, X, n_jobs)[2:]
    inverse = np.unique(X, axis=0, return_inverse=True)[1].ravel()
    n_copies = len(X) // (inverse.max() + 1)
    # the rows of each distinct point in fit order, then each row's copies (itself included)
    groups = np.argsort(inverse, kind="stable").reshape(-1, n_copies)
    expected = groups[inverse]
    first = indices[:, :n_copies]
    at_zero = np.all(np.sort(first, axis=1) == expected, axis=1) & np.all(
        distances[:, :n_copies] == 0, axis=1)
    in_order = at_zero & np.all(first == expected, axis=1)
    return {"ties_at_zero": float(at_zero.mean()), "ties_in_order": float(in_order.mean())}


# ---- cold runs, in a fresh process of this script

def cold_child(name, n, dim):
    """In the child: time imports + build + query of a fresh process; print JSON."""
    X = mixture(n, dim)
    start = time.perf_counter()
    build_s, query_s, _, _ = run(name, X, 1)
    total = time.perf_counter() - start
    # VmHWM: this process's peak RSS (ru_maxrss would keep the parent's across fork + exec)
    status = Path("/proc/self/status").read_text()
    peak_kb = int(status.split("VmHWM:")[1].split()[0])
    print(json.dumps({"cold_s": total, "cold_build_s": build_s, "cold_query_s": query_s,
                      "cold_peak_rss_mb": peak_kb / 1024}))


def cold(name, n, dim):
    """Cold timings of ``name`` in fresh processes (empty numba cache, then the cache left)."""
    argv = [sys.executable, __file__, "--cold-child", name, str(n), str(dim)]
    result = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONWARNINGS": "ignore"}
        for key in ("", "_cached") if name in NUMBA_PEERS else ("",):
            done = subprocess.run(argv, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                return {"cold_error": done.stderr[-500:]}
            child = json.loads(done.stdout.strip().splitlines()[-1])
            if key:
                result["cold_cached_s"] = child["cold_s"]
            else:
                result.update(child)
    return result


# ---- one regime

def predicted_seconds(name, n, last):
    """A run's time at ``n`` extrapolated from the peer's last measured size, or None."""
    if name not in last:
        return None
    n_before, seconds = last[name]
    return seconds * (n / n_before) ** (2.0 if PEERS[name].exact else 1.3)


def measure_regime(n, dim, names, args, last):
    """Rows of every peer at n x dim; updates ``last`` (peer: (n, warm seconds))."""
    from _common import PeakMemory

    X = mixture(n, dim)
    rows = np.sort(np.random.default_rng(1).choice(n, size=min(RECALL_ROWS, n), replace=False))
    start = time.perf_counter()
    reference = exact_reference(X, rows, K)
    base = {"n": n, "dim": dim, "load_average": os.getloadavg(),
            "reference_s": time.perf_counter() - start}
    print(f"\n{n} x {dim}: exact reference on {len(rows)} rows in {base['reference_s']:.1f} s")
    results, wanted, outputs = {}, {}, {}
    for name in names:
        results[name] = {**base, "peer": name}
        guess = predicted_seconds(name, n, last)
        if dim > PEERS[name].max_dim:
            results[name]["skipped"] = f"at most {PEERS[name].max_dim} features"
        elif guess is not None and guess > args.max_seconds:
            results[name]["skipped"] = (f"predicted {guess:.0f} s per run (from "
                                        f"{last[name][0]:,} rows) > {args.max_seconds:.0f} s")
        else:
            results[name].update(predicted_s=guess, times={2: [], 1: []})
            wanted[name] = {2: args.repeats, 1: 1}  # until the first run's time is known
    for repeat in range(args.repeats):
        for name, runs in wanted.items():
            row = results[name]
            for n_jobs in (2, 1):
                if repeat >= runs[n_jobs]:
                    continue
                with PeakMemory() as peak:
                    before = peak.peak
                    build_s, query_s, _, indices = run(name, X, n_jobs)
                row["times"][n_jobs].append((build_s, query_s))
                row["peak_extra_mb"] = max(row.get("peak_extra_mb", 0), peak.peak - before)
                print(f"  {name}, n_jobs={n_jobs}: run {repeat + 1}, {build_s + query_s:.2f} s",
                      flush=True)
                if repeat == 0:
                    outputs[name, n_jobs] = indices
                    if n_jobs == 2:
                        row["recall"] = recall(indices, rows, reference)
                        runs.update(runs_wanted(build_s + query_s, args.repeats))
                    else:
                        row["n_jobs_differ"] = rows_differ(outputs[name, 2], indices)
                elif repeat == 1:
                    key = "runs_differ" if n_jobs == 2 else "runs_differ_1"
                    row[key] = rows_differ(outputs[name, n_jobs], indices)
    for name in wanted:
        row = results[name]
        times = row.pop("times")
        row["runs"] = len(times[2])
        row["build_s"] = statistics.median(t[0] for t in times[2])
        row["query_s"] = statistics.median(t[1] for t in times[2])
        row["warm_s"] = statistics.median(sum(t) for t in times[2])
        if times[1]:
            row["warm_1_s"] = statistics.median(sum(t) for t in times[1])
        row["times_s"] = {n_jobs: [sum(t) for t in runs] for n_jobs, runs in times.items()}
        last[name] = (n, row["warm_s"])
        if [n, dim] == args.cold_at:
            row.update(cold(name, n, dim))
            print(f"  {name}: cold {row.get('cold_s', float('nan')):.1f} s", flush=True)
    return [results[name] for name in names]


def runs_wanted(first_s, repeats):
    """Runs per n_jobs setting, from the first run's time (n_jobs=1 only below LONG_RUN_S)."""
    if first_s < SHORT_RUN_S:
        return {2: repeats, 1: repeats}
    return {2: 2, 1: 1} if first_s < LONG_RUN_S else {2: 1, 1: 0}


def available_mb():
    import psutil

    return psutil.virtual_memory().available / 2**20


COLUMNS = ["n", "dim", "peer", "build_s", "query_s", "warm_s", "warm_1_s", "runs", "cold_s",
           "cold_cached_s", "recall", "runs_differ", "runs_differ_1", "n_jobs_differ",
           "peak_extra_mb", "cold_peak_rss_mb", "skipped"]
NOTES = {
    "warm_s": "n_jobs=2: median of the runs (build + query), peers interleaved; "
              "build_s, query_s: medians of the parts",
    "warm_1_s": "n_jobs=1 (the library's default), interleaved with the n_jobs=2 runs",
    "runs": f"runs with n_jobs=2: --repeats below {SHORT_RUN_S} s per run, 2 below "
            f"{LONG_RUN_S} s, else 1 (and no n_jobs=1 run)",
    "runs_differ": "fraction of rows whose index lists differ between runs 1 and 2, "
                   "n_jobs=2 (runs_differ_1: n_jobs=1)",
    "n_jobs_differ": "same, the first n_jobs=1 run against the first n_jobs=2 run",
    "recall": f"recall@{K} on {RECALL_ROWS} query rows against exact float64 search",
    "cold_s": "fresh process, n_jobs=1: imports + build + query, empty NUMBA_CACHE_DIR",
    "cold_cached_s": "second fresh process with the numba cache the first left",
    "peak_extra_mb": "peak RSS a warm run adds to the process (data already held)",
    "ties": "5,000 10-d points x 4 exact copies, shuffled: fraction of rows whose copies "
            "come first at distance 0 (ties_at_zero), and in fit order (ties_in_order)",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="20,000 x 10 only, warm only (no cold processes)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 1_000_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 784])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--cold-at", type=int, nargs=2, default=[20_000, 10],
                        metavar=("N", "DIM"), help="the regime of the cold runs")
    parser.add_argument("--peers", nargs="+", choices=list(PEERS), default=list(PEERS))
    parser.add_argument("--output", help="JSON name in results/ (default: knn_search, "
                                         "knn_search_quick with --quick)")
    parser.add_argument("--cold-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_child:
        name, n, dim = args.cold_child
        return cold_child(name, int(n), int(dim))
    if args.quick:
        args.sizes, args.dims, args.cold_at = [20_000], [10], None
    output = args.output or ("knn_search_quick" if args.quick else "knn_search")

    from _common import print_table, write_json

    start, load_start = time.perf_counter(), os.getloadavg()
    versions = {name: installed(name) for name in args.peers}
    names = [name for name in args.peers if versions[name]]
    missing = [name for name in args.peers if not versions[name]]
    for name in missing:
        print(f"{name}: not installed")
    for dim in args.dims:  # compiles pynndescent for this dtype before any timing
        for name in names:
            if dim <= PEERS[name].max_dim:
                run(name, mixture(WARM_UP_ROWS, dim, seed=1), 2)
    ties = {name: tie_check(name) for name in names}
    missing_rows = [{"peer": name, "skipped": "not installed"} for name in missing]
    rows, last = [], {}

    def save(finished):
        """Write the JSON with the regimes measured so far."""
        return write_json(output, {
            "question": __doc__.split("\n\n")[0],
            "options": {k: v for k, v in vars(args).items() if k != "cold_child"},
            "finished": finished,
            "k": K, "hnsw": {"M": M, "ef_construction": EF_CONSTRUCTION, "ef_search": EF_SEARCH},
            "versions": {**{name: v for name, v in versions.items() if v},
                         "numba": version("numba"), "threadpoolctl": version("threadpoolctl")},
            "load_average_start": load_start,
            "notes": NOTES,
            "ties": ties,
            "rows": rows + missing_rows,
            "seconds": time.perf_counter() - start,
        })

    for dim in args.dims:
        for n in args.sizes:
            if 4 * n * dim * 4 / 2**20 > available_mb():
                rows.append({"n": n, "dim": dim, "skipped": "4 copies of the data exceed "
                                                            "the available memory"})
            else:
                rows.extend(measure_regime(n, dim, names, args, last))
            save(finished=False)
    path = save(finished=True)
    print()
    print_table(rows + missing_rows, [c for c in COLUMNS if any(c in r for r in rows)])
    print()
    print_table([{"peer": name, **ties[name]} for name in names],
                ["peer", "ties_at_zero", "ties_in_order"])
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
