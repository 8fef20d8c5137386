"""
=================================================
Paired views: a context from a second matrix
=================================================

Multi-view data gives each sample a second description: an image and its
caption, a user and the items they bought. :class:`~skcontexture.PairedContext`
uses the second view ``A`` as the context: the atoms of a sample are the rows
of ``A`` near its own row of ``A``. ``A`` is a fit parameter
(``fit(X, A=A)``), and new samples bring their own (``transform(X, A=A)``).

Here the two views of a digit are the left and the right halves of its image.
The embedding of the left halves learned from the right halves is compared with
the one a kNN context learns from the left halves alone.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skcontexture import ContextureEmbedding, KNNContext, PairedContext

X, y = load_digits(return_X_y=True)
images = X.reshape(-1, 8, 8)
left = images[:, :, :4].reshape(len(X), -1)
right = images[:, :, 4:].reshape(len(X), -1)
L_fit, L_new, R_fit, R_new, y_fit, y_new = train_test_split(
    left, right, y, test_size=0.3, random_state=0
)

paired = ContextureEmbedding(PairedContext(KNNContext(n_neighbors=10)), n_components=16,
                             random_state=0)
paired.fit(L_fit, A=R_fit)
Z_fit, Z_new = paired.embedding_, paired.transform(L_new, A=R_new)

alone = ContextureEmbedding(KNNContext(n_neighbors=10), n_components=16, random_state=0)
W_fit, W_new = alone.fit_transform(L_fit), alone.transform(L_new)

# %%
# A linear probe on each embedding (labels are used only here, to compare).
for name, (A_fit, A_new) in {"paired (left | right)": (Z_fit, Z_new),
                             "kNN on the left halves": (W_fit, W_new)}.items():
    acc = LogisticRegression(max_iter=2000).fit(A_fit, y_fit).score(A_new, y_new)
    print(f"{name:24s} probe accuracy {acc:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, Z, title in [(axes[0], Z_new, "PairedContext: left halves, context = right halves"),
                     (axes[1], W_new, "KNNContext on the left halves")]:
    ax.scatter(Z[:, 0], Z[:, 1], c=y_new, cmap="tab10", s=8)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %%
# In a :class:`~sklearn.pipeline.Pipeline`, ``A`` reaches ``fit`` as a step
# parameter (``pipe.fit(X, y, contextureembedding__A=A)``); to pass it to
# ``transform`` and ``predict`` as well, enable scikit-learn's metadata routing
# and call ``set_fit_request(A=True).set_transform_request(A=True)`` on the
# embedding (see :doc:`/contexts`).
print("new rows embedded:", np.asarray(Z_new).shape)
