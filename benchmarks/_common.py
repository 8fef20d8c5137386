"""Shared helpers of the benchmarks: data, timing, accuracy, peak memory, JSON output."""

import json
import os
import platform
import resource
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import scipy.linalg
from sklearn.datasets import make_swiss_roll
from sklearn.neighbors import kneighbors_graph

RESULTS = Path(__file__).resolve().parent / "results"


def data_dir(option=None):
    """The dataset folder: ``option``, else $SKCONTEXTURE_DATA, else ../shared/data."""
    for candidate in (option, os.environ.get("SKCONTEXTURE_DATA")):
        if candidate:
            return Path(candidate)
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    if default.exists():
        return default
    raise FileNotFoundError("No dataset folder: pass --data-dir or set SKCONTEXTURE_DATA.")


def noisy_swiss_roll(n, seed=0):
    """The 10-d noisy swiss roll: ``make_swiss_roll`` (noise 0.5) plus 7 N(0, 0.5^2) columns."""
    X, _ = make_swiss_roll(n, noise=0.5, random_state=seed)
    return np.hstack([X, np.random.RandomState(seed).normal(scale=0.5, size=(n, 7))])


def swiss_roll_affinity(n, seed=0):
    """Symmetric kNN (K = 15) affinity of the 10-d noisy swiss roll."""
    A = kneighbors_graph(noisy_swiss_roll(n, seed), 15, n_jobs=2)
    return (0.5 * (A + A.T)).tocsr()


def canonical_correlation(Z, Z_ref, weights):
    """Smallest canonical correlation of two column spaces in L2(weights), after centering."""
    w = weights / weights.sum()
    root = np.sqrt(w)[:, None]
    Z, Z_ref = Z - w @ Z, Z_ref - w @ Z_ref
    return float(np.cos(scipy.linalg.subspace_angles(Z * root, Z_ref * root)).min())


def median_time(func, repeats=3):
    """Median wall time of ``func()`` over ``repeats`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Peak resident MB of this process while the block runs, sampled every 10 ms by a thread.

    ``ru_maxrss`` would not do for processes started by fork (a dask worker, a
    subprocess): they inherit the high-water mark of their parent at the fork.
    """

    def __enter__(self):
        import psutil

        process = psutil.Process()
        self.peak, self._done = process.memory_info().rss / 2**20, threading.Event()

        def sample():
            while not self._done.wait(0.01):
                self.peak = max(self.peak, process.memory_info().rss / 2**20)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()


def worker_peak_mb(dask_worker):
    """Peak resident MB of a dask worker, from its system monitor (sampled every 0.5 s).

    Run it with ``client.run(worker_peak_mb)``. Not ``ru_maxrss``: a worker
    started by fork and exec inherits the high-water mark of its parent.
    """
    return max(dask_worker.monitor.quantities["memory"]) / 2**20


def machine():
    """Facts about the machine and packages, stored with every result."""
    import numpy
    import scipy
    import sklearn

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "load_average": os.getloadavg(),
    }


def write_json(name, payload):
    """Write ``payload`` (plus machine facts) to benchmarks/results/NAME.json."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, default=float))
    return path


def print_table(rows, columns):
    """Print dict rows as an aligned text table."""
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.rjust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).rjust(widths[c]) for c in columns))


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
