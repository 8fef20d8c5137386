"""The masked context: a base context averaged over random feature masks."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._compat import Interval
from .._constraints import Implements, N_JOBS, count, n_threads
from .._progress import loop
from .._typing import fit_context
from ._base import BaseContext, release_joint, seed_unset
from ._knn import context_or_default
from ._traits import combine_traits

if TYPE_CHECKING:
    from .._typing import ArrayLike, MatrixLike, RandomStateLike, Self, SparseMatrix
    from ._traits import ContextTraits


class MaskedContext(BaseContext):
    """A base context averaged over random feature masks (KNN_mask, RBF_mask).

    Each of ``n_masks`` masks hides ``round(mask_ratio * n_features)`` random
    features (at least one feature stays visible). The base context is fitted
    on the visible features of each mask, and the joint and the conditional
    are the averages over the masks:

        P+(a | x) = (1 / R) sum_r P_base,r(a | x[visible_r]).

    The masks are drawn once in :meth:`fit` and reused by :meth:`conditional`,
    so new points and fit points follow the same rule and a transform is
    deterministic. Identical masks are fitted once and weighted by their
    multiplicity; ``mask_ratio=0`` therefore reproduces ``base`` exactly. The
    base's atoms must not depend on the mask: fit points (kNN, RBF, a
    transformer teacher) or fixed atoms (classes).

    The masks are fitted and queried in parallel threads and their joints
    summed in mask order as they arrive, so the result does not depend on
    ``n_jobs``. The fitted context keeps the averaged joint and, of each
    distinct mask's fitted base, what its conditional needs (for kNN its index
    over the visible columns, about ``8 * n_samples * n_visible`` bytes), not
    the base's joint: a fitted context holds one joint, not one per mask.

    Masking weakens the base context: the more features are hidden, the
    more each mask's neighbourhoods differ and the more the average spreads,
    so strength falls as ``mask_ratio`` grows (and as ``n_masks`` grows at a
    fixed ratio). The paper pairs 20% masks with R = 50.

    Parameters
    ----------
    base : context estimator, default=None
        Context applied to the visible features; None means ``KNNContext()``.
    mask_ratio : float, default=0.2
        Fraction of features hidden by each mask, in [0, 1).
    n_masks : int, default=50
        Number of random masks R.
    n_jobs : int, default=None
        Masks fitted (and queried) in parallel threads; None means 1, -1 all
        cores. The result does not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seed of the masks, and of the base's own draws (NN-descent's search)
        where the base leaves its ``random_state`` at None.

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_atoms)
        The average of the base joints over the masks.
    n_atoms_ : int
        Number of atoms (those of the base context).
    masks_ : ndarray of bool of shape (n_masks, n_features)
        The visible features of each mask, in the order drawn.
    bases_ : list of context estimators
        The base fitted on each distinct mask (without its ``joint_``, which
        is summed into ``joint_``).
    visible_ : list of ndarray
        The visible feature indices of each entry of ``bases_``.
    mask_weights_ : ndarray of shape (len(bases_),)
        The weight of each distinct mask (its multiplicity / n_masks).

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import KNNContext, MaskedContext
    >>> X = np.random.RandomState(0).normal(size=(100, 5))
    >>> ctx = MaskedContext(KNNContext(5), n_masks=10, random_state=0).fit(X)
    >>> ctx.masks_.sum(axis=1)[:3]
    array([4, 4, 4])
    >>> np.allclose(ctx.conditional(X[:2]).sum(axis=1), 1)
    True
    """

    _parameter_constraints = {
        "base": [Implements(["fit", "conditional"]), None],
        "mask_ratio": [Interval(Real, 0, 1, closed="left")],
        "n_masks": [count(1)],
        "n_jobs": N_JOBS,
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        base: BaseContext | None = None,
        mask_ratio: float = 0.2,
        n_masks: int = 50,
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
    ) -> None:
        self.base = base
        self.mask_ratio = mask_ratio
        self.n_masks = n_masks
        self.n_jobs = n_jobs
        self.random_state = random_state

    def traits(self) -> ContextTraits:
        """The traits of ``base`` (of the fitted bases once fitted).

        Returns
        -------
        traits : ContextTraits
            Those of ``base``, whose disconnected advice adds "or increase
            mask_ratio".
        """
        base = self.bases_[0] if hasattr(self, "bases_") else context_or_default(self.base)
        traits = base.traits()
        return combine_traits(
            [traits], disconnected_advice=f"{traits.disconnected_advice}, or increase mask_ratio"
        )

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None, **fit_params: Any) -> Self:
        """Draw the masks, fit the base on each and average the joints.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points.
        y : array-like of shape (n_samples,), default=None
            Passed to the base (for bases that use it).
        **fit_params : dict
            Passed to the base's ``fit``.

        Returns
        -------
        self : MaskedContext
        """
        X = self._validate(X, reset=True)
        n_features = X.shape[1]
        n_hidden = min(round(self.mask_ratio * n_features), n_features - 1)
        rng = check_random_state(self.random_state)
        masks = np.ones((self.n_masks, n_features), dtype=bool)
        for mask in masks:
            mask[rng.permutation(n_features)[:n_hidden]] = False
        distinct, counts = np.unique(masks, axis=0, return_counts=True)
        self.masks_ = masks
        self.visible_ = [np.flatnonzero(mask) for mask in distinct]
        self.mask_weights_ = counts / self.n_masks
        # a base that leaves its seed (NN-descent's) at None gets one from the masks' seed,
        # drawn here, before the threads: the same for every mask whatever n_jobs
        base = seed_unset(clone(context_or_default(self.base)), rng)
        fitted = self._parallel()(
            delayed(_fit_base)(clone(base), X[:, visible], y, fit_params)
            for visible in self.visible_
        )
        self.bases_ = []
        joint = None
        for weight, context in loop(zip(self.mask_weights_, fitted), len(self.visible_), "masks"):
            if self.bases_ and context.n_atoms_ != self.bases_[0].n_atoms_:
                raise ValueError(
                    f"The base context {type(base).__name__} has {context.n_atoms_} "
                    f"atoms on one mask and {self.bases_[0].n_atoms_} on another: "
                    "MaskedContext needs a base whose atoms do not depend on the "
                    "features (fit points or classes)."
                )
            part = weight * context.joint_
            joint = part if joint is None else joint + part
            self.bases_.append(release_joint(context))
        self.joint_ = joint.tocsr()
        self.n_atoms_ = self.joint_.shape[1]
        return self

    def conditional(self, X: MatrixLike, **params: Any) -> SparseMatrix:
        """Return the average over the masks of the base's conditional rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)
        **params : dict
            Passed to the base's ``conditional``.

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        X = self._validate(X, reset=False)
        parts = self._parallel()(
            delayed(context.conditional)(X[:, visible], **params)
            for context, visible in zip(self.bases_, self.visible_)
        )
        rows = None
        for weight, part in loop(zip(self.mask_weights_, parts), len(self.bases_), "masks queried"):
            rows = weight * part if rows is None else rows + weight * part
        return rows.tocsr()

    def _parallel(self):
        # Threads: the neighbour searches release the GIL and the fitted bases
        # are not copied back; results are summed in mask order as they come.
        # (the threading backend by name: under joblib's dask backend a mere preference
        # for threads would send every mask to the cluster)
        return Parallel(n_jobs=n_threads(self.n_jobs), backend="threading",
                        return_as="generator")

    def _validate(self, X, reset):
        sparse = self.traits().accepts_sparse
        return validate_data(
            self, X, accept_sparse="csr" if sparse else False, dtype="numeric", reset=reset
        )


def _fit_base(context, X, y, fit_params):
    return context.fit(X, y, **fit_params)
