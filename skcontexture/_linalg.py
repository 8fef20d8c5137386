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

#: Largest short side for which the "dense" solver forms the Gram matrix of
#: the short side (DENSE_MAX_SIDE**2 * 8 bytes: 200 MB).
DENSE_MAX_SIDE = 5_000
#: "auto" uses the dense solver up to this short side.
AUTO_DENSE_SIDE = 1_000

SOLVERS = ("auto", "dense", "arpack", "lobpcg", "randomized")


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
    solver : {"auto", "dense", "arpack", "lobpcg", "randomized"}
        "dense" eigendecomposes the Gram matrix of the short side
        (``ContextOperator.gram``, allowed up to a short side of 5,000);
        "arpack" and "lobpcg" are scipy's ``svds``; "randomized" is block
        subspace iteration with Rayleigh-Ritz and a residual stopping rule.
        "auto" picks "dense" up to a short side of 1,000, else "arpack".
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
        solver = "dense" if short <= max(AUTO_DENSE_SIDE, 4 * k) else "arpack"
    if solver == "dense" and short > DENSE_MAX_SIDE:
        raise ValueError(
            f"solver='dense' forms a {short} x {short} Gram matrix, allowed up to "
            f"{DENSE_MAX_SIDE}; use solver='arpack', 'lobpcg' or 'randomized'."
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
            "loosen tol, or use solver='lobpcg' or 'randomized'."
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


def _randomized(op, k, tol, max_iter, rng):
    n, m = op.shape
    block = min(k + max(10, k), min(n, m) - 1)
    max_iter = 1000 if max_iter is None else max_iter
    Z = op.rmatmat(op.matmat(rng.standard_normal((m, block))))
    for _ in range(max_iter):
        basis, _ = scipy.linalg.qr(Z, mode="economic")
        Y = op.matmat(basis)
        Ub, s, Wt = scipy.linalg.svd(Y, full_matrices=False)
        V = basis @ Wt.T
        Z = op.rmatmat(Ub)
        residual = np.linalg.norm(Z[:, :k] - V[:, :k] * s[:k], axis=0)
        if residual.max() <= tol:
            break
    _check_rank(s[:k])
    return s[:k], Ub[:, :k], V[:, :k]


_SOLVERS = {
    "dense": _dense,
    "arpack": _arpack,
    "lobpcg": _lobpcg,
    "randomized": _randomized,
}


def _check_rank(s):
    if s.min() <= 1e-12:
        rank = int(np.sum(s > 1e-12))
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
