"""
=================================================
Laplacian eigenmaps of a graph: the karate club
=================================================

For a symmetric affinity matrix (a graph's adjacency), the co-occurrence
context is the random walk on the graph, and its singular functions are the
graph's Laplacian eigenmaps (the eigenvectors of the normalised Laplacian,
rescaled by the degrees). Zachary's karate club split into two clubs; the first
singular function of the friendship graph, which knows nothing of the split,
separates them.
"""

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from skcontexture import ContextureEmbedding, CooccurrenceContext

graph = nx.karate_club_graph()
adjacency = nx.to_scipy_sparse_array(graph, weight=None, format="csr")
club = np.array([graph.nodes[v]["club"] == "Officer" for v in graph])

emb = ContextureEmbedding(CooccurrenceContext(), n_components=2, random_state=0)
Z = emb.fit_transform(adjacency)
print("singular values:", np.round(emb.singular_values_, 3))

# %%
# The sign of the first function against the club each member joined.
predicted = Z[:, 0] > 0
agreement = max(np.mean(predicted == club), np.mean(predicted != club))
print(f"members placed on their club's side by the sign of mu_1: {agreement:.0%}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
colours = np.where(club, "C1", "C0")
nx.draw_networkx(graph, pos=nx.spring_layout(graph, seed=0), node_color=colours,
                 node_size=180, font_size=7, edge_color="0.7", ax=ax1)
ax1.set_title("friendship graph (colour: club joined)")
ax1.axis("off")
ax2.scatter(Z[:, 0], Z[:, 1], c=colours, s=40)
for v, (a, b) in enumerate(Z):
    ax2.annotate(str(v), (a, b), fontsize=7, xytext=(3, 3), textcoords="offset points")
ax2.axvline(0, color="grey", lw=0.5)
ax2.set_xlabel("mu_1")
ax2.set_ylabel("mu_2")
ax2.set_title("first two singular functions")
fig.tight_layout()
plt.show()
