"""SpectralContextEncoder: learn the contexture inside a parametric feature space."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.utils import check_array, get_tags
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval
from ._constraints import Implements, N_JOBS, count
from ._dask import accepts_dask
from ._context_estimator import ContextEstimatorMixin
from ._solvers import flip_signs
from ._operator import check_joint, check_moments, conditional_second_moment
from ._progress import Progress
from ._typing import fit_context
from ._warn import warn
from .contexts._base import seed_unset

if TYPE_CHECKING:
    from ._typing import ArrayLike, FloatArray, MatrixLike, RandomStateLike, Self
    from .contexts import BaseContext

# The Rayleigh-Ritz normalisation of a component divides by its variance under C:
# a direction of the regularised solution whose variance (per unit norm, in
# standardised units, where a feature has variance 1) is below this carries no
# context information that rounding leaves intact (C is accurate to ~1e-16 times
# its norm); it is left normalised under C + ridge, with eigenvalue 0.
_RITZ_MIN_VARIANCE = 1e-6
#: alpha=0 needs a nonsingular standardised covariance: its smallest eigenvalue
#: above this times the number of features (its trace).
_SINGULAR = 1e-12
# Largest relative round-off accepted in the standardised C of sparse features, whose
# moments are computed uncentred (cancellation grows as mean^2 / variance).
_SPARSE_MOMENT_TOLERANCE = 1e-6


@accepts_dask
class SpectralContextEncoder(
    ContextEstimatorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Parametric contexture encoder: the best d functions of a feature space.

    A backbone maps an input x to features psi(x) in R^D (the raw features, a
    kernel approximation, splines, a pretrained model...). The encoder is
    linear on top of it,

        Phi(x) = M^T (psi(x) - mean),

    with M (D x d) maximising Tr(M^T B M) subject to M^T C M = I, where, under
    the context's joint P+(x, a) on the fit sample,

        C = Cov_{P_X}[psi]                       (D x D)
        B = Cov_{P_A}[T* psi] = E_A[E[psi~(X) | A] E[psi~(X) | A]^T].

    The columns of M are the top ``n_components`` solutions of the
    generalised symmetric eigenproblem

        B m = lambda (C + alpha diag(C)) m,

    a ridge of ``alpha`` times each feature's variance. The eigenvalues lambda_i
    estimate the squared singular values s_i^2 of the context from inside the
    feature space: lambda_i <= s_i^2 (Courant-Fischer), with equality when
    the feature space contains the top singular functions mu_1..mu_d, and
    then span(Phi) = span(mu_1..mu_d). With a linear backbone and
    :class:`~skcontexture.LabelContext` it is Fisher's linear discriminant
    analysis.

    The ridge makes the encoder independent of the features' units: shifting
    and rescaling every feature leaves Phi unchanged (docs/encoder.md derives
    it, and why no ridge can be invariant under every linear map).

    Parameters
    ----------
    context : context estimator, default=None
        The context (see :mod:`skcontexture.contexts`); None means
        ``KNNContext()``. It is cloned and fitted on ``X`` in :meth:`fit`.
    backbone : transformer, default=None
        Any scikit-learn transformer or Pipeline producing the features psi,
        for example :class:`~sklearn.kernel_approximation.Nystroem`,
        :class:`~sklearn.kernel_approximation.RBFSampler`,
        :class:`~sklearn.preprocessing.SplineTransformer` or
        :class:`~sklearn.preprocessing.PolynomialFeatures`. None means the raw
        features (a linear encoder). It is cloned and fitted as a Pipeline
        step is, ``backbone.fit(X, y)`` on the validated ``X`` (unsupervised
        transformers ignore ``y``; a supervised one, such as
        :class:`~sklearn.feature_selection.SelectKBest`, uses it); a pretrained
        model can be wrapped in :class:`sklearn.frozen.FrozenEstimator`, which
        is neither cloned nor refitted. Sparse backbone outputs are kept
        sparse.
    n_components : int, default=8
        Number of encoder outputs d. When the backbone gives fewer features
        that vary on the fit sample, a UserWarning says so and the encoder
        has that many outputs (``n_components_``).
    alpha : float, default=1e-6
        Ridge added to C, relative to each feature's variance: alpha * diag(C),
        i.e. alpha * I in standardised units. It keeps the eigenproblem well
        posed when the features are collinear or the feature space is richer
        than the sample, and does not depend on the units of the features.
        Features constant on the fit sample (up to round-off) get zero weight.
    n_jobs : int, default=None
        Threads for the sparse product of the context's joint with the
        features (the only threaded step of this estimator; BLAS threads
        follow the usual environment settings). None means 1, -1 all cores.
        The result does not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seeds the backbone: every ``random_state`` parameter of the backbone
        (nested ones included) left at None is set, on the clone, to an
        integer drawn from it, and so are those of the context, so that an
        integer makes the whole fit reproducible. None leaves the backbone's
        and the context's seeds as they are.
    verbose : int, default=0
        0: silent. 1: one line per stage of :meth:`fit` with its time (the
        backbone, the context, the moments C and B, the eigenproblem). 2:
        also, in the context's long loops (masks, row batches), a line at
        every tenth with its time and estimated time left.

    Attributes
    ----------
    backbone_ : transformer or None
        The fitted clone of ``backbone`` (None for the raw features).
    context_ : context estimator
        The fitted clone of ``context``.
    mean_ : ndarray of shape (n_backbone_features,)
        The P_X-weighted mean of psi on the fit sample. Like
        ``components_``, it is float32 when ``X`` is, float64 otherwise (C and
        B are computed in float64 all the same).
    n_components_ : int
        Number of outputs: ``n_components``, or the number of varying backbone
        features when smaller (warned).
    components_ : ndarray of shape (n_backbone_features, n_components_)
        M. ``components_.T @ C @ components_`` is the identity, so the outputs
        have zero mean and identity covariance under P_X on the fit sample.
    eigenvalues_ : ndarray of shape (n_components_,)
        lambda_1 >= ... >= lambda_d, the ratios Cov_{P_A}[T* phi_i] /
        Var_{P_X}[phi_i] of the outputs (without the ridge), estimates of
        s_i^2 from inside the feature space; each is at most s_i^2.
    ridge_ : ndarray of shape (n_backbone_features,)
        The ridge alpha * diag(C) added to C, in the features' units.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X has string column names).

    See Also
    --------
    ContextureEmbedding : the exact top singular functions of a context, on
        its fit sample, with a Nyström extension to new points.
    sklearn.discriminant_analysis.LinearDiscriminantAnalysis : the linear,
        label-context special case.

    Notes
    -----
    B is computed from the context's sparse joint W (n_samples x n_atoms,
    summing to 1) without densifying it: with psi~ the p_X-centred features,
    B = psi~^T W D(p_A)^-1 W^T psi~, formed as the Gram matrix of the rows
    D(p_A)^-1/2 W^T psi~; atoms and samples with no mass are dropped. This is
    the exact second moment of the conditional means under the empirical
    joint. (For contexts given as r >= 2 independent sampled views per x, B
    could instead be estimated without bias from cross-products of the views'
    features; every context of the library exposes its joint, so the joint is
    always used.)

    The solution is then refined on its own span (Rayleigh-Ritz with the
    unregularised C), so that M^T C M = I exactly and ``eigenvalues_`` are
    true Rayleigh quotients. Signs are fixed: in each column of
    ``components_``, the entry of largest magnitude in standardised units
    (times the feature's standard deviation) is positive.

    :meth:`transform` needs no fitted sample: it only applies the backbone
    and M, sample by sample. Fitting costs O(n D^2) for C and B plus a dense
    O(D^3) eigensolve, and holds a few (n x D) and (D x D) arrays.

    References
    ----------
    Zhai et al., "Contextures: Representations from Contexts", ICML 2025.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.kernel_approximation import Nystroem
    >>> from skcontexture import KNNContext, SpectralContextEncoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> enc = SpectralContextEncoder(
    ...     KNNContext(n_neighbors=10),
    ...     backbone=Nystroem(gamma=1e-3, n_components=200),
    ...     n_components=4,
    ...     random_state=0,
    ... )
    >>> Z = enc.fit_transform(X)
    >>> Z.shape
    (1797, 4)
    >>> bool(0 < enc.eigenvalues_[-1] <= enc.eigenvalues_[0] <= 1)
    True
    """

    _parameter_constraints = {
        "context": [Implements(["fit", "conditional"]), None],
        "backbone": [Implements(["fit", "transform"]), None],
        "n_components": [count(1)],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "n_jobs": N_JOBS,
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        context: BaseContext | None = None,
        backbone: Any = None,
        n_components: int = 8,
        *,
        alpha: float = 1e-6,
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
        verbose: int = 0,
    ) -> None:
        self.context = context
        self.backbone = backbone
        self.n_components = n_components
        self.alpha = alpha
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------

    def _seeded_backbone(self):
        """Clone the backbone and seed its unset ``random_state`` parameters."""
        return seed_unset(clone(self.backbone), self.random_state)

    def _features(self, X):
        """psi(X) as a float64 or float32 array or CSR matrix."""
        if self.backbone_ is None:
            return X
        psi = self.backbone_.transform(X)
        if not sp.issparse(psi):
            psi = np.asarray(psi)  # e.g. a DataFrame under set_config(transform_output="pandas")
        values = psi.data if sp.issparse(psi) else psi
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            raise ValueError(
                f"The backbone's transform ({_name(self.backbone_)}) returned NaN or infinite "
                "values on X, so the encoder is undefined. A backbone overflows on badly "
                "scaled data: scale X first (e.g. sklearn.preprocessing.StandardScaler, or "
                "X / abs(X).max())."
            )
        return check_array(
            psi,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            input_name="the backbone output",
        )

    # ------------------------------------------------------------------
    # fit
    # ------------------------------------------------------------------

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None, **fit_params: Any) -> Self:
        """Fit the backbone and the context, and solve for the encoder.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Targets, for contexts that use them (``LabelContext``); also
            passed to the backbone's ``fit``, as a Pipeline would.
        **fit_params : dict
            Passed to the context's ``fit``.

        Returns
        -------
        self : SpectralContextEncoder
        """
        progress = Progress(self.verbose, type(self).__name__)
        X = self._validate_X(X, reset=True)
        n_samples = X.shape[0]

        if self.backbone is None:
            self.backbone_ = None
        else:
            backbone = self._seeded_backbone()
            # y is passed as a Pipeline passes it: unsupervised transformers ignore it
            try:
                backbone.fit(X, y)
            except (ValueError, ArithmeticError) as exc:  # LinAlgError is a ValueError
                raise ValueError(
                    f"The backbone {_name(backbone)} could not be fitted on X ({exc}). If X "
                    "has huge or badly scaled values, scale it first (e.g. "
                    "sklearn.preprocessing.StandardScaler, or X / abs(X).max())."
                ) from exc
            self.backbone_ = backbone
        psi = self._features(X)
        if psi.shape[0] != n_samples:
            raise ValueError(
                f"The backbone returned {psi.shape[0]} rows for {n_samples} samples."
            )
        # the moments of psi must not overflow (and the contexts refuse such X too)
        check_moments(psi, "X" if self.backbone_ is None else "the backbone's features")
        n_features = psi.shape[1]
        backbone_name = ("none (linear)" if self.backbone_ is None
                         else type(self.backbone_).__name__)
        progress.done(f"backbone {backbone_name}: {n_samples} x {n_features} features")
        with progress.active():  # the context's long loops report to it
            context = self._seeded_context().fit(X, y, **fit_params)
        joint, p_x, p_a = check_joint(context.joint_, name="The context's joint_")
        progress.done(f"{type(context).__name__}: joint {joint.shape[0]} x {joint.shape[1]}, "
                      f"{joint.nnz:,} nonzeros")
        if joint.shape[0] != n_samples:
            raise ValueError(
                f"The context's joint_ has {joint.shape[0]} rows for {n_samples} samples."
            )
        atoms = p_a > 0
        joint = joint[:, atoms]  # zero-mass atoms carry nothing
        rank = min(int(atoms.sum()), int(np.count_nonzero(p_x))) - 1
        wanted = min(self.n_components, n_features)  # at most one output per feature
        if wanted > rank:
            warn(
                f"The context has {int(atoms.sum())} atoms and {int(np.count_nonzero(p_x))} "
                f"samples with mass: at most {rank} components carry context information, "
                f"the other {wanted - rank} have eigenvalue 0 (arbitrary directions "
                "of the feature space). Reduce n_components.",
                UserWarning,
            )

        mean, C, B = self._moments(psi, joint, p_x, p_a[atoms])
        progress.done(f"moments C and B ({n_features} x {n_features})")
        components, eigenvalues, ridge = self._solve(C, B)
        if components.shape[1] < self.n_components:
            warn(
                f"n_components={self.n_components} were requested, but the backbone gives "
                f"only {components.shape[1]} feature(s) that vary on the fit sample (of "
                f"{n_features}): the encoder has {components.shape[1]} outputs "
                "(n_components_). Use a richer backbone (for example Nystroem or "
                "SplineTransformer) for more, or ask for fewer to silence this warning.",
                UserWarning,
            )
        # B has rank at most `rank`: the later generalised eigenvalues are exactly 0 (their
        # Rayleigh quotients are rounding noise divided by a small variance)
        eigenvalues[max(rank, 0):] = 0.0
        progress.done(f"generalised eigenproblem: {components.shape[1]} components, "
                      f"lambda_1={eigenvalues[0]:.4f}")

        self.context_ = context
        self.mean_ = mean.astype(X.dtype, copy=False)
        self.components_ = components.astype(X.dtype, copy=False)
        self.eigenvalues_ = eigenvalues
        self.ridge_ = ridge
        self.n_components_ = self._n_features_out = components.shape[1]
        self._warn_tied(context)
        return self

    def _moments(self, psi, joint, p_x, p_a):
        """Return mean, C = Cov_{P_X}[psi] and B = Cov_{P_A}[T* psi], in float64.

        Features indistinguishable from a constant get exactly zero rows and
        columns in C and B: their variance is within the round-off of its
        two-pass computation, n eps Var + (n eps mean)^2 over the n rows with
        mass (the rule of :class:`~sklearn.preprocessing.StandardScaler`).
        """
        mean = np.asarray(psi.T @ p_x).ravel()  # float64, as p_x
        if sp.issparse(psi):
            psi = psi.astype(np.float64)
            # uncentred second moments minus the mean's outer product keep psi sparse
            second = np.asarray((psi.T @ sp.diags(p_x) @ psi).toarray())
            C = second - np.outer(mean, mean)
            B = conditional_second_moment(psi, joint, p_a) - np.outer(mean, mean)
            # the two-pass variance, not the diagonal of the one-pass C
            variance = mean_variance_axis(psi, axis=0, weights=p_x)[1]
        else:
            centred = psi - mean
            B = conditional_second_moment(centred, joint, p_a, n_jobs=self.n_jobs)
            centred *= np.sqrt(p_x)[:, None]
            C = centred.T @ centred
            del centred
            variance = np.diag(C)
        n = np.count_nonzero(p_x)
        eps = np.finfo(np.float64).eps
        constant = variance <= n * eps * variance + (n * eps * mean) ** 2
        if sp.issparse(psi):
            # E[psi psi^T] - mean mean^T cancels for a feature whose mean dwarfs its spread
            error = eps * np.diag(second) / np.where(constant, np.inf, variance)
            if error.max() > _SPARSE_MOMENT_TOLERANCE:
                features = np.flatnonzero(error > _SPARSE_MOMENT_TOLERANCE)
                raise ValueError(
                    f"The features (backbone outputs) are sparse and {len(features)} of them, "
                    f"starting with column {features[0]}, have a mean far larger than their "
                    "spread: their sparse moments E[psi psi^T] - mean mean^T lose precision "
                    f"(relative error up to {error.max():.1e}). Give the data as a dense array "
                    "(or centre these features before the encoder)."
                )
        for moment in (C, B):
            moment[constant] = 0.0
            moment[:, constant] = 0.0
        return mean, (C + C.T) / 2, (B + B.T) / 2

    def _solve(self, C, B):
        """Top generalised eigenvectors of (B, C + alpha diag C), C-orthonormalised.

        The problem is solved in standardised units (C and B divided by the
        features' standard deviations), where the ridge is alpha * I: the
        result does not depend on the units of the features.
        """
        # (the sparse moments' cancellation can leave a tiny negative variance)
        variance = np.maximum(np.diag(C), 0.0)
        # a constant feature has no unit and no information: it gets weight 0
        varying = variance > 0
        if not varying.any():
            raise ValueError(
                "No backbone feature varies on the fit sample: there is nothing to "
                "encode. Check X (constant columns) or the backbone."
            )
        # at most as many outputs as varying features (the caller warns)
        d = min(self.n_components, int(varying.sum()))
        scale = np.sqrt(variance[varying])
        C = C[np.ix_(varying, varying)] / np.outer(scale, scale)
        B = B[np.ix_(varying, varying)] / np.outer(scale, scale)
        size = len(C)
        if self.alpha == 0 and np.linalg.eigvalsh(C)[0] <= _SINGULAR * size:
            raise ValueError(
                "The covariance of the backbone features is singular (collinear "
                "features, or more features than samples) and alpha=0 adds no ridge: "
                "use alpha > 0 (the default is 1e-6)."
            )
        try:
            _, M = scipy.linalg.eigh(B, C + float(self.alpha) * np.eye(size),
                                     subset_by_index=[size - d, size - 1])
        except np.linalg.LinAlgError as exc:
            raise ValueError(
                "The covariance of the backbone features is singular (collinear "
                f"features) and alpha={self.alpha!r} gives too small a ridge: use a "
                f"larger alpha."
            ) from exc
        # Rayleigh-Ritz on span(M) with the unregularised C: M^T C M = I exactly and
        # the eigenvalues become Rayleigh quotients, hence at most s_i^2. Directions
        # of span(M) without variance under C carry no context information: they
        # stay normalised under C + ridge, with eigenvalue 0.
        gram = M.T @ C @ M
        weight, Q = np.linalg.eigh((gram + gram.T) / 2)
        directions = M @ Q
        informative = weight > _RITZ_MIN_VARIANCE * np.einsum("ij,ij->j", directions, directions)
        if not informative.all():
            warn(
                f"Only {int(informative.sum())} of the {d} components have variance in "
                "the backbone's feature space on the fit sample (the context or the "
                "features give fewer informative directions): the last ones carry no "
                "context information (eigenvalue 0) and are normalised under C + ridge. "
                "Reduce n_components.",
                UserWarning,
            )
        T = Q[:, informative] / np.sqrt(weight[informative])
        small_B = T.T @ (M.T @ B @ M) @ T
        lam, Y = np.linalg.eigh((small_B + small_B.T) / 2)
        rest = Q[:, ~informative]
        M = np.hstack([M @ T @ Y, M @ rest])
        lam = np.concatenate([lam, np.zeros(rest.shape[1])])
        order = np.argsort(-lam, kind="stable")
        lam, M = lam[order], M[:, order]
        # deterministic signs: the largest weight in standardised units is positive
        M = flip_signs(M)
        components = np.zeros((len(variance), d))
        components[varying] = M / scale[:, None]
        return components, np.clip(lam, 0.0, 1.0), float(self.alpha) * variance

    # ------------------------------------------------------------------
    # transform
    # ------------------------------------------------------------------

    def transform(self, X: MatrixLike) -> FloatArray:
        """Encode ``X``: ``(psi(X) - mean_) @ components_``, sample by sample.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape (n_samples, n_features)
            Data. A dask collection is encoded lazily, block by block
            (docs/scaling_out.md).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components_)
            float32 if ``X`` is float32, float64 otherwise; a dask array with
            ``X``'s row chunks (a dask DataFrame under pandas output) for dask input.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        psi = self._features(X)
        if sp.issparse(psi):
            Z = np.asarray(psi @ self.components_) - self.mean_ @ self.components_
        else:
            Z = (psi - self.mean_) @ self.components_
        return Z.astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.backbone is not None:
            backbone_tags = get_tags(self.backbone)
            tags.input_tags.sparse &= backbone_tags.input_tags.sparse
            tags.input_tags.positive_only |= backbone_tags.input_tags.positive_only
            tags.target_tags.required |= backbone_tags.target_tags.required
        return tags


def _name(estimator):
    """The class name of a backbone (of the model inside a FrozenEstimator)."""
    return type(getattr(estimator, "estimator", estimator)).__name__
