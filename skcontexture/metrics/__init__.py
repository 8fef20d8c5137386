"""Metrics for contexts and embeddings.

Pure functions on numpy arrays and scipy sparse matrices, one module per kind:

* spectrum metrics (``tau_curve``, ``tau``, ``tau_regime``, ``decay_rate``;
  ``_spectrum.py``): functions of the singular values s_1 >= s_2 >= ... of the
  expectation operator, with the trivial s_0 = 1 excluded;
* the label-free proxy task and its probes (``feature_prediction``,
  ``probe_curve``, ``probe_dims``, ``PROBE_ALPHAS``; ``_proxy.py``);
* target metric (``compatibility``; ``_compatibility.py``): how well a target
  is predicted by the context;
* embedding comparisons (``cca_alignment``, ``mutual_knn_alignment``;
  ``_alignment.py``);
* competing label-free metrics (``rankme``, ``alpha_req``, ``lidar``;
  ``_baselines.py``);
* encoder metrics against a context (``ratio_trace``, ``posthoc_spectrum``;
  ``_encoder.py``).

A *joint* is a nonnegative (n_samples, n_atoms) sparse matrix with joint[i, a] = P+(x_i, a). Its row
sums are p_X and its column sums p_A. Atoms (or rows) with zero mass are ignored.
"""

from ._alignment import cca_alignment, mutual_knn_alignment
from ._baselines import alpha_req, lidar, rankme
from ._compatibility import compatibility
from ._encoder import posthoc_spectrum, ratio_trace
from ._proxy import PROBE_ALPHAS, feature_prediction, probe_curve, probe_dims
from ._spectrum import decay_rate, tau, tau_curve, tau_regime

__all__ = [
    "tau_curve",
    "tau",
    "tau_regime",
    "decay_rate",
    "compatibility",
    "cca_alignment",
    "mutual_knn_alignment",
    "rankme",
    "alpha_req",
    "lidar",
    "ratio_trace",
    "posthoc_spectrum",
    "probe_curve",
    "probe_dims",
    "PROBE_ALPHAS",
    "feature_prediction",
]
