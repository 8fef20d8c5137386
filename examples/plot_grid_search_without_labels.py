"""
=================================================
Choosing a context without labels: ContextScorer
=================================================

:class:`~skcontexture.ContextScorer` follows scikit-learn's scorer protocol, so
:class:`~sklearn.model_selection.GridSearchCV` tunes a context without any
label. Its default metric, ``"feature_prediction"``, asks how well an embedding
fitted without a group of features predicts those features on other rows.

Because the digits do have labels, we can check afterwards what the label-free
choice is worth: every context of the grid is also scored by a linear probe on
the labels, which the search never sees.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextScorer, ContextureEmbedding, KNNContext, RBFContext

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X[:600])
y = y[:600]
n_features = X.shape[1]

# kNN contexts of three strengths and two Gaussian kernels (gamma = g / n_features
# on standardised features; every fit point is an atom).
contexts = [KNNContext(n_neighbors=k) for k in (10, 30, 100)] + [
    RBFContext(gamma=g / n_features) for g in (0.3, 3.0)
]
names = [f"kNN K={k}" for k in (10, 30, 100)] + [f"RBF g={g}" for g in (0.3, 3.0)]

# %%
# The label-free search. ``feature_prediction`` fits on halves of the rows it
# is given; a single split with every row on both sides (``cv=[(rows, rows)]``)
# judges each kNN context on the number of rows it will be fitted on.
rows = np.arange(len(X))
search = GridSearchCV(
    ContextureEmbedding(n_components=8, random_state=0),
    {"context": contexts},
    scoring=ContextScorer(),
    cv=[(rows, rows)],
)
search.fit(X)  # no y
label_free = search.cv_results_["mean_test_score"]
chosen = int(np.argmax(label_free))
print("chosen without labels:", names[chosen])

# %%
# What the labels say: a cross-validated logistic regression on each context's
# 8 singular functions.
probe = [
    cross_val_score(
        make_pipeline(
            ContextureEmbedding(c, n_components=8, random_state=0),
            LogisticRegression(max_iter=2000),
        ),
        X,
        y,
        cv=3,
    ).mean()
    for c in contexts
]
rank = 1 + int(np.sum(np.array(probe) > probe[chosen]))
print(f"its probe accuracy {probe[chosen]:.3f} ranks {rank} of {len(contexts)}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
colours = ["C1" if i == chosen else "C0" for i in range(len(contexts))]
ax1.barh(names, label_free, color=colours)
ax1.set_xlabel("feature_prediction (held-out R², no labels)")
ax2.barh(names, probe, color=colours)
ax2.set_xlabel("probe accuracy (labels)")
ax2.set_xlim(min(probe) - 0.02, 1)
ax1.set_title("label-free score (orange: chosen)")
ax2.set_title("what the labels say")
fig.tight_layout()
plt.show()
