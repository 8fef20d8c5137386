"""The linear teacher context: a thresholded, whitened linear kernel on a teacher's outputs.

The contexture dissertation's code (``knowledge/teacher.py`` of the public
repository ``RuntianZ/contextures-dissertation``) defines its teacher contexts by
a kernel, not by a joint. For teacher outputs z(x) (the raw features, a
model's outputs, the per-tree outputs of a boosted ensemble, or the target y),
with mean m over the n fit rows and the thin SVD z~ = Z - 1 m^T = U S V^T of
the centred fit outputs, it computes ``proj = V D V^T`` with

    D = diag(1 / S_j if S_j >= t else 0)    (t = teacher_threshold > 0; "STK")
    D = I / S_1                             (t = 0)

and the kernel k(x, x') = n (z(x) - m)^T proj proj^T (z(x') - m) + 1, with
(1/n) sum_i k(x, x_i) f(x_i) the operator whose top eigenfunctions the network
learns: k is the *dual kernel* k_X of a context (the kernel of T T*), not a
conditional. The threshold t is absolute, on the singular values of the
n x p centred output matrix (0.1 for the target, 0.001 for the trees of the
reference's boosted teacher).

Writing w_j(x) = sqrt(n) (z(x) - m)^T v_j / S_j (the whitened principal
coordinates: mean 0 and unit second moment on the fit rows), the kernel is

    k(x, x') = 1 + sum_j a_j^2 w_j(x) w_j(x'),

a_j = 1 on the kept directions with t > 0, a_j = S_j / S_1 with t = 0. Its
operator has the constant and the w_j as eigenfunctions, with eigenvalues 1
and a_j^2.

Why the joint is not that kernel
--------------------------------
Every context's dual kernel is nonnegative, sum_a P+(a|x) P+(a|x') / P_A(a),
and this k is negative for points on opposite sides of the mean: no joint has
it as its dual kernel, and the library's operator takes nonnegative joints
only. The closest context is a mixture of k with the uninformative context
(whose dual kernel is the constant 1):

    k_joint = (1 - lam) + lam k = 1 + lam sum_j a_j^2 w_j(x) w_j(x'),

which has the same singular functions (the constant and the w_j) and squared
singular values lam a_j^2. It is the dual kernel of this joint: each kept
direction j owns two atoms, its low end j- and its high end j+, and

    P+(j+ | x) = q_j (w_j(x) - lo_j) / (hi_j - lo_j),
    P+(j- | x) = q_j (hi_j - w_j(x)) / (hi_j - lo_j),

with [lo_j, hi_j] the range of w_j on the fit rows: x picks direction j with
probability q_j, then an end of it in proportion to where x lies. Since w_j
has mean 0 on the fit rows, P_A(j+) = -q_j lo_j / (hi_j - lo_j) and
P_A(j-) = q_j hi_j / (hi_j - lo_j), and summing over the two ends gives
q_j (1 + w_j(x) w_j(x') / (-lo_j hi_j)). So q_j = lam a_j^2 (-lo_j hi_j) and
sum_j q_j = 1 give lam = 1 / sum_j a_j^2 (-lo_j hi_j), the largest weight for
which the rows are probabilities on the fit rows. In one dimension that lam
reaches the bound any nonnegative dual kernel of this form must meet
(k_joint >= 0 between the two extreme rows).

A new point beyond the fit rows' range along a direction is placed at the end
of the range there (w_j clipped to [lo_j, hi_j]): its conditional would
otherwise be negative. Inside the range the Nystrom extension of the singular
functions is exactly linear, mu_j(x) = w_j(x).
"""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

from .._compat import Interval, StrOptions
from .._constraints import Implements
from .._typing import fit_context
from ._base import BaseContext
from ._teacher import TeacherMixin
from ._traits import ContextTraits

if TYPE_CHECKING:
    from .._typing import ArrayLike, FloatArray, MatrixLike, Self, SparseMatrix

#: The staged methods whose successive differences are the per-tree outputs
#: (``output="trees"``), in order of preference: raw scores, then predictions.
STAGED_METHODS = ("staged_decision_function", "staged_predict")


class LinearTeacherContext(TeacherMixin, BaseContext):
    """Linear teacher context: the thresholded, whitened linear kernel of a teacher's outputs.

    The teacher's outputs z(x) (the raw features by default) are centred on
    the fit rows; their principal directions whose singular value is below
    ``threshold`` times the largest are dropped; the kept ones give the
    whitened coordinates w_j(x), with mean 0 and unit second moment on the fit
    rows. The dissertation's reference code defines this teacher by the
    kernel (its "STK", singular-value-thresholded kernel)

        k(x, x') = n (z(x) - m)^T P (z(x') - m) + 1 = 1 + sum_j a_j^2 w_j(x) w_j(x'),

    P = V_kept diag(1 / S_kept^2) V_kept^T the whitening projection onto the
    kept directions (a_j = 1), or ``whiten=False``: P = V_kept V_kept^T / S_1^2
    (a_j = S_j / S_1, the reference's threshold-0 kernel). k is the dual
    kernel of the context: its operator (1/n) sum_i k(x, x_i) f(x_i) has the
    constant and the w_j as eigenfunctions, with eigenvalues 1 and a_j^2.

    k takes negative values, which no context's dual kernel does; the joint
    is the closest context, whose dual kernel is

        k_joint(x, x') = (1 - lam) + lam k(x, x'),

    the mixture of k with the uninformative context (``kernel_weight_`` is
    lam). So ``ContextureEmbedding`` finds exactly the singular functions of
    k, the w_j (mean 0, unit variance), with singular values sqrt(lam) a_j
    instead of a_j. The atoms are the two ends of each kept direction: x picks
    direction j with probability q_j (``direction_weights_``), then its high
    end with probability (w_j(x) - lo_j) / (hi_j - lo_j), [lo_j, hi_j] the range
    of w_j on the fit rows, and lam = 1 / sum_j a_j^2 (-lo_j hi_j) is the
    largest weight for which these rows are probabilities (docs/contexts.md
    derives it). A new point beyond the fit range along a direction is placed
    at the end of the range; inside it the embedding of a new point is exactly
    linear in z(x).

    With ``whiten=True`` every kept direction has the same singular value:
    ``ContextureEmbedding`` with ``n_components`` at least the number of kept
    directions returns their whole span; with fewer it returns *a* top
    subspace of the kernel, which one depending on the solver. ``whiten=False``
    orders the directions by the teacher's singular values (PCA of z), whose
    leading d are then the unique top-d singular functions.

    Parameters
    ----------
    teacher : estimator, default=None
        None uses the raw features, z(x) = x. Otherwise a transformer, a
        regressor, a classifier with ``predict_proba`` or a boosted ensemble
        with staged outputs, fitted (used as is, never refitted; frozen when
        the context is cloned) or not (cloned and fitted on ``(X, y)``).
    output : {"auto", "transform", "predict", "proba", "trees"}, default="auto"
        What the teacher gives: ``transform``, ``predict``, ``predict_proba``,
        or "trees", the output of each boosting iteration (the difference of
        successive ``staged_decision_function``, else ``staged_predict``,
        outputs of a scikit-learn ``HistGradientBoostingClassifier`` or
        ``...Regressor``: one column per iteration and class), the
        counterpart of the reference's per-tree XGBoost outputs. "auto" uses
        "proba" for a classifier with ``predict_proba``, else "transform", else
        "predict"; it is the only choice with ``teacher=None``.
    threshold : float in [0, 1), default=1e-3
        Principal directions of the centred outputs whose singular value is
        below ``threshold`` times the largest are dropped (and always those at
        the level of rounding, ``max(n, p) * eps`` times the largest or times
        ``sqrt(n)`` times the largest output). The reference's
        threshold is absolute (0.1 for the target, 0.001 for its trees);
        relative to the largest it does not depend on the scale of z or on n.
    whiten : bool, default=True
        True: the reference's whitened kernel, every kept direction of equal
        weight. False: the linear kernel (z - m)^T (z' - m) scaled so that its
        largest eigenvalue is 1 (the reference's threshold 0), directions
        weighted by their singular values.

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, 2 * n_directions_)
        The fit joint: each fit row has mass 1/n, spread over the two ends of
        every kept direction.
    n_atoms_ : int
        Number of atoms, ``2 * n_directions_``: atom 2j is the high end of
        direction j, atom 2j + 1 its low end.
    teacher_ : estimator or None
        The teacher used (None for the raw features).
    output_ : str
        The resolved ``output``: "identity" for the raw features.
    scale_ : float
        A power of two the outputs are multiplied by before centring (so that
        no sum overflows); exact.
    mean_ : ndarray of shape (n_outputs,)
        Mean of the scaled outputs on the fit rows, m.
    components_ : ndarray of shape (n_outputs, n_directions_)
        w(x) = (scale_ z(x) - mean_) @ components_.
    relative_singular_values_ : ndarray of shape (n_directions_,)
        S_j / S_1 of the kept directions, descending.
    n_directions_ : int
        Number of kept directions.
    lower_, upper_ : ndarray of shape (n_directions_,)
        lo_j and hi_j, the range of w_j on the fit rows.
    direction_weights_ : ndarray of shape (n_directions_,)
        q_j, summing to 1.
    kernel_weight_ : float
        lam: the dual kernel of the joint is (1 - lam) + lam k, its singular
        values sqrt(lam) a_j.

    See Also
    --------
    TeacherContext : kNN or RBF neighbourhoods in a teacher's output space,
        or a classifier's soft labels.
    LabelContext : the reference's "YLinear" class kernel, exactly.
    TargetContext : with ``base=LinearTeacherContext()``, the reference's
        "YLinear" target kernel.

    References
    ----------
    R. Zhai, "Contextures: The Mechanism of Representation Learning", PhD
    thesis, Carnegie Mellon University, 2025 (arXiv 2504.19792); code:
    ``knowledge/teacher.py`` of ``RuntianZ/contextures-dissertation``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skcontexture import ContextureEmbedding, LinearTeacherContext
    >>> X = StandardScaler().fit_transform(load_wine().data)
    >>> context = LinearTeacherContext().fit(X)
    >>> context.n_directions_, context.joint_.shape
    (13, (178, 26))
    >>> emb = ContextureEmbedding(LinearTeacherContext(whiten=False), n_components=2,
    ...                           scale="none").fit(X)
    >>> Z = emb.transform(X)          # the two leading principal components, unit variance
    >>> bool(np.allclose(Z.T @ Z / len(X), np.eye(2)))
    True
    >>> s = emb.singular_values_ / np.sqrt(emb.context_.kernel_weight_)
    >>> np.round(s, 4)                # a_j = S_j / S_1, the singular values of the kernel
    array([1.    , 0.7284])
    """

    _OUTPUTS = {**TeacherMixin._OUTPUTS, "trees": STAGED_METHODS[0]}
    _parameter_constraints = {
        "teacher": [
            Implements(["predict_proba"]),
            Implements(["transform"]),
            Implements(["predict"]),
            None,
        ],
        "output": [StrOptions({"auto", "transform", "predict", "proba", "trees"})],
        "threshold": [Interval(Real, 0, 1, closed="left")],
        "whiten": ["boolean"],
    }

    def __init__(
        self,
        teacher: Any = None,
        output: Literal["auto", "transform", "predict", "proba", "trees"] = "auto",
        threshold: float = 1e-3,
        whiten: bool = True,
    ) -> None:
        self.teacher = teacher
        self.output = output
        self.threshold = threshold
        self.whiten = whiten

    def traits(self) -> ContextTraits:
        """The teacher's input traits; the atoms are the ends of directions, no points.

        Returns
        -------
        traits : ContextTraits
            Sparse input when the teacher takes it (not for the raw features),
            ``y`` required by an unfitted teacher that needs it.
        """
        inputs, teacher_needs_y = self._teacher_traits()
        if self.teacher is None:
            inputs["accepts_sparse"] = False
        return ContextTraits(
            requires_y=teacher_needs_y,
            isolates_rows=False,  # its functions are linear in the teacher's outputs
            disconnected_advice=(
                "use a teacher with graded outputs (outputs with two values split the rows "
                "like class labels)"
            ),
            **inputs,
        )

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None, **fit_params: Any) -> Self:
        """Fit the teacher if needed, then its principal directions and the joint.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Fit points (as the teacher accepts them).
        y : array-like of shape (n_samples,), default=None
            Targets of an unfitted teacher.
        **fit_params : dict
            Passed to an unfitted teacher's ``fit`` (those it takes by name).

        Returns
        -------
        self : LinearTeacherContext
        """
        if self.teacher is None:
            X = validate_data(self, X, dtype=np.float64)
            self.teacher_ = None
        else:
            validate_data(self, X, skip_check_array=True)
            self._fit_teacher(X, y, fit_params)
        self.output_ = self._resolve_output(self.teacher_)
        W = self._fit_directions(self._outputs(X))
        self._set_joint_from_conditional(self._rows(W))
        return self

    def conditional(self, X: MatrixLike) -> SparseMatrix:
        """Return P+(. | x): direction j's mass q_j split between its two ends.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        if self.output_ == "identity":
            X = validate_data(self, X, dtype=np.float64, reset=False)
        else:
            validate_data(self, X, skip_check_array=True, reset=False)
        return self._rows(self._coordinates(self._outputs(X)))

    def _tied_components_advice(self, n_components):
        """Whitened, every kept direction has the same singular value: fewer components than
        ``n_directions_`` are *a* top subspace of the kernel, which one depending on the solver."""
        if not self.whiten or n_components >= self.n_directions_:
            return None
        return (
            f"LinearTeacherContext(whiten=True) gives its {self.n_directions_} kept "
            f"directions the same singular value, so the {n_components} "
            "components are an arbitrary choice among them (which ones depends on the "
            "solver). Use whiten=False for the leading directions of the teacher's "
            f"outputs, or n_components >= {self.n_directions_} for their whole span."
        )

    def _resolve_output(self, teacher):
        if teacher is None:
            if self.output != "auto":
                raise ValueError(
                    f"LinearTeacherContext(output={self.output!r}) needs a teacher; "
                    "teacher=None uses the raw features (output='auto')."
                )
            return "identity"
        if self.output == "trees":
            if not any(hasattr(teacher, method) for method in STAGED_METHODS):
                raise ValueError(
                    "LinearTeacherContext(output='trees') needs a boosted ensemble with "
                    f"{' or '.join(STAGED_METHODS)} (such as HistGradientBoostingClassifier); "
                    f"{type(teacher).__name__} has neither."
                )
            return "trees"
        return super()._resolve_output(teacher)

    def _outputs(self, X) -> FloatArray:
        """The teacher's outputs z(X) as a float64 (n, p) array."""
        if self.output_ == "identity":
            return X
        if self.output_ == "trees":
            return self._tree_outputs(X)
        output = self._output(self._OUTPUTS[self.output_], X)
        output = output.toarray() if sp.issparse(output) else output
        output = np.asarray(output, dtype=np.float64)
        return output.reshape(output.shape[0], -1)

    def _tree_outputs(self, X):
        """The output of each boosting iteration: differences of the staged outputs.

        The first stage holds the model's constant baseline too, which the
        centring removes.
        """
        method = next(m for m in STAGED_METHODS if hasattr(self.teacher_, m))
        stages = [np.asarray(stage, dtype=np.float64).reshape(_num_rows(X), -1)
                  for stage in getattr(self.teacher_, method)(X)]
        if not stages:
            raise ValueError("The teacher has no boosting iteration.")
        outputs = np.hstack([stages[0]] + [after - before
                                           for before, after in zip(stages, stages[1:])])
        if not np.isfinite(outputs).all():
            raise ValueError(
                f"The teacher's {method} ({type(self.teacher_).__name__}) returned NaN or "
                "infinite values on X, so the context is undefined."
            )
        return outputs

    def _fit_directions(self, Z):
        """Fit the scale, mean, kept directions and the joint's weights; return W on X."""
        n_samples = Z.shape[0]
        largest = float(np.abs(Z).max(initial=0.0))
        if not largest > 0:
            raise ValueError(self._constant_message())
        tiny = np.finfo(np.float64).tiny
        if largest < tiny:
            source = "X is" if self.output_ == "identity" else "the teacher's outputs are"
            raise ValueError(
                f"{source} at most {largest:.3g} in absolute value, below the smallest normal "
                f"float64 ({tiny:.3g}): such values keep too few digits for their directions "
                "to be found. Scale the data, e.g. with sklearn.preprocessing.StandardScaler.")
        # a power of two: exact, and no sum of the scaled values overflows
        self.scale_ = float(np.ldexp(1.0, -int(np.frexp(largest)[1])))
        Z = Z * self.scale_
        self.mean_ = Z.mean(axis=0)
        centred = Z - self.mean_
        _, S, Vt = scipy.linalg.svd(centred, full_matrices=False, check_finite=False)
        # rounding: the scaled outputs are below 1, so the centring errs by about eps per
        # entry; directions at that level (or at the rank tolerance of S_1) are noise
        floor = max(centred.shape) * np.finfo(np.float64).eps * max(S[0], np.sqrt(n_samples))
        keep = (S >= self.threshold * S[0]) & (S > floor)
        if not keep.any():
            raise ValueError(self._constant_message())
        V, S = Vt[keep].T, S[keep]
        # deterministic signs: the largest entry of each direction is positive
        signs = np.sign(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])])
        self.components_ = V * (signs * np.sqrt(n_samples) / S)
        self.relative_singular_values_ = S / S[0]
        self.n_directions_ = len(S)
        W = centred @ self.components_
        self.lower_, self.upper_ = W.min(axis=0), W.max(axis=0)
        weights = np.ones(len(S)) if self.whiten else self.relative_singular_values_**2
        spread = -self.lower_ * self.upper_  # positive: each w_j has mean 0 and variance 1
        self.kernel_weight_ = float(1.0 / np.sum(weights * spread))
        self.direction_weights_ = self.kernel_weight_ * weights * spread
        return W

    def _constant_message(self):
        source = "X is" if self.output_ == "identity" else "the teacher's outputs are"
        return (
            f"{source} constant on the fit rows (no direction with a singular value above "
            f"threshold={self.threshold!r} times the largest): LinearTeacherContext needs "
            "outputs that vary."
        )

    def _coordinates(self, Z):
        """The whitened coordinates w(x) of outputs Z of new points."""
        with np.errstate(over="ignore", invalid="ignore"):
            W = (Z * self.scale_ - self.mean_) @ self.components_
        bad = ~np.isfinite(W).all(axis=1)
        if bad.any():  # outputs beyond float64 once scaled: far beyond the range, at one end
            direction = Z[bad] / np.abs(Z[bad]).max(axis=1, keepdims=True)
            W[bad] = np.copysign(np.inf, direction @ self.components_)
        return W

    def _rows(self, W):
        """P+(. | x) for whitened coordinates W: q_j split between the ends of direction j."""
        W = np.clip(W, self.lower_, self.upper_)
        high = (W - self.lower_) / (self.upper_ - self.lower_)
        rows = np.empty((W.shape[0], 2 * self.n_directions_))
        rows[:, 0::2] = self.direction_weights_ * high
        rows[:, 1::2] = self.direction_weights_ * (1.0 - high)
        return sp.csr_matrix(rows)


def _num_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)
