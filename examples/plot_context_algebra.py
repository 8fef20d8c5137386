"""
=================================================
The context algebra: mixtures and compositions
=================================================

Contexts combine into new contexts:

* :class:`~skcontexture.ConvexCombination`: with probability w_c the atoms
  come from part c; the parts are named, so a grid reaches their parameters
  (``knn__n_neighbors``);
* :class:`~skcontexture.Convolution`: one step of the first context, then one
  of the second from where it landed, for example the two-hop kNN walk. A
  convolution is weaker than its first step: its singular values are smaller.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from skcontexture import (
    ContextureEmbedding,
    ConvexCombination,
    Convolution,
    KNNContext,
    RBFContext,
)

X, _ = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X[:600])

contexts = {
    "kNN K=10": KNNContext(10),
    "two hops: kNN K=10 then kNN K=10": Convolution(KNNContext(10), KNNContext(10)),
    "RBF, gamma = 0.3 / n_features": RBFContext(gamma=0.3 / X.shape[1]),
    "mixture 1:1 of kNN and RBF": ConvexCombination(
        [("knn", KNNContext(10)), ("rbf", RBFContext(gamma=0.3 / X.shape[1]))]
    ),
}

fig, ax = plt.subplots(figsize=(6, 4))
for name, context in contexts.items():
    emb = ContextureEmbedding(context, n_components=32, random_state=0).fit(X)
    ax.plot(range(1, 33), emb.singular_values_, label=name)
    print(f"{name:34s} s_1 = {emb.singular_values_[0]:.4f}, s_32 = {emb.singular_values_[-1]:.4f}")
ax.set_xlabel("i")
ax.set_ylabel("s_i")
ax.set_title("Spectra of combined contexts")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
