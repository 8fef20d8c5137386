"""
=================================================
A large fit: 100,000 points of a swiss roll
=================================================

A whole fit -- neighbour search, sparse operator, solver -- on 100,000 points
takes about 5 s on an idle 2-core machine (:doc:`/performance`); the time
printed below was measured while this page was built, on whatever machine built
it. The first singular function of a kNN context of
the swiss roll unrolls it: it is a monotone function of the position along the
roll.

From 100,000 fit points on (20,000 above 32 features) ``KNNContext`` switches
from an exact search to NN-descent (pynndescent). pynndescent is compiled by
numba the first time it is called in a fresh environment, which takes tens of
seconds once; later calls reuse numba's cache. This example stays just below
the threshold, with the exact (KD-tree) search.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_swiss_roll

from skcontexture import ContextureEmbedding, KNNContext

n_samples = 99_000
X, t = make_swiss_roll(n_samples=n_samples, noise=0.2, random_state=0)

start = time.perf_counter()
emb = ContextureEmbedding(KNNContext(n_neighbors=15, n_jobs=2), n_components=2, n_jobs=2,
                          random_state=0)
Z = emb.fit_transform(X)
seconds = time.perf_counter() - start
print(f"fit on {n_samples:,} points, K = 15, 2 components: {seconds:.1f} s")
print("singular values:", np.round(emb.singular_values_, 5))
rho = np.corrcoef(np.argsort(np.argsort(Z[:, 0])), np.argsort(np.argsort(t)))[0, 1]
print(f"rank correlation of mu_1 with the position along the roll: {abs(rho):.3f}")

# %%
# A random tenth of the points, in 3-D coloured by mu_1, and mu_1 against the
# position along the roll.
show = np.random.RandomState(0).choice(n_samples, 10_000, replace=False)
fig = plt.figure(figsize=(11, 4.5))
ax = fig.add_subplot(1, 2, 1, projection="3d")
ax.scatter(X[show, 0], X[show, 1], X[show, 2], c=Z[show, 0], s=1)
ax.set_title("swiss roll, colour: mu_1")
ax.set_xticks([])
ax.set_yticks([])
ax.set_zticks([])
ax2 = fig.add_subplot(1, 2, 2)
ax2.scatter(t[show], Z[show, 0], s=1, c=Z[show, 0])
ax2.set_xlabel("position along the roll t")
ax2.set_ylabel("mu_1")
ax2.set_title(f"{n_samples:,} points fitted in {seconds:.1f} s")
fig.tight_layout()
plt.show()
