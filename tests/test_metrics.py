"""Tests for skcontexture.metrics (synthetic data only)."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from skcontexture.contexts import KNNContext
from skcontexture.metrics import (
    alpha_req,
    cca_alignment,
    compatibility,
    decay_rate,
    lidar,
    mutual_knn_alignment,
    posthoc_spectrum,
    rankme,
    ratio_trace,
    tau,
    tau_curve,
)

from ._reference import dense_singular_functions


def _random_joint(n=30, m=20, density=0.4, seed=0):
    rng = np.random.default_rng(seed)
    W = sp.random(n, m, density=density, random_state=rng, format="csr")
    W = sp.csr_matrix(W + sp.eye(n, m))  # the identity part keeps every row and atom massive
    return W / W.sum()


@pytest.fixture(scope="module")
def context():
    joint = _random_joint()
    s, mu, _, p_x, _ = dense_singular_functions(joint)
    return joint, mu, s, p_x


# ------------------------------------------------------------------------------------------ tau


def test_tau_curve_hand_computed():
    taus, best_d = tau_curve([0.9, 0.5, 0.3])
    expected = [4 / 3 + 81 / 115, 100 / 91 + 106 / 115]
    np.testing.assert_allclose(taus, expected, rtol=1e-12)
    assert best_d == 2
    taus_b, _ = tau_curve([0.9, 0.5, 0.3], beta=0.5)
    np.testing.assert_allclose(taus_b, [4 / 3 + 0.5 * 81 / 115, 100 / 91 + 0.5 * 106 / 115])


def test_tau_curve_unsorted_input_is_sorted_on_a_copy():
    s = np.array([0.3, 0.9, 0.5])
    taus, _ = tau_curve(s)
    np.testing.assert_allclose(taus, tau_curve([0.9, 0.5, 0.3])[0])
    np.testing.assert_array_equal(s, [0.3, 0.9, 0.5])


def test_tau_curve_inf_where_next_value_is_one():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        taus, best_d = tau_curve([1.0, 1.0, 0.5])
    assert np.isinf(taus[0])
    np.testing.assert_allclose(taus[1], 1 / 0.75 + 2 / 2.25)
    assert best_d == 2


def test_tau_curve_all_inf_warns_disconnected():
    with pytest.warns(UserWarning, match="disconnected"):
        taus, best_d = tau_curve([1.0, 1.0, 1.0 + 1e-12, 1.0])
    assert np.all(np.isinf(taus))
    assert best_d == 3


def test_tau_all_zero_spectrum():
    with pytest.warns(UserWarning, match="no information"):
        taus, best_d = tau_curve(np.zeros(5), beta=2.0)
    np.testing.assert_allclose(taus, 3.0)
    assert best_d == 1


def test_tau_max_dim_truncation():
    s = np.array([0.9, 0.8, 0.5, 0.4, 0.3])
    taus, _ = tau_curve(s, max_dim=3)
    assert taus.shape == (2,)
    total = 0.81 + 0.64 + 0.25
    np.testing.assert_allclose(taus, [1 / (1 - 0.64) + 0.81 / total, 1 / (1 - 0.25) + 1.45 / total])
    assert tau_curve(s)[0].shape == (4,)


def test_tau_is_min_of_curve():
    rng = np.random.default_rng(1)
    s = np.sort(rng.uniform(0, 1, 40))[::-1]
    taus, best_d = tau_curve(s, beta=1.5, max_dim=30)
    assert tau(s, beta=1.5, max_dim=30) == taus.min() == taus[best_d - 1]


@pytest.mark.parametrize(
    "bad, match",
    [
        ([0.5], "at least 2 singular values"),
        ([0.5, 1.1], r"\[0, 1\]"),
        ([0.5, -0.1], r"\[0, 1\]"),
        ([[0.5, 0.4]], "1-D"),
    ],
)
def test_tau_rejects_bad_spectra(bad, match):
    with pytest.raises(ValueError, match=match):
        tau_curve(bad)


def test_tau_rejects_bad_parameters():
    with pytest.raises(ValueError, match="max_dim"):
        tau_curve([0.5, 0.4], max_dim=1)
    with pytest.raises(ValueError, match="beta"):
        tau_curve([0.5, 0.4], beta=-1)


def test_tau_clips_roundoff():
    taus, _ = tau_curve([1.0 + 1e-9, 0.5, -1e-12])
    assert np.all(np.isfinite(taus))


# ---------------------------------------------------------------------------------------- decay


def test_decay_rate_recovers_exponential():
    i = np.arange(1, 21)
    assert decay_rate(np.exp(-0.3 * i / 2)) == pytest.approx(0.3, rel=1e-10)
    # zeros are ignored
    s = np.concatenate([np.exp(-0.7 * i / 2), np.zeros(5)])
    assert decay_rate(s) == pytest.approx(0.7, rel=1e-10)


def test_decay_rate_degenerate_spectrum():
    with pytest.warns(UserWarning, match="at least 2 positive"):
        assert decay_rate([0.5, 0.0, 0.0]) == np.inf


# -------------------------------------------------------------------------------- compatibility


def test_compatibility_of_singular_functions(context):
    joint, mu, s, p_x = context
    d = 6
    Z, sd = mu[:, :d], s[:d]
    for j in range(d):
        rho2 = compatibility(Z, Z[:, j], sd, sample_weight=p_x)
        assert rho2 == pytest.approx(sd[j] ** 2, abs=1e-10)
    # adding a constant changes nothing; a mix of two functions averages their s^2
    y = 3.0 + Z[:, 0] + Z[:, 2]
    expected = (sd[0] ** 2 + sd[2] ** 2) / 2
    assert compatibility(Z, y, sd, sample_weight=p_x) == pytest.approx(expected)
    # 2-D targets: numerators and denominators are summed over columns
    Y = np.column_stack([Z[:, 1], 2 * Z[:, 3]])
    expected = (sd[1] ** 2 + 4 * sd[3] ** 2) / 5
    assert compatibility(Z, Y, sd, sample_weight=p_x) == pytest.approx(expected)


def test_compatibility_equals_one_for_top_function():
    # two disconnected blocks: s_1 = 1 and mu_1 is the block indicator
    W = sp.block_diag([np.ones((5, 3)), np.ones((5, 3))], format="csr")
    s, mu, _, p_x, _ = dense_singular_functions(W / W.sum())
    assert s[0] == pytest.approx(1.0)
    y = np.repeat([0.0, 1.0], 5)
    rho2 = compatibility(mu[:, :3], y, np.clip(s[:3], 0, 1), sample_weight=p_x)
    assert rho2 == pytest.approx(1.0)


def test_compatibility_accepts_fitted_estimator(context):
    joint, mu, s, p_x = context
    d = 4
    # spectral scaling of the embedding is undone by the column normalisation
    est = SimpleNamespace(
        embedding_=mu[:, :d] * s[:d],
        singular_values_=s[:d],
        context_=SimpleNamespace(joint_=joint),
    )
    assert compatibility(est, mu[:, 1]) == pytest.approx(s[1] ** 2)
    with pytest.raises(ValueError, match="read from it"):
        compatibility(est, mu[:, 1], s[:d])


def test_compatibility_validation(context):
    joint, mu, s, p_x = context
    with pytest.raises(ValueError, match="singular_values is required"):
        compatibility(mu[:, :3], mu[:, 0])
    with pytest.raises(ValueError, match="columns"):
        compatibility(mu[:, :3], mu[:, 0], s[:4])
    with pytest.raises(ValueError, match="shape"):
        compatibility(mu[:, :3], mu[:-1, 0], s[:3])
    with pytest.warns(UserWarning, match="constant"):
        assert np.isnan(compatibility(mu[:, :3], np.ones(len(mu)), s[:3]))


# ------------------------------------------------------------------------------------ alignment


def test_cca_alignment_invariance():
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(200, 5))
    R = rng.normal(size=(5, 5))
    assert cca_alignment(Z, Z @ R + 7.0) == pytest.approx(1.0)
    Z2 = rng.normal(size=(200, 3))
    base = cca_alignment(Z, Z2)
    R2 = rng.normal(size=(3, 3))
    assert cca_alignment(Z @ R, Z2 @ R2 - 1.0) == pytest.approx(base)
    w = rng.uniform(0.1, 1.0, 200)
    assert cca_alignment(Z @ R, Z2 @ R2, sample_weight=w) == pytest.approx(
        cca_alignment(Z, Z2, sample_weight=w)
    )


def test_cca_alignment_rank_deficient_and_independent():
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(100, 3))
    Z_dup = np.column_stack([Z, Z[:, 0] + Z[:, 1]])  # rank 3 embedded in 4 columns
    assert cca_alignment(Z, Z_dup) == pytest.approx(1.0)
    A, B = rng.normal(size=(3000, 3)), rng.normal(size=(3000, 3))
    assert cca_alignment(A, B) < 0.01
    with pytest.raises(ValueError, match="constant"):
        cca_alignment(np.ones((10, 2)), A[:10])


def test_mutual_knn_alignment():
    rng = np.random.default_rng(4)
    Z = rng.normal(size=(150, 4))
    R = rng.normal(size=(4, 4))
    assert mutual_knn_alignment(Z, Z @ R + 2.0, k=5) == pytest.approx(1.0)
    low = mutual_knn_alignment(Z, rng.normal(size=(150, 4)), k=5)
    assert low < 0.2
    with pytest.raises(ValueError, match="k must"):
        mutual_knn_alignment(Z, Z, k=150)


# ---------------------------------------------------------------------------------- competitors


def _orthonormal_columns(n, d, seed, centred=False):
    A = np.random.default_rng(seed).normal(size=(n, d))
    if centred:
        A -= A.mean(axis=0)
    return np.linalg.qr(A)[0]


def test_rankme():
    assert rankme(_orthonormal_columns(50, 7, seed=5)) == pytest.approx(7.0, rel=1e-5)
    Z = np.zeros((10, 3))
    Z[:, 0] = 1.0
    assert rankme(Z) == pytest.approx(1.0, rel=1e-5)
    with pytest.warns(UserWarning, match="all zeros"):
        assert rankme(np.zeros((4, 2))) == 0.0


@pytest.mark.parametrize("alpha, d", [(1.3, 150), (0.8, 8)])
def test_alpha_req_recovers_power_law(alpha, d):
    Q = _orthonormal_columns(400, d, seed=6, centred=True)
    eig = np.arange(1, d + 1, dtype=float) ** -alpha
    Z = Q * np.sqrt(eig) * 5.0
    assert alpha_req(Z) == pytest.approx(alpha, rel=1e-8)
    assert alpha_req(Z, fit_range=np.arange(0, 5)) == pytest.approx(alpha, rel=1e-8)


def test_alpha_req_degenerate():
    with pytest.warns(UserWarning, match="positive covariance eigenvalues"):
        assert alpha_req(np.arange(10.0)[:, None] * [1.0, 2.0]) == np.inf
    with pytest.raises(ValueError, match="fit_range"):
        alpha_req(np.random.default_rng(0).normal(size=(20, 4)), fit_range=[0.5, 1.5])


def _grouped(centres, per_group, noise, seed):
    rng = np.random.default_rng(seed)
    Z = np.repeat(centres, per_group, axis=0)
    Z = Z + noise * rng.normal(size=Z.shape)
    n_groups = len(centres)
    blocks = [np.ones((per_group, per_group))] * n_groups
    W = sp.block_diag(blocks, format="csr")
    return Z, W / W.sum()


def test_lidar_sanity():
    centres = np.array([[0, 0, 0], [5, 0, 0], [0, 5, 0], [0, 0, 5]], dtype=float)
    Z, groups = _grouped(centres, per_group=15, noise=0.1, seed=7)
    n = len(Z)
    separated = lidar(Z, groups)
    assert 2.5 < separated <= 3.0 + 1e-6
    # centres on a line: one discriminative direction
    line = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]], dtype=float) * 5
    Z_line, groups_line = _grouped(line, per_group=15, noise=0.1, seed=7)
    assert lidar(Z_line, groups_line) < 1.5 < separated
    # a uniform joint: no view distinguishes any row
    uniform = sp.csr_matrix(np.full((n, n), 1.0 / n**2))
    with pytest.warns(UserWarning, match="do not vary"):
        assert lidar(Z, uniform) == 0.0
    # (LiDAR is an effective rank, hence scale-free: a perturbed uniform joint can score high.)


def test_lidar_of_a_rank_one_embedding_at_any_scale():
    """Directions without variance give lambda = 0 even where Z's scale makes the ridge
    negligible: no round-off of the large direction leaks into them."""
    for seed in range(10):
        rng = np.random.RandomState(seed)
        joint = KNNContext(4, algorithm="exact").fit(rng.normal(size=(10, 2))).joint_
        line = rng.normal(size=(10, 1)) @ rng.normal(size=(1, 2))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = [lidar(line * scale, joint) for scale in (1e-100, 1.0, 1e150)]
        assert values == pytest.approx([1.0] * 3, abs=1e-5), seed


def test_lidar_rejects_non_square_joint():
    Z = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(ValueError, match="atoms to be the fit rows"):
        lidar(Z, _random_joint(30, 20))
    with pytest.raises(ValueError, match="atoms to be the fit rows"):
        lidar(Z[:20], _random_joint(30, 30))


# ---------------------------------------------------------------------------------- ratio trace


def test_ratio_trace_and_posthoc_of_exact_functions(context):
    joint, mu, s, p_x = context
    d = 5
    Z = mu[:, :d]
    assert ratio_trace(Z, joint) == pytest.approx(np.sum(s[:d] ** 2), rel=1e-10)
    np.testing.assert_allclose(posthoc_spectrum(Z, joint), s[:d] ** 2, atol=1e-10)
    # invariant to invertible linear maps and shifts
    R = np.random.default_rng(9).normal(size=(d, d))
    assert ratio_trace(Z @ R + 1.0, joint) == pytest.approx(np.sum(s[:d] ** 2), rel=1e-8)
    # accepts a dense joint, and a joint not normalised to 1
    assert ratio_trace(Z, 3.0 * joint.toarray()) == pytest.approx(np.sum(s[:d] ** 2), rel=1e-10)


def test_ratio_trace_random_embedding_is_below_bound(context):
    joint, mu, s, p_x = context
    n = joint.shape[0]
    rng = np.random.default_rng(10)
    for d in (1, 3, 6):
        Z = rng.normal(size=(n, d))
        rt = ratio_trace(Z, joint)
        assert 0 < rt < np.sum(s[:d] ** 2)
        lam = posthoc_spectrum(Z, joint)
        assert np.all(np.diff(lam) <= 0)
        assert np.all(lam <= s[:d] ** 2 + 1e-10)
        assert np.sum(lam) == pytest.approx(rt)


def test_posthoc_spectrum_of_full_basis(context):
    joint, mu, s, p_x = context
    n, m = joint.shape
    Z = np.random.default_rng(11).normal(size=(n, n - 1))  # spans every mean-zero function
    lam = posthoc_spectrum(Z, joint)
    assert lam.shape == (n - 1,)
    assert len(s) == m - 1  # the other n - m values are exactly 0
    np.testing.assert_allclose(lam, np.r_[s**2, np.zeros(n - m)], atol=1e-8)
    ridged = posthoc_spectrum(Z, joint, alpha=1e-3)
    assert np.all(ridged <= lam + 1e-12)


def test_ratio_trace_ignores_empty_atoms(context):
    joint, mu, s, p_x = context
    padded = sp.hstack([joint, sp.csr_matrix((joint.shape[0], 3))], format="csr")
    Z = mu[:, :4]
    assert ratio_trace(Z, padded) == pytest.approx(ratio_trace(Z, joint))


def test_ratio_trace_validation(context):
    joint, mu, s, p_x = context
    with pytest.raises(ValueError, match="rows"):
        ratio_trace(mu[:-1, :3], joint)
    bad = joint.copy()
    bad.data[0] = -bad.data[0]
    with pytest.raises(ValueError, match="nonnegative"):
        ratio_trace(mu[:, :3], bad)
    with pytest.raises(ValueError, match="constant"):
        ratio_trace(np.ones((joint.shape[0], 2)), joint)


# ---------------------------------------------------------------------------------- NaN, purity


def _with_nan(a):
    a = np.array(a, dtype=float)
    a.flat[0] = np.nan
    return a


@pytest.fixture(scope="module")
def calls(context):
    joint, mu, s, p_x = context
    Z = mu[:, :3]
    square = _random_joint(30, 30, seed=12)
    nan_joint = joint.copy()
    nan_joint.data[0] = np.nan
    return {
        "tau_curve": lambda: tau_curve(_with_nan(s)),
        "tau": lambda: tau(_with_nan(s)),
        "decay_rate": lambda: decay_rate(_with_nan(s)),
        "compatibility_Z": lambda: compatibility(_with_nan(Z), Z[:, 0], s[:3]),
        "compatibility_y": lambda: compatibility(Z, _with_nan(Z[:, 0]), s[:3]),
        "compatibility_s": lambda: compatibility(Z, Z[:, 0], _with_nan(s[:3])),
        "compatibility_w": lambda: compatibility(Z, Z[:, 0], s[:3], sample_weight=_with_nan(p_x)),
        "cca_alignment": lambda: cca_alignment(_with_nan(Z), Z),
        "mutual_knn_alignment": lambda: mutual_knn_alignment(Z, _with_nan(Z), k=3),
        "rankme": lambda: rankme(_with_nan(Z)),
        "alpha_req": lambda: alpha_req(_with_nan(Z)),
        "lidar_Z": lambda: lidar(_with_nan(Z), square),
        "lidar_joint": lambda: lidar(Z, sp.csr_matrix(np.full((30, 30), np.nan))),
        "ratio_trace_Z": lambda: ratio_trace(_with_nan(Z), joint),
        "ratio_trace_joint": lambda: ratio_trace(Z, nan_joint),
        "posthoc_spectrum": lambda: posthoc_spectrum(_with_nan(Z), joint),
    }


@pytest.mark.parametrize(
    "name",
    [
        "tau_curve", "tau", "decay_rate",
        "compatibility_Z", "compatibility_y", "compatibility_s", "compatibility_w",
        "cca_alignment", "mutual_knn_alignment", "rankme", "alpha_req", "lidar_Z", "lidar_joint",
        "ratio_trace_Z", "ratio_trace_joint", "posthoc_spectrum",
    ],
)
def test_rejects_nan(calls, name):
    with pytest.raises(ValueError, match="(?i)nan"):
        calls[name]()


def test_inputs_not_mutated(context):
    joint, mu, s, p_x = context
    Z = mu[:, :4].copy()
    J = joint.copy()
    s_copy = s.copy()
    tau_curve(s_copy[::-1])
    compatibility(Z, Z[:, 0], s_copy[:4], sample_weight=p_x)
    cca_alignment(Z, Z)
    ratio_trace(Z, J)
    posthoc_spectrum(Z, J, alpha=0.1)
    sq = _random_joint(30, 30, seed=12)
    sq_copy = sq.copy()
    lidar(Z, sq)
    np.testing.assert_array_equal(Z, mu[:, :4])
    np.testing.assert_array_equal(s_copy, s)
    assert (J != joint).nnz == 0
    assert (sq != sq_copy).nnz == 0


# ------------------------------------------------------------------------------------------------
# extreme magnitudes and wrong types (no NaN, no numpy warning)
# ------------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(exponent=st.integers(-300, 300))
def test_alpha_req_is_scale_invariant_at_extreme_magnitudes(exponent):
    Z = np.random.RandomState(0).normal(size=(40, 20)) * np.geomspace(1, 1e-3, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = alpha_req(Z * 10.0**exponent)
    assert value == pytest.approx(alpha_req(Z), rel=1e-9)


def test_decay_rate_of_tiny_values_is_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rate = decay_rate([0.9, 1e-170])
    # log(s^2) = 2 log(s): the slope of two points
    assert rate == pytest.approx(-2 * (np.log(1e-170) - np.log(0.9)))


def test_spectrum_metrics_reject_complex_values():
    with pytest.raises(TypeError, match="must be real"):
        tau(np.array([0.5 + 0j, 0.2]))


def test_posthoc_ridge_is_relative_to_each_columns_variance(context):
    # alpha means what the encoder's alpha means: alpha * diag(C), so units do not matter
    joint, mu, s, p_x = context
    Z = np.random.default_rng(12).normal(size=(joint.shape[0], 5))
    scales = np.array([1e-6, 1.0, 3.0, 1e4, 1e9])
    ridged = posthoc_spectrum(Z, joint, alpha=1e-2)
    np.testing.assert_allclose(posthoc_spectrum(Z * scales + 7.0, joint, alpha=1e-2), ridged,
                               rtol=1e-9, atol=1e-12)
    assert np.all(ridged <= posthoc_spectrum(Z, joint) + 1e-12)
