"""MinimaxCombination: a convex combination whose weights serve the worst-served part.

It is a context (``skcontexture.contexts.MinimaxCombination``), but it solves for
its weights with the library's solver, so its module sits above the solvers;
the ``skcontexture.contexts`` namespace loads it on first use.
"""

from __future__ import annotations

import warnings
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.utils import check_random_state

from ._compat import Interval, StrOptions
from ._constraints import N_JOBS, blas_threads, count
from ._operator import ContextOperator, check_joint
from ._solvers import INDEPENDENT, SOLVERS, orth_against, symmetric, top_singular_triplets
from ._sparse_blocks import SparseOperator
from ._typing import fit_context
from ._warn import warn
from .contexts._combine import ConvexCombination, side_by_side

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._typing import ArrayLike, MatrixLike, RandomStateLike, Self, Solver
    from .contexts import BaseContext


class MinimaxCombination(ConvexCombination):
    """Convex combination whose weights maximise the worst part's captured share.

    The exact counterpart of the contexture dissertation's minimax convex
    combination (its Algorithm 2, ``MinmaxConvexCombinationLearner`` in
    ``knowledge/learner.py`` of ``RuntianZ/contextures-dissertation``): the
    mixture weights move multiplicatively towards the parts whose objective
    the current representation serves worst. Each round:

    1. the top-d singular functions mu_1..mu_d of the mixture
       ``ConvexCombination(contexts, weights)``, exact to the residual the
       estimators solve to (``tol=1e-6``; how they are computed: below);
    2. the share of each part's top-d spectral energy that span(mu) captures,

           captured_k = RT_k(mu) / sum_{i <= d} s_{k,i}^2,

       where RT_k(mu) = Tr(C_k^+ B_k) is the ratio trace of mu against part k
       (C_k = Cov_{P_X,k}[mu], B_k = Cov_{P_A,k}[T_k* mu]): for mu orthonormal
       under part k's P_X, the energy sum_i ||T_k* mu_i||^2 of part k's
       operator restricted to span(mu). It is at most the sum of part k's
       top-d squared singular values s_{k,i} (Ky Fan), with equality when
       span(mu) is part k's own top-d space, so captured_k is in [0, 1];
    3. the loss of part k is 1 - captured_k; as the reference does, the losses
       are standardised across the parts (mean 0, standard deviation 1) and
       w_k <- w_k exp(step_size * standardised loss_k), then normalised.

    The weights start uniform. The search stops at the first round whose
    worst share min_k captured_k does not exceed the best so far by more than
    ``tol`` (or when every part is served equally, or after ``max_iter``
    rounds), and keeps the weights of the best round: ``weights_``, and the
    joint of ``ConvexCombination(contexts, weights_)``.

    The reference measures a part's loss by its training objective (d minus
    the energy captured, plus VICReg terms), not normalised by the part's own
    top-d energy; the normalisation here makes parts of different strengths
    comparable (a weak part's captured energy is small however well it is
    served).

    The rounds share their work. The mixture's functions solve the generalised
    eigenproblem M(w) mu = s^2 D(w) mu, with M(w) = sum_k w_k J_k D(p_A,k)^-1
    J_k^T and D(w) = sum_k w_k D(p_X,k) linear in the weights, so the products
    of the parts with a basis of functions serve every round. A round first
    takes the Ritz pairs of its mixture on span(basis) (Rayleigh-Ritz, the
    constant function excluded) and measures their residuals on the full
    problem; only when one of the d pairs misses the tolerance, even after two
    block Krylov steps on the basis, does it solve the mixture with the
    library's solver (warm-started from those pairs) and add the solution to
    the basis. The basis starts from every part's own top-d
    functions; the top spaces of earlier mixtures then span the next ones
    closely, and many rounds need no solve (``n_solves_``): on 20,000 rows of
    adult, a kNN context and the linear kernel, d = 32, 103 rounds took 34
    solves and 129 s, where a solve per round took 367 s for 38 rounds
    (``docs/contexts.md``).

    Parameters
    ----------
    contexts : list of (str, context) tuples
        The named parts, as for :class:`ConvexCombination`.
    n_components : int, default=8
        d: the dimension of the representation the weights are chosen for
        (use the ``n_components`` of the ``ContextureEmbedding`` it feeds).
    step_size : float, default=0.03
        The multiplicative step, the reference's ``eta`` (its experiments
        use 0.01 and 0.03).
    max_iter : int, default=200
        Largest number of rounds (the reference updates once per epoch, 200
        epochs).
    tol : float, default=0.0
        Smallest improvement of the worst share that continues the search.
        A part much weaker than the others (a small ``kernel_weight_`` of a
        :class:`LinearTeacherContext`) needs its weight raised by orders of
        magnitude before the mixture serves it, with small gains per round on
        the way: a positive ``tol`` stops such a search early.
    solver : {"auto", "dense", "arpack", "lobpcg", "chebyshev"}, default="auto"
        Solver of the parts' singular functions and of the rounds that solve
        their mixture, as ``ContextureEmbedding``'s.
    n_jobs : int, default=None
        Threads of the solver's sparse products; None means 1. The result
        does not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seed of the solver's starting vectors (the same in every round).

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_atoms)
        The parts' joints side by side, weighted by ``weights_``.
    n_atoms_ : int
        Total number of atoms.
    contexts_ : list of context estimators
        The fitted parts (without their ``joint_``).
    weights_ : ndarray of shape (n_contexts,)
        The weights of the best round, summing to 1.
    captured_ : ndarray of shape (n_contexts,)
        captured_k at ``weights_``.
    n_iter_ : int
        Number of rounds (mixtures whose functions were found).
    n_solves_ : int
        Rounds whose mixture the solver solved (the others' functions were
        found, as exactly, on the basis of earlier solutions).
    weights_history_ : ndarray of shape (n_iter_, n_contexts)
        The weights of each round (the first uniform).
    captured_history_ : ndarray of shape (n_iter_, n_contexts)
        captured_k of each round.
    top_energies_ : ndarray of shape (n_contexts,)
        sum_{i <= d} s_{k,i}^2 of each part alone.
    atom_offsets_ : ndarray of shape (n_contexts + 1,)
        Where each part's atoms start.

    See Also
    --------
    ConvexCombination : fixed weights.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skcontexture import KNNContext, LinearTeacherContext, MinimaxCombination
    >>> X = StandardScaler().fit_transform(load_wine().data)
    >>> ctx = MinimaxCombination(
    ...     [("knn", KNNContext(15)), ("linear", LinearTeacherContext(whiten=False))],
    ...     n_components=4, step_size=0.1, random_state=0,
    ... ).fit(X)
    >>> bool(ctx.weights_[1] > 0.5)    # the weak linear part needs more weight
    True
    >>> bool(ctx.captured_.min() > ctx.captured_history_[0].min())
    True
    """

    _parameter_constraints = {
        "contexts": [list],
        "n_components": [count(1)],
        "step_size": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [count(1)],
        "tol": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions(set(SOLVERS))],
        "n_jobs": N_JOBS,
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        contexts: Sequence[tuple[str, BaseContext]],
        n_components: int = 8,
        *,
        step_size: float = 0.03,
        max_iter: int = 200,
        tol: float = 0.0,
        solver: Solver = "auto",
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
    ) -> None:
        self.contexts = contexts
        self.n_components = n_components
        self.step_size = step_size
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.n_jobs = n_jobs
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None, **fit_params: Any) -> Self:
        """Fit every part on ``X``, then search the weights round by round.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points.
        y : array-like of shape (n_samples,), default=None
            Passed to every part.
        **fit_params : dict
            Passed to the parts whose ``fit`` takes them.

        Returns
        -------
        self : MinimaxCombination
        """
        self._fit_parts(X, y, fit_params)
        joints = [check_joint(c.joint_) for c in self.contexts_]
        # one seed for every solve: the same starting block in each round
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        with _SolverWarnings() as solver_warnings:
            alone = [self._solve(J, seed) for J, _, _ in joints]
            self.top_energies_ = np.array([np.sum(s**2) for s, _ in alone])
            mixture = _MixtureSubspace(
                joints, [mu for _, mu in alone], self.n_components,
                solve=lambda joint, start: self._solve(joint, seed, start)[1],
                n_jobs=self.n_jobs)
            with blas_threads(1):  # the same rounds for any n_jobs
                self._search(mixture)
        solver_warnings.emit()
        self._set_joint()
        return self

    def _solve(self, joint, seed, start=None):
        """The top singular values and sample functions of a joint.

        ``start``: functions of the rows near the wanted ones, where the
        iterative solver starts.
        """
        operator = ContextOperator(joint, n_jobs=self.n_jobs)
        if start is not None:
            start = operator.u0[:, None] * start[operator.rows]
            if operator.shape[1] <= operator.shape[0]:  # the solver works on the atoms' side
                start = operator.rmatmat(start)
        s, U, _, _ = top_singular_triplets(
            operator, self.n_components, solver=self.solver, tol=_MixtureSubspace.TOL,
            random_state=seed, start=start)
        return s, operator.sample_functions(U)

    def _search(self, mixture):
        """The multiplicative weight rounds; sets the fitted weights and shares."""
        weights = np.full(len(self.top_energies_), 1.0 / len(self.top_energies_))
        history, shares = [], []
        best = None
        for _ in range(self.max_iter):
            captured = mixture.captured_energies(weights)
            captured /= np.where(self.top_energies_ > 0, self.top_energies_, 1.0)
            history.append(weights)
            shares.append(captured)
            if best is not None and not captured.min() > best[1].min() + self.tol:
                break
            best = (weights, captured)
            loss = 1.0 - captured
            spread = loss.std()
            if not spread > 0:  # every part served alike
                break
            weights = weights * np.exp(self.step_size * (loss - loss.mean()) / spread)
            weights = weights / weights.sum()
        self.weights_, self.captured_ = best
        self.n_iter_ = len(history)
        self.n_solves_ = mixture.n_solves
        self.weights_history_ = np.array(history)
        self.captured_history_ = np.array(shares)


class _MixtureSubspace:
    """The top-d singular functions of the convex combinations of fixed parts.

    For parts with joints J_k (each summing to 1) and marginals p_X,k, p_A,k, the
    combination with weights w places the w_k J_k side by side, so its singular
    functions mu and values s solve the symmetric generalised eigenproblem

        M(w) mu = s^2 D(w) mu,   M(w) = sum_k w_k J_k D(p_A,k)^-1 J_k^T,
                                 D(w) = sum_k w_k D(p_X,k),

    whose matrices are linear in w; the constant function is its trivial
    solution (s = 1). The class keeps a basis Z of functions of the rows
    (orthonormal under the parts' mean mass) and, for every part, M_k Z and the
    projections Z^T M_k Z, Z^T D_k Z and Z^T p_X,k. The functions for weights w
    are the top Ritz pairs on span(Z), in the complement of the constant, when
    each of the d pairs has a residual D(w)^-1/2 (M(w) - s^2 D(w)) mu (that of the
    normalised operator's Gram matrix) of at most ``TOL`` s, the solvers'
    convergence test; otherwise the mixture is solved afresh (``solve``, started
    from the Ritz functions), its functions are added to Z and the pairs taken
    again. The basis starts from the constant and every part's own top-d
    functions; past ``max_size`` columns (12 solutions more, fewer when the basis
    and the products would take over ``BASIS_BYTES``) it restarts from the
    constant and the Ritz functions of the 2 d leading pairs. Before a solve,
    ``KRYLOV_STEPS`` block Krylov steps (the open pairs' residuals D(w)^-1 R join
    the basis) often suffice.

    Rows without mass in every part are left out (no function lives there).
    """

    #: The residual the estimators' solves reach (their default ``tol``).
    TOL = 1e-6
    #: Smallest part of a unit function outside the basis that joins it.
    NEW_DIRECTION = 1e-6
    #: Memory of the basis and of the parts' products with it, above which it restarts.
    BASIS_BYTES = 2**30
    #: Krylov steps on the basis (one product of each part with the open pairs each)
    #: before a round solves its mixture.
    KRYLOV_STEPS = 2

    def __init__(self, joints, functions, n_components, solve, n_jobs):
        mass = np.sum([p_x for _, p_x, _ in joints], axis=0)
        self.rows = np.flatnonzero(mass > 0)
        self.n_all = mass.size
        n = self.rows.size
        # masses and M_k times n (a row's mass is then about 1): the same eigenproblem
        self.masses = np.array([n * p_x[self.rows] for _, p_x, _ in joints])
        self.mean_mass = self.masses.mean(axis=0)
        self.joints = [J for J, _, _ in joints]
        self.parts = []
        for J, _, p_a in joints:
            atoms = np.flatnonzero(p_a > 0)
            H = J[self.rows][:, atoms] @ sp.diags(np.sqrt(n / p_a[atoms]))
            self.parts.append(SparseOperator(H, n_jobs=n_jobs))
        self.n_wanted = min(n_components, n - 1)
        # room for 12 solutions beyond the start, within BASIS_BYTES (the basis and the
        # parts' products with it), and always for a restart and a solution
        affordable = self.BASIS_BYTES // (8 * n * (len(joints) + 1))
        self.max_size = min(n, max(1 + 3 * n_components,
                                   min(1 + (len(joints) + 12) * n_components, affordable)))
        self.solve = solve
        self.n_solves = 0
        p = len(joints)
        self.Z = np.empty((n, 0))
        self.MZ = [np.empty((n, 0)) for _ in range(p)]
        self.A = [np.empty((0, 0)) for _ in range(p)]
        self.B = [np.empty((0, 0)) for _ in range(p)]
        self.c = [np.empty(0) for _ in range(p)]
        self._extend(np.hstack([np.ones((n, 1))] + [mu[self.rows] for mu in functions]))

    def _extend(self, V):
        """Add the directions of V that the basis does not hold (to ``NEW_DIRECTION``)."""
        root = np.sqrt(self.mean_mass)[:, None]
        basis = self.Z * root if self.Z.shape[1] else None
        V = V * root
        V /= np.maximum(np.linalg.norm(V, axis=0), np.finfo(float).tiny)
        if basis is not None:
            for _ in range(2):
                V -= basis @ (basis.T @ V)
            # only directions of unit vectors that stick out of the basis by NEW_DIRECTION:
            # the others are round-off, and normalising them would cost orthogonality
            norms, rotation = scipy.linalg.eigh(symmetric(V.T @ V))
            V = V @ rotation[:, norms > self.NEW_DIRECTION**2]
            if not V.shape[1]:
                return
        V = orth_against(V, basis) / root
        for k, op in enumerate(self.parts):
            MV = op.matmat(op.rmatmat(V))
            DV = self.masses[k][:, None] * V
            self.A[k] = _bordered(self.A[k], self.Z.T @ MV, V.T @ MV)
            self.B[k] = _bordered(self.B[k], self.Z.T @ DV, V.T @ DV)
            self.c[k] = np.concatenate([self.c[k], V.T @ self.masses[k]])
            self.MZ[k] = np.hstack([self.MZ[k], MV])
        self.Z = np.hstack([self.Z, V])

    def _restart(self, Y):
        """Keep span(constant, Z Y) as the basis (no product with the parts)."""
        constant = self.Z.T @ self.mean_mass  # the constant function's coordinates
        K = scipy.linalg.qr(np.column_stack([constant, Y]), mode="economic")[0]
        self.Z = self.Z @ K
        for k in range(len(self.parts)):
            self.MZ[k] = self.MZ[k] @ K
            self.A[k] = symmetric(K.T @ self.A[k] @ K)
            self.B[k] = symmetric(K.T @ self.B[k] @ K)
            self.c[k] = K.T @ self.c[k]

    def _ritz(self, weights, k=None):
        """The top k (default d) Ritz values and coordinates (in Z) of the mixture, the
        constant excluded."""
        A = sum(w * a for w, a in zip(weights, self.A))
        B = sum(w * b for w, b in zip(weights, self.B))
        mass = sum(w * c for w, c in zip(weights, self.c))  # Z^T p_X(w), times n
        N = scipy.linalg.null_space(mass[None, :])  # coordinates of the centred functions
        # a basis orthonormal under D(w), without the directions D(w) nearly annihilates
        # (rows whose mass the weights make tiny)
        norms, rotation = scipy.linalg.eigh(symmetric(N.T @ B @ N))
        independent = norms > INDEPENDENT * max(norms.max(), 0.0)
        N = N @ (rotation[:, independent] / np.sqrt(norms[independent]))
        size = N.shape[1]
        k = min(self.n_wanted if k is None else k, size)
        values, vectors = scipy.linalg.eigh(symmetric(N.T @ A @ N),
                                            subset_by_index=[size - k, size - 1])
        return values[::-1], N @ vectors[:, ::-1]

    def _residuals(self, weights, values, Y):
        """The Ritz pairs' residuals on the full problem, in f-space (D(w)^-1 R), and
        which pairs miss the solvers' test (residual above ``TOL`` s)."""
        mass = weights @ self.masses
        R = sum(w * mz for w, mz in zip(weights, self.MZ)) @ Y
        R -= (mass[:, None] * (self.Z @ Y)) * values
        residuals = np.linalg.norm(R / np.sqrt(mass)[:, None], axis=0)
        return R / mass[:, None], residuals > self.TOL * np.sqrt(np.maximum(values, 0.0))

    def functions(self, weights):
        """Coordinates in Z of the mixture's top-d singular functions."""
        values, Y = self._ritz(weights)
        for step in range(self.KRYLOV_STEPS + 1):
            steps, open_ = self._residuals(weights, values, Y)
            if not open_.any():
                return Y
            if (step == self.KRYLOV_STEPS
                    or self.Z.shape[1] + int(open_.sum()) > self.max_size):
                break
            self._extend(steps[:, open_])  # one block Krylov step on the open pairs
            values, Y = self._ritz(weights)
        self.n_solves += 1
        start = np.zeros((self.n_all, Y.shape[1]))
        start[self.rows] = self.Z @ Y
        solution = self.solve(side_by_side(weights, self.joints), start)[self.rows]
        if self.Z.shape[1] + solution.shape[1] > self.max_size:
            # a thick restart: the Ritz functions of the 2 d leading pairs stay
            self._restart(self._ritz(weights, 2 * self.n_wanted)[1])
        self._extend(solution)
        return self._ritz(weights)[1]

    def captured_energies(self, weights):
        """Ratio trace Tr(C_k^+ B_k) of the mixture's top-d functions against every part."""
        Y = self.functions(weights)
        n = self.rows.size
        energies = []
        for A, B, c in zip(self.A, self.B, self.c):
            mean = Y.T @ c  # E_k[F] (times n)
            shift = np.outer(mean, mean) / n
            C = symmetric(Y.T @ B @ Y) - shift  # Cov_{P_X,k}[F], times n
            S = symmetric(Y.T @ A @ Y) - shift  # Cov_{P_A,k}[T_k* F], times n
            energies.append(float(np.trace(scipy.linalg.pinvh(C, rtol=1e-10) @ S)))
        return np.array(energies)


def _bordered(A, cross, corner):
    """The symmetric matrix [[A, cross], [cross^T, corner]]."""
    return symmetric(np.block([[A, cross], [cross.T, corner]]))


class _SolverWarnings:
    """Record the warnings of the rounds' solves, to give each distinct one once."""

    def __enter__(self):
        self._catcher = warnings.catch_warnings(record=True)
        self._records = self._catcher.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        return self._catcher.__exit__(*exc)

    def emit(self):
        seen = set()
        for record in self._records:
            key = (record.category, str(record.message))
            if key not in seen:
                seen.add(key)
                warn(str(record.message), record.category)
