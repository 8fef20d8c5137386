"""Question: how fast is a whole fit against the peers, at what accuracy?

Every method builds its own K = 15 neighbour graph of the 10-d noisy swiss roll
(``--n`` points) and computes a d = 8 spectral embedding of it, the graph
included in the timing:

- skcontexture: ``ContextureEmbedding(KNNContext(15))`` (NN-descent from
  100,000 points on), ``--solver`` and ``--tol``;
- scikit-learn ``SpectralEmbedding(affinity="nearest_neighbors")`` with its
  default eigensolver (ARPACK in shift-invert mode) and with
  ``eigen_solver="amg"`` (skipped when pyamg does not import);
- UMAP's spectral initialisation: ``fuzzy_simplicial_set`` then
  ``spectral_layout``.

All run in one process with 2 threads. Each method is run once untimed as a
warm-up (numba compiles the kernels of pynndescent, UMAP and skcontexture on
first use), whose time is reported as its cold time, then ``--repeats`` timed
runs (median). scikit-learn's default eigensolver has no JIT and takes minutes
at 100,000 points: it gets no warm-up and ``--slow-peer-repeats`` timed runs
(0 skips it), its cold time being its first run. Cold times are first calls
in the order above: a kernel compiled by an earlier method (pynndescent's, by
skcontexture before UMAP) is not compiled again, and numba's on-disk cache
shortens compilation.

Accuracy is measured outside the timed region, against the exact answer of
each method's own problem (ARPACK, tol=1e-12): for skcontexture the top d
singular triplets of the fitted context's operator; for scikit-learn the d + 1
smallest eigenvectors of the normalised Laplacian of its ``affinity_matrix_``,
formed as scikit-learn forms it (diagonal of the affinity ignored, eigenvectors
scaled by D^-1/2), the first dropped; for UMAP the same for its fuzzy graph
(as ``spectral_layout`` returns them: not rescaled). Reported: the smallest
canonical correlation between the embedding's columns and the exact ones in
L2 of the graph's degree measure (skcontexture: the row marginal), after
centering (1 = the same subspace), and
for skcontexture the largest relative error of the singular values (the peers
return no eigenvalues). ``speedup`` is a method's time over skcontexture's
(warm medians; ``cold_speedup``: cold times). Peak memory is the process's
peak RSS after each method's runs, in the order above: an upper bound of that
method's own peak. Writes benchmarks/results/end_to_end.json and, with
matplotlib, end_to_end.png (warm times).

``--methods skcontexture`` runs only the named methods (the first-call
measurement of docs/performance.md runs skcontexture alone in a fresh
process); ``--output NAME`` writes NAME.json (and no plot) instead.

    python benchmarks/end_to_end.py [--n 100000] [--d 8] [--repeats 3]
        [--slow-peer-repeats 1] [--tol 1e-6] [--solver auto]
        [--methods NAME ...] [--output NAME]
"""

import argparse
import importlib
import os
import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp
from _common import (
    RESULTS,
    canonical_correlation,
    noisy_swiss_roll,
    peak_rss_mb,
    print_table,
    write_json,
)
from scipy.sparse.csgraph import laplacian
from scipy.sparse.linalg import eigsh
from sklearn.manifold import SpectralEmbedding

from skcontexture import ContextureEmbedding, KNNContext
from skcontexture.linalg import top_singular_functions

REFERENCE_TOL = 1e-12


def top_eigenvectors(S, d):
    """Eigenvectors 2..d+1 of the symmetric normalised affinity S (ARPACK, tight)."""
    v0 = np.random.RandomState(1).uniform(-1, 1, S.shape[0])
    values, vectors = eigsh(S, k=d + 1, which="LA", tol=REFERENCE_TOL, v0=v0,
                            ncv=max(4 * (d + 1), 40))
    return vectors[:, np.argsort(-values)[1:]]


def ours_accuracy(model, d):
    """Singular value error and canonical correlation against a tight solve of the fitted joint."""
    joint = model.context_.joint_
    s, mu, _ = top_singular_functions(joint, d, solver="arpack", tol=REFERENCE_TOL, n_jobs=2,
                                      random_state=1)
    p_x = np.asarray(joint.sum(axis=1)).ravel()  # rows without mass weigh 0
    corr = canonical_correlation(model.embedding_, mu, p_x)
    return corr, float(np.max(np.abs(model.singular_values_ / s - 1)))


def sklearn_accuracy(model, d):
    """Canonical correlation against the exact Laplacian eigenvectors of ``affinity_matrix_``."""
    L, root_degree = laplacian(sp.csr_matrix(model.affinity_matrix_), normed=True,
                               return_diag=True)
    S = -L.tocsr()
    S.setdiag(0)
    S.eliminate_zeros()
    reference = top_eigenvectors(S, d) / root_degree[:, None]
    return canonical_correlation(model.embedding_, reference, root_degree**2), None


def umap_accuracy(result, d):
    """Canonical correlation against the exact Laplacian eigenvectors of UMAP's graph."""
    graph, embedding = result
    graph = sp.csr_matrix(graph)
    degree = np.asarray(graph.sum(axis=0)).ravel()
    scale = sp.diags(1 / np.sqrt(degree))
    reference = top_eigenvectors((scale @ graph @ scale).tocsr(), d)
    root = np.sqrt(degree)[:, None]
    return canonical_correlation(embedding / root, reference / root, degree), None


def umap_spectral_init(X, k, d):
    """UMAP's fuzzy graph and its spectral layout, as UMAP initialises."""
    from umap.spectral import spectral_layout
    from umap.umap_ import fuzzy_simplicial_set

    graph, _, _ = fuzzy_simplicial_set(X, k, np.random.RandomState(0), "euclidean")
    return graph, spectral_layout(X, graph, d, np.random.RandomState(0))


def importable(name):
    """Whether ``import name`` succeeds."""
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


METHODS = ("skcontexture", "sklearn arpack", "sklearn amg", "umap spectral init")


def methods(X, args):
    """Every method in run order: name, run, accuracy, warm-up, repeats, skip reason."""
    k, d = args.k, args.d

    def ours():
        context = KNNContext(n_neighbors=k, n_jobs=2, random_state=0)
        return ContextureEmbedding(context, n_components=d, solver=args.solver, n_jobs=2,
                                   random_state=0, tol=args.tol).fit(X)

    def sklearn(solver):
        return SpectralEmbedding(n_components=d, affinity="nearest_neighbors", n_neighbors=k,
                                 eigen_solver=solver, random_state=0, n_jobs=2).fit(X)

    return [
        ("skcontexture", ours, ours_accuracy, True, args.repeats, None),
        ("sklearn arpack", lambda: sklearn(None), sklearn_accuracy, False,
         args.slow_peer_repeats, None if args.slow_peer_repeats else "--slow-peer-repeats 0"),
        ("sklearn amg", lambda: sklearn("amg"), sklearn_accuracy, True, args.repeats,
         None if importable("pyamg") else "pyamg does not import"),
        ("umap spectral init", lambda: umap_spectral_init(X, k, d), umap_accuracy, True,
         args.repeats, None if importable("umap") else "umap does not import"),
    ]


def run_method(run, warm_up, repeats):
    """Cold time, timed runs, last result and warning messages of ``run``."""
    times, result, warm_up = [], None, int(warm_up)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(warm_up + repeats):
            result = None
            start = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - start)
    messages = sorted({str(w.message)[:300] for w in caught})
    return times[0], times[warm_up:], result, messages


def plot(rows, path):
    """Bar plot of the warm times, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "warm_s" in r]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([r["method"] for r in rows], [r["warm_s"] for r in rows], color="C0")
    ax.set_yscale("log")
    ax.set_ylabel("warm fit time (s)")
    ax.set_title(f"whole fit, {rows[0]['n']} points, K = {rows[0]['k']}, d = {rows[0]['d']}",
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=8)
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slow-peer-repeats", type=int, default=1)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="run only these methods (default: all)")
    parser.add_argument("--output", default="end_to_end", help="JSON name in results/")
    args = parser.parse_args()

    start, load_start = time.perf_counter(), os.getloadavg()
    X = noisy_swiss_roll(args.n)
    print(f"data: {X.shape[0]} x {X.shape[1]}; K = {args.k}, d = {args.d}")
    columns = ["method", "cold_s", "warm_s", "speedup", "cold_speedup", "min_canon_corr",
               "max_rel_err_s", "peak_rss_mb"]
    rows = []
    for name, run, accuracy, warm_up, repeats, skipped in methods(X, args):
        if name not in args.methods:
            continue
        row = {"method": name, "n": args.n, "k": args.k, "d": args.d}
        if skipped:
            rows.append({**row, "skipped": skipped})
            print(f"{name}: skipped ({skipped})")
            continue
        cold, times, result, messages = run_method(run, warm_up, repeats)
        row.update(warm_up=warm_up, cold_s=cold, times_s=times, warm_s=statistics.median(times),
                   peak_rss_mb=peak_rss_mb(), warnings=messages)
        if name == "skcontexture":
            row["search"] = result.context_.index_.algorithm_
        reference_start = time.perf_counter()
        row["min_canon_corr"], row["max_rel_err_s"] = accuracy(result, args.d)
        row["reference_s"] = time.perf_counter() - reference_start
        result = None
        ours = rows[0] if rows else row
        row["speedup"] = row["warm_s"] / ours["warm_s"]
        row["cold_speedup"] = row["cold_s"] / ours["cold_s"]
        rows.append(row)
        print_table([row], columns)
    print()
    print_table(rows, columns + (["skipped"] if any("skipped" in r for r in rows) else []))
    for row in rows:
        for message in row.get("warnings", []):
            print(f"warning ({row['method']}): {message.splitlines()[0]}")
    path = write_json(args.output, {
        "question": __doc__.split("\n\n")[0],
        "options": vars(args),
        "notes": {
            "speedup": "peer time / skcontexture time (warm medians; cold_speedup: cold times)",
            "cold_s": "first call in the process (the untimed warm-up run; for methods without "
                      "warm-up, the first timed run), methods in table order",
            "sklearn arpack": "no warm-up (no JIT); --slow-peer-repeats timed runs",
            "peak_rss_mb": "process peak RSS after the method's runs, methods in table order",
            "min_canon_corr": "against ARPACK at tol=1e-12 on the method's own graph, "
                              "degree-weighted, after centering",
        },
        "load_average_start": load_start,
        "rows": rows,
        "peak_rss_mb": peak_rss_mb(),
        "seconds": time.perf_counter() - start,
    })
    print(f"\nwrote {path}")
    if args.output == "end_to_end" and importable("matplotlib"):
        plot(rows, RESULTS / "end_to_end.png")
        print(f"wrote {RESULTS / 'end_to_end.png'}")


if __name__ == "__main__":
    main()
