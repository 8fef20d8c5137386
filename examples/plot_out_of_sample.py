"""
=================================================
Out-of-sample transform versus refitting
=================================================

``transform`` embeds new points by the Nyström extension

.. math:: \\mu_i(x) = \\frac{1}{s_i} \\sum_j P^+(a_j \\mid x)\\, \\nu_i(a_j),

using the atoms and the singular functions of the fit. It reproduces the fit
embedding exactly on the fit rows, and on new rows it approximates what a
refit on all the rows would give. Here the embedding of a swiss roll fitted on
1,500 points is extended to 1,500 new ones and compared with a refit on all
3,000 (up to a sign per function).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_swiss_roll

from skcontexture import ContextureEmbedding, KNNContext
from skcontexture.metrics import cca_alignment

X, t = make_swiss_roll(n_samples=3000, noise=0.3, random_state=0)
X_fit, X_new = X[:1500], X[1500:]

emb = ContextureEmbedding(KNNContext(n_neighbors=15), n_components=2, random_state=0)
emb.fit(X_fit)
print("transform(X_fit) equals the fit embedding:",
      np.allclose(emb.transform(X_fit), emb.embedding_))
Z_new = emb.transform(X_new)

refit = ContextureEmbedding(KNNContext(n_neighbors=15), n_components=2, random_state=0)
Z_all = refit.fit_transform(X)[1500:]
Z_all *= np.sign(np.sum(Z_all * Z_new, axis=0))  # singular functions have arbitrary signs

print(f"alignment (mean squared canonical correlation): {cca_alignment(Z_new, Z_all):.3f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for i, ax in enumerate(axes):
    ax.scatter(Z_all[:, i], Z_new[:, i], c=t[1500:], s=4)
    lim = [Z_all[:, i].min(), Z_all[:, i].max()]
    ax.plot(lim, lim, color="grey", lw=0.8)
    ax.set_xlabel(f"mu_{i + 1}, refitted on all points")
    ax.set_ylabel(f"mu_{i + 1}, transform of new points")
fig.suptitle("Nyström extension vs refit (colour: position along the roll)")
fig.tight_layout()
plt.show()
