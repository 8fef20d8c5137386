"""
=========================
Spectra and tau curves
=========================

The singular values ``s_1 >= s_2 >= ...`` of a context say how strongly it ties
an input to its atoms: a strong context has many values near 1, a weak one a
fast decaying spectrum. The paper's metric ``tau`` is a function of this
spectrum (:func:`skcontexture.metrics.tau_curve`); its minimiser ``d*`` is the
suggested embedding dimension, and :func:`skcontexture.metrics.tau_regime`
says where tau should not be trusted.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext
from skcontexture.metrics import tau_curve, tau_regime
from skcontexture.plotting import plot_spectra, plot_tau_curves

X, _ = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X[:1000])

# %%
# The top 128 singular values of kNN contexts of growing K: the smaller K, the
# stronger the context and the slower its spectrum decays.
spectra = {}
for k in (5, 20, 100):
    emb = ContextureEmbedding(KNNContext(n_neighbors=k), n_components=128, random_state=0).fit(X)
    spectra[f"kNN K={k}"] = emb.singular_values_

for name, s in spectra.items():
    taus, best_d = tau_curve(s, max_dim=128)
    regime = tau_regime(s, max_dim=128)
    print(f"{name:10s} tau = {taus.min():.3f} at d* = {best_d:3d}; "
          f"{'trusted' if regime is None else 'untrusted: ' + regime}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
plot_spectra(spectra, ax=ax1)
plot_tau_curves(spectra, max_dim=128, ax=ax2)
fig.tight_layout()
plt.show()
