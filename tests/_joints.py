"""Sparse joints of known structure for the operator and solver tests."""

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import make_swiss_roll
from sklearn.neighbors import kneighbors_graph


def random_joint(n, m, seed=0):
    """Sparse nonnegative joint with a few all-zero rows and columns."""
    rng = np.random.default_rng(seed)
    W = sp.random(n, m, density=0.05, format="lil", random_state=rng)
    W[[0, 7, n // 2], :] = 0
    W[:, [1, m // 3, m - 1]] = 0
    W = W.tocsr()
    W.eliminate_zeros()
    return W


def knn_joint(n, n_neighbors, seed=0):
    """Symmetrised kNN connectivity graph of a swiss roll."""
    X, _ = make_swiss_roll(n, random_state=seed)
    A = kneighbors_graph(X, n_neighbors)
    return (A + A.T).tocsr()


def low_rank_joint(n, m, rank, seed=0):
    """Dense positive joint of rank ``rank`` (its deflated operator: ``rank - 1``)."""
    rng = np.random.default_rng(seed)
    return sp.csr_matrix(rng.uniform(size=(n, rank)) @ rng.uniform(size=(rank, m)))
