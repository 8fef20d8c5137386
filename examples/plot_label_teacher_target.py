"""
=================================================
Label, teacher and target contexts
=================================================

Supervised contexts tie an input to what is known about it:

* :class:`~skcontexture.LabelContext`: the atoms are the classes; a fit row
  goes with its own class, a new row with the classes of its nearest fit rows.
  With C classes, C - 1 singular values equal 1: the label context is as strong
  as a context gets, and its embedding is that of Fisher's discriminant
  analysis without the linear restriction;
* :class:`~skcontexture.TeacherContext`: the soft labels ``predict_proba`` of a
  fitted classifier (here a logistic regression trained on other rows);
* :class:`~skcontexture.TargetContext`: for a continuous target, neighbours in
  target space (kNN on y).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, LabelContext, TargetContext, TeacherContext

X, y = load_wine(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_fit, X_new, y_fit, y_new = train_test_split(X, y, test_size=0.4, random_state=0)

# %%
# Label context: the fit rows collapse onto one point per class (singular
# values 1); new rows land between them according to their neighbours' labels.
label = ContextureEmbedding(LabelContext(n_neighbors=10), n_components=2).fit(X_fit, y_fit)
print("label context singular values:", np.round(label.singular_values_, 3))
Z_label = label.transform(X_new)

# %%
# Teacher context: a classifier fitted on half of the fit rows gives soft
# labels for every row; a fitted teacher is used as is, never refitted.
teacher = LogisticRegression(C=0.05, max_iter=1000).fit(X_fit[::2], y_fit[::2])
soft = ContextureEmbedding(TeacherContext(teacher), n_components=2).fit(X_fit)
print("teacher context singular values:", np.round(soft.singular_values_, 3))
Z_teacher = soft.transform(X_new)

# %%
# Target context on a regression problem: the leading singular function of
# kNN-on-y is a smooth monotone function of the target on the fit rows, and
# new rows (whose target is unknown) are placed through their neighbours in X.
Xd, yd = load_diabetes(return_X_y=True)
Xd = StandardScaler().fit_transform(Xd)
Xd_fit, Xd_new, yd_fit, yd_new = train_test_split(Xd, yd, test_size=0.3, random_state=0)
target = ContextureEmbedding(TargetContext(n_neighbors=20), n_components=1).fit(Xd_fit, yd_fit)
mu_new = target.transform(Xd_new)[:, 0]
print(f"correlation of mu_1 with y on new rows: {np.corrcoef(mu_new, yd_new)[0, 1]:.2f}")

# %%
# The three embeddings of new rows (wine coloured by cultivar).
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
for ax, Z, title in [
    (axes[0], Z_label, "LabelContext (new rows)"),
    (axes[1], Z_teacher, "TeacherContext(LogisticRegression)"),
]:
    ax.scatter(Z[:, 0], Z[:, 1], c=y_new, cmap="viridis", s=15)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("mu_1")
    ax.set_ylabel("mu_2")
axes[2].scatter(yd_fit, target.embedding_[:, 0], s=6, label="fit rows")
axes[2].scatter(yd_new, mu_new, s=10, label="new rows (via neighbours in X)")
axes[2].set_xlabel("target y")
axes[2].set_ylabel("mu_1")
axes[2].set_title("TargetContext (diabetes)", fontsize=10)
axes[2].legend(fontsize=8)
fig.tight_layout()
plt.show()
