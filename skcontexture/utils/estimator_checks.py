"""Checks that a context keeps the context contract.

A context written by a user (a subclass of :class:`~skcontexture.contexts.BaseContext`)
is checked with :func:`check_context`, or in a pytest suite with
:func:`parametrize_with_context_checks`, in the manner of scikit-learn's
``check_estimator`` and ``parametrize_with_checks``. Each check is a public
function ``check_context_*(context, X, y=None, fit_params=None)`` that fits a
clone of ``context`` and raises an ``AssertionError`` saying what failed.

Examples
--------
>>> from skcontexture import KNNContext
>>> from skcontexture.utils.estimator_checks import check_context
>>> check_context(KNNContext(n_neighbors=5))
"""

from __future__ import annotations

import copy
import pickle
import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags

from .._compat import num_samples, safe_indexing
from ..contexts._base import accepted_params, normalize_rows
from ..contexts._traits import ContextTraits

if TYPE_CHECKING:
    import pytest

    from .._typing import ArrayLike, MatrixLike
    from ..contexts import BaseContext

__all__ = [
    "ContextCase",
    "check_context",
    "check_context_clone_and_refit",
    "check_context_conditional_of_a_copy",
    "check_context_conditional_reproduces_joint",
    "check_context_conditional_rows",
    "check_context_fit_returns_self",
    "check_context_get_set_params",
    "check_context_in_embedding",
    "check_context_joint",
    "check_context_n_jobs",
    "check_context_no_input_mutation",
    "check_context_pickle",
    "check_context_traits",
    "check_context_unfitted_conditional",
    "parametrize_with_context_checks",
]


class ContextCase:
    """A context with the data its checks fit it on.

    A context that needs ``y`` or fit parameters (the second view ``A=`` of a
    :class:`~skcontexture.PairedContext`) is given to
    :func:`parametrize_with_context_checks` as a ``ContextCase``; a plain
    context is checked on a synthetic default.

    Parameters
    ----------
    context : context
        The context to check (it is cloned, never fitted itself).
    X : array-like or sparse matrix of shape (n_samples, n_features), default=None
        Fit data; None means 60 blobs in 4 dimensions (their absolute values
        when the context's traits say ``positive_only``).
    y : array-like of shape (n_samples,), default=None
        Targets; with ``X=None`` and a context whose traits say ``requires_y``,
        the blobs' labels.
    fit_params : dict, default=None
        Passed to ``fit``; those ``conditional`` takes are passed to it too, with
        the rows of per-sample parameters taken like the rows of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import KNNContext, PairedContext
    >>> from skcontexture.utils.estimator_checks import ContextCase, check_context
    >>> X = np.random.RandomState(0).normal(size=(40, 3))
    >>> case = ContextCase(PairedContext(KNNContext(5)), X, fit_params={"A": 2 * X})
    >>> check_context(case.context, case.X, y=case.y, fit_params=case.fit_params)
    """

    def __init__(
        self,
        context: BaseContext,
        X: MatrixLike | None = None,
        *,
        y: ArrayLike | None = None,
        fit_params: dict[str, Any] | None = None,
    ) -> None:
        self.context = context
        self.X = X
        self.y = y
        self.fit_params = fit_params

    def __repr__(self) -> str:
        names = ["y"] * (self.y is not None) + sorted(self.fit_params or {})
        given = f" with {', '.join(names)}" if names else ""
        return f"{self.context!r}{given}"


# --------------------------------------------------------------------------- helpers


def _default_data(context, X, y):
    """``(X, y)``: the given data, or 60 blobs in 4 dimensions fitting the traits."""
    if X is not None:
        return X, y
    X, labels = make_blobs(
        n_samples=60, centers=3, n_features=4, cluster_std=3.0, random_state=0
    )
    traits = context.traits()
    if traits.positive_only:
        X = np.abs(X)
    if y is None and traits.requires_y:
        y = labels
    return X, y


def _set_in_contexts(context, name, value):
    """Set parameter ``name`` of ``context`` and of every context nested in it.

    Parameters of other nested estimators (a teacher, possibly frozen) are left alone.
    """
    params = context.get_params(deep=True)
    owners = {""} | {key for key, part in params.items() if hasattr(part, "conditional")}
    updates = {}
    for key in params:
        owner, _, param = key.rpartition("__")
        if param == name and owner in owners:
            updates[key] = value
    return context.set_params(**updates)


def _fit(context, X, y, fit_params, **params):
    """A clone of ``context`` with ``random_state=0`` (and ``params``), fitted."""
    context = _set_in_contexts(clone(context), "random_state", 0)
    for name, value in params.items():
        context = _set_in_contexts(context, name, value)
    return context.fit(X, y, **(fit_params or {}))


def _rows(params, n_samples, take):
    """``params`` with ``take`` applied to each per-sample value (``n_samples`` rows)."""
    return {
        key: take(value) if _is_per_sample(value, n_samples) else value
        for key, value in params.items()
    }


def _is_per_sample(value, n_samples):
    try:
        return num_samples(value) == n_samples
    except TypeError:
        return False


def _new_points(X, fit_params, conditional):
    """Midpoints of consecutive fit rows, and the ``conditional`` params for them."""
    n_samples = num_samples(X)
    first, second = np.arange(0, n_samples - 1, 2), np.arange(1, n_samples, 2)

    def midpoints(value):
        return 0.5 * (safe_indexing(value, first) + safe_indexing(value, second))

    params = accepted_params(conditional, fit_params or {})
    return midpoints(X), _rows(params, n_samples, midpoints)


def _fit_point_params(context, fit_params):
    """The fit parameters the fitted ``context``'s ``conditional`` takes."""
    return accepted_params(context.conditional, fit_params or {})


def _dense(matrix):
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def _assert_same_fit(first, second, X, fit_params, how):
    """Assert two fitted contexts have bit-identical joints and conditionals of new points."""
    _assert_identical(first.joint_, second.joint_, f"joint_ {how}")
    X_new, params = _new_points(X, fit_params, first.conditional)
    _assert_identical(first.conditional(X_new, **params), second.conditional(X_new, **params),
                      f"conditional(X_new) {how}")


def _assert_identical(first, second, what, atol=0.0):
    """Assert two matrices have one shape and entries within ``atol`` (0: bit-identical)."""
    assert first.shape == second.shape, (
        f"{what} differ in shape: {first.shape} and {second.shape}"
    )
    difference = np.max(np.abs(_dense(first) - _dense(second)), initial=0.0)
    assert difference <= atol, f"{what} differ: max difference {difference}"


def _assert_csr(matrix, what):
    assert sp.issparse(matrix) and matrix.format == "csr", (
        f"{what} must be a scipy.sparse CSR matrix, got {type(matrix).__name__}"
        + (f" in {matrix.format} format" if sp.issparse(matrix) else "")
    )
    assert np.all(np.isfinite(matrix.data)), f"{what} has non-finite entries"
    assert matrix.nnz == 0 or matrix.data.min() >= 0, (
        f"{what} has negative entries (min {matrix.data.min()})"
    )


# --------------------------------------------------------------------------- checks


def check_context_fit_returns_self(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """``fit`` returns the context itself."""
    context = clone(context)
    fitted = context.fit(X, y, **(fit_params or {}))
    assert fitted is context, f"fit must return self, got {type(fitted).__name__}"


def check_context_joint(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """``joint_`` is a finite nonnegative CSR matrix of shape (n_samples, n_atoms_) summing to 1."""
    context = _fit(context, X, y, fit_params)
    joint = context.joint_
    _assert_csr(joint, "joint_")
    expected = (num_samples(X), context.n_atoms_)
    assert joint.shape == expected, f"joint_ has shape {joint.shape}, expected {expected}"
    total = joint.sum()
    assert np.isclose(total, 1.0, rtol=0, atol=1e-10), f"joint_ sums to {total}, not 1"


def check_context_conditional_rows(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """``conditional`` of new points is CSR over the ``n_atoms_`` atoms, each row summing to 1."""
    context = _fit(context, X, y, fit_params)
    X_new, params = _new_points(X, fit_params, context.conditional)
    rows = context.conditional(X_new, **params)
    _assert_csr(rows, "conditional(X_new)")
    expected = (num_samples(X_new), context.n_atoms_)
    assert rows.shape == expected, (
        f"conditional(X_new) has shape {rows.shape}, expected {expected}"
    )
    sums = np.asarray(rows.sum(axis=1)).ravel()
    bad = np.flatnonzero(~np.isclose(sums, 1.0, rtol=0, atol=1e-10))
    assert not bad.size, (
        f"{bad.size} row(s) of conditional(X_new) do not sum to 1 "
        f"(row {bad[0]} sums to {sums[bad[0]]})"
    )


def check_context_conditional_reproduces_joint(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """``conditional(X_fit)`` is the row-normalised ``joint_``.

    Only for a context whose traits say ``conditional_reproduces_joint`` (the
    default of :class:`~skcontexture.contexts.ContextTraits`).
    """
    context = _fit(context, X, y, fit_params)
    if not context.traits().conditional_reproduces_joint:
        return
    rows = context.conditional(X, **_fit_point_params(context, fit_params))
    difference = np.max(np.abs(_dense(rows) - _dense(normalize_rows(context.joint_))))
    assert difference <= 1e-12, (
        "conditional(X_fit) differs from the row-normalised joint_ by "
        f"{difference}; a context whose fit joint uses what new points lack declares "
        "_traits = ContextTraits(conditional_reproduces_joint=False)"
    )


def check_context_conditional_of_a_copy(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """``conditional`` gives the same rows for the fit data and for a copy of it.

    The rows agree to 1e-12 (an identity test may change the rounding, not the rule).
    """
    context = _fit(context, X, y, fit_params)
    params = _fit_point_params(context, fit_params)
    _assert_identical(
        context.conditional(X, **params),
        context.conditional(copy.deepcopy(X), **copy.deepcopy(params)),
        "conditional(X_fit) and conditional(copy of X_fit)",
        atol=1e-12,
    )


def check_context_n_jobs(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """The joint and the conditional are bit-identical for ``n_jobs=1`` and ``n_jobs=2``.

    Every ``n_jobs`` parameter of the context and of the contexts nested in it
    is set; a context without one passes.
    """
    one = _fit(context, X, y, fit_params, n_jobs=1)
    two = _fit(context, X, y, fit_params, n_jobs=2)
    _assert_same_fit(one, two, X, fit_params, "with n_jobs=1 and n_jobs=2")


def check_context_clone_and_refit(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """A clone is unfitted with equal parameters; refitting it is bit-identical."""
    fitted = _fit(context, X, y, fit_params)
    cloned = clone(fitted)
    assert not hasattr(cloned, "n_atoms_"), "a clone of a fitted context must be unfitted"
    assert repr(cloned.get_params(deep=False)) == repr(fitted.get_params(deep=False)), (
        "a clone must have the parameters of its original"
    )
    refitted = cloned.fit(X, y, **(fit_params or {}))
    _assert_same_fit(fitted, refitted, X, fit_params, "of two fits with random_state=0")


def check_context_pickle(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """A pickled and unpickled fitted context gives the same joint and conditional."""
    context = _fit(context, X, y, fit_params)
    loaded = pickle.loads(pickle.dumps(context))
    _assert_same_fit(context, loaded, X, fit_params, "before and after pickling")


def check_context_no_input_mutation(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """``fit`` and ``conditional`` leave ``X``, ``y`` and the fit parameters as they were."""
    inputs = {"X": X, "y": y}
    inputs.update((f"fit parameter {key}", value) for key, value in (fit_params or {}).items())
    before = {name: joblib.hash(value) for name, value in inputs.items()}
    fitted = _fit(context, X, y, fit_params)
    fitted.conditional(X, **_fit_point_params(fitted, fit_params))
    changed = [name for name, value in inputs.items() if joblib.hash(value) != before[name]]
    assert not changed, f"fit or conditional modified its input: {', '.join(changed)}"


def check_context_in_embedding(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """``ContextureEmbedding(context, n_components=2)`` fits and embeds new points."""
    from .._embedding import ContextureEmbedding

    embedding = ContextureEmbedding(
        _set_in_contexts(clone(context), "random_state", 0), n_components=2, random_state=0
    ).fit(X, y, **(fit_params or {}))
    X_new, params = _new_points(X, fit_params, embedding.context_.conditional)
    Z = embedding.transform(X_new, **params)
    expected = (num_samples(X_new), 2)
    assert Z.shape == expected, f"transform gave shape {Z.shape}, expected {expected}"
    assert np.all(np.isfinite(Z)), "transform gave non-finite values"


def check_context_traits(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """``traits()`` is the same before and after ``fit``, gives the tags and holds.

    The traits are a :class:`~skcontexture.contexts.ContextTraits`, equal for
    the unfitted and the fitted context; the tags ``input_tags.sparse``,
    ``input_tags.positive_only`` and ``target_tags.required`` are those they
    declare. With ``atoms_are_fit_points`` the joint is square and
    ``_atom_points(X)`` ties atom j to fit row j; with ``requires_y``, ``fit``
    without ``y`` raises a ``ValueError``, and without it ``fit`` needs no ``y``.
    """
    unfitted = clone(context)
    before = unfitted.traits()
    assert isinstance(before, ContextTraits), (
        f"traits() must return a ContextTraits, got {type(before).__name__}"
    )
    tags = get_tags(unfitted)
    found = {"accepts_sparse": tags.input_tags.sparse,
             "positive_only": tags.input_tags.positive_only,
             "requires_y": tags.target_tags.required}
    declared = {name: getattr(before, name) for name in found}
    assert found == declared, (
        f"the tags say {found} and the traits {declared}: declare them in the "
        "traits (they set the tags)"
    )
    fitted = _fit(context, X, y, fit_params)
    assert fitted.traits() == before, (
        f"traits() changed with fit: {before} became {fitted.traits()}"
    )
    n_samples = num_samples(X)
    if before.atoms_are_fit_points:
        assert fitted.joint_.shape == (n_samples, n_samples), (
            f"atoms_are_fit_points, but joint_ has shape {fitted.joint_.shape}"
        )
        atoms = fitted._atom_points(X)
        assert atoms is not None and np.array_equal(atoms[1], np.arange(n_samples)), (
            "atoms_are_fit_points, but _atom_points(X) does not tie atom j to fit row j"
        )
    try:
        _fit(context, X, None, fit_params)
    except ValueError as exc:
        assert before.requires_y, (
            f"fit without y raised {exc!r}: a context that needs y declares requires_y=True"
        )
        return
    assert not before.requires_y, "requires_y, but fit without y raised no ValueError"


def check_context_get_set_params(
    context: BaseContext, X: MatrixLike | None = None, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """``set_params(**get_params())`` round trips, shallow and deep."""
    context = clone(context)
    for deep in (False, True):
        params = context.get_params(deep=deep)
        after = context.set_params(**params).get_params(deep=deep)
        assert repr(after) == repr(params), (
            f"get_params(deep={deep}) changed after set_params(**get_params()): "
            f"{params} became {after}"
        )


def check_context_unfitted_conditional(
    context: BaseContext, X: MatrixLike, y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
) -> None:
    """``conditional`` before ``fit`` raises ``NotFittedError``."""
    X_new, params = _new_points(X, fit_params, context.conditional)
    try:
        clone(context).conditional(X_new, **params)
    except NotFittedError:
        return
    except Exception as exc:
        raise AssertionError(
            f"conditional before fit must raise NotFittedError, raised {exc!r}"
        ) from exc
    raise AssertionError("conditional before fit must raise NotFittedError, returned")


#: Every check, in the order they run.
_CONTEXT_CHECKS = (
    check_context_get_set_params,
    check_context_unfitted_conditional,
    check_context_fit_returns_self,
    check_context_joint,
    check_context_conditional_rows,
    check_context_conditional_reproduces_joint,
    check_context_conditional_of_a_copy,
    check_context_n_jobs,
    check_context_clone_and_refit,
    check_context_pickle,
    check_context_no_input_mutation,
    check_context_in_embedding,
    check_context_traits,
)


# --------------------------------------------------------------------------- runners


def check_context(
    context: BaseContext,
    X: MatrixLike | None = None,
    *,
    y: ArrayLike | None = None,
    fit_params: dict[str, Any] | None = None,
    expected_failed_checks: dict[str, str] | None = None,
) -> None:
    """Run every context check on a clone of ``context``.

    The checks: :func:`check_context_get_set_params`,
    :func:`check_context_unfitted_conditional`, :func:`check_context_fit_returns_self`,
    :func:`check_context_joint`, :func:`check_context_conditional_rows`,
    :func:`check_context_conditional_reproduces_joint`,
    :func:`check_context_conditional_of_a_copy`, :func:`check_context_n_jobs`,
    :func:`check_context_clone_and_refit`, :func:`check_context_pickle`,
    :func:`check_context_no_input_mutation`, :func:`check_context_in_embedding`
    and :func:`check_context_traits`.
    New points are midpoints of consecutive fit rows; the check data must give
    each of them some context (every conditional row must sum to 1).

    Parameters
    ----------
    context : context
        The context to check; it is not modified.
    X : array-like or sparse matrix of shape (n_samples, n_features), default=None
        Fit data; None means 60 blobs in 4 dimensions (their absolute values
        when the context's traits say ``positive_only``).
    y : array-like of shape (n_samples,), default=None
        Targets; with ``X=None`` and a context whose traits say ``requires_y``,
        the blobs' labels.
    fit_params : dict, default=None
        Passed to ``fit`` (for example ``{"A": A}``); those ``conditional`` takes
        are passed to it too.
    expected_failed_checks : dict of str to str, default=None
        ``{check name: reason}`` of checks known to fail; they are skipped.

    Raises
    ------
    AssertionError
        Naming the first check that failed and what failed.

    Examples
    --------
    >>> from skcontexture import RBFContext
    >>> from skcontexture.utils.estimator_checks import check_context
    >>> check_context(RBFContext(gamma=0.05))
    """
    X, y = _default_data(context, X, y)
    skipped = expected_failed_checks or {}
    for check in _CONTEXT_CHECKS:
        if check.__name__ in skipped:
            continue
        try:
            check(context, X, y, fit_params)
        except Exception as exc:
            raise AssertionError(f"{check.__name__} failed for {context!r}: {exc}") from exc


def parametrize_with_context_checks(
    contexts: Iterable[BaseContext | ContextCase],
    *,
    expected_failed_checks: Callable[[BaseContext], dict[str, str]] | None = None,
) -> pytest.MarkDecorator:
    """Pytest decorator running every context check on every context.

    The decorated test takes ``(context, check)`` and calls ``check(context)``.

    Parameters
    ----------
    contexts : list of context or ContextCase
        Plain contexts are checked on the synthetic default of
        :func:`check_context`; a :class:`ContextCase` brings its own data.
    expected_failed_checks : callable, default=None
        ``expected_failed_checks(context)`` returns ``{check name: reason}`` for
        the checks known to fail on ``context``; they are marked as strict
        expected failures.

    Returns
    -------
    decorator : ``pytest.mark.parametrize`` over ``("context", "check")``

    Examples
    --------
    >>> from skcontexture import KNNContext
    >>> from skcontexture.utils.estimator_checks import parametrize_with_context_checks
    >>> @parametrize_with_context_checks([KNNContext(n_neighbors=5)])
    ... def test_context(context, check):
    ...     check(context)
    """
    import pytest

    params = []
    for case in contexts:
        if not isinstance(case, ContextCase):
            case = ContextCase(case)
        X, y = _default_data(case.context, case.X, case.y)
        failing = expected_failed_checks(case.context) if expected_failed_checks else {}
        name = re.sub(r"\s", "", repr(case))
        for check in _CONTEXT_CHECKS:
            bound = partial(check, X=X, y=y, fit_params=case.fit_params)
            marks = []
            if check.__name__ in failing:
                marks = [pytest.mark.xfail(reason=failing[check.__name__], strict=True)]
            params.append(
                pytest.param(case.context, bound, id=f"{name}-{check.__name__}", marks=marks)
            )
    return pytest.mark.parametrize(("context", "check"), params)
