"""The spectrum of a context up to d0: the input of tau and the other spectrum metrics.

tau needs s_1 .. s_d0 with d0 = ``max_dim`` (512 in the paper), far more than the
``n_components`` an embedding keeps. Only the singular *values* are needed, so
:func:`context_spectrum` computes them without the singular vectors:

* ``method="dense"`` (exact): the Gram matrix of the short side of the deflated
  operator (``ContextOperator.gram``) and ``scipy.linalg.eigvalsh`` restricted to the top d0
  eigenvalues. Allowed up to a short side of ``DENSE_MAX_SIDE`` (5,000).
* ``method="randomized"`` (near-exact, large n): randomized block Krylov (block
  Lanczos with full reorthogonalisation; Musco & Musco 2015) on the deflated Gram
  operator of the short side, with Rayleigh-Ritz. The Krylov space is grown to
  ``d0 + oversampling`` columns, then one block at a time until tau computed from
  the Ritz values changes by less than ``tol`` (relative), or ``max_iter`` more
  blocks. Singular values are never over-estimated (Ritz values of a symmetric
  PSD operator); the top ones converge first, which is where tau_d usually
  attains its minimum. Runs on one BLAS thread (see ``context_spectrum``).
* ``method="auto"``: "dense" up to a short side of ``AUTO_DENSE_SIDE``, else
  "randomized".

Why not a subsample? The paper's guidance (Theta(d0 log d0) samples suffice to
estimate the top-d0 eigenvalues) concerns a context defined independently of the
sample, e.g. an RBF kernel with a fixed width. The kNN context is defined by the
sample: K neighbours among n points is a ball of mass K / n, so a kNN context
refitted on m < n points is a *weaker* context unless K is rescaled to K m / n
(an integer, so the context changes anyway at small K), and restricting the
joint to a subsample of rows and atoms (``joint[S][:, S]``) is a different,
sparser context again. :func:`subsample_spectrum` implements the sound version
(refit a clone of the context on a random subsample of X, with neighbour counts
rescaled) for comparison; ``docs/context_selection.md`` reports the measured
accuracy and cost of both. The exact/randomized route is the default because it
is exact (or within 1% on tau) for every context at a cost that stays under a
minute at n = 20,000 with d0 = 512.
"""

import math
import numbers
import time

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ._linalg import DENSE_MAX_SIDE, top_eigh
from ._operator import ContextOperator

#: ``method="auto"`` uses the exact dense method up to this short side (above it the
#: randomized method is faster: measured 1.6 s vs 18 s at n = 5,000, kNN K=20).
AUTO_DENSE_SIDE = 1_500

METHODS = ("auto", "dense", "randomized")


class Spectrum:
    """Singular values s_1 >= ... >= s_k of a context (trivial s_0 = 1 excluded).

    Attributes
    ----------
    values : ndarray of shape (k,)
        The singular values, descending, in [0, 1].
    method : str
        "dense", "randomized" or "subsample".
    exact : bool
        Whether ``values`` are exact to round-off.
    n_rows : int
        Rows of the operator the values come from.
    seconds : float
        Wall time of the computation.
    n_iter : int
        Krylov blocks added by the randomized method after reaching k + oversampling
        columns (0 otherwise).
    """

    def __init__(self, values, method, exact, n_rows, seconds, n_iter=0):
        self.values = values
        self.method = method
        self.exact = exact
        self.n_rows = n_rows
        self.seconds = seconds
        self.n_iter = n_iter

    def __repr__(self):
        return (
            f"Spectrum(k={self.values.size}, method={self.method!r}, exact={self.exact}, "
            f"n_rows={self.n_rows}, seconds={self.seconds:.2f})"
        )


def context_spectrum(
    joint,
    max_dim=512,
    *,
    method="auto",
    tol=2e-3,
    max_iter=12,
    oversampling=None,
    random_state=None,
):
    """Top singular values s_1 .. s_k of a context's operator, k = min(max_dim, rank bound).

    Parameters
    ----------
    joint : sparse matrix of shape (n_samples, n_atoms)
        The fitted context's ``joint_`` (nonnegative; any positive total).
    max_dim : int, default=512
        d0: how many singular values to return (at most ``min(n, m) - 1`` of the
        operator restricted to rows and atoms with mass).
    method : {"auto", "dense", "randomized"}, default="auto"
        See the module docstring. "auto" is exact ("dense") up to a short side of
        1,500 and "randomized" above.
    tol : float, default=2e-3
        Randomized method: stop when tau (beta=1) of the Ritz values changes by
        less than this, relative, after adding a Krylov block.
    max_iter : int, default=12
        Randomized method: largest number of blocks added after the Krylov space
        first reaches ``k + oversampling`` columns.
    oversampling : int, default=None
        Randomized method: extra columns beyond k; None means ``max(64, k // 2)``.
    random_state : int, RandomState instance or None, default=None
        Seed of the randomized method's starting block.

    Returns
    -------
    spectrum : Spectrum
        ``spectrum.values`` holds s_1 .. s_k (zeros included: a rank-deficient
        context is not an error here).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if isinstance(max_dim, bool) or not isinstance(max_dim, numbers.Integral) or max_dim < 1:
        raise ValueError(f"max_dim must be a positive integer, got {max_dim!r}.")
    start = time.perf_counter()
    op = ContextOperator(joint)
    short = min(op.shape)
    k = min(int(max_dim), short - 1)
    if k < 1:
        raise ValueError(
            f"The context operator is {op.shape[0]} x {op.shape[1]} (rows x atoms with mass): "
            "it has no singular value besides the trivial one."
        )
    if method == "auto":
        method = "dense" if short <= AUTO_DENSE_SIDE else "randomized"
    if method == "dense":
        if short > DENSE_MAX_SIDE:
            raise ValueError(
                f"method='dense' forms a {short} x {short} Gram matrix, allowed up to "
                f"{DENSE_MAX_SIDE}; use method='randomized'."
            )
        values = _dense_values(op, k)
        return Spectrum(values, "dense", True, op.shape[0], time.perf_counter() - start)
    # One BLAS thread: the products are on blocks of 32-128 columns, where threading
    # gains little on 2 cores and loses a lot when the cores are shared (measured).
    with threadpool_limits(limits=1, user_api="blas"):
        values, n_iter = _randomized_values(op, k, tol, max_iter, oversampling, random_state)
    exact = k >= short - 1
    return Spectrum(values, "randomized", exact, op.shape[0], time.perf_counter() - start, n_iter)


def _dense_values(op, k):
    values = top_eigh(op.gram(), k, vectors=False)
    return np.sqrt(np.clip(values[::-1], 0.0, 1.0))


def _small_eigh(A, vectors=True):
    """Symmetric eigendecomposition of a small matrix on one BLAS thread.

    Threaded LAPACK on matrices of a few hundred rows is slower than one thread,
    and much slower on a shared machine (measured: 10x on the 2-core machine
    under load), so the small dense problems run single-threaded.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        A = (A + A.T) / 2
        if vectors:
            return scipy.linalg.eigh(A)
        return scipy.linalg.eigvalsh(A)


def _orth_against(Y, basis):
    """Columns of Y made orthonormal and orthogonal to ``basis``; may drop dependent ones.

    Block Gram-Schmidt (two passes) followed by an eigendecomposition-based
    orthonormalisation of the small Gram matrix, done twice ("CholQR2" with a
    rank-revealing step): only matrix-matrix products on the tall block.
    """
    scale = None
    for _ in range(2):
        if basis is not None:
            Y = Y - basis @ (basis.T @ Y)
        gram = Y.T @ Y
        w, U = _small_eigh(gram)
        if scale is None:
            scale = max(float(w.max()), 0.0)
        keep = w > 1e-20 * max(scale, 1e-300) + 1e-300
        if not keep.any():
            return Y[:, :0]
        Y = Y @ (U[:, keep] / np.sqrt(w[keep]))
    return Y


def _randomized_values(op, k, tol, max_iter, oversampling, random_state):
    """Top-k singular values by randomized block Krylov (block Lanczos) with Rayleigh-Ritz.

    The Krylov space of the deflated Gram operator G of the short side is grown
    block by block (full reorthogonalisation); once it has ``k + oversampling``
    columns, the Ritz values (eigenvalues of V^T G V, lower bounds of the true
    s_i^2) are computed after every block and the loop stops when tau of them
    changes by less than ``tol`` (relative), or after ``max_iter`` more blocks.
    """
    from .metrics import tau as tau_metric

    n, m = op.shape
    short = min(n, m)
    p = max(64, k // 2) if oversampling is None else int(oversampling)
    target = min(k + p, short - 1)
    block = int(min(max(32, k // 4), target))
    fwd, bwd = (op.matmat, op.rmatmat) if m <= n else (op.rmatmat, op.matmat)
    rng = check_random_state(random_state)
    cap = min(target + block * (int(max_iter) + 1), short - 1) + block
    V = np.empty((short, cap))  # preallocated: growing by hstack copies the basis each block
    GV = np.empty((short, cap))
    T = np.empty((cap, cap))
    first = _orth_against(rng.standard_normal((short, block)), None)
    r = first.shape[1]
    V[:, :r] = first
    GV[:, :r] = bwd(fwd(first))
    T[:r, :r] = first.T @ GV[:, :r]
    last = slice(0, r)
    values, previous, extra = None, None, 0

    def ritz_values():
        ritz = _small_eigh(T[:r, :r], vectors=False)[::-1][:k]
        return np.sqrt(np.clip(ritz, 0.0, 1.0))

    while True:
        if r >= target:
            values = ritz_values()
            if values.size >= 2 and values[1] < 1.0 - 1e-10:
                current = tau_metric(values, max_dim=k)
            else:
                current = float(values.sum())
            done = previous is not None and abs(current - previous) <= tol * abs(current)
            if done or extra >= max_iter:
                break
            previous, extra = current, extra + 1
        new = _orth_against(GV[:, last], V[:, :r])
        width = min(new.shape[1], cap - r)
        if width == 0:  # invariant subspace (or no room left): the Ritz values are final
            values = ritz_values()
            break
        new = new[:, :width]
        G_new = bwd(fwd(new))
        T[:r, r : r + width] = V[:, :r].T @ G_new
        T[r : r + width, :r] = T[:r, r : r + width].T
        T[r : r + width, r : r + width] = new.T @ G_new
        V[:, r : r + width] = new
        GV[:, r : r + width] = G_new
        last = slice(r, r + width)
        r += width
    if values.size < k:
        values = np.concatenate([values, np.zeros(k - values.size)])
    return values, extra


def subsample_spectrum(context, X, max_dim=512, *, n_subsample=None, random_state=None):
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
    n_subsample : int, default=None
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    spectrum : Spectrum
    """
    start = time.perf_counter()
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
    spectrum = context_spectrum(sub.joint_, max_dim, method="auto")
    spectrum.method = "subsample"
    spectrum.exact = False
    spectrum.seconds = time.perf_counter() - start
    return spectrum
