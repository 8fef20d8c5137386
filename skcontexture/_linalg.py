"""Top singular triplets of a deflated context operator.

Every solver works on a :class:`~skcontexture._operator.ContextOperator`
through its products ``matmat``/``rmatmat`` (the dense solver through its Gram
matrix, allowed up to a short side of ``DENSE_MAX_SIDE``), returns the triplets
in descending order with a deterministic sign, and is checked afterwards by the
residuals of the singular-value equations, so the accuracy it reports is the
one it has.
"""

import warnings

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, svds
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ._kernels import column_dots, cross_product, rotate

#: Largest short side for which the "dense" solver forms the Gram matrix of
#: the short side (DENSE_MAX_SIDE**2 * 8 bytes: 200 MB).
DENSE_MAX_SIDE = 5_000
#: "auto" uses the dense solver up to this short side.
AUTO_DENSE_SIDE = 1_000

SOLVERS = ("auto", "dense", "arpack", "lobpcg", "chebyshev")

#: Singular values at or below this are zero: the rounding floor of the dense
#: solver's Gram eigenvalues (~1e-16) is 1e-8 here, and the Nystrom extension
#: divides by the singular values.
RANK_FLOOR = 1e-7
#: Highest degree of one Chebyshev filter (between two Rayleigh-Ritz steps).
MAX_DEGREE = 40
#: From this short side on, "chebyshev" filters in single precision until the
#: residuals reach max(tol, SINGLE_TOL) (float32 stalls near 5e-6 at 100,000
#: points), then polishes in double precision: the block products move half
#: the bytes (measured 1.6x faster at 100,000 points).
SINGLE_MIN_SIDE = 20_000
SINGLE_TOL = 2e-5


def top_singular_triplets(
    operator, k, *, solver="auto", tol=1e-10, max_iter=None, random_state=None
):
    """Top-k singular triplets of the deflated operator.

    Parameters
    ----------
    operator : ContextOperator
        The deflated operator (shape n x m).
    k : int
        Number of triplets, ``1 <= k <= min(n, m) - 1``.
    solver : {"auto", "dense", "arpack", "lobpcg", "chebyshev"}
        "dense" eigendecomposes the Gram matrix of the short side
        (``ContextOperator.gram``, allowed up to a short side of 5,000);
        "arpack" and "lobpcg" are scipy's ``svds``; "chebyshev" is
        Chebyshev-filtered block subspace iteration on the Gram matrix.
        "auto" picks "dense" up to a short side of 1,000, else "chebyshev".
    tol : float
        Requested accuracy: the residual of each triplet,
        ``max(||A v - s u||, ||A^T u - s v||)``, with ||A|| <= 1.
    max_iter : int or None
        Iteration cap of the iterative solvers (None: the solver's default).
    random_state : int, RandomState instance or None
        Seed of the starting vectors.

    Returns
    -------
    s : ndarray of shape (k,)
        Singular values, descending.
    U : ndarray of shape (n, k)
    V : ndarray of shape (m, k)
    n_products : int
        Number of products with the operator or its transpose (a block
        product counts once).
    """
    n, m = operator.shape
    short = min(n, m)
    if solver == "auto":
        solver = "dense" if short <= max(AUTO_DENSE_SIDE, 4 * k) else "chebyshev"
    if solver == "dense" and short > DENSE_MAX_SIDE:
        raise ValueError(
            f"solver='dense' forms a {short} x {short} Gram matrix, allowed up to "
            f"{DENSE_MAX_SIDE}; use solver='chebyshev', 'arpack' or 'lobpcg'."
        )
    rng = check_random_state(random_state)
    counted = _CountingOperator(operator)
    s, U, V = _SOLVERS[solver](counted, k, tol, max_iter, rng)
    order = np.argsort(-s, kind="stable")
    s, U, V = s[order], U[:, order], V[:, order]
    _check_residuals(operator, s, U, V, tol, solver)
    U, V = _flip_signs(U, V)
    return s, U, V, counted.n_products


class _CountingOperator:
    """Wrap an operator and count its products."""

    def __init__(self, operator):
        self.operator = operator
        self.shape = operator.shape
        self.n_products = 0

    def matmat(self, V):
        self.n_products += 1
        return self.operator.matmat(V)

    def rmatmat(self, U):
        self.n_products += 1
        return self.operator.rmatmat(U)

    def gram_matmat(self, X, **kwargs):
        self.n_products += 2
        return self.operator.gram_matmat(X, **kwargs)

    def as_linear_operator(self):
        return LinearOperator(
            self.shape,
            matvec=self.matmat,
            rmatvec=self.rmatmat,
            matmat=self.matmat,
            rmatmat=self.rmatmat,
            dtype=np.float64,
        )


def _dense(op, k, tol, max_iter, rng):
    gram = op.operator.gram()
    size = gram.shape[0]
    values, vectors = scipy.linalg.eigh(gram, subset_by_index=(size - k, size - 1))
    s = np.sqrt(np.clip(values, 0, None))
    _check_rank(s)
    n, m = op.shape
    if m <= n:
        return s, op.matmat(vectors) / s, vectors
    return s, vectors, op.rmatmat(vectors) / s


def _arpack(op, k, tol, max_iter, rng):
    v0 = rng.uniform(-1, 1, min(op.shape))
    try:
        U, s, Vt = svds(
            op.as_linear_operator(), k=k, tol=tol, maxiter=max_iter, v0=v0, solver="arpack"
        )
    except ArpackNoConvergence as exc:
        raise RuntimeError(
            f"ARPACK did not converge within max_iter={max_iter}; increase max_iter, "
            "loosen tol, or use solver='chebyshev'."
        ) from exc
    _check_rank(s)
    return s, U, Vt.T


def _lobpcg(op, k, tol, max_iter, rng):
    with warnings.catch_warnings():
        # Non-convergence is reported by the residual check, with advice.
        warnings.filterwarnings("ignore", message="Exited", category=UserWarning)
        U, s, Vt = svds(
            op.as_linear_operator(),
            k=k,
            tol=np.sqrt(tol),  # svds asks LOBPCG for tol**2 on the Gram matrix
            maxiter=max_iter if max_iter is not None else 2000,
            solver="lobpcg",
            random_state=rng,
        )
    _check_rank(s)
    return s, U, Vt.T


def _chebyshev(op, k, tol, max_iter, rng):
    """Chebyshev-filtered block subspace iteration on the Gram of the short side.

    G = D^T D (or D D^T) has its spectrum in [0, 1]. A block of b = max(2k,
    k + 16) vectors is filtered by the scaled Chebyshev polynomial that is
    small on [0, theta_b] (theta_b the block's smallest Ritz value) and grows
    fast above it, then Rayleigh-Ritz is applied; the degree of each filter is
    chosen to bring the slowest wanted residual to tol. From a short side of
    SINGLE_MIN_SIDE on, the filtering runs on float32 blocks until the
    residuals reach max(tol, SINGLE_TOL), then in float64. Every filter step
    is one fused Gram product (``ContextOperator.gram_matmat``); the
    tall-skinny BLAS products run on the operator's ``n_jobs`` threads over
    fixed row chunks, so the result is bit-identical for any ``n_jobs``.
    """
    n, m = op.shape
    size = min(n, m)
    block = min(max(2 * k, k + 16), size)
    max_iter = 100 if max_iter is None else max_iter
    single = size >= SINGLE_MIN_SIDE
    with threadpool_limits(limits=1, user_api="blas"):
        X = rng.uniform(-1.0, 1.0, (size, block)).astype(np.float32 if single else np.float64)
        spare = [np.empty_like(X), np.empty_like(X)]
        # The Ritz values of a random block all lie near the mean eigenvalue of G:
        # a short first filter from there replaces a Rayleigh-Ritz step.
        mean = op.operator.gram_trace() / size
        X, spare = _chebyshev_filter(op, X, op.gram_matmat(X), mean, 8, spare)
        Y = op.gram_matmat(X)
        worst, rotate_block = np.inf, True
        for n_round in range(max_iter):
            if rotate_block:
                theta, X, Y, spare = _rayleigh_ritz(op, X, Y, spare)
            else:  # fresh from single precision: Ritz vectors already
                theta = column_dots(X, Y) / column_dots(X, X)
            rotate_block = True
            residual = np.linalg.norm(Y[:, :k] - X[:, :k] * theta[:k], axis=0)
            single = X.dtype == np.float32
            target = max(tol, SINGLE_TOL) if single else tol
            reached = np.all(residual <= target * np.sqrt(np.maximum(theta[:k], 0.0)))
            stalled = residual.max() > 0.5 * worst  # rounding floor of float32
            worst = residual.max()
            if single and (reached or stalled or n_round >= max_iter - 2):
                # Polish in double precision from the single-precision Ritz vectors.
                X = X.astype(np.float64)
                spare = [np.empty_like(X), np.empty_like(X)]
                Y = op.gram_matmat(X)
                rotate_block = reached  # a final Rayleigh-Ritz step in double only
                continue
            if reached or theta[k - 1] <= RANK_FLOOR**2 or n_round == max_iter - 1:
                break
            theta_k, cutoff = theta[k - 1], theta[-1]
            # Early (single-precision) rounds under-predict the rate: aim 10x past target.
            margin = 10.0 if single else 2.0
            degree = _filter_degree(
                theta_k, cutoff, margin * residual.max() / target / np.sqrt(theta_k)
            )
            X, spare = _chebyshev_filter(op, X, Y, cutoff, degree, spare)
            Y = op.gram_matmat(X, out=Y)
    s = np.sqrt(np.clip(theta[:k], 0.0, None))
    _check_rank(s)
    X = X[:, :k]
    if m <= n:
        return s, op.matmat(X) / s, X
    return s, X, op.rmatmat(X) / s


def _rayleigh_ritz(op, X, Y, spare):
    """Ritz pairs of G on span(X), given Y = G X; descending.

    Returns the Ritz values, the Ritz vectors and G times them (written into
    ``spare[0]`` and ``Y``), and the blocks now free.
    """
    threads = op.operator.n_threads
    try:
        theta, Z = scipy.linalg.eigh(
            _symmetric(cross_product(X, Y, threads)), _symmetric(cross_product(X, X, threads))
        )
    except scipy.linalg.LinAlgError:  # the block lost rank: orthonormalize it
        X = scipy.linalg.qr(X, mode="economic")[0]
        Y = op.gram_matmat(X, out=Y)
        theta, Z = scipy.linalg.eigh(_symmetric(cross_product(X, Y, threads)))
    Z = np.ascontiguousarray(Z[:, ::-1], dtype=X.dtype)
    rotated = rotate(X, Z, spare[0], threads)
    Y = op.gram_matmat(rotated, out=Y)
    # Rayleigh quotients of the rotated vectors (exact even if X^T X drifted from I)
    theta = column_dots(rotated, Y) / column_dots(rotated, rotated)
    return theta, rotated, Y, [X, spare[1]]


def _symmetric(A):
    return (A + A.T).astype(np.float64) / 2


def _filter_degree(theta_k, cutoff, reduction):
    """Degree whose filter shrinks the residual at theta_k by ``reduction`` when
    the unwanted spectrum ends at ``cutoff``."""
    x = 2 * theta_k / max(cutoff, 1e-300) - 1
    if x <= 1.0 or not np.isfinite(x):
        return MAX_DEGREE
    degree = np.arccosh(max(reduction, 1.0)) / np.arccosh(x)
    return int(np.clip(np.ceil(degree), 4, MAX_DEGREE))


def _chebyshev_filter(op, X, Y, cutoff, degree, spare):
    """Apply the scaled Chebyshev polynomial small on [0, cutoff], 1 at 1.

    Three-term recurrence (Zhou & Saad 2007) with Y = G X given; returns the
    filtered block and the two blocks free for reuse.
    """
    half = centre = max(cutoff, 1e-12) / 2
    sigma = half / (1.0 - centre)
    previous, current, free = X, spare[0], spare[1]
    np.multiply(centre, X, out=current)
    np.subtract(Y, current, out=current)
    current *= sigma / half
    s_previous = sigma
    for _ in range(degree - 1):
        s_next = 1.0 / (2.0 / sigma - s_previous)
        op.gram_matmat(current, scale=2 * s_next / half, shift=centre, previous=previous,
                       weight=-s_previous * s_next, out=free)
        previous, current, free = current, free, previous
        s_previous = s_next
    return current, [previous, free]


_SOLVERS = {
    "dense": _dense,
    "arpack": _arpack,
    "lobpcg": _lobpcg,
    "chebyshev": _chebyshev,
}


def _check_rank(s):
    if s.min() <= RANK_FLOOR:
        rank = int(np.sum(s > RANK_FLOOR))
        raise ValueError(
            f"The context operator has only {rank} nonzero singular value(s) besides "
            f"the trivial one, fewer than the {len(s)} requested; lower n_components "
            "or use a stronger context (for example fewer neighbours)."
        )


def _check_residuals(op, s, U, V, tol, solver):
    residual = max(
        np.linalg.norm(op.matmat(V) - U * s, axis=0).max(),
        np.linalg.norm(op.rmatmat(U) - V * s, axis=0).max(),
    )
    if residual > max(1e3 * tol, 1e-8):
        warnings.warn(
            f"The {solver!r} solver stopped with a singular-triplet residual of "
            f"{residual:.1e} (requested tol={tol:g}): the embedding is inaccurate. "
            "Increase max_iter, or use solver='arpack' (or 'dense' on small data).",
            ConvergenceWarning,
            stacklevel=3,
        )


def _flip_signs(U, V):
    """Make the largest-magnitude entry of every right vector positive."""
    rows = np.argmax(np.abs(V), axis=0)
    signs = np.sign(V[rows, np.arange(V.shape[1])])
    signs[signs == 0] = 1
    return U * signs, V * signs
