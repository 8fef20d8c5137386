"""
========================================================
Contexture features for a classifier with few labels
========================================================

:class:`~skcontexture.ContextureEmbedding` is a transformer: it drops into a
:class:`~sklearn.pipeline.Pipeline` in front of any classical model. Where it
helps is when labels are few: the embedding is fitted on every unlabelled row,
and a linear classifier then needs far fewer labelled ones. Here a logistic
regression on 32 singular functions of a kNN context of the digits (each
scaled by its singular value, so the classifier's regularisation falls on the
weak ones first) is compared with the same classifier on the 64 raw pixels,
from 2 labelled images per digit to all of them. New (test) digits are
embedded by the Nyström extension, without refitting. With few labels the
contexture features lead by several points; with all the labels the raw
pixels catch up (see the user guide's "Does it help?" page for the datasets
where they do not help at all).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext

X, y = load_digits(return_X_y=True)
X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

# %%
# Both representations are fitted on the inputs of the pool only: no label is used.
raw = StandardScaler().fit(X_pool)
contexture = make_pipeline(
    StandardScaler(),
    ContextureEmbedding(KNNContext(n_neighbors=15), n_components=32,
                        scale="singular_values", random_state=0),
).fit(X_pool)

# %%
# A logistic regression on m labelled images per digit (three draws each).
rng = np.random.RandomState(0)
per_class = [2, 5, 10, 20, 50, None]
scores = {"raw pixels": [], "contexture (kNN, 32 scaled functions)": []}
for m in per_class:
    draws = []
    for _ in range(3 if m else 1):
        rows = np.arange(len(y_pool)) if m is None else np.concatenate(
            [rng.choice(np.flatnonzero(y_pool == c), m, replace=False) for c in range(10)])
        draws.append([
            LogisticRegression(max_iter=5000)
            .fit(features.transform(X_pool[rows]), y_pool[rows])
            .score(features.transform(X_test), y_test)
            for features in (raw, contexture)
        ])
    for name, value in zip(scores, np.mean(draws, axis=0)):
        scores[name].append(value)
    print(f"{'all' if m is None else m:>4} per class: raw {scores['raw pixels'][-1]:.3f}, "
          f"contexture {scores['contexture (kNN, 32 scaled functions)'][-1]:.3f}")

# %%
# Accuracy against the number of labels.
labels = [m if m else len(y_pool) // 10 for m in per_class]
fig, ax = plt.subplots(figsize=(6, 4))
for name, values in scores.items():
    ax.plot(labels, values, "o-", label=name)
ax.set_xscale("log")
ax.set_xlabel("labelled images per digit (the last point: all of them)")
ax.set_ylabel("test accuracy")
ax.set_title("Digits: a linear classifier on few labels")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
