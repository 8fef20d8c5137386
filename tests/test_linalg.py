"""The public ``skcontexture.linalg``: top_singular_functions, and the spectrum up to d0
(context_spectrum, subsample_spectrum).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_blobs, make_swiss_roll

from skcontexture import CooccurrenceContext, KNNContext, RBFContext
from skcontexture.linalg import context_spectrum, subsample_spectrum
from skcontexture.metrics import tau

from ._joints import knn_joint, random_joint
from ._reference import dense_singular_functions


@pytest.fixture(scope="module")
def blobs(blobs):
    """The shared blobs' points (a spectrum needs no labels)."""
    return blobs[0]


def test_top_singular_functions_are_the_embedding():
    from skcontexture import ContextureEmbedding, KNNContext
    from skcontexture.linalg import top_singular_functions

    X = make_swiss_roll(400, noise=0.3, random_state=0)[0]
    emb = ContextureEmbedding(KNNContext(10), n_components=4, scale="none", random_state=0).fit(X)
    s, mu, nu = top_singular_functions(emb.context_.joint_, 4, random_state=0)
    assert_allclose(s, emb.singular_values_, rtol=1e-10)
    assert_allclose(nu, emb.atom_functions_, atol=1e-8)
    assert_allclose(mu, emb.embedding_, atol=1e-8)  # the Nystrom extension is mu on fit rows
    with pytest.warns(UserWarning, match="n_components=400 were requested.*only"):
        s, mu, nu = top_singular_functions(emb.context_.joint_, 400)
    d = len(s)
    assert d < 400 and mu.shape == (400, d) and nu.shape == (400, d) and np.all(s > 1e-7)
    with pytest.raises(ValueError, match="'solver' parameter of top_singular_functions"):
        top_singular_functions(emb.context_.joint_, 4, solver="randomized")


def test_functions_are_zero_where_there_is_no_mass():
    from skcontexture.linalg import top_singular_functions

    W = random_joint(60, 40, seed=3)
    s, mu, nu = top_singular_functions(W, 3, solver="dense")
    assert mu.shape == (60, 3) and nu.shape == (40, 3)
    assert not mu[[0, 7, 30]].any() and not nu[[1, 13, 39]].any()


def test_the_spectrum_stops_on_the_callers_rule():
    from skcontexture.linalg import context_spectrum

    W = knn_joint(1500, 10)
    seen = []

    def rule(values):
        seen.append(values.size)
        return 1.0  # settled from the start: one block is added, then it stops

    spectrum = context_spectrum(W, 64, solver="randomized", stopping_rule=rule, random_state=0)
    assert spectrum.solver == "randomized" and spectrum.n_iter == 1
    assert seen == [64, 64]


@pytest.mark.parametrize(
    "context", [KNNContext(10), RBFContext(gamma=0.05), RBFContext(gamma=0.05, n_neighbors=30)]
)
def test_dense_spectrum_is_exact(blobs, context):
    joint = context.fit(blobs).joint_
    s_ref = dense_singular_functions(joint)[0]
    spectrum = context_spectrum(joint, 100, solver="dense")
    assert spectrum.exact and spectrum.solver == "dense"
    np.testing.assert_allclose(spectrum.values, s_ref[:100], atol=1e-10)


def test_dense_spectrum_of_rectangular_context():
    counts = np.random.RandomState(0).poisson(2.0, size=(120, 40)).astype(float)
    joint = CooccurrenceContext().fit(counts).joint_
    s_ref = dense_singular_functions(joint)[0]
    values = context_spectrum(joint, 512, solver="dense").values
    assert values.size == 39  # min(n, m) - 1
    np.testing.assert_allclose(values, s_ref[:39], atol=1e-10)


def test_randomized_spectrum_matches_exact_tau():
    # The accuracy claim of the docs: tau from the randomized method within 5% of the exact tau
    # (measured: < 0.2%) with d0 = 512, on a sample where the exact spectrum is computable.
    X, _ = make_blobs(n_samples=2500, centers=6, n_features=8, cluster_std=3.0, random_state=1)
    joint = KNNContext(10).fit(X).joint_
    exact = context_spectrum(joint, 512, solver="dense").values
    approx = context_spectrum(joint, 512, solver="randomized", random_state=0)
    assert approx.values.shape == exact.shape
    assert abs(tau(approx.values) - tau(exact)) <= 0.05 * tau(exact)
    assert abs(tau(approx.values) - tau(exact)) <= 0.01 * tau(exact)
    # Ritz values never exceed the true values; the top ones are accurate
    assert np.all(approx.values <= exact + 1e-8)
    np.testing.assert_allclose(approx.values[:50], exact[:50], rtol=1e-3)


def test_auto_method_policy(blobs):
    joint = KNNContext(10).fit(blobs).joint_
    assert context_spectrum(joint, 50).solver == "dense"


def test_spectrum_input_validation(blobs):
    joint = KNNContext(10).fit(blobs).joint_
    with pytest.raises(ValueError, match="solver.*must be"):
        context_spectrum(joint, 10, solver="bogus")
    with pytest.raises(ValueError, match="max_dim"):
        context_spectrum(joint, 0)


def test_subsample_spectrum_runs(blobs):
    spectrum = subsample_spectrum(KNNContext(20), blobs, 50, n_subsample=150, random_state=0)
    assert spectrum.solver == "subsample" and not spectrum.exact
    assert spectrum.values.shape == (50,)


@pytest.mark.parametrize("shape", [(400, 1500), (1500, 400)])
def test_randomized_spectrum_of_rectangular_context(shape):
    counts = np.random.RandomState(0).poisson(0.05, size=shape).astype(float)
    counts[:, 0] += 1  # no empty row or column
    counts[0, :] += 1
    joint = CooccurrenceContext().fit(counts).joint_
    exact = context_spectrum(joint, 100, solver="dense").values
    approx = context_spectrum(joint, 100, solver="randomized", random_state=0).values
    assert abs(tau(approx) - tau(exact)) <= 0.01 * tau(exact)
    # a random count matrix has a flat (slowly converging) spectrum: a looser check
    np.testing.assert_allclose(approx[:20], exact[:20], rtol=2e-3)


def test_subsample_spectrum_takes_array_likes(blobs):
    from_list = subsample_spectrum(KNNContext(20), blobs.tolist(), 20, n_subsample=150,
                                   random_state=0)
    from_array = subsample_spectrum(KNNContext(20), blobs, 20, n_subsample=150, random_state=0)
    assert_allclose(from_list.values, from_array.values)
