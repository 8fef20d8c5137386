"""The context algebra: convex combinations and convolutions of contexts.

Concatenating representations needs no class: it is a
:class:`sklearn.pipeline.FeatureUnion` of ``ContextureEmbedding`` steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils.validation import validate_data

from .._compat import NamedParts, num_samples, safe_indexing
from .._constraints import Implements
from .._typing import fit_context
from ._base import BaseContext, accepted_params, normalize_rows, release_joint
from ._traits import ContextTraits, combine_traits

if TYPE_CHECKING:
    from .._typing import ArrayLike, MatrixLike, Self, SparseMatrix


class ConvexCombination(NamedParts, BaseContext):
    """Convex combination sum_c w_c P_c of contexts, on disjoint atoms.

    With probability w_c the context of x is drawn from part c. The atoms are
    the parts' atoms side by side (part c's atoms are columns
    ``atom_offsets_[c]:atom_offsets_[c + 1]``) and

        joint = [w_1 P_1 | w_2 P_2 | ...],   P+(. | x) = [w_1 P_1(. | x) | ...],

    each part's joint summing to 1 and the weights normalised to sum to 1.
    P_X is the weighted mixture of the parts' P_X (uniform when every part's
    is). When the parts share P_X, the dual kernel is the weighted sum of the
    parts' dual kernels, k_X = sum_c w_c k_X,c, and the conditional of a fit
    row reproduces its joint row. Strength is in between the parts': a strong
    part mixed with a weak one gives singular values between theirs.

    Parameters
    ----------
    contexts : list of (str, context) tuples
        The named parts. Their parameters are reachable as
        ``<name>__<parameter>`` (for example in ``GridSearchCV``).
    weights : array-like of shape (n_contexts,), default=None
        Nonnegative weights (normalised to sum to 1); None means uniform.

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_atoms)
        The weighted parts' joints side by side.
    n_atoms_ : int
        Total number of atoms.
    contexts_ : list of context estimators
        The fitted parts (without their ``joint_``: ``joint_`` holds them).
    weights_ : ndarray of shape (n_contexts,)
        The normalised weights.
    atom_offsets_ : ndarray of shape (n_contexts + 1,)
        Where each part's atoms start.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skcontexture import ConvexCombination, KNNContext, LabelContext
    >>> X, y = load_iris(return_X_y=True)
    >>> ctx = ConvexCombination(
    ...     [("knn", KNNContext(10)), ("labels", LabelContext())], weights=[3, 1]
    ... ).fit(X, y)
    >>> ctx.joint_.shape, ctx.weights_
    ((150, 153), array([0.75, 0.25]))
    """

    _parameter_constraints = {
        "contexts": [list],
        "weights": ["array-like", None],
    }

    _parts_parameter = "contexts"

    def __init__(
        self, contexts: Sequence[tuple[str, BaseContext]], weights: ArrayLike | None = None
    ) -> None:
        self.contexts = contexts
        self.weights = weights

    def _parts(self):
        return [context for _, context in self._named_parts(
            "context", ("fit", "conditional"),
            "a context (an estimator with fit and conditional, such as KNNContext())")]

    def traits(self) -> ContextTraits:
        """The parts' traits combined (the fitted parts' once fitted).

        Returns
        -------
        traits : ContextTraits
            The atoms, side by side, are never the fit points.
        """
        try:
            parts = self.contexts_ if hasattr(self, "contexts_") else self._parts()
        except (TypeError, ValueError):  # reported by fit with the reason
            return ContextTraits()
        return combine_traits(
            [c.traits() for c in parts],
            atoms_are_fit_points=False,
            disconnected_advice="weaken the parts or give weight to a connected part",
        )

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None, **fit_params: Any) -> Self:
        """Fit every part on ``X`` and place their weighted joints side by side.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points.
        y : array-like of shape (n_samples,), default=None
            Passed to every part.
        **fit_params : dict
            Passed to the parts whose ``fit`` takes them (``A=`` for a
            :class:`PairedContext` part).

        Returns
        -------
        self : ConvexCombination
        """
        weights = self._check_weights(len(self._parts()))
        self._fit_parts(X, y, fit_params)
        self.weights_ = weights
        self._set_joint()
        return self

    def _fit_parts(self, X, y, fit_params):
        """Fit a clone of every part on ``X`` (``contexts_``, ``atom_offsets_``)."""
        parts = self._parts()
        validate_data(self, X, skip_check_array=True)
        routed = _route([c.fit for c in parts], fit_params)
        self.contexts_ = [clone(c).fit(X, y, **p) for c, p in zip(parts, routed)]
        self.atom_offsets_ = np.cumsum([0] + [c.n_atoms_ for c in self.contexts_])

    def _set_joint(self):
        """The parts' joints side by side with ``weights_``; the parts release theirs."""
        self.joint_ = self._side_by_side([c.joint_ for c in self.contexts_])
        for context in self.contexts_:
            release_joint(context)
        self.n_atoms_ = self.joint_.shape[1]

    def conditional(self, X: MatrixLike, **params: Any) -> SparseMatrix:
        """Return the weighted parts' conditional rows side by side.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)
        **params : dict
            Passed to the parts whose ``conditional`` takes them.

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        validate_data(self, X, skip_check_array=True, reset=False)
        routed = _route([c.conditional for c in self.contexts_], params)
        return self._side_by_side(
            [c.conditional(X, **p) for c, p in zip(self.contexts_, routed)]
        )

    def _side_by_side(self, blocks):
        return side_by_side(self.weights_, blocks)

    def _check_weights(self, n_parts):
        if self.weights is None:
            return np.full(n_parts, 1.0 / n_parts)
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (n_parts,) or np.any(weights < 0) or not weights.sum() > 0:
            raise ValueError(
                f"weights must be {n_parts} nonnegative numbers with a positive sum, "
                f"got {self.weights!r}."
            )
        return weights / weights.sum()


class Convolution(BaseContext):
    """Convolution of two contexts: x -> a_1 ~ P_1(. | x) -> a_2 ~ P_2(. | a_1).

    ``second`` is fitted on the atoms of ``first`` as points: on ``X`` itself
    when ``first``'s atoms are the fit points (kNN, RBF, a transformer
    teacher, masked kNN), on the draws of a :class:`GaussianNoiseContext`, on
    the second view of a :class:`PairedContext`. The joint is the sparse
    product

        joint = joint_1 @ T,   T[j] = P_2(. | a_1 = j)  (second's fit rows),

    and P+(. | x) = P_1(. | x) @ T for any x. The atoms are ``second``'s. A
    convolution weakens the association (the walk takes one more step); for
    example ``Convolution(KNNContext(k), KNNContext(k))`` is the two-hop kNN
    walk, ``Convolution(TeacherContext(PCA()), KNNContext())`` walks from the
    teacher's neighbourhood on in input space, and
    ``Convolution(KNNContext(), LabelContext())`` gives each point the label
    distribution of its neighbours. ``first``'s atoms must be points:
    classes or columns raise a ``ValueError``.

    Parameters
    ----------
    first : context estimator
        The first step P_1.
    second : context estimator
        The second step P_2, fitted on the atoms of ``first``.

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_atoms)
        The product joint (summing to 1).
    n_atoms_ : int
        Number of atoms (those of ``second_``).
    first_ : context estimator
        The fitted first step (without its ``joint_``).
    second_ : context estimator
        The second step fitted on the atoms of ``first_`` (without its
        ``joint_``, which ``transition_`` row-normalises).
    transition_ : scipy.sparse.csr_matrix of shape (first_.n_atoms_, n_atoms)
        P_2(. | a_1) for each atom of ``first_``.

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import Convolution, KNNContext
    >>> X = np.random.RandomState(0).normal(size=(100, 3))
    >>> ctx = Convolution(KNNContext(5), KNNContext(5)).fit(X)
    >>> ctx.joint_.shape, int(ctx.joint_[0].nnz) <= 25
    ((100, 100), True)
    """

    _parameter_constraints = {
        "first": [Implements(["fit", "conditional"])],
        "second": [Implements(["fit", "conditional"])],
    }

    def __init__(self, first: BaseContext, second: BaseContext) -> None:
        self.first = first
        self.second = second

    def traits(self) -> ContextTraits:
        """The steps' traits combined (the fitted steps' once fitted).

        Returns
        -------
        traits : ContextTraits
            The conditional reproduces the joint when ``first``'s does
            (``transition_`` holds ``second``'s fit rows), and the atoms are the
            fit points when those of both steps are.
        """
        fitted = hasattr(self, "second_")
        first, second = (self.first_, self.second_) if fitted else (self.first, self.second)
        return combine_traits(
            [first.traits(), second.traits()],
            conditional_reproduces_joint=first.traits().conditional_reproduces_joint,
            disconnected_advice="weaken either step",
        )

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None, **fit_params: Any) -> Self:
        """Fit ``first`` on ``X``, ``second`` on the atoms of ``first``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points.
        y : array-like of shape (n_samples,), default=None
            Passed to ``first``, and to ``second`` for the fit row of each atom.
        **fit_params : dict
            Passed to the steps whose ``fit`` takes them (to ``second`` row by
            row, like ``y``).

        Returns
        -------
        self : Convolution
        """
        validate_data(self, X, skip_check_array=True)
        first_params, second_params = _route([self.first.fit, self.second.fit], fit_params)
        self.first_ = clone(self.first).fit(X, y, **first_params)
        atom_points = getattr(self.first_, "_atom_points", None)
        atoms = None if atom_points is None else atom_points(X)
        if atoms is None:
            raise ValueError(
                f"Convolution cannot walk on from the atoms of {type(self.first).__name__}:"
                " they have no point representation (classes, columns). Use a first "
                "context whose atoms are points (kNN, RBF, a transformer teacher, "
                "Gaussian noise, paired views)."
            )
        points, rows = atoms
        if rows is None:  # atoms tied to no fit row: y and row-wise params do not apply
            y, second_params = None, {}
        elif not np.array_equal(rows, np.arange(num_samples(X))):
            # the atoms are not the fit rows (noisy copies): give each its row's y
            y = None if y is None else np.asarray(y)[rows]
            second_params = {k: safe_indexing(v, rows) for k, v in second_params.items()}
        self.second_ = clone(self.second).fit(points, y, **second_params)
        self.first_points_ = points
        self.transition_ = normalize_rows(self.second_.joint_)
        joint = (self.first_.joint_ @ self.transition_).tocsr()
        joint.eliminate_zeros()
        self.joint_ = joint / joint.sum()
        release_joint(self.first_)
        release_joint(self.second_)
        self.n_atoms_ = self.joint_.shape[1]
        return self

    def conditional(self, X: MatrixLike, **params: Any) -> SparseMatrix:
        """Return P_1(. | x) @ T, the distribution of the second step's atoms.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)
        **params : dict
            Passed to ``first_.conditional``.

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        validate_data(self, X, skip_check_array=True, reset=False)
        rows = self.first_.conditional(X, **params) @ self.transition_
        rows.eliminate_zeros()
        return normalize_rows(rows)

    def _atom_points(self, X):
        return self.second_._atom_points(self.first_points_)


def side_by_side(weights, blocks):
    """The blocks (joints or conditional rows) side by side, each times its weight (CSR)."""
    return sp.hstack([w * sp.csr_matrix(b) for w, b in zip(weights, blocks)], format="csr")


def _route(methods, params):
    """Split keyword parameters among methods by the names each takes.

    A parameter that no method takes is an error, as it would be for one
    estimator.
    """
    routed = [accepted_params(method, params) for method in methods]
    unused = set(params).difference(*[set(p) for p in routed])
    if unused:
        raise TypeError(f"No part of the context takes the parameter(s) {sorted(unused)}.")
    return routed
