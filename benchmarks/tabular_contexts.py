"""Do the contexture dissertation's tabular contexts fit within 3x the time of KNNContext(15)?

On 20,000 rows x 20 features with d = 32 (the question's size), this fits every tabular
context of the library, each alone (``context.fit``) and inside
``ContextureEmbedding(context, n_components=32)`` (the whole fit: context, operator,
solver), and divides both times by those of ``KNNContext(15)`` on the same rows in the
same run. Each time is the median of ``--repeats`` runs (one run for the minimax
mixtures, which take longest), after one untimed kNN fit that compiles the library's
kernels. The contexts:

- ``KNNContext(15)``, the reference;
- ``SCARFContext()``, ``CutMixContext()``, ``CutoutContext()`` (sampled augmentations);
- ``LinearTeacherContext()`` (the features' whitened linear kernel) and
  ``LinearTeacherContext(whiten=False)``;
- the label-dependent ones, fitted with the classes of 10% of the rows and -1 elsewhere:
  ``LabelContext()`` (the reference's "YLinear"), ``LinearTeacherContext(trees teacher,
  output="trees")`` (a ``HistGradientBoostingClassifier`` fitted on the labelled rows,
  its per-tree outputs, the reference's threshold 0.001) and ``Convolution(SCARFContext(),
  LabelContext())`` (a convolution of the reference's ``knowledge/learner.py``);
- ``MinimaxCombination`` of kNN and the linear kernel, and of kNN, CutMix and the linear
  kernel (``n_components=32``), with the number of rounds and of solves; the full run also
  runs their search with a fresh solve of every round's mixture (``solve_every_round``, the
  rule before the rounds shared their work, from the library's public functions), and reports
  the largest difference of a round's shares between the two.

Data (default): adult (45,222 x 104, one-hot census data), 20,000 rows drawn with seed 0,
standardised and projected on their 20 leading principal components; ``--synthetic``
uses scikit-learn's ``make_classification`` (20 features, 10 informative) instead, as
``--quick`` does (5,000 rows, d = 16, one repeat, no rerun of the minimax rounds).

    python benchmarks/tabular_contexts.py [--quick] [--repeats 3] [--data-dir DIR]

Writes benchmarks/results/tabular_contexts.json (``_quick`` with ``--quick``) and prints
the table.
"""

import argparse
import time
import warnings

import numpy as np
import scipy.sparse as sp
from _common import PeakMemory, data_dir, print_table, write_json
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.preprocessing import StandardScaler

from skcontexture import (
    ContextureEmbedding,
    Convolution,
    CutMixContext,
    CutoutContext,
    KNNContext,
    LabelContext,
    LinearTeacherContext,
    MinimaxCombination,
    SCARFContext,
)
from skcontexture.linalg import top_singular_functions
from skcontexture.metrics import ratio_trace

TARGET_RATIO = 3.0


def load(args):
    """(X, y, description): standardised rows and their classes."""
    if args.synthetic or args.quick:
        X, y = make_classification(n_samples=args.n_rows, n_features=20, n_informative=10,
                                   random_state=0)
        return StandardScaler().fit_transform(X), y, "make_classification, 20 features"
    with np.load(data_dir(args.data_dir) / "adult.npz", allow_pickle=False) as archive:
        X, y = archive["X"].astype(np.float64), archive["y"]
    rows = np.random.RandomState(0).permutation(len(X))[: args.n_rows]
    X = PCA(n_components=20, svd_solver="full").fit_transform(StandardScaler().fit_transform(X[rows]))
    return X, np.unique(y[rows], return_inverse=True)[1], (
        "adult: random rows (seed 0), standardised, 20 leading principal components")


def partial_labels(y, fraction=0.1):
    """The classes of ``fraction`` of the rows (seed 0), -1 elsewhere."""
    partial = np.full(y.shape, -1)
    labelled = np.random.RandomState(0).rand(y.size) < fraction
    partial[labelled] = y[labelled]
    return partial


def trees_context(X, y_partial):
    """The reference's gradient-boosted trees teacher, fitted on the labelled rows."""
    labelled = y_partial >= 0
    teacher = HistGradientBoostingClassifier(max_iter=50, random_state=0)
    teacher.fit(X[labelled], y_partial[labelled])
    return LinearTeacherContext(teacher, output="trees", threshold=0.001)


def contexts(X, y_partial, quick):
    """(name, context, fitted on the partial labels) of every context timed."""
    knn_linear = [("knn", KNNContext(15)), ("linear", LinearTeacherContext(whiten=False))]
    three = [("knn", KNNContext(15)), ("cutmix", CutMixContext(random_state=0)),
             ("linear", LinearTeacherContext(whiten=False))]
    d = 16 if quick else 32
    return [
        ("KNNContext(15)", KNNContext(15), False),
        ("SCARFContext()", SCARFContext(random_state=0), False),
        ("CutMixContext()", CutMixContext(random_state=0), False),
        ("CutoutContext()", CutoutContext(random_state=0), False),
        ("LinearTeacherContext()", LinearTeacherContext(), False),
        ("LinearTeacherContext(whiten=False)", LinearTeacherContext(whiten=False), False),
        ("LabelContext() (YLinear)", LabelContext(), True),
        ("LinearTeacherContext(trees)", trees_context(X, y_partial), True),
        ("Convolution(SCARF, LabelContext)",
         Convolution(SCARFContext(random_state=0), LabelContext()), True),
        ("Minimax(kNN, linear)", MinimaxCombination(knn_linear, d, random_state=0), False),
        ("Minimax(kNN, CutMix, linear)", MinimaxCombination(three, d, random_state=0), False),
    ]


def solve_every_round(minimax, X):
    """The minimax search with a fresh solve of every round's mixture (the rule before the
    rounds shared their work), from public functions: the parts fitted once, then per round
    ``top_singular_functions`` of the weighted joints side by side and each part's share
    ``ratio_trace(mu, joint) / its top-d energy``. Returns the weights and shares of each
    round."""
    d = minimax.n_components
    joints = [clone(part).fit(X).joint_ for _, part in minimax.contexts]
    joints = [J / J.sum() for J in joints]
    energies = np.array([np.sum(top_singular_functions(J, d, random_state=0)[0] ** 2)
                         for J in joints])
    weights = np.full(len(joints), 1.0 / len(joints))
    history, shares, best = [], [], None
    for _ in range(minimax.max_iter):
        mixture = sp.hstack([w * J for w, J in zip(weights, joints)], format="csr")
        mu = top_singular_functions(mixture, d, random_state=0)[1]
        captured = np.array([ratio_trace(mu, J) for J in joints]) / energies
        history.append(weights)
        shares.append(captured)
        if best is not None and not captured.min() > best + minimax.tol:
            break
        best = captured.min()
        loss = 1.0 - captured
        if not loss.std() > 0:
            break
        weights = weights * np.exp(minimax.step_size * (loss - loss.mean()) / loss.std())
        weights = weights / weights.sum()
    return np.array(history), np.array(shares)


def timed(func, repeats):
    """Median wall time of ``func()`` over ``repeats`` runs, the last result, and the peak
    resident memory (MB) during the runs."""
    times, result = [], None
    with PeakMemory() as memory:
        for _ in range(repeats):
            start = time.perf_counter()
            result = func()
            times.append(time.perf_counter() - start)
    return float(np.median(times)), result, memory.peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n-rows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    args.n_rows = args.n_rows or (5_000 if args.quick else 20_000)
    repeats = args.repeats or (1 if args.quick else 3)
    d = 16 if args.quick else 32

    X, y, description = load(args)
    y_partial = partial_labels(y)
    ContextureEmbedding(KNNContext(15), n_components=4).fit(X[:2_000])  # compile the kernels
    rows = []
    for name, context, labelled in contexts(X, y_partial, args.quick):
        target = y_partial if labelled else None
        minimax = isinstance(context, MinimaxCombination)
        runs = 1 if minimax else repeats
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            context_s, fitted, _ = timed(lambda: context.fit(X, target), runs)
            embedding = ContextureEmbedding(context, n_components=d, random_state=0)
            embedding_s, _, peak = timed(lambda: embedding.fit(X, target), runs)
        row = {"context": name, "context_fit_s": context_s, "embedding_fit_s": embedding_s,
               "peak_mb": round(peak), "n_atoms": int(fitted.n_atoms_),
               "n_components": int(embedding.n_components_),
               "warnings": sorted({str(w.message)[:160] for w in caught})}
        if minimax:
            row.update(rounds=int(fitted.n_iter_), solves=int(fitted.n_solves_),
                       weights=np.round(fitted.weights_, 4).tolist())
            if not args.quick:  # the same search with a fresh solve in every round
                every_s, every, _ = timed(lambda: solve_every_round(context, X), 1)
                weights_history, captured_history = every
                rounds = min(len(weights_history), fitted.n_iter_)
                row.update(
                    context_fit_solve_every_round_s=every_s,
                    rounds_solve_every_round=len(weights_history),
                    largest_share_difference=float(np.abs(
                        captured_history[:rounds] - fitted.captured_history_[:rounds]).max()))
        rows.append(row)
        print(f"{name}: context {context_s:.2f} s, embedding {embedding_s:.2f} s", flush=True)
    knn = rows[0]
    for row in rows:
        row["context_ratio"] = row["context_fit_s"] / knn["context_fit_s"]
        row["embedding_ratio"] = row["embedding_fit_s"] / knn["embedding_fit_s"]
        row["within_target"] = bool(row["embedding_ratio"] <= TARGET_RATIO)
    columns = ["context", "context_fit_s", "context_ratio", "embedding_fit_s",
               "embedding_ratio", "peak_mb", "rounds", "solves",
               "context_fit_solve_every_round_s"]
    print_table(rows, columns)
    result = {
        "question": "fit time of the tabular contexts against KNNContext(15), "
                    f"{X.shape[0]} x {X.shape[1]}, d = {d}",
        "data": description,
        "shape": list(X.shape),
        "n_components": d,
        "repeats": repeats,
        "target_ratio": TARGET_RATIO,
        "rows": rows,
    }
    print(f"written to {write_json('tabular_contexts_quick' if args.quick else 'tabular_contexts', result)}")


if __name__ == "__main__":
    main()
