"""
=====================================================================
Few labels: the linear kernel of the features beside a local context
=====================================================================

A label-free representation has to guess what a downstream task needs. The
embedding of a local context (:class:`~skcontexture.ContextureEmbedding`, a
kNN graph by default) keeps the data's cluster structure and loses what is
linear in the features; the raw features keep the linear part and none of the
structure. Which one a classifier with few labels is better served by depends
on the data, and no label-free score tells them apart reliably (see the user
guide's "Does it help?" page).

:class:`~skcontexture.ContextureUnion` does not choose. By default it puts the
contexture of the linear kernel of the features (PCA's components, weighted by
their singular values) beside ``ContextureEmbedding()``, each block divided by
the square root of its total variance, so that a penalised classifier fitted
on the union weighs both alike and its labels decide. This is the model the
main job saves (``python -m skcontexture data.npz --save-model m.joblib``),
with the local context chosen from its grid.

Below, every representation is fitted on the unlabelled pool; a logistic
regression (its ``C`` chosen by cross-validation on the labelled rows) is then
fitted on m labelled rows per class, five draws each, and scored on held-out
rows embedded by ``transform``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, ContextureUnion

LABELS_PER_CLASS = (2, 5, 10, 20, 50)
DRAWS = 5


def representations():
    return {
        "raw features": StandardScaler(),
        "ContextureEmbedding()": make_pipeline(StandardScaler(),
                                               ContextureEmbedding(random_state=0)),
        "ContextureUnion()": make_pipeline(StandardScaler(), ContextureUnion(random_state=0)),
    }


def accuracies(X, y):
    """Mean test accuracy per representation and number of labels per class."""
    X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=0.3, random_state=0,
                                                      stratify=y)
    # fitted once on the pool's inputs: no label is used
    embedded = {name: (rep.fit(X_pool).transform(X_pool), rep.transform(X_test))
                for name, rep in representations().items()}
    rng = np.random.RandomState(0)
    scores = {name: [] for name in embedded}
    for m in LABELS_PER_CLASS:
        draws = {name: [] for name in embedded}
        for _ in range(DRAWS):
            rows = np.concatenate([rng.choice(np.flatnonzero(y_pool == c), m, replace=False)
                                   for c in np.unique(y_pool)])
            for name, (Z_pool, Z_test) in embedded.items():
                clf = GridSearchCV(LogisticRegression(max_iter=5000),
                                   {"C": np.logspace(-3, 3, 7)},
                                   cv=StratifiedKFold(min(3, m), shuffle=True, random_state=0))
                clf.fit(Z_pool[rows], y_pool[rows])
                draws[name].append(clf.score(Z_test, y_test))
        for name in embedded:
            scores[name].append(np.mean(draws[name]))
    return scores


# %%
# Two of scikit-learn's datasets: handwritten digits, whose classes are
# clusters, and breast cancer, a tabular dataset whose classes a linear model
# separates well.
results = {"digits": accuracies(*load_digits(return_X_y=True)),
           "breast cancer": accuracies(*load_breast_cancer(return_X_y=True))}

for dataset, scores in results.items():
    print(dataset)
    print("  labels per class " + "".join(f"{m:>8d}" for m in LABELS_PER_CLASS))
    for name, values in scores.items():
        print(f"  {name:<22s}" + "".join(f"{v:8.3f}" for v in values))

# %%
# The union follows the better of its two inputs. On the digits the kNN
# embedding is far ahead of the raw pixels with few labels, and the raw pixels
# catch up as labels grow; the union is between the two at 2 labels per class,
# level with the embedding at 5, and ahead of both from 10 on. On breast
# cancer neither input leads at every number of labels, and the union is never
# far below the better of the two (under 2 points here).
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
for ax, (dataset, scores) in zip(axes, results.items()):
    for (name, values), style in zip(scores.items(), ("o-", "s--", "^-")):
        ax.plot(LABELS_PER_CLASS, values, style, label=name)
    ax.set_xscale("log")
    ax.set_xticks(LABELS_PER_CLASS, [str(m) for m in LABELS_PER_CLASS])
    ax.set_xlabel("labelled rows per class")
    ax.set_title(dataset)
axes[0].set_ylabel("test accuracy (logistic regression)")
axes[0].legend()
fig.tight_layout()
plt.show()
