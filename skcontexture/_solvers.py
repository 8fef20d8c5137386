"""The solvers: top singular triplets and top singular values of a deflated context operator.

Every solver works on an :class:`Operator` (a
:class:`~skcontexture._operator.ContextOperator`, or the distributed fit's
operator) through its products ``matmat``/``rmatmat``/``gram_matmat`` (the
dense solver through its Gram matrix, allowed up to a short side of
``DENSE_MAX_SIDE``) and returns a basis of the top-k short-side singular
subspace; the Chebyshev solver touches its tall blocks only through the
operator's :class:`BlockAlgebra` (:class:`NumpyBlocks` for in-memory blocks).
One shared Rayleigh-Ritz step turns the basis into k triplets (orthonormal,
orthogonal to the trivial vectors, descending, with a deterministic sign; the
nonzero ones only when fewer than k exist, with a warning), and one shared
check reports the rank, the residuals of the singular-value equations and a
spectrum clustered at 1, so the accuracy reported is the one reached.
Messages live in this module.

:func:`top_singular_triplets` is the one entry of the triplets, behind
:func:`skcontexture.linalg.top_singular_functions` and
``ContextureEmbedding``, which both validate their arguments with
:data:`TRIPLET_PARAMETERS`. The spectrum up to d0 (:func:`top_singular_values`,
behind :func:`skcontexture.linalg.context_spectrum`) needs values only:
"dense" takes them from the same Gram matrix, "randomized" is block Krylov on
the Gram operator. Both families share one "auto" rule and one dense limit
(:func:`choose_solver`). How the solvers work: docs/design.md, "Solvers".
"""

from __future__ import annotations

import warnings
import weakref
from contextlib import contextmanager
from numbers import Real
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackError, LinearOperator, svds
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._compat import Interval, StrOptions
from ._constraints import N_JOBS, blas_threads, count
from ._sparse_blocks import weighted_sum, column_dots, cross_product, rotate
from ._warn import warn

if TYPE_CHECKING:
    from ._typing import FloatArray


class BlockAlgebra(Protocol):
    """The block algebra of the block solvers: what they do with their tall blocks.

    The Chebyshev solver touches its tall blocks (short side x block size)
    only through an operator's ``gram_matmat`` and these methods, so an
    operator whose blocks live elsewhere (on the workers of a cluster)
    provides them for its own block type. ``out``, ``empty_like`` and
    ``spare`` let in-memory blocks reuse their buffers; every method returns
    its result, which callers must use. :class:`NumpyBlocks` documents each
    method.
    """

    def random(self, rng: np.random.RandomState, shape: tuple[int, int], dtype: Any) -> Any: ...
    def empty_like(self, X: Any) -> Any: ...
    def spare(self, X: Any) -> Any: ...
    def astype(self, X: Any, dtype: Any) -> Any: ...
    def affine(self, Y: Any, X: Any, shift: float, scale: float, out: Any = None) -> Any: ...
    def cross(self, X: Any, Y: Any) -> FloatArray: ...
    def rotate(self, X: Any, Z: FloatArray, out: Any = None) -> Any: ...
    def column_dots(self, X: Any, Y: Any) -> FloatArray: ...
    def residual_norms(self, X: Any, Y: Any, theta: FloatArray) -> FloatArray: ...
    def orthonormalize(self, X: Any) -> Any: ...
    def leading(self, X: Any, k: int) -> FloatArray: ...


class Operator(Protocol):
    """What the solvers read of a deflated operator D = Q - u0 v0^T of shape n x m.

    ``matmat``/``rmatmat`` apply D and D^T to in-memory blocks;
    ``gram_matmat`` applies the Gram operator of the short side (D^T D when
    m <= n, else D D^T) to a block of :attr:`blocks`, fused with the
    Chebyshev recurrence (``scale * (G X - shift * X) + weight * previous``,
    into ``out``); ``gram`` forms that Gram matrix (the dense solvers) and
    ``gram_trace`` is its trace, the sum of all s_i^2. ``u0`` and ``v0`` are
    the trivial singular vectors, ``n_threads`` the threads of the tall
    products. :class:`~skcontexture._operator.ContextOperator` documents each
    member.
    """

    @property
    def shape(self) -> tuple[int, int]: ...
    @property
    def u0(self) -> FloatArray: ...
    @property
    def v0(self) -> FloatArray: ...
    @property
    def n_threads(self) -> int: ...
    @property
    def blocks(self) -> BlockAlgebra: ...
    def matmat(self, V: FloatArray) -> FloatArray: ...
    def rmatmat(self, U: FloatArray) -> FloatArray: ...
    def gram_matmat(self, X: Any, *, scale: float = 1.0, shift: float = 0.0,
                    previous: Any = None, weight: float = 0.0, out: Any = None) -> Any: ...
    def gram(self) -> FloatArray: ...
    def gram_trace(self) -> float: ...
    def n_connected_components(self) -> int: ...


#: Largest short side (the fewer of the samples and the atoms with mass) for which
#: ``solver="dense"`` is accepted: its Gram matrix then takes 200 MB
#: (``DENSE_MAX_SIDE**2 * 8`` bytes). Above it, the iterative solvers ("chebyshev",
#: "arpack", "lobpcg"; "randomized" for the spectrum) are the only choice, and
#: "auto" never picks "dense" there.
DENSE_MAX_SIDE: int = 5_000
#: "auto" uses the dense solver up to this short side (or 4 k, where an
#: iterative block of 2 k vectors is half the space). Measured on kNN (K=15)
#: swiss rolls (benchmarks/results/solver_crossover.json, tol=1e-6, d <= 64):
#: at 1,000 rows dense takes 0.05-0.07 s, as fast as the iterative solvers
#: (faster for d >= 32); at 3,000 rows 1.0-1.3 s, 8-20x slower than
#: "chebyshev". The values alone (the spectrum up to d0, kNN K=20 on blobs,
#: one BLAS thread): 1,000 rows and d0 = 64, dense 0.14 s, randomized 0.09 s;
#: 2,000 rows and d0 = 512 (dense by the 4 k term), dense 2.0 s, randomized
#: 1.4 s, so dense stays exact at a similar cost; 5,000 rows and d0 = 512,
#: dense 18 s, randomized 1.6 s.
AUTO_DENSE_SIDE = 1_000

#: Solvers of the top singular triplets (the embedding).
SOLVERS = ("auto", "dense", "arpack", "lobpcg", "chebyshev")
#: Solvers of the top singular values (the spectrum up to d0).
VALUE_SOLVERS = ("auto", "dense", "randomized")
#: The parameters of a solve of the triplets, as ``ContextureEmbedding`` and
#: :func:`skcontexture.linalg.top_singular_functions` take them: one check (and
#: one error message) for both callers of :func:`top_singular_triplets`.
TRIPLET_PARAMETERS = {
    "n_components": [count(1)],
    "solver": [StrOptions(set(SOLVERS))],
    "tol": [Interval(Real, 0, None, closed="left")],
    "max_iter": [count(1), None],
    "n_jobs": N_JOBS,
    "random_state": ["random_state"],
}

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
#: A ConvergenceWarning is raised when a triplet residual exceeds
#: max(RESIDUAL_SLACK * tol, RESIDUAL_FLOOR); RESIDUAL_FLOOR is what every
#: solver but LOBPCG reaches in double precision, so tol=0 ("as accurate as
#: the solver can") warns only when the solver falls well short of round-off.
RESIDUAL_SLACK = 10.0
RESIDUAL_FLOOR = 1e-10
#: LOBPCG's accuracy floor on the Gram residual (it is asked for tol there).
LOBPCG_MIN_TOL = 1e-14
#: "chebyshev" stops after this many rounds without a 10% gain on its best
#: residual: round-off (tol=0), or a spectrum too clustered for the filter.
STALL_ROUNDS = 3
#: Residual scale of double-precision round-off (the filter aims no lower).
ROUND_OFF = 1e-15
#: Directions of a solver's basis whose Gram eigenvalue is below this
#: fraction of the largest are dependent (dropped before Rayleigh-Ritz).
INDEPENDENT = 1e-20
#: Top-k singular values within this of 1 on a connected graph: the operator
#: is nearly the identity on k directions (the context barely links the points).
CLUSTER_AT_ONE = 1e-6

_NO_FUNCTION_MESSAGE = (
    "The context operator has no nonzero singular value besides the trivial one "
    "(values at or below 1e-7 count as zero): every sample has the same distribution "
    "over the atoms, or a single sample or atom has mass, so there is no function to "
    "embed. A context that links every sample to every atom alike does this: a kNN "
    "context whose n_neighbors is the number of rows, a kernel so wide that it is "
    "constant, a label context with one class. Use a more local context."
)
_FEWER_MESSAGE = (
    "n_components={k} were requested, but the context operator has only {rank} "
    "nonzero singular value(s) besides the trivial one ({why}): the result has "
    "those {rank} component(s). Ask for n_components <= {rank} to silence this "
    "warning, or use a context with more structure."
)
_CONVERGENCE_MESSAGE = (
    "The {solver!r} solver stopped with a singular-triplet residual of {residual:.1e} "
    "(requested tol={tol:g}): the embedding is inaccurate. Increase max_iter, or use "
    "solver='arpack' (or 'dense' on small data)."
)
_CLUSTERED_MESSAGE = (
    "The top {k} singular values all equal 1 to within {gap:.1e} although the context "
    "graph is connected: the context operator is nearly the identity (each point "
    "barely sees the others), so its singular vectors are not determined and the "
    "solvers converge slowly. Use a wider context (for a kernel: a smaller gamma, "
    "more neighbours, or standardised features)."
)
_MISSED_MULTIPLE = (
    "The {solver!r} solver missed copies of the multiple singular value 1 (the context "
    "graph has {ones} connected components); the triplets are computed by "
    "solver={fallback!r} instead."
)
_ARPACK_FALLBACK = (
    "ARPACK failed ({error}); the triplets are computed by solver={fallback!r} "
    "instead. Increase max_iter or choose that solver directly."
)


def top_singular_triplets(
    operator: Operator,
    k: int,
    *,
    solver: str = "auto",
    tol: float = 1e-10,
    max_iter: int | None = None,
    random_state: Any = None,
    log: Callable[[str], object] | None = None,
    start: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, int]:
    """Top-k singular triplets of the deflated operator.

    Every solver returns a basis of its approximate top-k right (short-side)
    singular subspace; one shared step then makes it orthonormal and
    orthogonal to the trivial vector, extracts the triplets by Rayleigh-Ritz
    (so s, U and V are consistent), and checks them: rank, residuals and a
    spectrum clustered at 1. When the operator has fewer than k nonzero
    singular values (or ``min(n, m) - 1 < k``), the triplets that exist are
    returned with a UserWarning; with none at all it raises.

    Parameters
    ----------
    operator : Operator
        The deflated operator (shape n x m): a ContextOperator, or the
        distributed fit's.
    k : int
        Number of triplets requested (``n_components``, >= 1).
    solver : {"auto", "dense", "arpack", "lobpcg", "chebyshev"}
        "dense" eigendecomposes the Gram matrix of the short side
        (``ContextOperator.gram``, allowed up to a short side of 5,000);
        "arpack" and "lobpcg" are scipy's ``svds`` (an ARPACK failure falls
        back to the "auto" choice with a ConvergenceWarning); "chebyshev" is
        Chebyshev-filtered block subspace iteration on the Gram matrix.
        "auto" picks "dense" up to a short side of 1,000, else "chebyshev".
    tol : float
        Requested accuracy: the residual of each triplet,
        ``max(||A v - s u||, ||A^T u - s v||)``, with ||A|| <= 1. ``tol=0``
        asks for the accuracy the solver can reach: the iterative solvers
        run until their residuals stop decreasing (round-off), and a
        ConvergenceWarning is raised only above ``RESIDUAL_FLOOR``.
    max_iter : int or None
        Iteration cap of the iterative solvers (None: the solver's default).
    random_state : int, RandomState instance or None
        Seed of the starting vectors.
    log : callable or None
        Called with one line of text per round of an iterative solver
        (degree, residual, converged triplets) and once with the solver's
        summary; None: silent.
    start : ndarray of shape (short_side, j) or None
        A warm start for "chebyshev" (in-memory operators): vectors of the
        short side close to the wanted singular vectors (those of a nearby
        operator); their independent directions take the place of random
        vectors of its block. The other solvers ignore it.

    Returns
    -------
    s : ndarray of shape (r,)
        Singular values, descending: r = k, or the number of nonzero ones
        when fewer (values at or below ``RANK_FLOOR`` count as zero).
    U : ndarray of shape (n, r)
    V : ndarray of shape (m, r)
    n_products : int
        Number of products with the operator or its transpose (a block
        product counts once).

    Warns
    -----
    ConvergenceWarning
        When a residual exceeds ``max(RESIDUAL_SLACK * tol, RESIDUAL_FLOOR)``
        (the message gives the residual reached), or when ARPACK failed and
        another solver was used.
    UserWarning
        When the top-k singular values all equal 1 to within
        ``CLUSTER_AT_ONE`` on a connected graph, or when fewer than k are nonzero.

    Raises
    ------
    ValueError
        When no singular value besides the trivial one is nonzero.
    """
    n, m = operator.shape
    short = min(n, m)
    requested, k = k, min(k, short - 1)
    # sum of all s_i^2: below RANK_FLOOR^2 every singular value is zero
    if k < 1 or operator.gram_trace() <= RANK_FLOOR**2:
        raise ValueError(_NO_FUNCTION_MESSAGE)
    solver = choose_solver(solver, short, k)
    rng = check_random_state(random_state)
    counted = _CountingOperator(operator, log)
    X = _SOLVERS[solver](counted, k, tol, max_iter, rng, start)
    if X.shape != (short, k) or not np.all(np.isfinite(X)):
        raise RuntimeError(
            f"The {solver!r} solver returned a block of shape {X.shape} instead of "
            f"{(short, k)} (or non-finite values); use solver='dense' (short side up "
            "to 5,000) or 'chebyshev'."
        )
    s, U, V = _rayleigh_ritz_triplets(counted, X, solver)
    # c connected components give singular value 1 with multiplicity c - 1; a
    # one-vector Krylov solver can miss copies of a multiple value (each triplet
    # it returns is accurate, but they are not the top ones)
    ones = min(operator.n_connected_components() - 1, k)
    if solver in ("arpack", "lobpcg") and np.sum(s >= 1.0 - CLUSTER_AT_ONE) < ones:
        fallback = choose_solver("auto", short, k)
        warn(_MISSED_MULTIPLE.format(solver=solver, ones=ones + 1, fallback=fallback),
             ConvergenceWarning)
        X = _SOLVERS[fallback](counted, k, tol, max_iter, rng, start)
        s, U, V = _rayleigh_ritz_triplets(counted, X, fallback)
    if len(s) < requested:
        why = (f"{n} samples x {m} atoms with mass allow at most {short - 1}"
               if len(s) == short - 1 else "the others are zero")
        warn(_FEWER_MESSAGE.format(k=requested, rank=len(s), why=why), UserWarning)
    k = len(s)
    residual = _check_triplets(operator, s, U, V, tol, solver)
    counted.log(f"solver {solver!r}: {k} triplets of a {n} x {m} operator, "
                f"{counted.n_products} products, largest residual {residual:.1e}")
    V, U = flip_signs(V, U)
    return s, U, V, counted.n_products


def _silent(message):
    pass


def choose_solver(solver, short, k, *, iterative="chebyshev"):
    """The solver to run for k values or triplets of an operator with this short side.

    "auto" is "dense" up to a short side of ``max(AUTO_DENSE_SIDE, 4 k)``,
    else ``iterative`` ("chebyshev" for triplets, "randomized" for values);
    "dense" is refused above ``DENSE_MAX_SIDE``.
    """
    if solver == "auto":
        solver = "dense" if short <= max(AUTO_DENSE_SIDE, 4 * k) else iterative
    if solver == "dense" and short > DENSE_MAX_SIDE:
        others = (("randomized",) if iterative == "randomized"
                  else ("chebyshev", "arpack", "lobpcg"))
        raise ValueError(
            f"solver='dense' forms a {short} x {short} Gram matrix, allowed up to "
            f"{DENSE_MAX_SIDE}; use solver=" + " or ".join(map(repr, others)) + "."
        )
    return solver


class _CountingOperator:
    """Wrap an operator, count its products and carry the solve's progress log."""

    def __init__(self, operator, log=None):
        self.operator = operator
        self.shape = operator.shape
        self.n_products = 0
        self.log = log if log is not None else _silent

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


class NumpyBlocks:
    """The :class:`BlockAlgebra` of the block solvers on in-memory blocks (ndarrays).

    Parameters
    ----------
    n_threads : int
        Threads of the tall-skinny products (fixed row chunks, so the
        result does not depend on it).
    """

    def __init__(self, n_threads):
        self.n_threads = n_threads

    def random(self, rng, shape, dtype):
        """A block of uniform values in [-1, 1) drawn from ``rng``."""
        return rng.uniform(-1.0, 1.0, shape).astype(dtype)

    def empty_like(self, X):
        """A buffer for a block like X."""
        return np.empty_like(X)

    def spare(self, X):
        """X, no longer needed: its buffer, for reuse as an ``out`` (never read again)."""
        return X

    def astype(self, X, dtype):
        """A copy of X in ``dtype``."""
        return X.astype(dtype)

    def affine(self, Y, X, shift, scale, out=None):
        """``(Y - shift * X) * scale`` (into ``out``, which must not be X or Y)."""
        out = np.empty_like(X) if out is None else out
        np.multiply(shift, X, out=out)
        np.subtract(Y, out, out=out)
        out *= scale
        return out

    def cross(self, X, Y):
        """``X.T @ Y``, a small float array."""
        return cross_product(X, Y, self.n_threads)

    def rotate(self, X, Z, out=None):
        """``X @ Z`` for a small Z of X's dtype."""
        return rotate(X, Z, np.empty_like(X) if out is None else out, self.n_threads)

    def column_dots(self, X, Y):
        """``(X * Y).sum(axis=0)`` in float64."""
        return column_dots(X, Y)

    def residual_norms(self, X, Y, theta):
        """Column norms of ``Y[:, :k] - X[:, :k] * theta`` for the k values of theta."""
        k = len(theta)
        return np.linalg.norm(Y[:, :k] - X[:, :k] * theta, axis=0)

    def orthonormalize(self, X):
        """An orthonormal basis of span(X) with X's shape (QR)."""
        return scipy.linalg.qr(X, mode="economic")[0]

    def leading(self, X, k):
        """The first k columns of X, an in-memory array."""
        return X[:, :k]


def _dense(op, k, tol, max_iter, rng, start=None):
    with _dense_blas_threads(min(op.shape)):
        return gram_eigensystem(op.operator).top(k)[1]


def _dense_blas_threads(side):
    """One BLAS thread for a dense eigenproblem up to ``AUTO_DENSE_SIDE``, every thread above.

    On the small Grams the "auto" rule sends here, threads cost more than they gain (two
    cores: a whole fit of 800 / 1,000 rows took 0.05 / 0.08 s on one thread against 0.13 /
    0.17 s on two, after the neighbour search's own threads); at 3,000 rows two threads
    halve the time.
    """
    return blas_threads(1 if side <= AUTO_DENSE_SIDE else None)


def top_eigh(A, k, vectors=True):
    """Exactly the top-k eigenvalues (ascending) and, if asked, eigenvectors of a
    symmetric matrix (its :class:`SymmetricEigensystem`)."""
    return SymmetricEigensystem(A).top(k, vectors)


class SymmetricEigensystem:
    """Eigenvalues and top eigenvectors of a dense symmetric matrix, from one reduction.

    The matrix is reduced to tridiagonal form once (LAPACK ``sytrd``: the O(n^3) step
    every dense symmetric eigensolver takes, 2,000 rows: 0.27 s on one thread); then all
    eigenvalues cost O(n^2) (0.03 s) and the top k eigenvectors O(n^2 k)
    (bisection and inverse iteration on the tridiagonal matrix; ``ormqr`` back to the
    matrix's basis; k = 32: 0.03 s). The spectrum and the triplets of one operator
    (the main job asks for both) share the reduction: :func:`gram_eigensystem`. When
    the tridiagonal solver fails, returns fewer eigenpairs than asked for or non-finite
    ones (highly degenerate spectra), the full decomposition of the matrix is used instead.

    Parameters
    ----------
    A : ndarray of shape (n, n)
        Symmetric (only its lower triangle is read); kept, not modified.
    """

    def __init__(self, A):
        self.matrix = A
        n = A.shape[0]
        if n < 3:  # nothing to reduce
            self._reduced = None
            return
        sytrd, sytrd_lwork = scipy.linalg.get_lapack_funcs(("sytrd", "sytrd_lwork"), (A,))
        lwork = int(sytrd_lwork(n, lower=1)[0])
        reflectors, diagonal, off_diagonal, tau, info = sytrd(A, lower=1, lwork=lwork)
        self._reduced = None if info else (reflectors, diagonal, off_diagonal, tau)
        self._values = None

    def values(self):
        """All eigenvalues, ascending (computed once)."""
        if self._reduced is None:
            return scipy.linalg.eigh(self.matrix, eigvals_only=True)
        if self._values is None:
            _, diagonal, off_diagonal, _ = self._reduced
            values = scipy.linalg.eigh_tridiagonal(diagonal, off_diagonal, eigvals_only=True)
            if not np.isfinite(values).all():
                values = scipy.linalg.eigh(self.matrix, eigvals_only=True)
            self._values = values
        return self._values

    def top(self, k, vectors=True):
        """The top-k eigenvalues (ascending) and, if ``vectors``, their eigenvectors."""
        n = self.matrix.shape[0]
        if not vectors:
            return self.values()[n - k:]
        result = None
        if self._reduced is not None:
            reflectors, diagonal, off_diagonal, tau = self._reduced
            try:
                values, Z = scipy.linalg.eigh_tridiagonal(
                    diagonal, off_diagonal, select="i", select_range=(n - k, n - 1))
            except scipy.linalg.LinAlgError:
                values = None
            # a solver of the tridiagonal matrix can return NaN vectors when it splits into
            # blocks of equal eigenvalues (MRRR did on a kNN graph of isolated pairs): the
            # full decomposition then
            if values is not None and len(values) == k and np.isfinite(Z).all():
                # Q = H(1) ... H(n-1), the reflectors below the subdiagonal: a QR-type
                # product acting on rows 2..n
                ormqr = scipy.linalg.get_lapack_funcs("ormqr", (Z,))
                lwork = max(1, int(ormqr("L", "N", reflectors[1:, :n - 1], tau, Z[1:],
                                         lwork=-1)[1][0]))
                rotated, _, info = ormqr("L", "N", reflectors[1:, :n - 1], tau, Z[1:],
                                         lwork=lwork)
                if not info and np.isfinite(rotated).all():
                    Z[1:] = rotated
                    result = values, Z
        if result is None:
            values, basis = scipy.linalg.eigh(self.matrix, driver="evd")
            result = values[n - k:], basis[:, n - k:]
        return result


#: The eigensystem of each live operator's Gram matrix (:func:`gram_eigensystem`).
_GRAM_EIGENSYSTEMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def gram_eigensystem(operator):
    """The :class:`SymmetricEigensystem` of ``operator.gram()``, computed once per operator
    and kept while the operator lives: its spectrum (:func:`top_singular_values`) and its
    triplets (the "dense" solver) then share one reduction."""
    system = _GRAM_EIGENSYSTEMS.get(operator)
    if system is None:
        system = _GRAM_EIGENSYSTEMS[operator] = SymmetricEigensystem(operator.gram())
    return system


def _arpack(op, k, tol, max_iter, rng, start=None):
    v0 = rng.uniform(-1, 1, min(op.shape))
    try:
        with _scipy_warnings_ignored():
            U, _, Vt = svds(
                op.as_linear_operator(), k=k, tol=tol, maxiter=max_iter, v0=v0,
                solver="arpack",
            )
    except ArpackError as exc:  # ArpackNoConvergence included
        fallback = choose_solver("auto", min(op.shape), k)
        warn(_ARPACK_FALLBACK.format(error=exc, fallback=fallback), ConvergenceWarning)
        return _SOLVERS[fallback](op, k, tol, max_iter, rng, start)
    return _short_side(op, U, Vt.T)


def _lobpcg(op, k, tol, max_iter, rng, start=None):
    with _scipy_warnings_ignored():
        U, _, Vt = svds(
            op.as_linear_operator(),
            k=k,
            tol=np.sqrt(max(tol, LOBPCG_MIN_TOL)),  # svds asks LOBPCG for tol**2 on the Gram matrix
            maxiter=max_iter if max_iter is not None else 2000,
            solver="lobpcg",
            random_state=rng,
        )
    return _short_side(op, U, Vt.T)


@contextmanager
def _scipy_warnings_ignored():
    """Silence scipy's own remarks inside ``svds`` (LOBPCG's "problem size too
    small", "Exited at iteration ..."): the shared residual check reports what
    the user needs to know."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _short_side(op, U, V):
    """The singular vectors on the operator's short side (V when m <= n)."""
    n, m = op.shape
    return V if m <= n else U


def _chebyshev(op, k, tol, max_iter, rng, start=None):
    """Chebyshev-filtered block subspace iteration on the Gram of the short side.

    G = D^T D (or D D^T) has its spectrum in [0, 1]. A block of b = max(2k,
    k + 16) vectors is filtered by the scaled Chebyshev polynomial that is
    small on [0, theta_b] (theta_b the block's smallest Ritz value) and grows
    fast above it, then Rayleigh-Ritz is applied; the degree of each filter is
    chosen to bring the slowest wanted residual to tol. From a short side of
    SINGLE_MIN_SIDE on, the filtering runs on float32 blocks until the
    residuals reach max(tol, SINGLE_TOL), then in float64. It stops when the
    residuals reach tol, after STALL_ROUNDS rounds without progress (round-off
    for tol=0, or a cluster the filter cannot split), or at max_iter rounds,
    and returns the block's k leading Ritz vectors. Every filter step
    is one fused Gram product (``ContextOperator.gram_matmat``); the
    tall-skinny BLAS products run on the operator's ``n_jobs`` threads over
    fixed row chunks, so the result is bit-identical for any ``n_jobs``.
    """
    n, m = op.shape
    size = min(n, m)
    block = min(max(2 * k, k + 16), size)
    max_iter = 100 if max_iter is None else max_iter
    single = size >= SINGLE_MIN_SIDE
    blocks = op.operator.blocks
    with blas_threads(1):
        X = blocks.random(rng, (size, block), np.float32 if single else np.float64)
        spare = [blocks.empty_like(X), blocks.empty_like(X)]
        if start is not None:
            # the start's independent directions outside the trivial vector (which the
            # deflated operator annihilates) replace random columns
            trivial = op.operator.v0 if m <= n else op.operator.u0
            start = np.asarray(start, dtype=np.float64)
            start = orth_against(start - np.outer(trivial, trivial @ start), None)[:, :block]
            X[:, : start.shape[1]] = start
        # The Ritz values of a random block all lie near the mean eigenvalue of G:
        # a short first filter from there replaces a Rayleigh-Ritz step.
        mean = op.operator.gram_trace() / size
        X, spare = _chebyshev_filter(op, X, op.gram_matmat(X), mean, 8, spare)
        Y = op.gram_matmat(X)
        worst, best, idle, rotate_block = np.inf, np.inf, 0, True
        for n_round in range(max_iter):
            if rotate_block:
                theta, X, Y, spare = _rayleigh_ritz(op, X, Y, spare)
            else:  # fresh from single precision: Ritz vectors already
                theta = blocks.column_dots(X, Y) / blocks.column_dots(X, X)
            rotate_block = True
            residual = blocks.residual_norms(X, Y, theta[:k])
            single = X.dtype == np.float32
            target = max(tol, SINGLE_TOL) if single else tol
            converged = residual <= target * np.sqrt(np.maximum(theta[:k], 0.0))
            reached = np.all(converged)
            stalled = residual.max() > 0.5 * worst  # rounding floor of float32
            worst = residual.max()
            op.log(f"round {n_round + 1}: {int(np.sum(converged))}/{k} "
                   f"converged, largest residual {worst:.1e} (target {target:.0e}, "
                   f"{X.dtype.name}), {op.n_products} products")
            if single and (reached or stalled or n_round >= max_iter - 2):
                # Polish in double precision from the single-precision Ritz vectors.
                X = blocks.astype(X, np.float64)
                spare = [blocks.empty_like(X), blocks.empty_like(X)]
                Y = op.gram_matmat(X)
                rotate_block = reached  # a final Rayleigh-Ritz step in double only
                best, idle = np.inf, 0
                continue
            # A stall (round-off, or a spectrum too clustered for the filter):
            # STALL_ROUNDS rounds without a 10% gain on the best residual.
            best, idle = (worst, 0) if worst < 0.9 * best else (best, idle + 1)
            if (reached or idle >= STALL_ROUNDS or theta[k - 1] <= RANK_FLOOR**2
                    or n_round == max_iter - 1):
                break
            theta_k, cutoff = theta[k - 1], theta[-1]
            # Early (single-precision) rounds under-predict the rate: aim 10x past target.
            margin = 10.0 if single else 2.0
            degree = _filter_degree(
                theta_k, cutoff, margin * worst / max(target, ROUND_OFF) / np.sqrt(theta_k)
            )
            X, spare = _chebyshev_filter(op, X, Y, cutoff, degree, spare)
            Y = op.gram_matmat(X, out=Y)
    return blocks.leading(X, k)


def _rayleigh_ritz(op, X, Y, spare):
    """Ritz pairs of G on span(X), given Y = G X; descending.

    Returns the Ritz values, the Ritz vectors and G times them (written into
    ``spare[0]`` and ``Y``), and the blocks now free.
    """
    blocks = op.operator.blocks
    try:
        theta, Z = scipy.linalg.eigh(
            symmetric(blocks.cross(X, Y)), symmetric(blocks.cross(X, X))
        )
    except scipy.linalg.LinAlgError:  # the block lost rank: orthonormalize it
        X = blocks.orthonormalize(X)
        Y = op.gram_matmat(X, out=Y)
        theta, Z = scipy.linalg.eigh(symmetric(blocks.cross(X, Y)))
    Z = np.ascontiguousarray(Z[:, ::-1], dtype=X.dtype)
    rotated = blocks.rotate(X, Z, spare[0])
    Y = op.gram_matmat(rotated, out=blocks.spare(Y))
    # Rayleigh quotients of the rotated vectors (exact even if X^T X drifted from I)
    theta = blocks.column_dots(rotated, Y) / blocks.column_dots(rotated, rotated)
    order = np.argsort(-theta, kind="stable")
    if np.any(order != np.arange(order.size)):
        # a block filtered to near rank deficiency orders the eigenproblem's values
        # wrongly: the leading columns must hold the largest quotients
        permutation = np.eye(order.size, dtype=rotated.dtype)[:, order]
        theta, rotated, Y = theta[order], blocks.rotate(rotated, permutation), \
            blocks.rotate(Y, permutation)
    return theta, rotated, Y, [blocks.spare(X), spare[1]]


def symmetric(A):
    """(A + A^T) / 2 in float64: a symmetric matrix exactly, from one rounded to symmetry."""
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
    blocks = op.operator.blocks
    previous, free = X, spare[1]
    current = blocks.affine(Y, X, centre, sigma / half, out=spare[0])
    blocks.spare(Y)  # the caller's Y: free from here on
    s_previous = sigma
    for _ in range(degree - 1):
        s_next = 1.0 / (2.0 / sigma - s_previous)
        free = op.gram_matmat(current, scale=2 * s_next / half, shift=centre,
                              previous=previous, weight=-s_previous * s_next, out=free)
        previous, current, free = current, free, blocks.spare(previous)
        s_previous = s_next
    return current, [blocks.spare(previous), free]


_SOLVERS = {
    "dense": _dense,
    "arpack": _arpack,
    "lobpcg": _lobpcg,
    "chebyshev": _chebyshev,
}


def _rayleigh_ritz_triplets(op, X, solver):
    """The top k triplets from a solver's short-side basis X, by Rayleigh-Ritz
    (the nonzero ones only, when fewer than k singular values are nonzero).

    X is projected orthogonal to the trivial vector and orthonormalised (its
    near-dependent directions dropped), then the SVD of D X on that basis
    gives the triplets: both sides orthonormal, orthogonal to the trivial
    vectors (D and D^T annihilate them), and the best approximations the
    subspace holds. The tall products run over fixed row chunks on one BLAS
    thread, so the result does not depend on ``n_jobs``.
    """
    n, m = op.shape
    k = X.shape[1]
    inner = op.operator
    trivial = inner.v0 if m <= n else inner.u0
    forward = op.matmat if m <= n else op.rmatmat
    threads = inner.n_threads
    with blas_threads(1):
        X = np.array(X, dtype=np.float64, order="C")
        X -= np.multiply.outer(trivial, weighted_sum(trivial, X))
        DX = np.ascontiguousarray(forward(X))
        norms, basis = scipy.linalg.eigh(symmetric(cross_product(X, X, threads)))
        independent = norms > INDEPENDENT * max(norms.max(), 0.0)
        T = basis[:, independent] / np.sqrt(norms[independent])
        theta, Z = scipy.linalg.eigh(symmetric(T.T @ cross_product(DX, DX, threads) @ T))
        s = np.sqrt(np.clip(theta[::-1], 0.0, None))
        rank = min(k, int(np.sum(s > RANK_FLOOR)))
        if rank == 0:
            raise ValueError(_NO_FUNCTION_MESSAGE)
        s = s[:rank]
        M = np.ascontiguousarray(T @ Z[:, ::-1][:, :rank])
        short_side = rotate(X, M, np.empty((X.shape[0], rank)), threads)
        long_side = rotate(DX, M, np.empty((DX.shape[0], rank)), threads) / s
    return (s, long_side, short_side) if m <= n else (s, short_side, long_side)


def _check_triplets(op, s, U, V, tol, solver):
    """Warn when the residuals exceed the request, or the spectrum is clustered at 1;
    return the largest residual."""
    residual = max(
        np.linalg.norm(op.matmat(V) - U * s, axis=0).max(),
        np.linalg.norm(op.rmatmat(U) - V * s, axis=0).max(),
    )
    k = len(s)
    if s[-1] >= 1.0 - CLUSTER_AT_ONE and op.n_connected_components() - 1 < k:
        warn(_CLUSTERED_MESSAGE.format(k=k, gap=max(1.0 - s[-1], 0.0)), UserWarning)
    if residual > max(RESIDUAL_SLACK * tol, RESIDUAL_FLOOR):
        warn(
            _CONVERGENCE_MESSAGE.format(solver=solver, residual=residual, tol=tol),
            ConvergenceWarning,
        )
    return residual


def flip_signs(V, *others):
    """Deterministic signs: make the largest-magnitude entry of every column of V positive.

    Returns V and each of ``others`` (blocks with as many columns) with the
    same column signs flipped; V alone when there are no others.
    """
    rows = np.argmax(np.abs(V), axis=0)
    signs = np.where(V[rows, np.arange(V.shape[1])] < 0, -1.0, 1.0)
    if not others:
        return V * signs
    return (V * signs, *(block * signs for block in others))



def top_singular_values(operator: Operator, k: int, *, solver: str = "auto", tol: float = 2e-3,
                        max_iter: int = 12, oversampling: int | None = None,
                        stopping_rule: Callable[[FloatArray], float] | None = None,
                        random_state: Any = None, log: Callable[[str], object] | None = None,
                        ) -> tuple[FloatArray, str, int]:
    """Top-k singular values of the deflated operator, without the vectors.

    Parameters
    ----------
    operator : Operator
    k : int
        ``1 <= k <= min(n, m) - 1``.
    solver : {"auto", "dense", "randomized"}
        "dense": the top-k eigenvalues of the Gram matrix of the short side
        (exact). "randomized": block Krylov on the Gram operator (below).
        "auto": :func:`choose_solver`.
    tol, max_iter, oversampling, stopping_rule, random_state
        Of the randomized solver: see :func:`_block_krylov_values`.
    log : callable or None
        Called with one line of text per round of the randomized solver (the
        Krylov columns, the stopping rule's value and its change); None: silent.

    Returns
    -------
    values : ndarray of shape (k,)
        Descending, in [0, 1] (zeros included).
    solver : str
        The solver that ran.
    n_blocks : int
        Krylov blocks added after the first ``k + oversampling`` columns (0 for "dense").
    """
    solver = choose_solver(solver, min(operator.shape), k, iterative="randomized")
    if solver == "dense":
        with _dense_blas_threads(min(operator.shape)):
            values = gram_eigensystem(operator).top(k, vectors=False)
        return np.sqrt(np.clip(values[::-1], 0.0, 1.0)), solver, 0
    # One BLAS thread: the products are on blocks of 32-128 columns, where threading
    # gains little on 2 cores and loses a lot when the cores are shared (measured).
    with blas_threads(1):
        values, n_blocks = _block_krylov_values(
            operator, k, tol, max_iter, oversampling,
            stopping_rule if stopping_rule is not None else np.sum, random_state,
            log if log is not None else _silent)
    return values, solver, n_blocks


def orth_against(Y, basis):
    """Columns of Y made orthonormal and orthogonal to ``basis``; may drop dependent ones.

    Block Gram-Schmidt (two passes) followed by an eigendecomposition-based
    orthonormalisation of the small Gram matrix, done twice ("CholQR2" with a
    rank-revealing step): only matrix-matrix products on the tall block.
    """
    scale = None
    for _ in range(2):
        if basis is not None:
            Y = Y - basis @ (basis.T @ Y)
        w, U = scipy.linalg.eigh(symmetric(Y.T @ Y))
        if scale is None:
            scale = max(float(w.max()), 0.0)
        keep = w > INDEPENDENT * max(scale, 1e-300) + 1e-300
        if not keep.any():
            return Y[:, :0]
        Y = Y @ (U[:, keep] / np.sqrt(w[keep]))
    return Y


def _block_krylov_values(op, k, tol, max_iter, oversampling, stopping_rule, random_state, log):
    """Top-k singular values by randomized block Krylov (block Lanczos) with Rayleigh-Ritz.

    Randomized block Krylov with full reorthogonalisation (Musco & Musco 2015)
    on the deflated Gram operator G of the short side: the space is grown
    block by block; once it has ``k + oversampling`` columns (None:
    ``max(64, k // 2)``), the Ritz values (eigenvalues of V^T G V, lower
    bounds of the true s_i^2: never over-estimated, the top ones converge
    first) are computed after every block, and the loop stops when
    ``stopping_rule(values)`` changes by less than ``tol`` (relative), or
    after ``max_iter`` more blocks; ``log`` gets one line per such round.
    Returns the values and the blocks added.
    """
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
    first = orth_against(rng.standard_normal((short, block)), None)
    r = first.shape[1]
    V[:, :r] = first
    GV[:, :r] = bwd(fwd(first))
    T[:r, :r] = first.T @ GV[:, :r]
    last = slice(0, r)
    values, previous, extra = None, None, 0

    def ritz_values():
        ritz = top_eigh(symmetric(T[:r, :r]), min(k, r), vectors=False)[::-1]
        return np.sqrt(np.clip(ritz, 0.0, 1.0))

    while True:
        if r >= target:
            values = ritz_values()
            current = float(stopping_rule(values))
            done = previous is not None and abs(current - previous) <= tol * abs(current)
            change = ("" if previous is None else f", relative change "
                      f"{abs(current - previous) / max(abs(current), 1e-300):.1e} (tol {tol:g})")
            log(f"round {extra + 1}: {r} Krylov columns, stopping rule {current:.6g}{change}")
            if done or extra >= max_iter:
                break
            previous, extra = current, extra + 1
        new = orth_against(GV[:, last], V[:, :r])
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
