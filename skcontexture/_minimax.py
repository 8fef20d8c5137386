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
from sklearn.utils import check_random_state

from ._compat import Interval, StrOptions
from ._constraints import N_JOBS, count
from ._operator import check_joint, conditional_second_moment
from ._solvers import SOLVERS
from ._typing import fit_context
from ._warn import warn
from .contexts._combine import ConvexCombination, side_by_side
from .linalg import top_singular_functions

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

    1. the exact top-d singular functions mu_1..mu_d of the mixture
       ``ConvexCombination(contexts, weights)`` (the library's solver, as
       :func:`~skcontexture.linalg.top_singular_functions`);
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
    served). The solver has no warm start: each round solves the mixture
    afresh, from the same seeded starting block.

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
        Solver of each round's singular functions, as ``ContextureEmbedding``'s.
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
        Number of rounds (mixtures solved).
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
            self.top_energies_ = np.array(
                [np.sum(self._solve(J, seed)[0] ** 2) for J, _, _ in joints])
            self._search(joints, seed)
        solver_warnings.emit()
        self._set_joint()
        return self

    def _solve(self, joint, seed):
        """The top singular values and sample functions of a joint."""
        s, mu, _ = top_singular_functions(
            joint, self.n_components, solver=self.solver, n_jobs=self.n_jobs,
            random_state=seed)
        return s, mu

    def _search(self, joints, seed):
        """The multiplicative weight rounds; sets the fitted weights and shares."""
        n_parts = len(joints)
        weights = np.full(n_parts, 1.0 / n_parts)
        history, shares = [], []
        best = None
        for _ in range(self.max_iter):
            _, mu = self._solve(side_by_side(weights, [J for J, _, _ in joints]), seed)
            captured = np.array([_captured_energy(mu, *part) for part in joints])
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
        self.weights_history_ = np.array(history)
        self.captured_history_ = np.array(shares)


def _captured_energy(mu, joint, p_x, p_a):
    """Ratio trace Tr(C^+ B) of the functions ``mu`` against a joint summing to 1."""
    centred = mu - p_x @ mu
    C = centred.T @ (p_x[:, None] * centred)
    atoms = p_a > 0
    B = conditional_second_moment(centred, joint[:, atoms], p_a[atoms])
    return float(np.trace(scipy.linalg.pinvh(C, rtol=1e-10) @ B))


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
