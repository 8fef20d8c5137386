"""The teacher context: a fitted model's outputs define the context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import StrOptions
from .._constraints import Implements
from .._typing import fit_context
from ._base import BaseContext, accepted_params, normalize_rows, release_joint
from ._knn import context_or_default
from ._traits import ContextTraits, combine_traits

if TYPE_CHECKING:
    from .._typing import ArrayLike, MatrixLike, Self, SparseMatrix


class TeacherMixin:
    """What the contexts built on a teacher model share: the teacher, fitted or frozen,
    and its outputs.

    A subclass has the parameters ``teacher`` and ``output``; ``_OUTPUTS`` maps
    each value of ``output`` but "auto" to the teacher method it reads. A fitted
    teacher is used as it is and never refitted: cloning the context keeps the
    same teacher object, wrapped in :class:`sklearn.frozen.FrozenEstimator`. An
    unfitted teacher is cloned and fitted on ``(X, y)`` by :meth:`_fit_teacher`.
    """

    #: The teacher method read for each ``output`` (besides "auto").
    _OUTPUTS = {"proba": "predict_proba", "transform": "transform", "predict": "predict"}

    def __sklearn_clone__(self):
        teacher = self.teacher
        if not _is_fitted(teacher):
            return super().__sklearn_clone__()
        # a fitted teacher is shared, not copied, and frozen: setting its
        # parameters (e.g. in a grid) then raises instead of being ignored
        if hasattr(teacher, "get_params") and not isinstance(teacher, FrozenEstimator):
            teacher = FrozenEstimator(teacher)
        params = {key: clone(value, safe=False)
                  for key, value in self.get_params(deep=False).items() if key != "teacher"}
        return type(self)(teacher=teacher, **params)

    def _teacher_traits(self):
        """The input traits of the teacher, and whether fitting it needs ``y``."""
        tags = _get_tags(self.teacher)
        inputs = {
            "accepts_sparse": tags.input_tags.sparse,
            "positive_only": tags.input_tags.positive_only,
        }
        return inputs, tags.target_tags.required and not _is_fitted(self.teacher)

    def _resolved_output(self):
        """``output_`` once fitted, else what ``output`` resolves to (None if it cannot)."""
        if hasattr(self, "output_"):
            return self.output_
        try:
            return self._resolve_output(self.teacher)
        except ValueError:  # fit reports it
            return None

    def _resolve_output(self, teacher):
        if self.output != "auto":
            method = self._OUTPUTS[self.output]
            if not hasattr(teacher, method):
                raise ValueError(
                    f"{type(self).__name__}(output={self.output!r}) needs a teacher with "
                    f"{method}; {type(teacher).__name__} has none."
                )
            return self.output
        if is_classifier(teacher) and hasattr(teacher, "predict_proba"):
            return "proba"
        if hasattr(teacher, "transform"):
            return "transform"
        if hasattr(teacher, "predict") and not is_classifier(teacher):
            return "predict"
        raise ValueError(
            f"{type(self).__name__} cannot use {type(teacher).__name__} as a teacher: it "
            "needs predict_proba (a classifier), transform, or predict (a regressor)."
        )

    def _fit_teacher(self, X, y, fit_params):
        """Set ``teacher_``: the teacher if fitted, else a clone fitted on ``(X, y)``."""
        if _is_fitted(self.teacher):
            self.teacher_ = self.teacher
            return
        if y is None and _get_tags(self.teacher).target_tags.required:
            raise ValueError(
                f"{type(self).__name__} with an unfitted {type(self.teacher).__name__} "
                "teacher requires y to be passed, but the target y is None."
            )
        params = accepted_params(self.teacher.fit, fit_params)
        try:
            self.teacher_ = clone(self.teacher).fit(X, y, **params)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            largest, dtype = _largest_abs(X)
            if largest > np.sqrt(np.finfo(dtype).max / max(_size(X), 1)):
                # the teacher's own message would speak of NaN or infinity in a finite X
                raise ValueError(
                    f"The teacher {type(self.teacher).__name__} could not be fitted on X: "
                    f"X has values up to {largest:.3g}, whose squares overflow {dtype} "
                    "in the teacher's computations. Scale X first (e.g. "
                    "sklearn.preprocessing.StandardScaler, or X / abs(X).max())."
                ) from exc
            raise ValueError(
                f"The teacher {type(self.teacher).__name__} could not be fitted on X "
                f"({exc}). If X has huge or badly scaled values, scale it first (e.g. "
                "sklearn.preprocessing.StandardScaler)."
            ) from exc

    def _output(self, method, X):
        """The teacher's ``method`` on ``X``; non-finite values raise, naming the teacher."""
        output = getattr(self.teacher_, method)(X)
        values = np.asarray(output.data if sp.issparse(output) else output)
        if np.issubdtype(values.dtype, np.number) and not np.isfinite(values).all():
            teacher = self.teacher_
            if isinstance(teacher, FrozenEstimator):
                teacher = teacher.estimator
            name = type(teacher).__name__
            raise ValueError(
                f"The teacher's {method} ({name}) returned NaN or infinite values on X, "
                "so the context is undefined. Check the teacher on this X: a teacher "
                "sees overflow on badly scaled data (scale X, e.g. with "
                "sklearn.preprocessing.StandardScaler, in a pipeline with the teacher)."
            )
        return output


class TeacherContext(TeacherMixin, BaseContext):
    """Context given by a teacher model h: its class probabilities or its features.

    - ``output="proba"`` (a classifier): the atoms are the teacher's classes
      and P+(c | x) = ``teacher.predict_proba(x)[c]`` (soft labels). A teacher
      that predicts one-hot probabilities on the fit points gives the
      :class:`LabelContext` joint.
    - ``output="transform"`` (a transformer: PCA, a pretrained feature
      extractor wrapped as a transformer, a tree-ensemble embedding): the
      context is ``base`` applied in the teacher's output space, a
      convolution x -> h(x) -> neighbours of h(x) among h(fit points). The
      atoms are those of ``base`` (the fit points for kNN or RBF).
    - ``output="predict"`` (a regressor): the same with h(x) = predict(x),
      a kernel or kNN on the teacher's predictions.

    The rule is the same for fit rows and new rows. A fitted teacher is used
    as it is and never refitted: cloning a ``TeacherContext`` (as
    ``ContextureEmbedding`` and ``GridSearchCV`` do) keeps the same teacher
    object, wrapped in :class:`sklearn.frozen.FrozenEstimator` (so that a grid
    over its parameters raises rather than being silently ignored). An
    unfitted teacher is cloned and fitted on ``(X, y)`` in :meth:`fit`, and
    its parameters can be tuned (``context__teacher__C``). Strength
    is the teacher's: a confident classifier is a strong context (hard labels
    make one component per class), a smooth one a weaker context; in feature
    space it is the strength of ``base``.

    Parameters
    ----------
    teacher : estimator
        A classifier with ``predict_proba``, a transformer, or a regressor,
        fitted or not.
    output : {"auto", "proba", "transform", "predict"}, default="auto"
        What the teacher gives. "auto" uses "proba" for a classifier with
        ``predict_proba``, else "transform" when the teacher has
        ``transform``, else "predict".
    base : context estimator, default=None
        Context applied in the teacher's output space ("transform" and
        "predict"); None means ``KNNContext()``.

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_atoms)
        The fit joint (each fit row has mass 1/n).
    n_atoms_ : int
        Number of atoms (classes, or the atoms of ``base_``).
    teacher_ : estimator
        The teacher used: ``teacher`` itself when it was fitted (frozen in a
        clone of the context), else a fitted clone of it.
    output_ : str
        The resolved ``output``.
    classes_ : ndarray of shape (n_classes,)
        The classes (the atoms) when ``output_ == "proba"``.
    base_ : context estimator
        The fitted base in the teacher's output space (not for "proba").

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcontexture import KNNContext, TeacherContext
    >>> X, y = load_iris(return_X_y=True)
    >>> TeacherContext(LogisticRegression(max_iter=500)).fit(X, y).joint_.shape
    (150, 3)
    >>> TeacherContext(PCA(n_components=2), base=KNNContext(10)).fit(X).joint_.shape
    (150, 150)
    """

    _parameter_constraints = {
        "teacher": [
            Implements(["predict_proba"]),
            Implements(["transform"]),
            Implements(["predict"]),
        ],
        "output": [StrOptions({"auto", "proba", "transform", "predict"})],
        "base": [Implements(["fit", "conditional"]), None],
    }

    def __init__(
        self,
        teacher: Any,
        output: Literal["auto", "proba", "transform", "predict"] = "auto",
        base: BaseContext | None = None,
    ) -> None:
        self.teacher = teacher
        self.output = output
        self.base = base

    def traits(self) -> ContextTraits:
        """The traits of the teacher's output: soft labels, or ``base`` around h(x).

        The output is the resolved ``output_`` once fitted and, before, the one
        ``output`` resolves to for the given teacher.

        Returns
        -------
        traits : ContextTraits
            For "proba", block-structured atoms (classes) that are no points;
            otherwise those of ``base`` (of ``base_`` once fitted). The input
            tags are the teacher's, and ``y`` is required by an unfitted
            teacher that needs it or by ``base``.
        """
        inputs, teacher_needs_y = self._teacher_traits()
        if self._resolved_output() == "proba":
            return ContextTraits(block_structured=True, disconnected_advice="use a softer teacher",
                                 requires_y=teacher_needs_y, **inputs)
        base = self.base_ if hasattr(self, "base_") else context_or_default(self.base)
        traits = base.traits()
        return combine_traits([traits], requires_y=teacher_needs_y or traits.requires_y, **inputs)

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None, **fit_params: Any) -> Self:
        """Fit the teacher if needed, then build the joint from its outputs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points, as the teacher accepts them.
        y : array-like of shape (n_samples,), default=None
            Targets of an unfitted teacher (and of ``base``, if it uses them).
        **fit_params : dict
            Passed to an unfitted teacher's ``fit`` (those it takes by name).

        Returns
        -------
        self : TeacherContext
        """
        validate_data(self, X, skip_check_array=True)
        self._fit_teacher(X, y, fit_params)
        self.output_ = self._resolve_output(self.teacher_)
        if self.output_ == "proba":
            self.classes_ = self.teacher_.classes_
            self._set_joint_from_conditional(self._proba(X))
        else:
            self.base_ = clone(context_or_default(self.base)).fit(self._features(X), y)
            self.joint_ = self.base_.joint_
            self.n_atoms_ = self.base_.n_atoms_
            release_joint(self.base_)  # held once, as joint_
        return self

    def conditional(self, X: MatrixLike, **params: Any) -> SparseMatrix:
        """Return the teacher's class distribution, or ``base`` around h(x).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)
        **params : dict
            Passed to the base's ``conditional`` ("transform" and "predict").

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        validate_data(self, X, skip_check_array=True, reset=False)
        if self.output_ == "proba":
            return self._proba(X)
        return self.base_.conditional(self._features(X), **params)

    def _proba(self, X):
        return normalize_rows(sp.csr_matrix(self._output("predict_proba", X)))

    def _features(self, X):
        if self.output_ == "transform":
            return self._output("transform", X)
        prediction = np.asarray(self._output("predict", X), dtype=np.float64)
        return prediction.reshape(prediction.shape[0], -1)


def _largest_abs(X):
    """Largest absolute value of a numeric X (array, DataFrame, sparse), 0 otherwise, and
    the float type a teacher computes in on it (X's own, float64 for integers)."""
    try:
        values = X.data if sp.issparse(X) else np.asarray(X)
        if values.dtype.kind not in "biuf" or not values.size:
            return 0.0, np.dtype(np.float64)
        dtype = values.dtype if values.dtype.kind == "f" else np.dtype(np.float64)
        return float(np.nanmax(np.abs(values.astype(np.float64)))), dtype
    except (TypeError, ValueError):
        return 0.0, np.dtype(np.float64)


def _size(X):
    """Number of entries of a 2-D X (rows x columns)."""
    shape = getattr(X, "shape", None) or np.shape(X)
    return int(np.prod(shape)) if len(shape) else 0


def _is_fitted(estimator):
    """Whether a teacher is fitted (an object without ``fit`` counts as fitted)."""
    if not hasattr(estimator, "fit"):
        return True
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def _get_tags(estimator):
    """Tags of a teacher; default tags for objects that are no estimators."""
    try:
        return get_tags(estimator)
    except AttributeError:
        return BaseEstimator().__sklearn_tags__()
