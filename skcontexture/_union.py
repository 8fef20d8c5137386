"""ContextureUnion: several representations side by side, each of total variance 1."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import TransformerMixin, clone
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.validation import check_is_fitted, validate_data

from ._compat import NamedParts
from ._defaults import MODEL_COMPONENTS
from ._embedding import ContextureEmbedding
from ._typing import fit_context
from .contexts._base import seed_unset
from .contexts._linear_teacher import LinearTeacherContext

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._typing import ArrayLike, FloatArray, MatrixLike, RandomStateLike, Self


class ContextureUnion(TransformerMixin, NamedParts):
    """Representations side by side, each block scaled to total variance 1.

    A downstream model fitted on the columns of several representations chooses
    among them with its labels, but a penalised one (ridge, logistic regression)
    leans on the block with the larger columns. Each block is therefore divided by
    the square root of its total variance on the fit rows (the trace of its
    covariance, the sum of its columns' variances), so that every block enters
    with the same weight: a linear model on the union is kernel regression with
    the sum of the blocks' kernels, each normalised to unit trace.

    The default is what the library measured as the better few-label input on
    tabular data: the linear kernel of the features
    (``LinearTeacherContext(whiten=False)``, whose contexture is PCA, up to
    ``MODEL_COMPONENTS`` = 32 components) beside ``ContextureEmbedding()`` (a
    kNN context with K = 15, 16 components), both weighted by
    ``scale="propagation"``: the first keeps what is linear in the features,
    the second the data's local structure (docs/downstream.md).

    Parameters
    ----------
    embeddings : list of (str, transformer) tuples, default=None
        The named representations, each an estimator with ``fit`` and
        ``transform`` (typically a :class:`ContextureEmbedding`; raw features
        through ``FunctionTransformer()`` work too). None means the two above,
        the linear part with min(32, n_features) components.
    random_state : int, RandomState instance or None, default=None
        Seeds the ``random_state`` parameters the parts leave at None, one seed
        each, so that an integer makes the whole fit reproducible.

    Attributes
    ----------
    embeddings_ : list of (str, transformer) tuples
        The fitted parts.
    block_scales_ : ndarray of shape (n_blocks,)
        The square root of each block's total variance on the fit rows: what its
        columns are divided by.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during ``fit`` (only when they are all strings).

    See Also
    --------
    ContextureEmbedding : one context's representation.
    sklearn.pipeline.FeatureUnion : the same, without the scaling.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skcontexture import ContextureUnion
    >>> X = StandardScaler().fit_transform(load_wine().data)
    >>> union = ContextureUnion(random_state=0).fit(X)
    >>> union.transform(X).shape    # 13 linear components, 16 of the kNN context
    (178, 29)
    >>> [name for name, _ in union.embeddings_]
    ['linear', 'knn']
    """

    _parameter_constraints = {
        "embeddings": [list, None],
        "random_state": ["random_state"],
    }

    _parts_parameter = "embeddings"

    def __init__(
        self,
        embeddings: Sequence[tuple[str, Any]] | None = None,
        *,
        random_state: RandomStateLike = None,
    ) -> None:
        self.embeddings = embeddings
        self.random_state = random_state

    @staticmethod
    def _default_parts(n_features):
        """The default parts for ``n_features`` features."""
        return [("linear", ContextureEmbedding(LinearTeacherContext(whiten=False),
                                               n_components=min(MODEL_COMPONENTS, n_features))),
                ("knn", ContextureEmbedding())]

    def _parts(self, n_features):
        """The named unfitted parts: ``embeddings``, or the default for ``n_features``."""
        if self.embeddings is None:
            return self._default_parts(n_features)
        return self._named_parts("transformer", ("fit", "transform"),
                                 "an estimator with fit and transform")

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None) -> Self:
        """Fit every part on ``X`` and measure each block's total variance.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Passed to every part (for contexts that use labels).

        Returns
        -------
        self : ContextureUnion
        """
        self._fit(X, y)
        return self

    @fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X: MatrixLike, y: ArrayLike | None = None) -> FloatArray:
        """Fit, and return the fit rows' blocks side by side, as each part's
        ``fit_transform`` gives them.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Passed to every part.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features_out)
        """
        return self._stack(self._fit(X, y))

    def _fit(self, X, y):
        """Fit the parts; returns their fit rows' blocks, unscaled."""
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                          ensure_min_samples=2)
        # one RandomState for every part: each unset seed is a new draw from it
        rng = None if self.random_state is None else check_random_state(self.random_state)
        fitted, blocks = [], []
        for name, part in self._parts(X.shape[1]):
            part = seed_unset(clone(part), rng)
            blocks.append(_dense(part.fit_transform(X, y) if hasattr(part, "fit_transform")
                                 else part.fit(X, y).transform(X)))
            fitted.append((name, part))
        self._set_blocks(fitted, blocks)
        return blocks

    def _set_blocks(self, fitted, blocks):
        """Keep the fitted parts and scale each block by its fit rows' total variance."""
        scales = []
        for (name, _), Z in zip(fitted, blocks):
            spread = float(np.sqrt(np.sum(np.var(Z, axis=0, dtype=np.float64))))
            if not (np.isfinite(spread) and spread > 0):
                raise ValueError(
                    f"The block {name!r} is constant on the fit rows (total variance "
                    f"{spread**2:.3g}): it cannot be scaled to total variance 1. Leave it "
                    "out, or give it data on which it varies.")
            scales.append(spread)
        self.embeddings_ = fitted
        self.block_scales_ = np.array(scales)

    def _stack(self, blocks):
        dtype = np.result_type(*blocks)
        return np.hstack([(Z / scale).astype(dtype, copy=False)
                          for Z, scale in zip(blocks, self.block_scales_)])

    def transform(self, X: MatrixLike) -> FloatArray:
        """Embed ``X`` by every part, each block divided by its ``block_scales_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features_out)
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                          reset=False)
        return self._stack([_dense(part.transform(X)) for _, part in self.embeddings_])

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """Each part's output names, prefixed by its name (``"knn__contextureembedding0"``).

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Passed to each part.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        return np.asarray([f"{name}__{feature}" for name, part in self.embeddings_
                           for feature in part.get_feature_names_out(input_features)],
                          dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        parts = self._default_parts(1) if self.embeddings is None else self.embeddings
        parts = [get_tags(item[1]) for item in parts
                 if isinstance(item, tuple) and len(item) == 2
                 and not isinstance(item[1], type) and hasattr(item[1], "__sklearn_tags__")]
        tags.input_tags.sparse = all(t.input_tags.sparse for t in parts)
        tags.target_tags.required = any(t.target_tags.required for t in parts)
        preserved = [set(t.transformer_tags.preserves_dtype) for t in parts
                     if t.transformer_tags is not None]
        tags.transformer_tags.preserves_dtype = sorted(
            set.intersection(*preserved) if preserved else {"float64"}, reverse=True)
        return tags


def union_of_fitted(parts, X):
    """The :class:`ContextureUnion` of ``parts`` fitted on ``X``, without fitting them again.

    ``parts`` is a list of ``(name, estimator)`` whose estimators were fitted on the
    rows ``X`` and whose ``transform`` of those rows is their ``fit_transform`` (a
    ``ContextureEmbedding`` of a context whose conditional reproduces its joint, such as
    a kNN graph, a Gaussian kernel or a linear teacher). Returns what
    ``ContextureUnion(parts).fit(X)`` gives: the union's ``embeddings`` are unfitted
    clones of the parts, so that it can be cloned and refitted like any other.
    """
    union = ContextureUnion([(name, clone(part)) for name, part in parts])
    X = validate_data(union, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                      ensure_min_samples=2)
    union._set_blocks(list(parts), [_dense(part.transform(X)) for _, part in parts])
    return union


def _dense(Z):
    """A part's output as a 2-d array."""
    Z = Z.toarray() if sp.issparse(Z) else np.asarray(Z)
    return Z.reshape(Z.shape[0], -1)
