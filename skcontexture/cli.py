"""The command-line main job: choose a context without labels.

``python -m skcontexture [DATA]`` (or ``skcontexture [DATA]``) loads a dataset
(scikit-learn's digits by default; an ``.npz`` with an array ``X`` and optionally
``y``; or a ``.csv`` with a header, whose target column, if any, is named by
``--target``), standardises the features on the training rows, fits a grid of
contexts (kNN and RBF at several strengths) on them, scores every context by the
label-free ``feature_prediction`` proxy task and by tau (flagging the contexts where
tau is not to be trusted), ranks the grid by ``--metric`` (the contexts whose leading
functions live on a handful of outlying rows last) and fits a
ContextureEmbedding of the winner (32 components scaled by their singular values, the
features a downstream model should get). When labels exist, it also
fits a ridge probe on every context's embedding and reports the held-out score of the
chosen context next to the best and the worst of the grid, and the rank of each
metric's pick; labels never choose, except with ``--metric labelled --labelled M``
(label-efficient selection by a cross-validated probe on M labelled training rows).
``--plot FILE`` saves the spectra and tau_d curves.
"""

import argparse
import csv
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import joblib
from sklearn.datasets import load_digits
from sklearn.linear_model import RidgeClassifierCV, RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target
from threadpoolctl import threadpool_limits

from . import __version__
from ._embedding import ContextureEmbedding, concentrated_columns
from ._scorer import LabelledProbeScorer, spectrum_for_tau
from .contexts import KNNContext, RBFContext
from .linalg import DENSE_MAX_SIDE
from .metrics import feature_prediction, probe_dims, tau_curve, tau_regime

DEFAULT_K = (5, 10, 20, 50, 100)
DEFAULT_GAMMA = (0.1, 0.3, 1.0, 3.0)
METRIC_CHOICES = ("feature_prediction", "tau", "labelled")
#: Components of the winner's fitted model, each scaled by its singular value: a
#: downstream model's regularisation then falls on the weak components first, so its
#: accuracy hinges less on the number (side measurements with the protocol of
#: benchmarks/downstream.py, 5 labels per class, logistic regression: a kNN context,
#: K = 15, scored 0.748 / 0.732 / 0.704 at d = 8 / 32 / 64 scaled and 0.735 / 0.675 /
#: 0.605 unscaled; the main job's model went from 0.720 with the proxy task's d
#: unscaled to 0.788 with 32 scaled components).
MODEL_COMPONENTS = 32


def load_dataset(path=None, target=None, *, dropna=False):
    """Return ``(X, y, name)``; ``y`` is None when the data has no labels.

    Parameters
    ----------
    path : str or None
        An ``.npz`` with ``X`` (and optionally ``y``), or a ``.csv`` with a header
        (read without pandas). None loads scikit-learn's digits.
    target : str or None
        Target column of a ``.csv``; None means the file has no labels.
    dropna : bool, default=False
        Drop the rows with a missing or non-finite value (in X or y) instead of
        refusing them.

    Raises
    ------
    ValueError
        With a message naming the problem and its fix: a missing file, an unsupported
        file type, an ``.npz`` without ``X``, a non-numeric column, missing or
        non-finite values (without ``dropna``), ``target`` not a column.
    """
    if path is None:
        X, y = load_digits(return_X_y=True)
        return X.astype(float), y, "digits (scikit-learn)"
    path = Path(path)
    if path.suffix not in (".npz", ".csv"):
        raise ValueError(f"Unsupported file type {path.suffix!r} of {path}: give an .npz "
                         "(arrays X and optionally y) or a .csv file with a header.")
    if not path.is_file():
        raise ValueError(f"No such file: {path}.")
    if path.suffix == ".npz":
        if target is not None:
            raise ValueError("--target names a column of a .csv; an .npz gives its labels "
                             "as the array y.")
        X, y, line = *_read_npz(path), lambda i: f"row {i}"
    else:
        X, y, line = *_read_csv(path, target), lambda i: f"line {i + 2}"
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{path.name} has no data: X is {X.shape[0]} x {X.shape[1]}.")
    bad = ~np.isfinite(X).all(axis=1)
    if y is not None:
        bad |= (y == "") if y.dtype.kind in "US" else ~np.isfinite(y.astype(float))
    if bad.any():
        if not dropna:
            raise ValueError(
                f"{int(bad.sum())} of {X.shape[0]} rows of {path.name} have a missing or "
                f"non-finite value (the first at {line(int(np.flatnonzero(bad)[0]))}): "
                "pass --dropna to drop them, or impute them first."
            )
        X, y = X[~bad], None if y is None else y[~bad]
        print(f"note: dropped {int(bad.sum())} rows with missing or non-finite values.",
              file=sys.stderr)
    return X, y, path.stem


def _read_npz(path):
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path.name} is not a readable .npz file ({exc}).") from None
    with data:
        if "X" not in data.files:
            raise ValueError(f"{path.name} has no array 'X' (it has: "
                             f"{', '.join(data.files) or 'none'}); save it with "
                             "numpy.savez(path, X=X, y=y).")
        X, y = data["X"], data["y"] if "y" in data.files else None
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise ValueError(f"X in {path.name} must be a 2-d numeric array, got shape "
                         f"{X.shape} and dtype {X.dtype}.")
    if y is not None and (y.ndim != 1 or len(y) != len(X)):
        raise ValueError(f"y in {path.name} must be 1-d with one label per row of X "
                         f"({len(X)}), got shape {y.shape}.")
    return X.astype(float), y


def _read_csv(path, target):
    with open(path, newline="") as file:
        lines = [row for row in csv.reader(file) if row]
    if not lines:
        raise ValueError(f"{path.name} is empty.")
    header, rows = [name.strip() for name in lines[0]], lines[1:]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"Line {i + 2} of {path.name} has {len(row)} fields, the "
                             f"header has {len(header)}.")
    if target is not None and target not in header:
        raise ValueError(f"--target {target!r} is not a column of {path.name} (its "
                         f"columns: {', '.join(header)}).")
    columns, y = [], None
    for j, name in enumerate(header):
        values = [row[j].strip() for row in rows]
        if name == target:
            y = _numbers(values)
            y = np.array(values) if y is None else y
            continue
        numbers = _numbers(values)
        if numbers is None:
            i, value = next((i, v) for i, v in enumerate(values) if _number(v) is None)
            raise ValueError(
                f"Column {name!r} of {path.name} is not numeric ({value!r} at line {i + 2}): "
                "drop it or encode it as numbers"
                + ("" if target else f", or pass --target {name} if it is the label") + "."
            )
        columns.append(numbers)
    X = np.column_stack(columns) if columns else np.empty((len(rows), 0))
    return X, y


def _number(value):
    try:
        return float(value) if value else np.nan
    except ValueError:
        return None


def _numbers(values):
    numbers = [_number(v) for v in values]
    return None if any(v is None for v in numbers) else np.array(numbers, dtype=float)


def default_grid(n_samples, n_features, k_grid=DEFAULT_K, gamma_grid=DEFAULT_GAMMA, n_jobs=None):
    """The default contexts: kNN with K in ``k_grid`` (K < n_samples) and RBF kernels.

    RBF widths are ``gamma = g / n_features`` on standardised features (g = 1 is
    scikit-learn's "scale" rule); above 5,000 samples each RBF row keeps its 200
    nearest atoms.
    """
    grid = [
        (f"kNN K={k}", KNNContext(int(k), n_jobs=n_jobs))
        for k in k_grid
        if k < n_samples
    ]
    truncate = None if n_samples <= RBFContext.DENSE_MAX_SAMPLES else min(200, n_samples - 1)
    grid += [
        (f"RBF g={g:g}", RBFContext(gamma=g / n_features, n_neighbors=truncate, n_jobs=n_jobs))
        for g in gamma_grid
    ]
    return grid


def _probe(task):
    # ridge probes (as in the paper's experiments), regulariser by leave-one-out
    if task == "classification":
        return RidgeClassifierCV(alphas=np.logspace(-4, 4, 9))
    return RidgeCV(alphas=np.logspace(-4, 4, 9))


def proxy_score(context, X, X_held=None, *, n_components=128, random_state=0):
    """``feature_prediction`` of a ContextureEmbedding of ``context`` with ``n_components``.

    Fewer components are used when a left-out context has fewer nonzero singular values.
    Returns ``(r2, best_d)``.
    """
    d = max(1, min(n_components, X.shape[0] // 2 - 2))
    while True:
        estimator = ContextureEmbedding(context, n_components=d, solver=_solver(X),
                                        random_state=random_state)
        try:
            return feature_prediction(estimator, X, X_held, random_state=random_state,
                                      return_dim=True)
        except ValueError as exc:
            if "nonzero singular value" not in str(exc) or d == 1:
                raise
            d //= 2


def select(X, y=None, *, grid=None, metric="feature_prediction", labelled=None, beta=1.0,
           max_dim=512, test_size=0.3, max_samples=5000, max_probe_dim=128, random_state=0,
           n_jobs=None):
    """Score a grid of contexts on the training rows and rank them; probe them when ``y`` is given.

    Every context gets its ``feature_prediction`` (the label-free proxy task, with its best
    dimension) and its tau (with d* = argmin_d tau_d and whether tau is trusted). The grid
    is ranked by ``metric``: "feature_prediction" (greater is better), "tau" (trusted
    contexts first, each group by increasing tau) or "labelled" (a cross-validated probe on
    ``labelled`` labelled training rows, the label-efficient choice; needs ``y``). With
    ``y``, every context is also probed on held-out rows (reported, never used to choose).

    Returns a dict with the task, the split sizes, the rows (one dict per context, ranked),
    the spectra, the metric, the scaler fitted on the training rows, and the winner fitted
    (on the scaled training rows): ``MODEL_COMPONENTS`` components (fewer if the context
    has fewer) scaled by their singular values.
    """
    if metric not in METRIC_CHOICES:
        raise ValueError(f"metric must be one of {METRIC_CHOICES}, got {metric!r}.")
    if metric == "labelled" and (y is None or labelled is None):
        raise ValueError("metric='labelled' needs labels y and a number of labelled rows.")
    task = None
    if y is not None:
        task = "regression" if type_of_target(y) == "continuous" else "classification"
        stratify = y if task == "classification" else None
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, random_state=random_state, stratify=stratify
        )
    else:
        X_train, X_test, y_train, y_test = X, None, None, None
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train)
    rng = np.random.RandomState(random_state)
    if X_train.shape[0] > max_samples:
        keep = np.sort(rng.choice(X_train.shape[0], max_samples, replace=False))
        X_train = X_train[keep]
        y_train = None if y_train is None else y_train[keep]
    labelled_rows = None
    if labelled is not None and y is not None:
        if not 2 <= labelled < X_train.shape[0]:
            raise ValueError(
                f"--labelled must be between 2 and the {X_train.shape[0]} training rows, "
                f"got {labelled}."
            )
        labelled_rows = np.sort(rng.permutation(X_train.shape[0])[:labelled])
    if grid is None:
        grid = default_grid(X_train.shape[0], X_train.shape[1], n_jobs=n_jobs)
    X_test_s = None if X_test is None else scaler.transform(X_test)

    rows, spectra, skipped = [], {}, {}
    for name, context in grid:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            context.fit(X_train)
            s = spectrum_for_tau(context.joint_, max_dim, random_state=random_state)
            taus, best_d = tau_curve(s, beta=beta, max_dim=max_dim)
            rank = int(np.sum(s > 1e-6))
            n_probe = max(1, min(max_probe_dim, rank, X_train.shape[0] - 2))
            try:
                r2, d_proxy = proxy_score(context, X_train, n_components=n_probe,
                                          random_state=random_state)
            except ValueError as exc:  # e.g. more neighbours than half the rows
                r2, d_proxy, skipped[name] = float("nan"), 0, str(exc)
        spectra[name] = s
        row = {"context": name, "estimator": context, "tau": float(np.min(taus)),
               "d_tau": int(best_d),
               "tau_trusted": tau_regime(s, beta=beta, max_dim=max_dim) is None,
               "feature_prediction": r2, "d_proxy": d_proxy, "s1": float(s[0]),
               "n_probe": n_probe}
        if y is None:
            # the model the main job keeps, fitted once per context (the winner's is reused)
            row["model"] = _model(context, n_probe, X_train, random_state, n_jobs)
            functions = row["model"].embedding_
        else:
            emb = _embedding(context, n_probe, X_train, random_state)
            functions = emb.embedding_[:, :MODEL_COMPONENTS]
            row["score"] = _probe_score(emb, y_train, X_test_s, y_test, task)
            if labelled_rows is not None:
                row["labelled"] = _labelled_score(emb, labelled_rows, y_train, random_state)
        # functions on a handful of rows among those the model keeps: outliers isolated
        # by the context, nothing a downstream model can use
        row["outlying"] = int(concentrated_columns(functions)[0].size)
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    rows.sort(key=_ranking(metric))
    winner = rows[0]
    if winner[metric] != winner[metric]:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
        raise ValueError(f"No context of the grid could be scored by {metric}"
                         + (f" ({reasons})" if reasons else "") + ".")
    embedding = winner["model"] if "model" in winner else _model(
        winner["estimator"], winner["n_probe"], X_train, random_state, n_jobs)
    return {"task": task, "n_train": X_train.shape[0], "metric": metric, "scaler": scaler,
            "n_test": None if X_test is None else X_test.shape[0],
            "n_labelled": None if labelled_rows is None else labelled_rows.size,
            "rows": rows, "spectra": spectra, "embedding": embedding, "skipped": skipped}


def _ranking(metric):
    # contexts whose model would have functions on a handful of rows come last
    if metric == "feature_prediction":
        return lambda r: (r["outlying"] > 0, -np.nan_to_num(r["feature_prediction"], nan=-np.inf))
    if metric == "labelled":
        return lambda r: (r["outlying"] > 0, -np.nan_to_num(r["labelled"], nan=-np.inf))
    # tau: the trusted contexts first (the paper advises against ranking the others by tau)
    return lambda r: (r["outlying"] > 0, not np.isfinite(r["tau"]), not r["tau_trusted"],
                      r["tau"])


def _solver(X):
    # up to DENSE_MAX_SIDE rows one dense eigendecomposition beats the iterative solvers
    # at the ~100 components probed here
    return "dense" if X.shape[0] <= DENSE_MAX_SIDE else "auto"


def _embedding(context, n_components, X, random_state, n_jobs=None, scale="none"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ContextureEmbedding(context, n_components=n_components, solver=_solver(X),
                                   scale=scale, random_state=random_state,
                                   n_jobs=n_jobs).fit(X)


def _model(context, n_probe, X, random_state, n_jobs):
    """The winner's model: ``MODEL_COMPONENTS`` functions (at most ``n_probe``) scaled by s."""
    return _embedding(context, min(MODEL_COMPONENTS, n_probe), X, random_state, n_jobs,
                      scale="singular_values")


def _probe_score(emb, y_train, X_test, y_test, task):
    # the best held-out score over the leading d functions, as in benchmarks/selection.py
    Z_train, Z_test = emb.embedding_, emb.transform(X_test)
    return max(float(_probe(task).fit(Z_train[:, :d], y_train).score(Z_test[:, :d], y_test))
               for d in probe_dims(Z_train.shape[1]))


def _labelled_score(emb, rows, y_train, random_state):
    try:
        return LabelledProbeScorer(random_state=random_state).score_embedding(
            emb.embedding_[rows], y_train[rows])
    except ValueError:  # e.g. a class with a single labelled row
        return float("nan")


def _fmt(x, spec=".4f"):
    return "inf" if x == np.inf else ("n/a" if x != x else format(x, spec))


METRIC_LABEL = {"feature_prediction": "feature_prediction", "tau": "tau",
                "labelled": "labelled probe"}


def report(result, name, X, *, beta, max_dim, metric):
    """Print the ranked table and the downstream comparison."""
    rows = result["rows"]
    labelled = result["task"] is not None
    by = result["metric"]
    print(f"dataset: {name}  ({X.shape[0]} samples x {X.shape[1]} features"
          f"{', ' + result['task'] if labelled else ', no labels'})")
    print(f"contexts fitted without labels on {result['n_train']} training rows, ranked by "
          f"{METRIC_LABEL[by]}")
    print("  feature_prediction: held-out R^2 of features predicted from the others' "
          "embedding (greater is better), at its best dimension d")
    print(f"  tau: beta={beta:g}, d0={max_dim} (lower is better), d* = argmin_d tau_d; "
          "'!' = untrusted (d* = 1, tau near 1 + beta, or s near 1)")
    if result["n_labelled"]:
        print(f"  labelled probe: cross-validated ridge probe on {result['n_labelled']} "
              "labelled training rows")
    if labelled:
        print(f"probe: {metric} on {result['n_test']} held-out rows of a ridge probe on each "
              "context's embedding, best over d = 1, 2, 4, ... (reported only, never used "
              "to choose)")
    width = max(len(r["context"]) for r in rows)
    head = (f"\n{'rank':>4}  {'context':<{width}}  {'feat R^2':>8}  {'d':>4}  {'tau':>8}  "
            f"{'d*':>4}  {'s_1':>7}")
    if result["n_labelled"]:
        head += f"  {'labelled':>8}"
    print(head + f"  {'fit s':>6}" + (f"  {metric:>9}" if labelled else ""))
    for i, r in enumerate(rows, 1):
        flag = " " if r["tau_trusted"] else "!"
        line = (f"{i:>4}  {r['context']:<{width}}  {_fmt(r['feature_prediction']):>8}  "
                f"{r['d_proxy']:>4}  {_fmt(r['tau']):>7}{flag}  {r['d_tau']:>4}  "
                f"{r['s1']:>7.4f}")
        if result["n_labelled"]:
            line += f"  {_fmt(r['labelled']):>8}"
        line += f"  {r['seconds']:>6.2f}"
        if labelled:
            line += f"  {_fmt(r['score']):>9}"
        print(line)
    emb = result["embedding"]
    print(f"\nchosen by {METRIC_LABEL[by]}: {rows[0]['context']}; fitted ContextureEmbedding "
          f"with n_components={emb.n_components} (s_1={emb.singular_values_[0]:.4f}, "
          f"s_d={emb.singular_values_[-1]:.4f})")
    for context, reason in result["skipped"].items():
        print(f"feature_prediction n/a for {context} (it fits on half the training rows): "
              f"{reason}")
    outlying = [f"{r['context']} ({r['outlying']})" for r in rows if r["outlying"]]
    if outlying:
        print(f"{len(outlying)} of {len(rows)} contexts isolate outlying rows, ranked last: "
              f"{', '.join(outlying)} of their first {MODEL_COMPONENTS} functions live on a "
              "handful of rows")
    untrusted = [r["context"] for r in rows if not r["tau_trusted"]]
    if untrusted:
        print(f"tau is untrusted for {len(untrusted)} of {len(rows)} contexts "
              f"({', '.join(untrusted)})" + (": tau ranks them last" if by == "tau" else ""))
    if labelled:
        scored = [r for r in rows if r["score"] == r["score"]]
        if scored:
            best = max(scored, key=lambda r: r["score"])
            worst = min(scored, key=lambda r: r["score"])
            order = sorted((r["score"] for r in scored), reverse=True)

            def rank_of(row):
                return 1 + order.index(row["score"]) if row["score"] == row["score"] else None

            print(f"downstream {metric}: chosen {_fmt(rows[0]['score'])}  |  best of grid "
                  f"{_fmt(best['score'])} ({best['context']})  |  worst of grid "
                  f"{_fmt(worst['score'])} ({worst['context']})")
            summary = f"chosen by {METRIC_LABEL[by]} ranks {rank_of(rows[0])}/{len(scored)}"
            for other in ("feature_prediction", "tau"):
                if other != by:
                    pick = min(rows, key=_ranking(other))
                    summary += (f"; {METRIC_LABEL[other]}'s pick ({pick['context']}) ranks "
                                f"{rank_of(pick)}/{len(scored)}")
            print(summary)


#: Fewest rows the main job accepts: the proxy task fits every context on a quarter
#: of the training rows.
MIN_ROWS = 20


class _Formatter(argparse.HelpFormatter):
    """Help with every option's default (where it has one)."""

    def _get_help_string(self, action):
        if (action.default is None or action.default is False
                or action.default == argparse.SUPPRESS or "%(default)" in action.help):
            return action.help
        return f"{action.help} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """A usage error: one line on stderr, exit status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser():
    """The command line's argument parser (every option with its help and default)."""
    parser = _Parser(
        prog="skcontexture", formatter_class=_Formatter,
        description=" ".join(__doc__.split("\n\n")[1].replace("``", "").split()),
        epilog="A user error ends with one line on stderr and exit status 2.")
    parser.add_argument("data", nargs="?", default=None,
                        help=".npz (arrays X and optionally y) or .csv file with a header "
                             "(none: scikit-learn's digits)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--target", help="target column of a .csv (none: no labels)")
    parser.add_argument("--dropna", action="store_true",
                        help="drop rows with missing or non-finite values instead of refusing")
    parser.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_K),
                        help="kNN context sizes K of the grid")
    parser.add_argument("--gamma", type=float, nargs="+", default=list(DEFAULT_GAMMA),
                        help="RBF widths of the grid, in units of 1/n_features")
    parser.add_argument("--metric", choices=METRIC_CHOICES, default=None,
                        help="how to rank the contexts (default: feature_prediction, or "
                             "'labelled' with --labelled M)")
    parser.add_argument("--labelled", type=int, metavar="M",
                        help="also score every context by a cross-validated probe on M "
                             "labelled training rows (label-efficient selection)")
    parser.add_argument("--beta", type=float, default=1.0, help="tau's spread weight")
    parser.add_argument("--max-dim", type=int, default=512, help="d0 of tau")
    parser.add_argument("--max-samples", type=int, default=5000,
                        help="fit contexts on at most this many training rows")
    parser.add_argument("--max-probe-dim", type=int, default=128,
                        help="largest embedding dimension probed")
    parser.add_argument("--test-size", type=float, default=0.3,
                        help="fraction of labelled rows held out for the report's probe")
    parser.add_argument("--random-state", type=int, default=0, help="seed of splits and solvers")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="threads for neighbour searches and products (None: 1)")
    parser.add_argument("--plot", metavar="FILE",
                        help="save the spectra and tau_d curves to FILE (needs matplotlib: "
                             "the plot extra)")
    parser.add_argument("--save-embedding", metavar="FILE",
                        help="save the chosen context's embedding of every row to FILE "
                             "(.npy or .csv)")
    parser.add_argument("--save-model", metavar="FILE",
                        help="save the fitted winner (a Pipeline: StandardScaler, then "
                             "ContextureEmbedding) to FILE with joblib")
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON instead of the table")
    return parser


def main(argv=None):
    """Entry point of ``python -m skcontexture`` and the ``skcontexture`` script.

    Returns the exit status: 0, or 2 after one line on stderr for a user error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"skcontexture: error: {message}", file=sys.stderr)
        return 2


def _check_outputs(args):
    """Refuse, before the run, options whose output could not be written."""
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        raise ValueError("--plot needs matplotlib: pip install 'skcontexture[plot]'.")
    if args.save_embedding and Path(args.save_embedding).suffix not in (".npy", ".csv"):
        raise ValueError(f"--save-embedding writes .npy or .csv, got {args.save_embedding!r}.")
    for option in ("plot", "save_embedding", "save_model"):
        path = getattr(args, option)
        if path and not Path(path).resolve().parent.is_dir():
            raise ValueError(f"--{option.replace('_', '-')} {path}: no such directory "
                             f"{Path(path).resolve().parent}.")


def _run(parser, args):
    if args.metric is None:
        args.metric = "labelled" if args.labelled else "feature_prediction"
    if args.metric == "labelled" and args.labelled is None:
        raise ValueError("--metric labelled needs --labelled M (the number of labelled rows).")
    if not 0 < args.test_size < 1:
        raise ValueError(f"--test-size must be between 0 and 1, got {args.test_size}.")
    _check_outputs(args)
    X, y, name = load_dataset(args.data, args.target, dropna=args.dropna)
    if args.labelled is not None and y is None:
        raise ValueError("--labelled needs labels: an .npz with y, or a .csv with --target.")
    if X.shape[0] < MIN_ROWS:
        raise ValueError(f"{name} has {X.shape[0]} rows; the main job needs at least "
                         f"{MIN_ROWS} (every context is fitted on a quarter of the "
                         "training rows).")
    if X.shape[1] < 2 and args.metric == "feature_prediction":
        raise ValueError("feature_prediction predicts features from the others and needs "
                         "at least 2 features; use --metric tau.")
    n_train = X.shape[0] if y is None else int(round(X.shape[0] * (1 - args.test_size)))
    n_fit = min(n_train, args.max_samples)
    grid = default_grid(n_fit, X.shape[1], args.k, args.gamma, n_jobs=args.n_jobs)
    dropped = sorted(k for k in set(args.k) if k >= n_fit)
    if dropped:
        print(f"note: kNN K={', '.join(map(str, dropped))} left out of the grid: K must be "
              f"below the {n_fit} training rows.", file=sys.stderr)
    if not grid:
        raise ValueError("No context is left in the grid: give smaller --k or some --gamma.")
    # One BLAS thread: the dense eigenproblems here are small enough that threading gains
    # little on 2 cores and loses much when the cores are shared (measured 2x).
    with threadpool_limits(limits=1, user_api="blas"):
        result = select(X, y, grid=grid, metric=args.metric, labelled=args.labelled,
                        beta=args.beta, max_dim=args.max_dim,
                        test_size=args.test_size, max_samples=args.max_samples,
                        max_probe_dim=args.max_probe_dim, random_state=args.random_state,
                        n_jobs=args.n_jobs)
    metric = None
    if result["task"] is not None:
        metric = "accuracy" if result["task"] == "classification" else "R^2"
    if args.json:
        print(json.dumps(summary(result, name, X, metric=metric), indent=2))
    else:
        report(result, name, X, beta=args.beta, max_dim=args.max_dim, metric=metric)
    _save(result, X, args)
    return 0


def _save(result, X, args):
    model = make_pipeline(result["scaler"], result["embedding"])
    note = sys.stderr if args.json else sys.stdout
    if args.plot:
        from .plotting import plot_context_selection

        plot_context_selection(result["spectra"], args.plot, beta=args.beta,
                               max_dim=args.max_dim)
        print(f"saved spectra and tau_d curves to {args.plot}", file=note)
    if args.save_embedding:
        Z = model.transform(X)
        if args.save_embedding.endswith(".npy"):
            np.save(args.save_embedding, Z)
        else:
            header = ",".join(result["embedding"].get_feature_names_out())
            np.savetxt(args.save_embedding, Z, delimiter=",", header=header, comments="")
        print(f"saved the {Z.shape[0]} x {Z.shape[1]} embedding to {args.save_embedding}",
              file=note)
    if args.save_model:
        joblib.dump(model, args.save_model)
        print(f"saved the fitted model (StandardScaler, ContextureEmbedding) to "
              f"{args.save_model}", file=note)


def summary(result, name, X, *, metric=None):
    """The result of :func:`select` as plain data (for ``--json``)."""
    keys = ("context", "feature_prediction", "d_proxy", "tau", "d_tau", "tau_trusted", "s1",
            "outlying", "seconds", "score", "labelled")

    def plain(value):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        value = float(value)
        return value if np.isfinite(value) else None

    rows = [{key: (r[key] if key == "context" else plain(r[key])) for key in keys if key in r}
            for r in result["rows"]]
    emb = result["embedding"]
    return {"dataset": name, "n_samples": X.shape[0], "n_features": X.shape[1],
            "task": result["task"], "metric": result["metric"], "probe_metric": metric,
            "n_train": result["n_train"], "n_test": result["n_test"],
            "n_labelled": result["n_labelled"], "chosen": rows[0]["context"],
            "n_components": emb.n_components,
            "singular_values": [float(v) for v in emb.singular_values_],
            "skipped": result["skipped"], "rows": rows}
