"""Question: which exact search answers the tabular augmentations' copies fastest, by number
of features (sets ``OFF_DATA_PYKDTREE_MAX_FEATURES``)?

``SCARFContext``, ``CutMixContext`` and ``CutoutContext`` link each of ``n_draws`` = 3
augmented copies of a row to the copy's nearest fit rows. A copy has some of its features
replaced, so it lies off the data, where a k-d tree prunes little. Data: adult (the data
folder's ``adult.npz``; a ``make_classification`` stand-in without it), 20,000 rows drawn
with seed 0, standardised and projected on their p leading principal components (the rows
then fill all p dimensions, as tabular data do). For each p, one thread, the median of
``--repeats`` runs of:

- the three exact searches the library can use: pykdtree's k-d tree, scikit-learn's k-d tree
  (what its ``NearestNeighbors`` picks up to 15 features) and scikit-learn's brute force,
  each answering (a) the K = 16 nearest fit rows of every fit row (what ``KNNContext(15)``
  asks) and (b) the 6 nearest fit rows of SCARF's 60,000 copies (what ``SCARFContext()``
  asks); the neighbour lists of (b) are compared with brute force's;
- the library's own fits with its rule: ``KNNContext(15).fit`` and ``SCARFContext().fit``,
  with the search each used.

Writes benchmarks/results/augmented_search.json and prints the table.

    python benchmarks/augmented_search.py [--dims 4 8 12 16 20] [--n-rows 20000]
        [--repeats 3] [--data-dir DIR]
"""

import argparse

import numpy as np
from _common import data_dir, median_time, print_table, write_json
from pykdtree.kdtree import KDTree
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skcontexture import KNNContext, SCARFContext
from skcontexture.contexts import _neighbors


def load(n_rows, folder):
    """Standardised rows of adult (or a synthetic stand-in) and where they come from."""
    path = None if folder is None else folder / "adult.npz"
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as archive:
            X = np.asarray(archive["X"], dtype=float)
        source = "adult"
    else:
        X, _ = make_classification(n_samples=n_rows, n_features=40, n_informative=20,
                                   random_state=0)
        source = "make_classification(40 features, 20 informative)"
    rows = np.random.RandomState(0).permutation(len(X))[:n_rows]
    return StandardScaler().fit_transform(X[rows]), source


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[4, 8, 12, 16, 20])
    parser.add_argument("--n-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    try:
        folder = data_dir(args.data_dir)
    except FileNotFoundError:
        folder = None
    X_all, source = load(args.n_rows, folder)
    rows = []
    for p in args.dims:
        X = np.ascontiguousarray(PCA(n_components=p, svd_solver="full").fit_transform(X_all))
        copies = SCARFContext(random_state=0).fit(X).augment(X).reshape(-1, p)
        with threadpool_limits(1):
            tree = KDTree(X)
            searches = {
                "pykdtree": lambda k, Q: tree.query(Q, k=k)[1],
                "scikit-learn k-d tree": NearestNeighbors(algorithm="kd_tree").fit(X),
                "scikit-learn brute force": NearestNeighbors(algorithm="brute").fit(X),
            }
            found = {}
            for name, search in searches.items():
                if not callable(search):
                    search = (lambda index: lambda k, Q: index.kneighbors(Q, k)[1])(search)
                fit_rows_s, _ = median_time(lambda: search(16, X), args.repeats)
                copies_s, found[name] = median_time(lambda: search(6, copies), args.repeats)
                rows.append({"features": p, "what": name, "fit rows K=16 s": fit_rows_s,
                             "copies K=6 s": copies_s})
            for row in rows[-3:]:
                row["copies' lists as brute force's"] = float(np.mean(np.all(
                    np.sort(found[row["what"]], axis=1)
                    == np.sort(found["scikit-learn brute force"], axis=1), axis=1)))
            fits = {}
            for name, context in (("KNNContext(15).fit", KNNContext(15)),
                                  ("SCARFContext().fit", SCARFContext(random_state=0))):
                fits[name], fitted = median_time(lambda: context.fit(X), args.repeats)
                fits[name + " search"] = type(fitted.index_.index_).__name__
            rows.append({"features": p, "what": "the library's rule",
                         "fit rows K=16 s": fits["KNNContext(15).fit"],
                         "copies K=6 s": fits["SCARFContext().fit"],
                         "copies' lists as brute force's": None,
                         "searches": f"{fits['KNNContext(15).fit search']} / "
                                     f"{fits['SCARFContext().fit search']}"})
        for row in rows[-4:]:
            print(row, flush=True)
    path = write_json("augmented_search", {
        "question": __doc__.split("\n\n")[0], "options": vars(args), "data": source,
        "off_data_pykdtree_max_features": _neighbors.OFF_DATA_PYKDTREE_MAX_FEATURES,
        "pykdtree_max_features": _neighbors.PYKDTREE_MAX_FEATURES, "rows": rows})
    print_table(rows, ["features", "what", "fit rows K=16 s", "copies K=6 s",
                       "copies' lists as brute force's"])
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
