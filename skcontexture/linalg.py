"""Singular values and singular functions of a context, from its joint.

The functions take a fitted context's ``joint_`` (any nonnegative sparse matrix
over samples x atoms) and return what the estimators and scorers compute from
it, without an estimator around it:

* :func:`top_singular_functions`: the top d singular values and functions,
  exactly what :class:`~skcontexture.ContextureEmbedding` computes (same
  solvers, ``solver=`` vocabulary and accuracy checks);
* :func:`context_spectrum`: the top d0 singular values only, the input of tau
  and the other spectrum metrics (d0 = 512 in the paper, far more than an
  embedding keeps);
* :func:`subsample_spectrum`: the spectrum of a context refitted on a
  subsample, for comparison.

How the solvers of the spectrum work ("dense", "randomized", "auto"), why the
spectrum is never taken from a subsample, and their measured accuracy and cost:
docs/context_selection.md, "The spectrum up to d0"; the solvers of the
triplets: docs/design.md, "Solvers".
"""

from __future__ import annotations

import math
import numbers
import time
from numbers import Integral, Real
from typing import TYPE_CHECKING, Callable

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import check_array, check_random_state

from ._compat import Interval, StrOptions
from ._constraints import Implements
from ._solvers import (
    DENSE_MAX_SIDE,
    TRIPLET_PARAMETERS,
    VALUE_SOLVERS,
    top_singular_triplets,
    top_singular_values,
)
from ._operator import ContextOperator
from ._typing import validate_params

if TYPE_CHECKING:
    from ._typing import (
        FloatArray,
        MatrixLike,
        RandomStateLike,
        Solver,
        SparseMatrix,
        ValueSolver,
    )
    from .contexts import BaseContext

__all__ = [
    "DENSE_MAX_SIDE",
    "Spectrum",
    "context_spectrum",
    "subsample_spectrum",
    "top_singular_functions",
]

_JOINT = ["array-like", "sparse matrix"]


class Spectrum:
    """Singular values s_1 >= ... >= s_k of a context (trivial s_0 = 1 excluded).

    Returned by :func:`context_spectrum` and :func:`subsample_spectrum`.

    Attributes
    ----------
    values : ndarray of shape (k,)
        The singular values, descending, in [0, 1].
    solver : str
        "dense", "randomized" or "subsample".
    exact : bool
        Whether ``values`` are exact to round-off.
    n_rows : int
        Rows of the operator the values come from.
    seconds : float
        Wall time of the computation.
    n_iter : int
        Krylov blocks added by the randomized solver after reaching
        k + oversampling columns (0 otherwise).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skcontexture import KNNContext
    >>> from skcontexture.linalg import context_spectrum
    >>> joint = KNNContext(10).fit(load_digits().data[:500]).joint_
    >>> spectrum = context_spectrum(joint, 20)
    >>> spectrum.values.shape, spectrum.solver, spectrum.exact
    ((20,), 'dense', True)
    """

    def __init__(
        self,
        values: FloatArray,
        solver: str,
        exact: bool,
        n_rows: int,
        seconds: float,
        n_iter: int = 0,
    ) -> None:
        self.values = values
        self.solver = solver
        self.exact = exact
        self.n_rows = n_rows
        self.seconds = seconds
        self.n_iter = n_iter

    def __repr__(self) -> str:
        return (
            f"Spectrum(k={self.values.size}, solver={self.solver!r}, exact={self.exact}, "
            f"n_rows={self.n_rows}, seconds={self.seconds:.2f})"
        )


@validate_params(
    # n_components, solver, tol, max_iter, n_jobs, random_state: the embedding's
    {"joint": _JOINT} | TRIPLET_PARAMETERS,
    prefer_skip_nested_validation=True,
)
def top_singular_functions(
    joint: MatrixLike,
    n_components: int,
    *,
    solver: Solver = "auto",
    tol: float = 1e-6,
    max_iter: int | None = None,
    n_jobs: int | None = None,
    random_state: RandomStateLike = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Top singular values and singular functions of a context's expectation operator.

    For the joint P+(x, a) the operator (T g)(x) = E[g(A) | x] has singular
    values 1 = s_0 >= s_1 >= ... with singular functions mu_i on the samples
    and nu_i on the atoms; this returns s_1..s_d, mu_1..mu_d and nu_1..nu_d,
    the trivial pair excluded, as :class:`~skcontexture.ContextureEmbedding`
    computes them (its ``singular_values_`` and ``atom_functions_``; its
    ``embedding_`` is the Nyström extension of nu, which equals mu on the fit
    rows).

    Parameters
    ----------
    joint : sparse matrix of shape (n_samples, n_atoms)
        A fitted context's ``joint_`` (nonnegative; any positive total).
    n_components : int
        d. When the operator has fewer nonzero singular values besides the
        trivial one (at most ``min(n, m) - 1`` for the n samples and m atoms
        with mass), a UserWarning says so and the ones that exist are returned.
    solver : {"auto", "dense", "arpack", "lobpcg", "chebyshev"}, default="auto"
        As ``ContextureEmbedding``'s: "dense" eigendecomposes the Gram matrix
        of the short side (up to 5,000); "auto" uses it up to a short side of
        ``max(1000, 4 d)``, "chebyshev" above.
    tol : float, default=1e-6
        Residual of every singular triplet; a ConvergenceWarning is raised
        when the solver stops far from it.
    max_iter : int, default=None
        Iteration cap of the iterative solvers (None: the solver's default).
    n_jobs : int, default=None
        Threads of the sparse products; None means 1. The result does not
        depend on it.
    random_state : int, RandomState instance or None, default=None
        Seed of the starting vectors.

    Returns
    -------
    singular_values : ndarray of shape (d,)
        s_1 >= ... >= s_d (d = n_components, or fewer as above).
    sample_functions : ndarray of shape (n_samples, d)
        mu_1..mu_d on the samples: mean 0, unit second moment and orthogonal
        under p_X (zero on samples without mass).
    atom_functions : ndarray of shape (n_atoms, d)
        nu_1..nu_d on the atoms, the same under p_A (zero on atoms without mass).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skcontexture import ContextureEmbedding, KNNContext
    >>> from skcontexture.linalg import top_singular_functions
    >>> X = load_digits().data[:500]
    >>> joint = KNNContext(10).fit(X).joint_
    >>> s, mu, nu = top_singular_functions(joint, 3)
    >>> mu.shape, nu.shape
    ((500, 3), (500, 3))
    >>> emb = ContextureEmbedding(KNNContext(10), n_components=3).fit(X)
    >>> bool(np.allclose(s, emb.singular_values_))
    True
    """
    operator = ContextOperator(joint, n_jobs=n_jobs)
    s, U, V, _ = top_singular_triplets(operator, n_components, solver=solver, tol=tol,
                                       max_iter=max_iter, random_state=random_state)
    return s, operator.sample_functions(U), operator.atom_functions(V)


@validate_params(
    {
        "joint": _JOINT,
        "max_dim": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions(set(VALUE_SOLVERS))],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "oversampling": [Interval(Integral, 0, None, closed="left"), None],
        "stopping_rule": [callable, None],
        "random_state": ["random_state"],
        "log": [callable, None],
    },
    prefer_skip_nested_validation=True,
)
def context_spectrum(
    joint: MatrixLike,
    max_dim: int = 512,
    *,
    solver: ValueSolver = "auto",
    tol: float = 2e-3,
    max_iter: int = 12,
    oversampling: int | None = None,
    stopping_rule: Callable[[FloatArray], float] | None = None,
    random_state: RandomStateLike = None,
    log: Callable[[str], object] | None = None,
) -> Spectrum:
    """Top singular values s_1 .. s_k of a context's operator, k = min(max_dim, rank bound).

    Parameters
    ----------
    joint : sparse matrix of shape (n_samples, n_atoms)
        The fitted context's ``joint_`` (nonnegative; any positive total).
    max_dim : int, default=512
        d0: how many singular values to return (at most ``min(n, m) - 1`` of the
        operator restricted to rows and atoms with mass).
    solver : {"auto", "dense", "randomized"}, default="auto"
        "dense": the top eigenvalues of the Gram matrix of the short side
        (exact; up to a short side of ``DENSE_MAX_SIDE``). "randomized":
        randomized block Krylov on the Gram operator, stopped by
        ``stopping_rule`` (below); never over-estimates. "auto" is exact
        ("dense") up to a short side of ``max(1000, 4 max_dim)`` and
        "randomized" above.
    tol : float, default=2e-3
        Randomized solver: stop when ``stopping_rule`` of the Ritz values
        changes by less than this, relative, after adding a Krylov block.
    max_iter : int, default=12
        Randomized solver: largest number of blocks added after the Krylov space
        first reaches ``k + oversampling`` columns.
    oversampling : int, default=None
        Randomized solver: extra columns beyond k; None means ``max(64, k // 2)``.
    stopping_rule : callable, default=None
        Randomized solver: a function of the current values s_1..s_k (an
        ndarray) returning a number, the quantity that must settle; None means
        their sum. :class:`~skcontexture.ContextScorer` passes tau.
    random_state : int, RandomState instance or None, default=None
        Seed of the randomized solver's starting block.
    log : callable, default=None
        Randomized solver: called with one line of text per round (the Krylov
        columns, the value of ``stopping_rule`` and its relative change), for
        progress reports such as ``print``; None means silent.

    Returns
    -------
    spectrum : Spectrum
        ``spectrum.values`` holds s_1 .. s_k (zeros included: a rank-deficient
        context is not an error here).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skcontexture import KNNContext
    >>> from skcontexture.linalg import context_spectrum
    >>> joint = KNNContext(10).fit(load_digits().data).joint_
    >>> exact = context_spectrum(joint, 64, solver="dense")
    >>> approx = context_spectrum(joint, 64, solver="randomized", random_state=0)
    >>> exact.solver, approx.solver
    ('dense', 'randomized')
    >>> bool(abs(approx.values[0] - exact.values[0]) < 1e-6)
    True
    """
    start = time.perf_counter()
    return operator_spectrum(ContextOperator(joint), max_dim, solver=solver, tol=tol,
                             max_iter=max_iter, oversampling=oversampling,
                             stopping_rule=stopping_rule, random_state=random_state, log=log,
                             start=start)


def operator_spectrum(op, max_dim, *, solver="auto", tol=2e-3, max_iter=12, oversampling=None,
                      stopping_rule=None, random_state=None, log=None, start=None):
    """:func:`context_spectrum` of a joint's :class:`~skcontexture._operator.ContextOperator`,
    already built (the main job's selection computes a context's spectrum and its triplets
    from one operator); ``start``: when the timing began (None: now)."""
    start = time.perf_counter() if start is None else start
    short = min(op.shape)
    k = min(int(max_dim), short - 1)
    if k < 1:
        raise ValueError(
            f"The context operator is {op.shape[0]} x {op.shape[1]} (rows x atoms with mass): "
            "it has no singular value besides the trivial one."
        )
    values, solver, n_iter = top_singular_values(
        op, k, solver=solver, tol=tol, max_iter=max_iter, oversampling=oversampling,
        stopping_rule=stopping_rule, random_state=random_state, log=log)
    exact = solver == "dense" or k >= short - 1
    return Spectrum(values, solver, exact, op.shape[0], time.perf_counter() - start, n_iter)


@validate_params(
    {
        "context": [Implements(["fit"])],
        "X": ["array-like", "sparse matrix"],
        "max_dim": [Interval(Integral, 1, None, closed="left")],
        "n_subsample": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,
)
def subsample_spectrum(
    context: BaseContext,
    X: MatrixLike,
    max_dim: int = 512,
    *,
    n_subsample: int | None = None,
    random_state: RandomStateLike = None,
) -> Spectrum:
    """Spectrum of a context refitted on a random subsample of X (for comparison).

    A clone of ``context`` is fitted on ``n_subsample`` rows of X (default:
    ``ceil(2 d0 log d0)``) and its exact spectrum computed. Integer neighbour
    counts (``n_neighbors``) are rescaled by ``n_subsample / n`` so a kNN context
    keeps the mass of its neighbourhoods; other parameters (e.g. ``gamma``) are
    kept. This estimates the population spectrum of contexts defined
    independently of the sample; for sample-defined contexts (kNN) it is a
    different context, which the accuracy table in ``docs/context_selection.md``
    quantifies.

    Parameters
    ----------
    context : context estimator
        Fitted or not; only its parameters are used.
    X : array-like of shape (n_samples, n_features)
        The data the context was (or would be) fitted on.
    max_dim : int, default=512
        d0.
    n_subsample : int, default=None
        Rows of the subsample (at most n_samples).
    random_state : int, RandomState instance or None, default=None
        Seed of the subsample.

    Returns
    -------
    spectrum : Spectrum
        With ``solver="subsample"`` and ``exact=False``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skcontexture import KNNContext
    >>> from skcontexture.linalg import subsample_spectrum
    >>> X = load_digits().data
    >>> subsample_spectrum(KNNContext(20), X, 32, n_subsample=600, random_state=0).values.shape
    (32,)
    """
    start = time.perf_counter()
    X = check_array(X, accept_sparse="csr", input_name="X")
    n = X.shape[0]
    if n_subsample is None:
        n_subsample = math.ceil(2 * max_dim * math.log(max(max_dim, 2)))
    n_subsample = min(int(n_subsample), n)
    rng = check_random_state(random_state)
    rows = np.sort(rng.choice(n, n_subsample, replace=False))
    sub = clone(context)
    params = sub.get_params(deep=False)
    if isinstance(params.get("n_neighbors"), numbers.Integral) and n_subsample < n:
        sub.set_params(n_neighbors=max(1, round(params["n_neighbors"] * n_subsample / n)))
    Xs = X[rows] if not sp.issparse(X) else X.tocsr()[rows]
    sub.fit(Xs)
    spectrum = context_spectrum(sub.joint_, max_dim, solver="auto")
    spectrum.solver = "subsample"
    spectrum.exact = False
    spectrum.seconds = time.perf_counter() - start
    return spectrum
