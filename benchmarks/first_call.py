"""Question: what does the first call cost in a fresh environment, and what does the cache save?

numba compiles on first use: pynndescent's NN-descent, and the library's own
kernels (``_sparse_blocks._csr_matmat``, ``_operator._count_components``, both
``cache=True``). Each step below runs twice in its own fresh process with its
own ``NUMBA_CACHE_DIR``: "first" with an empty cache (a fresh environment),
"second" with the cache the first run left (every later process). Inside a
process, a step's call is also repeated, so that compilation (first call
minus repeat) is told apart from the work itself. The steps: ``import
skcontexture``; ``import pynndescent`` and a ``KNNContext(15,
algorithm="nndescent")`` fit on 20,000 x 10 points; the two kernels on a
20,000 x 20,000 operator with 15 nonzeros per row; ``skcontexture.utils.warm_up()``
followed by the same NN-descent fit; the README's main job ``python -m
skcontexture`` (process wall time).

By default the script builds a fresh virtual environment in a temporary folder
(``python -m venv`` and ``pip install -e`` of this repository; pip may reuse its
download cache) and measures there; ``--python PATH`` measures with an
interpreter that has skcontexture installed instead. Writes
benchmarks/results/first_call.json. Not run in CI (it takes about ten minutes).

    python benchmarks/first_call.py [--python PATH]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import print_table, write_json

REPO = Path(__file__).resolve().parent.parent

VERSIONS = """
import json
from importlib.metadata import version
print(json.dumps({name: version(name) for name in ("numba", "pynndescent", "skcontexture")}))
"""

IMPORT = """
import json, time
start = time.perf_counter()
import skcontexture
print(json.dumps({"import skcontexture": {"call_s": time.perf_counter() - start}}))
"""

NNDESCENT_FIT = """
import json, time
import numpy as np
from skcontexture import KNNContext
X = np.random.RandomState(0).normal(size=(20_000, 10))
def fit():
    start = time.perf_counter()
    KNNContext(15, algorithm="nndescent", random_state=0).fit(X)
    return time.perf_counter() - start
start = time.perf_counter()
import pynndescent
imported = time.perf_counter() - start
print(json.dumps({"NN-descent fit 20,000 x 10": {"import_pynndescent_s": imported,
                                                "call_s": fit(), "repeat_s": fit()}}))
"""

KERNELS = """
import json, time
import numpy as np, scipy.sparse as sp
from skcontexture._sparse_blocks import SparseOperator
from skcontexture._operator import _count_components
rng = np.random.RandomState(0)
n, k = 20_000, 15
Q = sp.csr_matrix((rng.uniform(size=n * k), rng.randint(n, size=n * k), np.arange(0, n * k + 1, k)),
                  shape=(n, n))
operator, block = SparseOperator(Q), rng.normal(size=(n, 8))
def timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start
matmat = lambda: operator.matmat(block)
components = lambda: _count_components(Q.indptr, Q.indices, n, n)
print(json.dumps({"csr_matmat": {"call_s": timed(matmat), "repeat_s": timed(matmat)},
                  "count_components": {"call_s": timed(components),
                                       "repeat_s": timed(components)}}))
"""

WARM_UP = NNDESCENT_FIT.split("start = time.perf_counter()\nimport pynndescent")[0] + """
from skcontexture.utils import warm_up
print(json.dumps({"warm_up() then the fit": {"call_s": warm_up(), "fit_after_s": fit()}}))
"""


def run(python, code, cache):
    """Run ``code`` (or the main job if None) in a fresh process: its timings and wall time."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)
    argv = [python, "-m", "skcontexture"] if code is None else [python, "-c", code]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[1:]} failed:\n{done.stderr}")
    if code is None:
        return {"python -m skcontexture": {"call_s": wall}}, wall
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, wall


def fresh_venv(folder):
    """Build a virtual environment with this repository installed; its python and build time."""
    start = time.perf_counter()
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(folder)], check=True)
    python = str(folder / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "-e", str(REPO)], check=True)
    return python, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", help="interpreter with skcontexture installed "
                                         "(default: a fresh virtual environment)")
    args = parser.parse_args()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        python, venv_s = (args.python, None) if args.python else fresh_venv(tmp / "venv")
        versions = json.loads(subprocess.run([python, "-c", VERSIONS], capture_output=True,
                                             text=True, check=True).stdout)
        rows = []
        for step, code in enumerate([IMPORT, NNDESCENT_FIT, KERNELS, WARM_UP, None]):
            cache = tmp / f"cache-{step}"
            first, first_wall = run(python, code, cache)
            second, second_wall = run(python, code, cache)
            for name, before in first.items():
                after = second[name]
                row = {"step": name, "first_s": before["call_s"], "second_s": after["call_s"]}
                row["saved_s"] = row["first_s"] - row["second_s"]
                for key in ("repeat_s", "import_pynndescent_s", "fit_after_s"):
                    if key in before:
                        row[f"{key[:-2]}_first_s"] = before[key]
                        row[f"{key[:-2]}_second_s"] = after[key]
                row["process_first_s"], row["process_second_s"] = first_wall, second_wall
                rows.append(row)
                print_table(rows[-1:], list(rows[-1]))

    columns = ["step", "first_s", "second_s", "saved_s", "repeat_first_s",
               "import_pynndescent_first_s", "import_pynndescent_second_s",
               "fit_after_first_s", "fit_after_second_s", "process_first_s", "process_second_s"]
    print()
    print_table(rows, columns)
    path = write_json("first_call", {"python": python, "fresh_venv": args.python is None,
                                     "venv_build_s": venv_s, "versions": versions, "rows": rows,
                                     "seconds": time.perf_counter() - start})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
