"""
=====================================================
kNN, RBF and masked contexts on the same data
=====================================================

Three contexts of the same digits, and the first two singular functions of
each, coloured by the digit (which none of the contexts sees):

* :class:`~skcontexture.KNNContext`: the atoms of a point are its K nearest
  fit points;
* :class:`~skcontexture.RBFContext`: a Gaussian kernel around it, over every
  fit point;
* :class:`~skcontexture.MaskedContext`: the average of kNN contexts computed
  on random subsets of the features (the paper's masked kNN, 20% of the
  features hidden per mask).
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext, MaskedContext, RBFContext

X, y = load_digits(return_X_y=True)
X, y = X[:1000], y[:1000]
X = StandardScaler().fit_transform(X)

contexts = {
    "kNN, K = 15": KNNContext(n_neighbors=15),
    "RBF, gamma = 0.3 / n_features": RBFContext(gamma=0.3 / X.shape[1]),
    "masked kNN, 10 masks of 20%": MaskedContext(
        KNNContext(n_neighbors=15), mask_ratio=0.2, n_masks=10, random_state=0
    ),
}

fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (name, context) in zip(axes, contexts.items()):
    emb = ContextureEmbedding(context, n_components=2, random_state=0)
    Z = emb.fit_transform(X)
    s1, s2 = emb.singular_values_
    ax.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", s=6)
    ax.set_title(f"{name}\ns_1 = {s1:.3f}, s_2 = {s2:.3f}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("First two singular functions, coloured by digit")
fig.tight_layout()
plt.show()

# %%
# The three contexts differ in strength (how close their singular values are
# to 1) and in which structure their leading functions pick out. Which one is
# best for a task is what :class:`~skcontexture.ContextScorer` estimates
# without labels (see :ref:`sphx_glr_auto_examples_plot_grid_search_without_labels.py`).
