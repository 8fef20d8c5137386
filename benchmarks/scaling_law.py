"""Question: how does learning a context inside a parametric model scale with model size D?

The paper's Result 3, measured. For a fixed context (kNN, K = 15) and target dimension d = 16,
``SpectralContextEncoder`` with a Nystroem (RBF kernel) backbone of width D is fitted for D = 16,
32, ..., 4096 on a fit subsample of each dataset. Per D it records

- alignment: mean squared canonical correlation between the encoder's outputs and the exact
  top-d singular functions (``ContextureEmbedding`` on the same fit sample and context), on the
  fit rows;
- captured spectrum: sum(lambda_i) / sum(s_i^2) (lambda from the encoder, s from the exact
  solver);
- downstream error of a linear probe trained on the encoder's outputs of the fit rows and scored
  on held-out test rows (classification: logistic regression, error rate; regression: ridge,
  MSE / Var(y), i.e. 1 - R^2);
- fit time (backbone fit + context + moments + eigensolve) and the machine's load average.

Then two other contexts (kNN K = 50, RBF kernel truncated to 50 neighbours) are fitted at a small
width and at the largest D, reusing the largest fitted backbone (wrapped in ``FrozenEstimator``:
those fit times exclude the backbone fit). The exact embedding of every context and a probe on
the raw features are the references.

Data: rows are deduplicated (duplicates disconnect kNN graphs and make the top singular space
degenerate), features standardised on the fit sample, then a random fit subsample of at most
``--n-fit`` rows and a disjoint test set of at most ``--n-test`` rows are drawn (seed 0).
Writes benchmarks/results/scaling_law.json and .png (``--quick``: scaling_law_quick.*).

    python benchmarks/scaling_law.py                 # full run (about 20-30 min on 2 shared cores)
    python benchmarks/scaling_law.py --quick         # CI: one small dataset, D in {16, 64, 256}
    python benchmarks/scaling_law.py --data-dir DIR --datasets california_housing --widths 64 256
"""

import argparse
import json
import os
import time
import warnings

import numpy as np
from _common import RESULTS, data_dir, print_table, write_json
from sklearn.frozen import FrozenEstimator
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext, RBFContext, SpectralContextEncoder
from skcontexture.metrics import cca_alignment

FULL_DATASETS = ["california_housing", "fashion_mnist", "spambase"]
FULL_WIDTHS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
QUICK_WIDTHS = [16, 64, 256]
# a doubling of D that improves the probe error by less than this (relative) is "diminishing"
RETURNS_RTOL = 0.01


def load(name, folder):
    """X (float), y and the task of a dataset: a ../shared/data npz, or sklearn's digits."""
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X.astype(float), y, "classification"
    with np.load(folder / f"{name}.npz", allow_pickle=True) as f:
        X, y = f["X"].astype(float), f["y"]
    task = json.loads((folder / "MANIFEST.json").read_text())[name]["task"]
    return X, y, task


def split(X, y, n_fit, n_test, seed=0):
    """Deduplicate rows, shuffle, cut a fit subsample and a disjoint test set, standardise."""
    X, first = np.unique(X, axis=0, return_index=True)
    y = y[first]
    order = np.random.RandomState(seed).permutation(len(X))
    n_fit = min(n_fit, int(0.75 * len(X)))
    n_test = min(n_test, len(X) - n_fit)
    fit, test = order[:n_fit], order[n_fit : n_fit + n_test]
    scaler = StandardScaler().fit(X[fit])
    return scaler.transform(X[fit]), y[fit], scaler.transform(X[test]), y[test], len(X)


def probe_error(Z_fit, y_fit, Z_test, y_test, task):
    """Linear probe on the test rows: (error, its standard error over the test rows).

    Classification: logistic regression, error rate. Regression: ridge, MSE / Var(y_test).
    """
    if task == "classification":
        model = LogisticRegression(max_iter=2000).fit(Z_fit, y_fit)
        losses = (model.predict(Z_test) != y_test).astype(float)
        scale = 1.0
    else:
        mean, std = y_fit.mean(), y_fit.std()
        model = Ridge(alpha=1e-3).fit(Z_fit, (y_fit - mean) / std)
        losses = (model.predict(Z_test) * std + mean - y_test) ** 2
        scale = np.var(y_test)
    sem = losses.std(ddof=1) / np.sqrt(len(losses))
    return float(losses.mean() / scale), float(sem / scale)


def exact_reference(context, X_fit, y_fit, X_test, y_test, task, d):
    start = time.perf_counter()
    emb = ContextureEmbedding(context, n_components=d, scale="none", random_state=0).fit(X_fit)
    seconds = time.perf_counter() - start
    p_x = np.asarray(emb.context_.joint_.sum(axis=1)).ravel()
    error, sem = probe_error(emb.embedding_, y_fit, emb.transform(X_test), y_test, task)
    return emb, p_x / p_x.sum(), {
        "fit_seconds": seconds,
        "singular_values": emb.singular_values_.tolist(),
        "sum_s2": float(np.sum(emb.singular_values_**2)),
        "n_connected_components": int(emb.n_connected_components_),
        "probe_error": error,
        "probe_error_sem": sem,
    }


def encoder_row(context_name, context, backbone, width, exact, p_x, data, d, n_jobs, frozen=False):
    X_fit, y_fit, X_test, y_test, task = data
    enc = SpectralContextEncoder(
        context, backbone=backbone, n_components=d, n_jobs=n_jobs, random_state=0
    )
    start = time.perf_counter()
    enc.fit(X_fit)
    seconds = time.perf_counter() - start
    Z_fit = enc.transform(X_fit)
    error, sem = probe_error(Z_fit, y_fit, enc.transform(X_test), y_test, task)
    return enc, {
        "context": context_name,
        "D": width,
        "alignment": cca_alignment(Z_fit, exact.embedding_, sample_weight=p_x),
        "captured": float(enc.eigenvalues_.sum() / np.sum(exact.singular_values_**2)),
        "probe_error": error,
        "probe_error_sem": sem,
        "fit_seconds": seconds,
        "backbone_refitted": not frozen,
        "eigenvalues": enc.eigenvalues_.tolist(),
        "load_average": os.getloadavg(),
    }


def plateau(rows, key, tol, relative, lower_is_better):
    """Smallest D beyond which ``key`` improves by less than ``tol`` at any larger D.

    The gain is relative (``relative=True``: divided by the value at D) or absolute.
    """
    values = np.array([r[key] for r in rows])
    for i, row in enumerate(rows):
        best = values[i:].min() if lower_is_better else values[i:].max()
        gain = values[i] - best if lower_is_better else best - values[i]
        if gain <= tol * (abs(values[i]) if relative else 1.0):
            return row["D"]
    return rows[-1]["D"]


def summarise(res):
    """Where returns diminish, and whether a better context beats a bigger model."""
    sweep = res["sweep"]
    main = sweep[0]["context"]
    largest = sweep[-1]
    res["diminishing_returns"] = {
        "rule": f"smallest D beyond which a larger D improves the probe error by < "
                f"{RETURNS_RTOL:.0%} (relative), the alignment by < 0.01 (absolute), the "
                f"captured spectrum by < {RETURNS_RTOL:.0%} (relative)",
        "probe_error_D": plateau(sweep, "probe_error", RETURNS_RTOL, True, True),
        "alignment_D": plateau(sweep, "alignment", 0.01, False, False),
        "captured_D": plateau(sweep, "captured", RETURNS_RTOL, True, False),
    }
    small = [r for r in res["other_contexts"] if r["D"] < largest["D"]]
    big = [r for r in res["other_contexts"] if r["D"] == largest["D"]]
    same_small = [r for r in sweep if small and r["D"] == small[0]["D"]]
    comparison = {"main_context": main, "largest_D": largest["D"],
                  "main_error_at_largest_D": largest["probe_error"]}
    if big:
        best_big = min(big, key=lambda r: r["probe_error"])
        comparison.update(best_other_at_largest_D=best_big["context"],
                          best_other_error_at_largest_D=best_big["probe_error"])
    if small and same_small:
        best_small = min(small, key=lambda r: r["probe_error"])
        comparison.update(
            small_D=best_small["D"],
            main_error_at_small_D=same_small[0]["probe_error"],
            best_other_at_small_D=best_small["context"],
            best_other_error_at_small_D=best_small["probe_error"],
            # the gain of a 32x bigger model vs the gain of switching context at the small D
            gain_from_bigger_model=same_small[0]["probe_error"] - largest["probe_error"],
            gain_from_better_context=same_small[0]["probe_error"] - best_small["probe_error"],
            better_context_small_D_beats_main_context_largest_D=bool(
                best_small["probe_error"] < largest["probe_error"]
            ),
            # difference in units of its standard error (test rows treated as independent)
            z_better_context_small_D_vs_main_largest_D=float(
                (largest["probe_error"] - best_small["probe_error"])
                / np.hypot(largest["probe_error_sem"], best_small["probe_error_sem"])
            ),
        )
    res["context_vs_model"] = comparison
    return res


def run_dataset(name, folder, args):
    X, y, task = load(name, folder)
    X_fit, y_fit, X_test, y_test, n_unique = split(X, y, args.n_fit, args.n_test)
    data = (X_fit, y_fit, X_test, y_test, task)
    n_fit, n_features = X_fit.shape
    gamma = 1.0 / n_features  # the "scale" RBF width on standardised features
    widths = [w for w in args.widths if w <= n_fit]
    print(f"\n== {name}: {task}, {len(X)} rows ({n_unique} unique), {n_features} features; "
          f"fit {n_fit}, test {len(X_test)}; D in {widths}", flush=True)
    contexts = {
        f"knn{args.k}": KNNContext(n_neighbors=args.k),
        "knn50": KNNContext(n_neighbors=50),
        "rbf_nn50": RBFContext(n_neighbors=50),
    }
    main_name = f"knn{args.k}"
    references = {}
    exacts = {}
    for cname, context in contexts.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # disconnected graphs are reported below
            emb, p_x, ref = exact_reference(context, X_fit, y_fit, X_test, y_test, task, args.d)
        exacts[cname] = (emb, p_x)
        references[cname] = ref
    raw_error, raw_sem = probe_error(X_fit, y_fit, X_test, y_test, task)

    rows = []
    backbone = None
    for width in widths:
        backbone = Nystroem(gamma=gamma, n_components=width)
        emb, p_x = exacts[main_name]
        enc, row = encoder_row(main_name, contexts[main_name], backbone, width, emb, p_x, data,
                               args.d, args.n_jobs)
        rows.append(row)
        print(f"  {main_name} D={width:5d}: alignment {row['alignment']:.4f}, captured "
              f"{row['captured']:.4f}, error {row['probe_error']:.4f}, {row['fit_seconds']:.1f} s",
              flush=True)
    largest = enc.backbone_  # the fitted Nystroem of the largest width

    context_rows = []
    for cname in [c for c in contexts if c != main_name]:
        emb, p_x = exacts[cname]
        for width in sorted({min(args.context_small_width, widths[-1]), widths[-1]}):
            if width == widths[-1]:
                backbone, frozen = FrozenEstimator(largest), True
            else:
                backbone, frozen = Nystroem(gamma=gamma, n_components=width), False
            _, row = encoder_row(cname, contexts[cname], backbone, width, emb, p_x, data,
                                 args.d, args.n_jobs, frozen=frozen)
            context_rows.append(row)
            print(f"  {cname} D={width:5d}: alignment {row['alignment']:.4f}, captured "
                  f"{row['captured']:.4f}, error {row['probe_error']:.4f}, "
                  f"{row['fit_seconds']:.1f} s", flush=True)

    return {
        "dataset": name,
        "task": task,
        "error_metric": "error rate" if task == "classification" else "MSE / Var(y) = 1 - R^2",
        "n_rows": len(X),
        "n_unique_rows": n_unique,
        "n_features": n_features,
        "n_fit": n_fit,
        "n_test": len(X_test),
        "nystroem_gamma": gamma,
        "raw_features_probe_error": raw_error,
        "raw_features_probe_error_sem": raw_sem,
        "exact": references,
        "sweep": rows,
        "other_contexts": context_rows,
    }


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(2, max(3, n), figsize=(4.2 * max(3, n), 7.5), squeeze=False)
    for res in results:
        D = [r["D"] for r in res["sweep"]]
        label = res["dataset"]
        axes[0, 0].plot(D, [r["alignment"] for r in res["sweep"]], "o-", label=label)
        axes[0, 1].plot(D, [r["captured"] for r in res["sweep"]], "o-", label=label)
        axes[0, 2].plot(D, [r["fit_seconds"] for r in res["sweep"]], "o-", label=label)
    for ax, title in zip(axes[0], ["alignment with exact top-d (mean CCA^2)",
                                   "captured spectrum sum(lambda) / sum(s^2)",
                                   "fit time (s)"]):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("Nystroem width D")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0, 2].set_yscale("log")
    axes[0, 0].legend(fontsize=8)
    for extra in axes[0, 3:]:
        extra.axis("off")
    for ax, res in zip(axes[1], results):
        main = res["sweep"][0]["context"]
        D = [r["D"] for r in res["sweep"]]
        ax.plot(D, [r["probe_error"] for r in res["sweep"]], "o-", color="C0",
                label=f"encoder, {main}")
        ax.axhline(res["exact"][main]["probe_error"], color="C0", ls="--",
                   label=f"exact embedding, {main}")
        for i, cname in enumerate(res["exact"]):
            if cname == main:
                continue
            rows = [r for r in res["other_contexts"] if r["context"] == cname]
            ax.plot([r["D"] for r in rows], [r["probe_error"] for r in rows], "s",
                    color=f"C{i + 1}", label=f"encoder, {cname}")
            ax.axhline(res["exact"][cname]["probe_error"], color=f"C{i + 1}", ls="--", lw=0.8,
                       label=f"exact embedding, {cname}")
        ax.axhline(res["raw_features_probe_error"], color="grey", ls=":", label="raw features")
        ax.axvline(res["diminishing_returns"]["probe_error_D"], color="k", lw=0.6, alpha=0.5)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("Nystroem width D")
        ax.set_title(f"{res['dataset']}: probe {res['error_metric']}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for extra in axes[1, len(results):]:
        extra.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_summary(results):
    rows = []
    for res in results:
        main = res["sweep"][0]["context"]
        row = {
            "dataset": res["dataset"],
            "D*err": res["diminishing_returns"]["probe_error_D"],
            "D*align": res["diminishing_returns"]["alignment_D"],
            "raw": res["raw_features_probe_error"],
            "exact": res["exact"][main]["probe_error"],
        }
        for r in res["sweep"]:
            row[f"D={r['D']}"] = r["probe_error"]
        rows.append(row)
    print("\nProbe error by width D (D*: where returns diminish):")
    print_table(rows, list(dict.fromkeys(c for row in rows for c in row)))
    for res in results:
        print(f"{res['dataset']}: {res['context_vs_model']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="CI mode: one small dataset, D in {16, 64, 256}, under a minute")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--datasets", nargs="+", default=None)
    parser.add_argument("--widths", type=int, nargs="+", default=None)
    parser.add_argument("--context-small-width", type=int, default=128,
                        help="the small D at which the other contexts are also fitted")
    parser.add_argument("--n-fit", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("-d", type=int, default=None, help="target dimension d")
    parser.add_argument("-k", type=int, default=15, help="K of the main kNN context")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--replot", action="store_true",
                        help="recompute the summaries and redraw the PNG from the saved JSON")
    args = parser.parse_args()

    quick = args.quick
    try:
        folder = data_dir(args.data_dir)
    except FileNotFoundError:
        folder = None
    default_sets = (["spambase"] if folder else ["digits"]) if quick else FULL_DATASETS
    args.datasets = args.datasets or default_sets
    args.widths = args.widths or (QUICK_WIDTHS if quick else FULL_WIDTHS)
    args.n_fit = args.n_fit or (1000 if quick else 10_000)
    args.n_test = args.n_test or (500 if quick else 5_000)
    args.d = args.d or (8 if quick else 16)
    if quick:
        args.context_small_width = min(args.context_small_width, 64)

    name = "scaling_law_quick" if quick else "scaling_law"
    if args.replot:
        payload = json.loads((RESULTS / f"{name}.json").read_text())
        results = [summarise(res) for res in payload["results"]]
        print_summary(results)
        plot(results, RESULTS / f"{name}.png")
        return

    start = time.perf_counter()
    load_start = os.getloadavg()
    results = [summarise(run_dataset(name, folder, args)) for name in args.datasets]
    total = time.perf_counter() - start
    print_summary(results)

    payload = {
        "question": "Result 3: alignment, captured spectrum and probe error vs model size D",
        "command": "python benchmarks/scaling_law.py" + (" --quick" if quick else ""),
        "settings": {
            "datasets": args.datasets,
            "widths": args.widths,
            "d": args.d,
            "k": args.k,
            "n_fit_max": args.n_fit,
            "n_test_max": args.n_test,
            "n_jobs": args.n_jobs,
            "alpha": SpectralContextEncoder().alpha,
            "backbone": "Nystroem(kernel='rbf', gamma=1/n_features, random_state=0)",
            "returns_rtol": RETURNS_RTOL,
            "data_dir": str(folder) if folder else None,
        },
        "load_average_start": load_start,
        "total_seconds": total,
        "results": results,
    }
    path = write_json(name, payload)
    plot(results, RESULTS / f"{name}.png")
    print(f"\nwrote {path} and {name}.png in {total:.0f} s")


if __name__ == "__main__":
    main()
