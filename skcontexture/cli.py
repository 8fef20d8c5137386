"""The command-line main job: choose a context without labels.

``python -m skcontexture [DATA]`` (or ``skcontexture [DATA]``) loads a dataset
(scikit-learn's digits by default; an ``.npz`` with an array ``X`` and optionally
``y``; or a ``.csv`` with a header, whose target column, if any, is named by
``--target``, and whose identifier columns ``--drop`` leaves out), standardises the
features on the training rows, fits a grid of contexts (kNN and RBF at several
strengths) on them, scores every context by the label-free ``feature_prediction``
proxy task and by tau (flagging the contexts where tau is not to be trusted; a context
that cannot be fitted gets n/a), ranks the grid by ``--metric`` (the contexts whose
leading functions live on a handful of outlying rows last) and fits the features a
downstream model should get: a ContextureUnion of the linear kernel of the features
and the best-ranked other context (32 components each with ``scale="propagation"``),
or with ``--labelled M`` the chosen context alone (at most M/4 components), printed
as the Python line that builds it. When labels exist (a classification or a
regression, as ``--task`` says or infers), it also fits a ridge probe on every
context's embedding and reports the held-out score of the chosen context next to the
best and the worst of the grid, and the rank of each metric's pick; labels never
choose, except with ``--metric labelled --labelled M`` (label-efficient selection by a
cross-validated probe on M labelled training rows). ``--plot FILE`` saves the spectra
and tau_d curves, the chosen context marked.
"""

import argparse
import csv
import importlib.util
import inspect
import json
import sys
import threading
from pathlib import Path

import numpy as np

from . import __version__
from ._defaults import (DEFAULT_GAMMA, DEFAULT_K, LABELS_PER_COMPONENT, ROWS_PER_CLASS,
                        TASK_CHOICES)
from ._metric_table import MAIN_JOB_METRICS, METRICS

# scikit-learn and the selection (skcontexture._selection) are imported where they are
# used, so that --help and a usage error answer without loading them



def load_dataset(path=None, target=None, *, dropna=False, drop=(), return_feature_names=False):
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
    drop : sequence of str, default=()
        Columns of a ``.csv`` to leave out (identifiers, say).
    return_feature_names : bool, default=False
        Also return the names of the columns of X (a ``.csv``'s header without the
        target and the dropped columns; None for an ``.npz`` and digits), as a fourth
        item.

    Raises
    ------
    ValueError
        With a message naming the problem and its fix: a missing file, an unsupported
        file type, an ``.npz`` without ``X``, a non-numeric column, missing or
        non-finite values (without ``dropna``), ``target`` or a ``drop`` name not a
        column.
    """
    if drop and (path is None or Path(path).suffix != ".csv"):
        raise ValueError("--drop names columns of a .csv file.")
    X, y, name, feature_names = _load(path, target, dropna, drop)
    return (X, y, name, feature_names) if return_feature_names else (X, y, name)


def _load(path, target, dropna, drop):
    if path is None:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X.astype(float), y, "digits (scikit-learn)", None
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
        X, y, feature_names, line = *_read_npz(path), None, lambda i: f"row {i}"
    else:
        X, y, feature_names, line = *_read_csv(path, target, drop), lambda i: f"line {i + 2}"
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
    return X, y, path.stem, feature_names


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


def _read_csv(path, target, drop):
    with open(path, newline="") as file:
        lines = [row for row in csv.reader(file) if row]
    if not lines:
        raise ValueError(f"{path.name} is empty.")
    header, rows = [name.strip() for name in lines[0]], lines[1:]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"Line {i + 2} of {path.name} has {len(row)} fields, the "
                             f"header has {len(header)}.")
    for option, names in (("--target", [] if target is None else [target]),
                          ("--drop", drop)):
        for name in names:
            if name not in header:
                raise ValueError(f"{option} {name!r} is not a column of {path.name} (its "
                                 f"columns: {', '.join(header)}).")
    if target in drop:
        raise ValueError(f"--drop {target!r} is the --target column.")
    columns, names, y = [], [], None
    for j, name in enumerate(header):
        values = [row[j].strip() for row in rows]
        if name in drop:
            continue
        if name == target:
            y = _numbers(values)
            y = np.array(values) if y is None else y
            continue
        numbers = _numbers(values)
        if numbers is None:
            i, value = next((i, v) for i, v in enumerate(values) if _number(v) is None)
            raise ValueError(
                f"Column {name!r} of {path.name} is not numeric ({value!r} at line {i + 2}): "
                f"pass --drop {name} if it is an identifier, or encode it as numbers"
                + ("" if target else f", or pass --target {name} if it is the label") + "."
            )
        columns.append(numbers)
        names.append(name)
    X = np.column_stack(columns) if columns else np.empty((len(rows), 0))
    return X, y, names


def _number(value):
    try:
        return float(value) if value else np.nan
    except ValueError:
        return None


def _numbers(values):
    numbers = [_number(v) for v in values]
    return None if any(v is None for v in numbers) else np.array(numbers, dtype=float)


def _fmt(x, spec=".4f"):
    if x is None or x != x:
        return "n/a"
    return "inf" if x == np.inf else format(x, spec)


def _context_params(context):
    """The parameters that define a context: its first (unless None), and those not at
    their default."""
    params = context.get_params(deep=False)
    signature = inspect.signature(type(context).__init__).parameters
    names = [name for name in signature if name in params]
    return {name: params[name] for i, name in enumerate(names)
            if (i == 0 and params[name] is not None)
            or repr(params[name]) != repr(signature[name].default)}


def _embedding_line(emb):
    """The Python expression of a ContextureEmbedding of the main job's grid."""
    context = emb.context
    params = ", ".join(f"{name}={value!r}" for name, value in _context_params(context).items())
    return (f"ContextureEmbedding({type(context).__name__}({params}), "
            f"n_components={emb.n_components_}, scale={emb.scale!r}, "
            f"random_state={emb.random_state!r})")


def model_line(result):
    """The Python expression of the main job's model (as fitted on the training rows)."""
    parts = result["model_parts"]
    if len(parts) == 1:
        model = _embedding_line(parts[0]["embedding"])
    else:
        model = "ContextureUnion([" + ", ".join(
            f"({part['name']!r}, {_embedding_line(part['embedding'])})" for part in parts) + "])"
    return f"make_pipeline(StandardScaler(), {model})"


def report(result, name, X, *, beta, max_dim, metric):
    """Print the ranked table and the downstream comparison."""
    from ._embedding import PROPAGATION_ALPHA
    from ._selection import ranking

    rows = result["rows"]
    labelled = result["task"] is not None
    by = result["metric"]
    print(f"dataset: {name}  ({X.shape[0]} samples x {X.shape[1]} features"
          f"{', ' + result['task'] if labelled else ', no labels'})")
    if result["task_reason"]:
        other = "regression" if result["task"] == "classification" else "classification"
        print(f"task: {result['task']}, inferred from the target ({result['task_reason']}); "
              f"--task {other} overrides it")
    print(f"contexts fitted without labels on {result['n_train']} training rows, ranked by "
          f"{METRICS[by].label}")
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
        flag = "!" if r["tau_trusted"] is False else " "
        line = (f"{i:>4}  {r['context']:<{width}}  {_fmt(r['feature_prediction']):>8}  "
                f"{_fmt(r['d_proxy'], 'd'):>4}  {_fmt(r['tau']):>7}{flag}  "
                f"{_fmt(r['d_tau'], 'd'):>4}  {_fmt(r['s1']):>7}")
        if result["n_labelled"]:
            line += f"  {_fmt(r['labelled']):>8}"
        line += f"  {r['seconds']:>6.2f}"
        if labelled:
            line += f"  {_fmt(r['score']):>9}"
        print(line)
    parts = result["model_parts"]
    print(f"\nchosen by {METRICS[by].label}: {rows[0]['context']}")
    if len(parts) == 1:
        print(f"the model, fitted on the {result['n_train']} training rows (saved by "
              "--save-model):")
    else:
        print(f"the model, fitted on the {result['n_train']} training rows (saved by "
              f"--save-model): the linear kernel of the features beside the best-ranked "
              f"other context, {parts[1]['context']}, each block scaled to total variance 1, "
              "so that a model fitted on labels weighs what is linear in the features "
              "against the local structure (a label-free ranking cannot tell which serves "
              "its task):")
    print(f"  {model_line(result)}")
    for part in parts:
        s = part["embedding"].singular_values_
        which = f"{part['context']}: " if len(parts) > 1 else ""
        print(f"  {which}{s.size} components ({part['reason']}), s_1={s[0]:.4f}, "
              f"s_d={s[-1]:.4f}")
    print(f"  each component weighted by s / sqrt(1 - {PROPAGATION_ALPHA} s^2), the "
          "smoothest first")
    for r in rows:
        if "error" in r:
            print(f"n/a: {r['context']} could not be fitted: {r['error']}")
    for context, reason in result["skipped"].items():
        print(f"feature_prediction n/a for {context} (it fits on half the training rows): "
              f"{reason}")
    outlying = [f"{r['context']} ({r['outlying']})" for r in rows if r["outlying"]]
    if outlying:
        print(f"{len(outlying)} of {len(rows)} contexts isolate outlying rows, ranked after "
              f"the others: {', '.join(outlying)} of the functions their model keeps live on "
              "a handful of rows")
    untrusted = [r["context"] for r in rows if r["tau_trusted"] is False]
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
                  f"{_fmt(worst['score'])} ({worst['context']})  |  the model, every "
                  f"column {_fmt(result['model_score'])}")
            summary = f"chosen by {METRICS[by].label} ranks {rank_of(rows[0])}/{len(scored)}"
            for other in MAIN_JOB_METRICS:
                if other != by and all(other in r for r in rows):
                    pick = min(rows, key=ranking(other))
                    summary += (f"; {METRICS[other].label}'s pick ({pick['context']}) ranks "
                                f"{rank_of(pick)}/{len(scored)}")
            print(summary)


#: Fewest rows the main job accepts: the proxy task fits every context on a quarter
#: of the training rows.
MIN_ROWS = 20


class _Formatter(argparse.HelpFormatter):
    """Help with every option's default (where it has one)."""

    def _get_help_string(self, action):
        if (action.default is None or action.default is False or action.default == []
                or action.default == argparse.SUPPRESS or "%(default)" in action.help):
            return action.help
        return f"{action.help} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """A usage error: one line on stderr, exit status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _option(convert, allowed, ok):
    """An argparse type: ``convert`` the text and refuse the values ``ok`` rejects.

    The message names what is ``allowed`` and quotes the value as given; argparse puts
    the option's name in front of it.
    """
    def parse(text):
        value = convert(text)  # a ValueError: argparse's "invalid int value: 'x'"
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed: {allowed}")
        return value

    parse.__name__ = convert.__name__
    return parse


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
    parser.add_argument("--task", choices=TASK_CHOICES, default="auto",
                        help="what the target is. auto: labels that are not numbers are "
                             "classes; numbers with a fraction are a quantity (regression); "
                             f"whole numbers are classes with at least {ROWS_PER_CLASS} rows "
                             "per distinct value on average and 2 of each, a quantity "
                             "otherwise")
    parser.add_argument("--drop", nargs="+", default=[], metavar="COL",
                        help="columns of a .csv to leave out (identifiers, say)")
    parser.add_argument("--dropna", action="store_true",
                        help="drop rows with missing or non-finite values instead of refusing")
    parser.add_argument("--k", nargs="+", default=list(DEFAULT_K),
                        type=_option(int, "K is a number of neighbours, 1 or more",
                                     lambda k: k >= 1),
                        help="kNN context sizes K of the grid (each below the training rows)")
    parser.add_argument("--gamma", nargs="+", default=list(DEFAULT_GAMMA),
                        type=_option(float, "RBF widths are numbers above 0 (in units of "
                                            "1/n_features)", lambda g: 0 < g < np.inf),
                        help="RBF widths of the grid, in units of 1/n_features")
    parser.add_argument("--metric", choices=MAIN_JOB_METRICS, default=None,
                        help="how to rank the contexts (default: feature_prediction, or "
                             "'labelled' with --labelled M)")
    parser.add_argument("--labelled", metavar="M",
                        type=_option(int, "M is a number of labelled rows, 2 or more",
                                     lambda m: m >= 2),
                        help="also score every context by a cross-validated probe on M "
                             "labelled training rows (label-efficient selection); the "
                             f"model then keeps at most M/{LABELS_PER_COMPONENT} components")
    parser.add_argument("--beta", default=1.0, help="tau's spread weight",
                        type=_option(float, "beta is a number, 0 or more",
                                     lambda b: 0 <= b < np.inf))
    parser.add_argument("--max-dim", default=512, help="d0 of tau",
                        type=_option(int, "d0 is 1 or more", lambda d: d >= 1))
    parser.add_argument("--max-samples", default=5000,
                        type=_option(int, f"at least {MIN_ROWS} rows",
                                     lambda n: n >= MIN_ROWS),
                        help="fit contexts on at most this many training rows")
    parser.add_argument("--max-probe-dim", default=128,
                        type=_option(int, "a dimension, 1 or more", lambda d: d >= 1),
                        help="largest embedding dimension probed")
    parser.add_argument("--test-size", default=0.3,
                        type=_option(float, "a fraction between 0 and 1",
                                     lambda f: 0 < f < 1),
                        help="fraction of labelled rows held out for the report's probe")
    parser.add_argument("--random-state", type=int, default=0, help="seed of splits and solvers")
    parser.add_argument("--n-jobs", type=int, default=-1,
                        help="processes that score the contexts side by side (-1: all "
                             "cores); the result does not depend on it")
    parser.add_argument("--plot", metavar="FILE",
                        help="save the spectra and tau_d curves to FILE, the chosen context "
                             "thick and the ones with untrusted tau dashed (needs matplotlib: "
                             "the plot extra)")
    parser.add_argument("--save-embedding", metavar="FILE",
                        help="save the model's embedding of every row to FILE "
                             "(.npy or .csv)")
    parser.add_argument("--save-model", metavar="FILE",
                        help="save the fitted model (a Pipeline: StandardScaler, then "
                             "ContextureUnion) to FILE with joblib; fitted on a .csv, "
                             "it takes the feature columns by name")
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


def _start_workers(n_jobs):
    """Start, in a thread, the worker processes that will score the contexts.

    A process pool's first call waits for its workers to import the library (about
    1.2 s each). Started before the data loads, they import while this process
    does. Returns the thread (None with one job): join it before the scoring, whose
    call then finds the pool ready.
    """
    from joblib import effective_n_jobs

    n_workers = effective_n_jobs(n_jobs)
    if n_workers == 1:
        return None

    def start():
        from joblib import Parallel, delayed

        try:
            Parallel(n_jobs=n_jobs)(delayed(_import_selection)() for _ in range(n_workers))
        except Exception:  # only a head start: the scoring's own call reports any failure
            pass

    thread = threading.Thread(target=start, name="skcontexture-workers", daemon=True)
    thread.start()
    return thread


def _import_selection():
    from . import _selection  # noqa: F401


def _run(parser, args):
    workers = _start_workers(args.n_jobs)
    try:
        return _run_job(parser, args, workers)
    finally:
        if workers is not None:
            workers.join()


def _run_job(parser, args, workers):
    if args.metric is None:
        args.metric = "labelled" if args.labelled else "feature_prediction"
    if args.metric == "labelled" and args.labelled is None:
        raise ValueError("--metric labelled needs --labelled M (the number of labelled rows).")
    _check_outputs(args)
    X, y, name, feature_names = load_dataset(args.data, args.target, dropna=args.dropna,
                                             drop=args.drop, return_feature_names=True)
    for option, given in (("--labelled", args.labelled is not None),
                          ("--task", args.task != "auto")):
        if given and y is None:
            raise ValueError(f"{option} needs labels: an .npz with y, or a .csv with "
                             "--target.")
    if X.shape[0] < MIN_ROWS:
        raise ValueError(f"{name} has {X.shape[0]} rows; the main job needs at least "
                         f"{MIN_ROWS} (every context is fitted on a quarter of the "
                         "training rows).")
    if X.shape[1] < 2 and args.metric == "feature_prediction":
        raise ValueError("feature_prediction predicts features from the others and needs "
                         "at least 2 features; use --metric tau.")
    from ._constraints import blas_threads

    from ._selection import select

    if workers is not None:
        workers.join()
    # One BLAS thread: the dense eigenproblems here are small enough that threading gains
    # little on 2 cores and loses much when the cores are shared (measured 2x).
    with blas_threads(1):
        result = select(X, y, k_grid=args.k, gamma_grid=args.gamma, metric=args.metric,
                        task=args.task, labelled=args.labelled, beta=args.beta,
                        max_dim=args.max_dim, test_size=args.test_size,
                        max_samples=args.max_samples, max_probe_dim=args.max_probe_dim,
                        random_state=args.random_state, n_jobs=args.n_jobs)
    dropped = sorted(k for k in set(args.k) if k >= result["n_train"])
    if dropped:
        print(f"note: kNN K={', '.join(map(str, dropped))} left out of the grid: K must be "
              f"below the {result['n_train']} training rows.", file=sys.stderr)
    metric = None
    if result["task"] is not None:
        metric = "accuracy" if result["task"] == "classification" else "R^2"
    if args.json:
        print(json.dumps(summary(result, name, X, metric=metric), indent=2, default=repr))
    else:
        report(result, name, X, beta=args.beta, max_dim=args.max_dim, metric=metric)
    _save(result, X, feature_names, args)
    return 0


def _save(result, X, feature_names, args):
    import joblib
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(result["scaler"], result["embedding"])
    note = sys.stderr if args.json else sys.stdout
    if args.plot:
        from .plotting import plot_context_selection

        rows = result["rows"]
        plot_context_selection(result["spectra"], args.plot, beta=args.beta,
                               max_dim=args.max_dim, chosen=rows[0]["context"],
                               untrusted=[r["context"] for r in rows
                                          if r["tau_trusted"] is False])
        print(f"saved spectra and tau_d curves to {args.plot} (the chosen context drawn "
              "thick, the ones where tau is untrusted dashed)", file=note)
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
        usage = ""
        if feature_names is not None:
            # what fitting on a DataFrame of these columns records: the model then takes
            # pd.read_csv(FILE)[columns] without a warning, and refuses other columns
            model[0].feature_names_in_ = np.asarray(feature_names, dtype=object)
            others = [args.target] * (args.target is not None) + args.drop
            frame = f"pd.read_csv({args.data!r})" + (f".drop(columns={others!r})" if others
                                                     else "")
            usage = f"; it takes the feature columns by name: model.transform({frame})"
        joblib.dump(model, args.save_model)
        print(f"saved the fitted model (StandardScaler, {type(result['embedding']).__name__}) "
              f"to {args.save_model}{usage}", file=note)


def summary(result, name, X, *, metric=None):
    """The result of :func:`select` as plain data (for ``--json``)."""
    keys = ("context", "feature_prediction", "d_proxy", "tau", "d_tau", "tau_trusted", "s1",
            "outlying", "seconds", "score", "labelled", "error")

    def plain(value):
        if value is None:
            return None
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        value = float(value)
        return value if np.isfinite(value) else None

    rows = [{key: (r[key] if key in ("context", "error") else plain(r[key]))
             for key in keys if key in r} for r in result["rows"]]
    parts = [{"name": part["name"], "context": part["context"],
              "context_class": type(part["embedding"].context).__name__,
              "context_params": _context_params(part["embedding"].context),
              "n_components": part["embedding"].n_components_,
              "n_components_reason": part["reason"], "scale": part["embedding"].scale,
              "singular_values": [float(v) for v in part["embedding"].singular_values_]}
             for part in result["model_parts"]]
    return {"dataset": name, "n_samples": X.shape[0], "n_features": X.shape[1],
            "task": result["task"], "task_reason": result["task_reason"],
            "metric": result["metric"], "probe_metric": metric,
            "n_train": result["n_train"], "n_test": result["n_test"],
            "n_labelled": result["n_labelled"], "chosen": rows[0]["context"],
            "model": {"python": model_line(result), "parts": parts},
            "n_components": sum(part["n_components"] for part in parts),
            "model_score": result["model_score"],
            "skipped": result["skipped"], "rows": rows}
