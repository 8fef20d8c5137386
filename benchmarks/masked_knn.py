"""How long does masked kNN with 50 masks take on 20,000 x 16 real data, and in what memory?

The paper's KNN_mask context: 50 random masks hiding 20% of the features, a kNN
context on the visible features of each, averaged. This fits
``ContextureEmbedding(MaskedContext(KNNContext(15), mask_ratio=0.2, n_masks=50))``
on 20,000 rows and embeds 2,000 new rows, timing each phase (wall clock, and the
process's CPU time, which a busy machine does not inflate), and prints the peak
resident memory of the process.

Data (default): adult (45,222 x 104, one-hot census data), 20,000 rows drawn
with a fixed seed, standardised and projected on its 16 leading principal
components (PCA), so 20,000 x 16; ``--dataset california_housing`` uses its
8 raw features (20,000 x 8). The data folder is ``--data-dir``, else
``$SKCONTEXTURE_DATA``, else ``../shared/data`` relative to the repository.

    python benchmarks/masked_knn.py [--n-jobs 2] [--n-masks 50]

Writes benchmarks/results/masked_knn.json (with the machine's facts).
"""

import argparse
import os
import time

import numpy as np
from _common import data_dir, peak_rss_mb, write_json
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext, MaskedContext

TIMES = {}


class TimedMaskedContext(MaskedContext):
    """MaskedContext that records how long its fit takes."""

    def fit(self, X, y=None, **fit_params):
        start, cpu = time.perf_counter(), time.process_time()
        super().fit(X, y, **fit_params)
        TIMES["context_fit_s"] = time.perf_counter() - start
        TIMES["context_fit_cpu_s"] = time.process_time() - cpu
        return self


def load(folder, name, n_rows, n_new, n_features, seed):
    with np.load(folder / f"{name}.npz", allow_pickle=False) as archive:
        X = archive["X"].astype(np.float64)
    rows = np.random.RandomState(seed).permutation(len(X))[: n_rows + n_new]
    X = StandardScaler().fit_transform(X[rows])
    description = f"{name}: {n_rows + n_new} random rows (seed {seed}), standardised"
    if X.shape[1] > n_features:
        X = PCA(n_components=n_features, svd_solver="full").fit_transform(X)
        description += f", projected on its {n_features} leading principal components"
    return X[:n_rows], X[n_rows:], description


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--n-rows", type=int, default=20_000)
    parser.add_argument("--n-new", type=int, default=2_000)
    parser.add_argument("--n-features", type=int, default=16)
    parser.add_argument("--n-masks", type=int, default=50)
    parser.add_argument("--mask-ratio", type=float, default=0.2)
    parser.add_argument("--n-neighbors", type=int, default=15)
    parser.add_argument("--n-components", type=int, default=8)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()

    X, X_new, description = load(
        data_dir(args.data_dir), args.dataset, args.n_rows, args.n_new, args.n_features, seed=0
    )
    rss_data = peak_rss_mb()

    load_before = os.getloadavg()[0]
    # one mask alone: what a single kNN search on the visible features costs
    single = MaskedContext(KNNContext(args.n_neighbors), args.mask_ratio, n_masks=1, random_state=0)
    start, cpu = time.perf_counter(), time.process_time()
    single.fit(X)
    one_mask_s, one_mask_cpu_s = time.perf_counter() - start, time.process_time() - cpu

    context = TimedMaskedContext(
        KNNContext(args.n_neighbors),
        mask_ratio=args.mask_ratio,
        n_masks=args.n_masks,
        n_jobs=args.n_jobs,
        random_state=0,
    )
    embedding = ContextureEmbedding(context, n_components=args.n_components, random_state=0)
    start = time.perf_counter()
    embedding.fit(X)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    Z_new = embedding.transform(X_new)
    transform_s = time.perf_counter() - start
    fitted = embedding.context_

    result = {
        "question": "fit time and peak memory of masked kNN (50 masks) on 20,000 x 16 real data",
        "data": description,
        "shape": list(X.shape),
        "n_new": len(X_new),
        "context": repr(fitted),
        "n_distinct_masks": len(fitted.bases_),
        "visible_features_per_mask": int(fitted.masks_[0].sum()),
        "knn_algorithm": fitted.bases_[0].index_.index_._fit_method
        if fitted.bases_[0].index_.algorithm_ == "exact"
        else "nndescent",
        "joint_nnz": int(fitted.joint_.nnz),
        "n_components": args.n_components,
        "singular_values": np.round(embedding.singular_values_, 6).tolist(),
        "one_mask_knn_s": round(one_mask_s, 3),
        "one_mask_knn_cpu_s": round(one_mask_cpu_s, 3),
        "context_fit_s": round(TIMES["context_fit_s"], 3),
        "context_fit_cpu_s": round(TIMES["context_fit_cpu_s"], 3),
        "solver_s": round(fit_s - TIMES["context_fit_s"], 3),
        "embedding_fit_s": round(fit_s, 3),
        "transform_new_rows_s": round(transform_s, 3),
        "peak_rss_after_data_mb": round(rss_data, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "n_jobs": args.n_jobs,
        "load_average_1min_before": round(load_before, 2),
        "finite": bool(np.all(np.isfinite(Z_new))),
    }
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(f"written to {write_json('masked_knn', result)}")


if __name__ == "__main__":
    main()
