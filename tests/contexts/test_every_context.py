"""Every built-in context (the table of tests/_instances.py): the joint and conditional
contract, the embedding of the fit rows, and the same result for any n_jobs."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from skcontexture import ContextureEmbedding, CooccurrenceContext
from skcontexture.contexts._base import normalize_rows
from skcontexture.utils.estimator_checks import _set_in_contexts

from .._instances import CONTEXTS, NAMES, fit_args, new_args
from .._reference import dense


@pytest.mark.parametrize("name", NAMES)
def test_joint_and_conditional_contract(data, name):
    context = clone(CONTEXTS[name])
    X, y, fit_kw = fit_args(name, data)
    X_new, new_kw = new_args(name, data)
    context.fit(X, y, **fit_kw)
    joint = context.joint_
    assert sp.issparse(joint) and joint.format == "csr"
    assert joint.shape == (len(X), context.n_atoms_)
    assert joint.data.min() >= 0
    np.testing.assert_allclose(joint.sum(), 1.0)
    if not isinstance(context, CooccurrenceContext):  # a count row's mass is its total
        # every other context gives each fit row the same mass: P_X is uniform
        np.testing.assert_allclose(np.asarray(joint.sum(axis=1)).ravel(), 1 / len(X))
    rows = context.conditional(X_new, **new_kw)
    assert rows.shape == (20, context.n_atoms_) and rows.data.min() >= 0
    np.testing.assert_allclose(np.asarray(rows.sum(axis=1)).ravel(), 1.0)
    fit_rows = context.conditional(X, **fit_kw)
    np.testing.assert_allclose(np.asarray(fit_rows.sum(axis=1)).ravel(), 1.0)
    if context.traits().conditional_reproduces_joint:
        np.testing.assert_allclose(dense(fit_rows), dense(normalize_rows(joint)), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_embedding_transform_equals_fit_transform(data, name):
    X, y, fit_kw = fit_args(name, data)
    X_new, new_kw = new_args(name, data)
    emb = ContextureEmbedding(CONTEXTS[name], n_components=2, random_state=0)
    Z = emb.fit_transform(X, y, **fit_kw)
    np.testing.assert_allclose(emb.transform(X, **fit_kw), Z, rtol=1e-8, atol=1e-10)
    head = {key: value[:7] for key, value in fit_kw.items()}
    np.testing.assert_allclose(emb.transform(X[:7], **head), Z[:7], rtol=1e-8, atol=1e-10)
    assert np.all(np.isfinite(emb.transform(X_new, **new_kw)))


@pytest.mark.parametrize(
    "name",
    [name for name in NAMES
     if any(key.rpartition("__")[2] == "n_jobs" for key in CONTEXTS[name].get_params(deep=True))],
)
def test_same_result_for_any_n_jobs(data, name):
    X, y, fit_kw = fit_args(name, data)
    X_new, new_kw = new_args(name, data)

    def make(n_jobs):  # every n_jobs of the context and of the contexts inside it
        return _set_in_contexts(clone(CONTEXTS[name]), "n_jobs", n_jobs)

    one, two = make(1).fit(X, y, **fit_kw), make(2).fit(X, y, **fit_kw)
    np.testing.assert_array_equal(dense(one.joint_), dense(two.joint_))
    np.testing.assert_array_equal(
        dense(one.conditional(X_new, **new_kw)), dense(two.conditional(X_new, **new_kw))
    )
    emb1 = ContextureEmbedding(make(1), n_components=2, random_state=0).fit(X, y, **fit_kw)
    emb2 = ContextureEmbedding(make(2), n_components=2, random_state=0).fit(X, y, **fit_kw)
    np.testing.assert_array_equal(
        emb1.transform(X_new, **new_kw), emb2.transform(X_new, **new_kw)
    )
