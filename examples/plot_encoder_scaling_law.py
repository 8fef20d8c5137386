"""
=====================================================
The parametric encoder and the scaling law
=====================================================

:class:`~skcontexture.SpectralContextEncoder` learns the same space as
:class:`~skcontexture.ContextureEmbedding`, but inside a parametric feature
class: a backbone with D features (here a Nyström approximation of a Gaussian
kernel with D landmarks) followed by a linear map. Its eigenvalues satisfy
``lambda_i <= s_i**2``, with equality once the backbone spans the top singular
functions: as the model grows, it captures more of the context, with
diminishing returns (the paper's scaling result). New points need only the
backbone and one matrix product.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.kernel_approximation import Nystroem
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext, SpectralContextEncoder
from skcontexture.metrics import cca_alignment

X, _ = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X[:1200])
context = KNNContext(n_neighbors=15)
d = 8

exact = ContextureEmbedding(context, n_components=d, random_state=0).fit(X)
s2 = exact.singular_values_**2

widths = [8, 16, 32, 64, 128, 256, 512, 1024]
captured, alignment = [], []
for width in widths:
    encoder = SpectralContextEncoder(
        context,
        backbone=Nystroem(gamma=1 / X.shape[1], n_components=width),
        n_components=d,
        random_state=0,
    ).fit(X)
    captured.append(encoder.eigenvalues_.sum() / s2.sum())
    alignment.append(cca_alignment(encoder.transform(X), exact.embedding_))
    print(f"D = {width:4d}: captured {captured[-1]:.3f}, alignment {alignment[-1]:.3f}")

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(widths, captured, "o-", label="captured: sum lambda_i / sum s_i^2")
ax.plot(widths, alignment, "s-", label="alignment with the exact embedding (CCA)")
ax.set_xscale("log", base=2)
ax.set_ylim(0, 1.02)
ax.set_xlabel("backbone width D (Nyström landmarks)")
ax.set_title(f"SpectralContextEncoder, kNN context (K = 15), d = {d}")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
# The bound holds for every component: each eigenvalue of the widest encoder is
# at most the corresponding squared singular value of the exact embedding.
print("lambda_i:", np.round(encoder.eigenvalues_, 3))
print("s_i^2:   ", np.round(s2, 3))
