"""The public context checks: every built-in context passes, and every check can fail."""

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.utils import get_tags

import skcontexture.contexts
from skcontexture.contexts import ContextTraits
from skcontexture.utils import estimator_checks
from skcontexture.utils.estimator_checks import (
    ContextCase,
    check_context,
    parametrize_with_context_checks,
)

from ._instances import INSTANCES, context_cases, make_data

DOCS = Path(__file__).resolve().parent.parent / "docs" / "contexts.md"
CHECK_NAMES = [check.__name__ for check in estimator_checks._CONTEXT_CHECKS]


def _docs_snippet():
    """The first two code blocks of the docs section "Writing your own context", as a module.

    A module of its own (in ``sys.modules``), so that its contexts pickle; its
    line numbers are those of docs/contexts.md.
    """
    text = DOCS.read_text()
    start = text.index("## Writing your own context")
    blocks = re.compile(r"```python\n(.*?)```", flags=re.DOTALL).finditer(text, start)
    module = types.ModuleType("tests._docs_context")
    sys.modules[module.__name__] = module
    for block, _ in zip(blocks, range(2)):
        code = "\n" * text.count("\n", 0, block.start(1)) + block.group(1)
        exec(compile(code, str(DOCS), "exec"), module.__dict__)
    return module


SNIPPET = _docs_snippet()
SameBinContext = SNIPPET.SameBinContext


@parametrize_with_context_checks(context_cases(make_data()))
def test_builtin_context_passes_the_checks(context, check):
    check(context)


def test_table_covers_every_exported_context():
    exported = {getattr(skcontexture.contexts, name) for name in skcontexture.contexts.__all__}
    exported.difference_update({skcontexture.contexts.BaseContext, ContextTraits})
    covered = {type(context) for _, context, _ in INSTANCES}
    missing = sorted(cls.__name__ for cls in exported - covered)
    assert not missing, f"tests/_instances.py has no instance of {missing}"


def test_every_check_is_in_the_registry_and_public():
    public = {name for name in estimator_checks.__all__ if name.startswith("check_context_")}
    assert public == set(CHECK_NAMES)


def test_docs_context_passes_and_embeds():
    assert SNIPPET.Z.shape == (5, 2) and np.all(np.isfinite(SNIPPET.Z))
    check_context(SameBinContext(n_bins=4))


def test_docs_context_with_traits_passes():
    context = SNIPPET.SameLabelBinContext()
    assert get_tags(context).target_tags.required
    X, y = make_blobs(n_samples=60, centers=3, n_features=4, random_state=0)
    check_context(context, X, y=y)


@parametrize_with_context_checks(
    [SameBinContext(), ContextCase(SameBinContext(), np.arange(40.0).reshape(20, 2))]
)
def test_parametrize_with_plain_contexts_and_cases(context, check):
    check(context)


def test_parametrize_marks_expected_failures_and_names_the_cases():
    mark = parametrize_with_context_checks(
        [SameBinContext(), ContextCase(SameBinContext(), np.ones((5, 2)), y=np.ones(5))],
        expected_failed_checks=lambda context: {"check_context_pickle": "reason"},
    )
    params = mark.args[1]
    assert len(params) == 2 * len(CHECK_NAMES)
    assert params[0].id == "SameBinContext()-check_context_get_set_params"
    assert params[len(CHECK_NAMES)].id.startswith("SameBinContext()withy-")
    xfails = [param.id for param in params if param.marks]
    assert xfails == [
        "SameBinContext()-check_context_pickle", "SameBinContext()withy-check_context_pickle"
    ]
    assert params[CHECK_NAMES.index("check_context_pickle")].marks[0].kwargs["strict"]


def test_check_context_skips_expected_failures_and_does_not_fit_its_argument():
    context = SameBinContext()
    check_context(context, expected_failed_checks={name: "skipped" for name in CHECK_NAMES})
    check_context(context)
    assert not hasattr(context, "edges_")


def test_default_data_follows_the_tags():
    counts, y = estimator_checks._default_data(skcontexture.CooccurrenceContext(), None, None)
    assert counts.min() >= 0 and y is None
    _, labels = estimator_checks._default_data(skcontexture.LabelContext(), None, None)
    assert set(labels) == {0, 1, 2}


# --------------------------------------------------------------------------- broken contexts


class _RoundsItsParameter(SameBinContext):
    def set_params(self, **params):
        super().set_params(**params)
        self.n_bins = min(self.n_bins, 3)
        return self


class _NoFittedCheck(SameBinContext):
    def conditional(self, X):
        bins = np.searchsorted(self.edges_, X[:, 0])  # AttributeError before fit
        return super().conditional(X) if bins is not None else None


class _FitReturnsNone(SameBinContext):
    def fit(self, X, y=None):
        super().fit(X, y)


class _JointSumsToN(SameBinContext):
    def fit(self, X, y=None):
        super().fit(X, y)
        self.joint_ = self.joint_ * X.shape[0]
        return self


class _RowsSumToTwo(SameBinContext):
    def fit(self, X, y=None):
        super().fit(X, y)
        self.joint_ = super().conditional(X) / X.shape[0]
        return self

    def conditional(self, X):
        return 2 * super().conditional(X)


class _JointFromAnotherRule(SameBinContext):
    def fit(self, X, y=None):
        super().fit(X[:, ::-1], y)  # bins of the last feature
        return self


class _ShortcutForTheFitArray(SameBinContext):
    def fit(self, X, y=None):
        self.X_fit_ = X
        return super().fit(X, y)

    def conditional(self, X):
        rows = super().conditional(X)
        if X is self.X_fit_:
            rows = rows[::-1]
        return rows


class _DependsOnNJobs(SameBinContext):
    def __init__(self, n_bins=6, n_jobs=None):
        super().__init__(n_bins=n_bins)
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        self.n_bins += self.n_jobs or 0
        return super().fit(X, y)


class _UnseededRandomness(SameBinContext):
    def fit(self, X, y=None):
        super().fit(X, y)
        self.edges_ = np.sort(self.edges_ + np.random.normal(scale=0.5, size=len(self.edges_)))
        self.joint_ = self.conditional(X) / X.shape[0]
        return self


class _ForgetsItsBinsWhenPickled(SameBinContext):
    def __getstate__(self):
        state = dict(super().__getstate__())
        state["edges_"] = np.zeros_like(state["edges_"])
        return state


class _SortsX(SameBinContext):
    def fit(self, X, y=None):
        X.sort(axis=0)
        return super().fit(X, y)


class _SaysItsAtomsAreFitPoints(SameBinContext):
    _traits = ContextTraits(atoms_are_fit_points=True)  # they are bins


BROKEN = {
    "check_context_get_set_params": _RoundsItsParameter(),
    "check_context_unfitted_conditional": _NoFittedCheck(),
    "check_context_fit_returns_self": _FitReturnsNone(),
    "check_context_joint": _JointSumsToN(),
    "check_context_conditional_rows": _RowsSumToTwo(),
    "check_context_conditional_reproduces_joint": _JointFromAnotherRule(),
    "check_context_conditional_of_a_copy": _ShortcutForTheFitArray(),
    "check_context_n_jobs": _DependsOnNJobs(),
    "check_context_clone_and_refit": _UnseededRandomness(),
    "check_context_pickle": _ForgetsItsBinsWhenPickled(),
    "check_context_no_input_mutation": _SortsX(),
    "check_context_in_embedding": SameBinContext(n_bins=1),  # one atom: nothing to embed
    "check_context_traits": _SaysItsAtomsAreFitPoints(),
}


def test_every_check_has_a_broken_context():
    assert set(BROKEN) == set(CHECK_NAMES)


@pytest.mark.parametrize("check_name", CHECK_NAMES)
def test_each_check_fails_on_its_broken_context(check_name):
    broken = BROKEN[check_name]
    others = {name: "not under test" for name in CHECK_NAMES if name != check_name}
    with pytest.raises(AssertionError, match=f"^{check_name} failed for {type(broken).__name__}"):
        check_context(broken, make_data()["X"], expected_failed_checks=others)


class _ScalesItsView(SameBinContext):
    def fit(self, X, y=None, A=None):
        A *= 2
        return super().fit(X, y)


def test_input_mutation_check_watches_the_fit_parameters():
    X = make_data()["X"]
    with pytest.raises(AssertionError, match="modified its input: fit parameter A"):
        estimator_checks.check_context_no_input_mutation(
            _ScalesItsView(), X, fit_params={"A": X.copy()}
        )
