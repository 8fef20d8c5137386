"""
========================================================
Contexture features before a classifier in a Pipeline
========================================================

:class:`~skcontexture.ContextureEmbedding` is a transformer: it drops into a
:class:`~sklearn.pipeline.Pipeline` in front of any classical model. Here a
linear classifier on the top ``d`` singular functions of a kNN context of the
digits is compared with the same classifier on the 64 raw pixels, for growing
``d``. New (test) digits are embedded by the Nyström extension, without
refitting.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

# %%
# The pipeline: standardise, embed by the kNN context, classify.
pipe = make_pipeline(
    StandardScaler(),
    ContextureEmbedding(KNNContext(n_neighbors=10), n_components=16, random_state=0),
    LogisticRegression(max_iter=2000),
)
pipe.fit(X_train, y_train)
print(f"accuracy with 16 contexture features: {pipe.score(X_test, y_test):.3f}")

raw = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)
print(f"accuracy on the 64 raw features:      {raw.score(X_test, y_test):.3f}")

# %%
# Accuracy against the number of singular functions. The embedding's parameters
# are reached through the step name, as for any pipeline step.
dims = [2, 4, 8, 16, 32, 64]
scores = []
for d in dims:
    pipe.set_params(contextureembedding__n_components=d)
    scores.append(pipe.fit(X_train, y_train).score(X_test, y_test))

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(dims, scores, "o-", label="kNN context (K = 10) + logistic regression")
ax.axhline(raw.score(X_test, y_test), color="grey", ls="--", label="raw pixels")
ax.set_xscale("log", base=2)
ax.set_xlabel("number of singular functions d")
ax.set_ylabel("test accuracy")
ax.set_title("Digits: a linear probe on the contexture")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
