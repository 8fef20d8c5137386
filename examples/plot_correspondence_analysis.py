"""
=================================================
Correspondence analysis of a contingency table
=================================================

When X is itself a nonnegative table of counts, each row goes with the
columns in proportion to its counts: :class:`~skcontexture.CooccurrenceContext`.
The singular functions of that context are exactly correspondence analysis:
``embedding_`` holds the row standard coordinates, ``atom_functions_`` the
column ones, and multiplying both by the singular values gives the principal
coordinates of the classic CA biplot.

The table is the hair and eye colour of 592 statistics students (Snee, 1974).
"""

import matplotlib.pyplot as plt
import numpy as np

from skcontexture import ContextureEmbedding, CooccurrenceContext

hair = ["black", "brown", "red", "blond"]
eyes = ["brown", "blue", "hazel", "green"]
counts = np.array([
    [68, 20, 15, 5],
    [119, 84, 54, 29],
    [26, 17, 14, 14],
    [7, 94, 10, 16],
])

ca = ContextureEmbedding(CooccurrenceContext(), n_components=2, scale="none").fit(counts)
s = ca.singular_values_
rows = ca.embedding_ * s  # principal coordinates of the hair colours
cols = ca.atom_functions_ * s  # and of the eye colours

# %%
# The squared singular values are the principal inertias; their sum over all
# components is the table's chi-squared statistic divided by its total.
inertia = s**2
print("principal inertias:", np.round(inertia, 4))
expected = counts.sum(1, keepdims=True) * counts.sum(0) / counts.sum()
chi2 = ((counts - expected) ** 2 / expected).sum()
print(f"share of the total inertia in 2 dimensions: {inertia.sum() / (chi2 / counts.sum()):.3f}")

fig, ax = plt.subplots(figsize=(6, 5))
ax.scatter(rows[:, 0], rows[:, 1], marker="s", color="C0", label="hair")
ax.scatter(cols[:, 0], cols[:, 1], marker="o", color="C3", label="eyes")
for name, (a, b) in zip(hair, rows):
    ax.annotate(name, (a, b), xytext=(4, 4), textcoords="offset points", color="C0")
for name, (a, b) in zip(eyes, cols):
    ax.annotate(name, (a, b), xytext=(4, -10), textcoords="offset points", color="C3")
ax.axhline(0, color="grey", lw=0.5)
ax.axvline(0, color="grey", lw=0.5)
ax.set_xlabel(f"dimension 1 ({inertia[0] / inertia.sum():.0%} of the plotted inertia)")
ax.set_ylabel("dimension 2")
ax.set_title("Correspondence analysis: hair and eye colour")
ax.legend()
fig.tight_layout()
plt.show()
