"""ContextureEmbedding: the exact top singular functions of a context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted

from ._compat import StrOptions
from ._constraints import Implements
from ._dask import accepts_dask, is_dask_collection
from ._context_estimator import ContextEstimatorMixin
from ._operator import ContextOperator
from ._progress import Progress
from ._sparse_blocks import mostly_stored
from ._solvers import TRIPLET_PARAMETERS, top_singular_triplets
from ._typing import fit_context
from ._warn import warn
from .contexts._base import accepted_params
from .metrics._proxy import label_free_score

if TYPE_CHECKING:
    from ._typing import ArrayLike, FloatArray, MatrixLike, RandomStateLike, Self, Solver
    from .contexts import BaseContext


#: A singular function whose effective number of rows is below this (or below 1% of
#: the rows on fewer than 1,000) is reported as concentrated on outliers.
CONCENTRATED_ROWS = 10

#: alpha of ``scale="propagation"``: the weight of one more step of the walk, as in
#: label spreading's (I - alpha S)^-1 (Zhou et al., 2004, use 0.99).
PROPAGATION_ALPHA = 0.99


def effective_rows(Z: FloatArray) -> FloatArray:
    """Effective number of rows each column of ``Z`` lives on: (sum z^2)^2 / sum z^4.

    ``n`` for a column of equal magnitudes, 1 for a column nonzero on one row.
    """
    Z = np.asarray(Z, dtype=np.float64)
    Z = Z / np.maximum(np.abs(Z).max(axis=0), np.finfo(float).tiny)  # no overflow in z^4
    squares = Z**2
    fourth = (squares**2).sum(axis=0)
    return np.where(fourth > 0, squares.sum(axis=0) ** 2 / np.where(fourth > 0, fourth, 1), 0.0)


def concentrated_columns(Z: FloatArray) -> tuple[np.ndarray, int]:
    """The columns of ``Z`` that live on a handful of rows, and that number of rows.

    A column is concentrated when its :func:`effective_rows` are below
    ``CONCENTRATED_ROWS`` (below 1% of the rows, at least 2, on fewer than 1,000).
    """
    few = max(2, min(CONCENTRATED_ROWS, Z.shape[0] // 100))
    return np.flatnonzero(effective_rows(Z) < few), few


@accepts_dask
class ContextureEmbedding(
    ContextEstimatorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Exact contexture embedding: the top singular functions of a context.

    A context gives the joint P+(x, a) of inputs and context atoms. Its
    expectation operator (T g)(x) = E[g(A) | x] has singular values
    1 = s_0 >= s_1 >= ... with singular functions mu_i on the inputs and nu_i on
    the atoms. The embedding is [w_1 mu_1(x), ..., w_d mu_d(x)] (the constant
    mu_0 is dropped): each column has mean 0 under the empirical P_X, distinct
    columns are orthogonal, and column i has second moment w_i^2, the weight
    ``scale`` gives it (1 with ``scale="none"``: the singular functions
    themselves). New points are embedded with the Nyström extension

        mu_i(x) = (1 / s_i) sum_j P+(a_j | x) nu_i(a_j).

    The defaults (16 components weighted by ``scale="propagation"``) are the
    features to give a regularised downstream model fitted on few labels:
    in ``benchmarks/downstream.py`` (5 labelled rows per class, logistic
    regression, 16 classification datasets) they score 0.764 on average
    against 0.720 for 8 unweighted components, 0.755 for the raw features
    and 0.733 for UMAP (``docs/downstream.md``).

    Parameters
    ----------
    context : context estimator, default=None
        The context (see :mod:`skcontexture.contexts`); None means
        ``KNNContext()``. It is cloned and fitted in :meth:`fit`.
    n_components : int, default=16
        Number of singular functions d. When the context has fewer nonzero
        singular values besides the trivial one (at most
        ``min(n_samples, n_atoms) - 1``), a UserWarning says so and the
        embedding has the ones that exist (``n_components_``); with none at
        all, :meth:`fit` raises.
    solver : {"auto", "dense", "arpack", "lobpcg", "chebyshev"}, default="auto"
        Singular value solver. "dense" eigendecomposes the Gram matrix of the
        operator's short side (up to 5,000); "arpack" and "lobpcg" use
        :func:`scipy.sparse.linalg.svds`; "chebyshev" is Chebyshev-filtered
        block subspace iteration with parallel block products. "auto" uses
        "dense" when the short side is at most 1,000, "chebyshev" otherwise.
    tol : float, default=1e-6
        Accuracy of every singular triplet: the residual r of the singular
        value equations (the operator has norm 1). Singular values are then
        accurate to about r^2 / gap and singular functions to r / gap, where
        gap is the distance to the nearest other singular value; a
        :class:`~sklearn.exceptions.ConvergenceWarning` is raised when the
        solver stops far from it.
    max_iter : int, default=None
        Iteration cap of the iterative solvers (None: the solver's default).
    scale : {"none", "singular_values", "propagation"}, default="propagation"
        What column i is multiplied by. "none": 1, the singular functions
        themselves (orthonormal on the fit rows). "singular_values": s_i, so
        that inner products of embeddings are the context's dual kernel
        sum_i s_i^2 mu_i(x) mu_i(x'). "propagation": s_i / sqrt(1 - alpha
        s_i^2) with alpha = ``PROPAGATION_ALPHA`` (0.99), so that they are
        sum_i s_i^2 / (1 - alpha s_i^2) mu_i(x) mu_i(x') = sum_{t >= 1}
        alpha^(t-1) k_t(x, x'), k_t the kernel of t steps x -> a -> x' of
        the context: the label-spreading kernel (I - alpha S)^-1 of Zhou et
        al. (2004) on the leading functions. Where s_i is far from 1 it is
        about s_i; where the context is a graph whose leading s_i are near 1
        (kNN), it keeps the smoothest functions ahead of the rest, and a
        regularised downstream model (ridge, logistic regression) then
        depends little on ``n_components``.
    n_jobs : int, default=None
        Threads for the sparse products of the solver; None means 1, -1 all
        cores. The result does not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seed of the solver's starting vectors, and of the context's random
        draws (noise, masks) where the context leaves its own
        ``random_state`` at None: those are set, on the clone, to integers
        drawn from it. The result is the same for the same seed, except with
        ``solver="arpack"`` where s_d = s_{d+1} (the top-d subspace is not
        determined, and the graph is disconnected or the spectrum clustered
        at 1, both warned): ARPACK then restarts from vectors of its own
        process-wide seed and may return another basis (and on small
        operators its results agree to rounding, not to the bit).
    verbose : int, default=0
        0: silent. 1: one line per stage of :meth:`fit` with its time (the
        context's fit, that is the neighbour search and the joint; the
        operator; the solver; the extension to the fit rows). 2: also one
        line per solver round (converged triplets, largest residual) and, in
        the context's long loops (masks, row batches), a line at every tenth
        with its time and estimated time left.

    Attributes
    ----------
    n_components_ : int
        Number of singular functions computed: ``n_components``, or fewer
        when the context has fewer nonzero singular values (warned).
    singular_values_ : ndarray of shape (n_components_,)
        s_1 >= ... >= s_d, the trivial s_0 = 1 excluded.
    embedding_ : ndarray of shape (n_samples, n_components_)
        mu_1..mu_d on the fit rows, from the fit joint, each times the weight
        ``scale`` gives it. Like ``atom_functions_``, it is float32
        when ``X`` is (half the memory of float64), float64 otherwise; the
        solver computes in float64.
    atom_functions_ : ndarray of shape (n_atoms, n_components_)
        nu_1..nu_d on the atoms (zero on atoms with no mass).
    context_ : context estimator
        The fitted clone of ``context``.
    n_connected_components_ : int
        Connected components of the bipartite graph samples <-> atoms; more
        than one means s = 1 has that multiplicity.
    n_products_ : int
        Products of the solver with the operator or its transpose (a block
        product counts once): the cost of the solve, comparable across
        solvers.
    n_iter_ : int
        ``n_products_``, under the name scikit-learn gives the work of an
        estimator with ``max_iter``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X has string column names).

    See Also
    --------
    sklearn.manifold.SpectralEmbedding : Laplacian eigenmaps, without transform.
    sklearn.decomposition.KernelPCA : kernel eigenfunctions with a dense kernel.

    Notes
    -----
    ``fit_transform(X)`` equals ``fit(X).transform(X)``. For contexts whose
    conditional of a fit row is its joint row (kNN, kernels, co-occurrence)
    both equal ``embedding_``. For :class:`~skcontexture.LabelContext`,
    ``embedding_`` is the exact label embedding and ``transform`` its
    out-of-sample extension through the neighbours' labels.

    References
    ----------
    Zhai et al., "Contextures: Representations from Contexts", ICML 2025.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skcontexture import ContextureEmbedding, KNNContext
    >>> X, _ = load_digits(return_X_y=True)
    >>> emb = ContextureEmbedding(KNNContext(n_neighbors=10), n_components=4)
    >>> Z = emb.fit_transform(X)
    >>> Z.shape
    (1797, 4)
    >>> bool(emb.singular_values_[0] <= 1)
    True
    """

    _parameter_constraints = {
        "context": [Implements(["fit", "conditional"]), None],
        "scale": [StrOptions({"none", "singular_values", "propagation"})],
        "verbose": ["verbose"],
    } | TRIPLET_PARAMETERS  # n_components, solver, tol, max_iter, n_jobs, random_state
    # A context's second view (PairedContext) is metadata of fit and transform:
    # this gives set_fit_request(A=...) and set_transform_request(A=...).
    __metadata_request__fit = {"A": None}
    __metadata_request__transform = {"A": None}

    def __init__(
        self,
        context: BaseContext | None = None,
        n_components: int = 16,
        *,
        solver: Solver = "auto",
        tol: float = 1e-6,
        max_iter: int | None = None,
        scale: Literal["none", "singular_values", "propagation"] = "propagation",
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
        verbose: int = 0,
    ) -> None:
        self.context = context
        self.n_components = n_components
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.scale = scale
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None, **fit_params: Any) -> Self:
        """Fit the context and compute its top singular functions.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Training data. A dask array is fitted on the active ``distributed``
            cluster without gathering it (kNN, truncated RBF and co-occurrence
            contexts; ``embedding_`` is then a dask array, see docs/scaling_out.md).
        y : array-like of shape (n_samples,), default=None
            Targets, for contexts that use them (``LabelContext``).
        **fit_params : dict
            Passed to the context's ``fit``.

        Returns
        -------
        self : ContextureEmbedding
        """
        progress = Progress(self.verbose, type(self).__name__)
        if is_dask_collection(X):
            return self._fit_on_cluster(X, fit_params, progress)
        X, context, operator = self._fit_context(X, y, fit_params, progress)
        return self._fit_operator(context, operator, X.dtype, progress)

    def _fit_context(self, X, y, fit_params, progress):
        """The first half of ``fit``: ``X`` validated, the seeded context fitted on it, and
        its operator."""
        X = self._validate_X(X, reset=True)
        with progress.active():  # the context's long loops report to it
            context = self._seeded_context().fit(X, y, **fit_params)
        joint = context.joint_
        progress.done(f"{type(context).__name__} fitted on {X.shape[0]} x {X.shape[1]}: "
                      f"joint {joint.shape[0]} x {joint.shape[1]}, {joint.nnz:,} nonzeros")
        return X, context, ContextOperator(joint, n_jobs=self.n_jobs)

    def _fit_operator(self, context, operator, dtype, progress):
        """The second half of ``fit``: the top triplets of the fitted ``context``'s
        ``operator`` and their extension to the fit rows (stored in ``dtype``).

        The main job's selection calls the two halves itself, to compute a context's
        spectrum from the same operator in between.
        """
        atom_functions = self._solve(operator, context, progress)
        # Nystrom on the fit rows, normalize_rows(joint) @ F, without copying the joint
        mass = np.asarray(context.joint_.sum(axis=1)).ravel()
        embedding = self._extend(context.joint_, atom_functions)
        embedding[mass > 0] /= mass[mass > 0, None]
        return self._set_fit_rows(context, atom_functions, embedding, dtype, progress)

    def _fit_on_cluster(self, X, fit_params, progress):
        """Fit on a dask array with the active ``distributed`` client (docs/scaling_out.md)."""
        from ._distributed.fit import fit_on_cluster

        context, operator, fit_rows = fit_on_cluster(
            self._seeded_context(), X, fit_params, self.n_jobs, progress
        )
        self.n_features_in_ = X.shape[1]
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        atom_functions = self._solve(operator, context, progress)
        embedding = fit_rows(self._nystrom_functions(atom_functions))
        return self._set_fit_rows(context, atom_functions, embedding, fit_rows.dtype, progress)

    def _set_fit_rows(self, context, atom_functions, embedding, dtype, progress):
        """Store the atom functions and the fit rows' embedding in the fit input's dtype."""
        self.atom_functions_ = atom_functions.astype(dtype, copy=False)
        self.embedding_ = embedding.astype(dtype, copy=False)
        progress.done(f"Nystrom extension to the {embedding.shape[0]} fit rows")
        self._warn_degenerate(context)
        return self

    def _solve(self, operator, context, progress):
        """Set the spectral attributes from the operator of the fitted ``context``.

        Returns the atom functions nu_1..nu_d over all atoms (float64; zero on
        atoms without mass). ``operator`` is a ContextOperator or an object with
        its interface (the distributed fit's).
        """
        n_components = operator.n_connected_components()
        progress.done(f"operator {operator.shape[0]} x {operator.shape[1]} with mass, "
                      f"{n_components} connected component(s)")
        s, _, V, n_products = top_singular_triplets(
            operator,
            self.n_components,
            solver=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
            random_state=self.random_state,
            log=progress.step,
        )
        progress.done(f"solver {self.solver!r}: {len(s)} singular triplets, "
                      f"s_1={s[0]:.4f}, s_d={s[-1]:.4f}")
        atom_functions = operator.atom_functions(V)
        self.context_ = context
        self.singular_values_ = s
        self.n_products_ = n_products
        self.n_connected_components_ = n_components
        self.n_components_ = self._n_features_out = len(s)
        return atom_functions

    @property
    def n_iter_(self) -> int:
        # scikit-learn's convention for an estimator with max_iter (its checks ask for it)
        return self.n_products_

    def _warn_degenerate(self, context):
        traits = context.traits()
        if traits.isolates_rows:
            self._warn_concentrated()
        self._warn_tied(context)
        n_comp = self.n_connected_components_
        if n_comp > 1 and not traits.block_structured:
            warn(
                f"The context graph has {n_comp} connected components: singular value "
                f"1 has multiplicity {n_comp} and the leading embedding columns only "
                f"separate the components. To fix it, {traits.disconnected_advice}.",
                UserWarning,
            )

    def _warn_concentrated(self):
        """Warn when singular functions live on a handful of rows (isolated outliers)."""
        if not isinstance(self.embedding_, np.ndarray) or self.embedding_.shape[0] < 2:
            return
        concentrated, few = concentrated_columns(self.embedding_)
        if concentrated.size:
            warn(
                f"{concentrated.size} of the {self.n_components_} singular functions (the first: "
                f"number {concentrated[0] + 1}, s={self.singular_values_[concentrated[0]]:.4f})"
                f" live on fewer than {few} rows: the context isolates outlying rows, and "
                "those columns carry nothing a downstream model can use. Widen the context "
                "(a smaller gamma or sigma, more neighbours), or tame the outliers before it "
                "(e.g. QuantileTransformer or RobustScaler instead of StandardScaler).",
                UserWarning,
            )

    def _column_weights(self):
        """What ``scale`` multiplies each column by."""
        s = self.singular_values_
        if self.scale == "singular_values":
            return s
        if self.scale == "propagation":
            return s / np.sqrt(1.0 - PROPAGATION_ALPHA * s**2)
        return np.ones_like(s)

    def _nystrom_functions(self, atom_functions):
        """``atom_functions / s`` times the column weights: a conditional row times these is
        its embedding (the Nystrom extension)."""
        return atom_functions * (self._column_weights() / self.singular_values_)

    def _extend(self, conditional, atom_functions):
        """The Nystrom extension ``conditional @ atom_functions / s`` (times the weights).

        Rows that store most of their entries (a kernel's) are multiplied as a dense array.
        """
        functions = self._nystrom_functions(atom_functions)
        if sp.issparse(conditional) and mostly_stored(conditional):
            conditional = conditional.toarray()
        return np.asarray(conditional @ functions)

    def _nystrom(self, X, params):
        """Embed the validated ``X`` through the context's conditional, in X's dtype."""
        Z = self._extend(self.context_.conditional(X, **params), self.atom_functions_)
        return Z.astype(X.dtype, copy=False)

    def transform(self, X: MatrixLike, **params: Any) -> FloatArray:
        """Embed ``X`` with the Nyström extension of the singular functions.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape (n_samples, n_features)
            New data. A dask collection is transformed lazily, block by block
            (docs/scaling_out.md).
        **params : dict
            Passed to the context's ``conditional`` (``A=`` for a
            :class:`~skcontexture.PairedContext`; a dask array chunked like ``X``
            when ``X`` is one).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components_)
            float32 if ``X`` is float32, float64 otherwise; a dask array with
            ``X``'s row chunks (a dask DataFrame under pandas output) for dask input.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._nystrom(X, params)

    def fit_transform(
        self, X: MatrixLike, y: ArrayLike | None = None, **fit_params: Any
    ) -> FloatArray:
        """Fit and return the embedding of ``X`` (equal to ``fit(X).transform(X)``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Targets, for contexts that use them.
        **fit_params : dict
            Passed to the context's ``fit`` (and those its ``conditional`` takes, such
            as ``A=``, to ``conditional``).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components_)
            float32 if ``X`` is float32, float64 otherwise.
        """
        self.fit(X, y, **fit_params)
        if self.context_.traits().conditional_reproduces_joint:
            return self.embedding_.copy()
        X = self._validate_X(X, reset=False)
        return self._nystrom(X, accepted_params(self.context_.conditional, fit_params))

    def score(self, X: MatrixLike, y: ArrayLike | None = None) -> float:
        """Label-free score of the estimator: ``ContextScorer()(self, X, y)`` (greater is better).

        The default metric, "feature_prediction": clones of this estimator (its
        context and ``n_components``) are fitted on half the rows of ``X`` without a
        group of features and predict those features on the other half; the mean
        held-out R^2 at the best dimension. So ``GridSearchCV(..., scoring=None)``
        selects a context without labels; give it rows the estimator was not
        fitted on. ``y`` is passed on only to contexts that are fitted on it
        (``LabelContext``, ``TargetContext``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        self._validate_X(X, reset=False)
        return label_free_score(self, X, y)

