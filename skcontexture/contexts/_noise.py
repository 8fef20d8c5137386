"""The Gaussian noise context: A = X + sigma * noise, with its known likelihood."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logsumexp
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._compat import Interval
from .._constraints import count
from .._memory import check_memory
from .._progress import batches
from .._typing import fit_context
from ._base import BaseContext, rows_from_neighbors
from ._neighbors import NEIGHBOR_SEARCH_CONSTRAINTS, check_coordinates, neighbor_index
from ._traits import ContextTraits

if TYPE_CHECKING:
    from .._typing import Algorithm, ArrayLike, MatrixLike, RandomStateLike, Self, SparseMatrix

#: Peak bytes of the fit per fit row, neighbour and draw: the draws' neighbour
#: query, the atom indices, offsets, squared distances and weights of the fit
#: rows and the CSR joint (tracemalloc, 2,000 to 5,000 rows, K x n_draws = 75
#: to 300: 88-108).
BYTES_PER_ATOM_ENTRY = 100


class GaussianNoiseContext(BaseContext):
    """Gaussian noise context: the atoms are noisy copies a = x + sigma * eps.

    At fit, ``n_draws`` copies of each fit point are drawn once,
    a_j = x_i(j) + sigma * eps_j with eps_j ~ N(0, I): a sample of P_A, the
    mixture (1/n) sum_k N(x_k, sigma^2 I). The likelihood is known, so each
    input is tied to the atoms by importance weights,

        P+(a_j | x) proportional to N(a_j; x, sigma^2 I) / p_A(a_j),
        p_A(a_j) = (1/n) sum_k N(a_j; x_k, sigma^2 I),

    normalised over the atoms: the draws stand in for N(x, sigma^2 I) as an
    importance sample. The same rule gives the rows of fit points and of new
    points.

    Truncation, to stay sparse: a row keeps the draws of its
    ``n_neighbors`` nearest fit points (``n_neighbors * n_draws`` atoms), and
    p_A(a_j) sums over the ``n_neighbors`` nearest fit points of a_j. Keeping
    the nearest *atoms* instead fails in high dimension: a draw lies about
    sigma * sqrt(n_features) from its source, so the nearest draws of most
    points are the few that fell near the data's centre, and most atoms get
    no mass. What the truncation costs: as sigma grows the weights flatten
    and the context tends to ``KNNContext(n_neighbors)`` (each point's draws
    stand for the point), the weakest context it can express: raise
    ``n_neighbors`` to go weaker. Strength falls monotonically as sigma
    grows, from the strong end (sigma -> 0: a point only reaches its own
    draws, the context splits into one component per point and s_i -> 1)
    to that kNN context.

    Parameters
    ----------
    sigma : float, default=None
        Noise scale. None means the median distance from a fit point to its
        nearest other fit point, stored in ``sigma_``: the likelihood of a
        point's nearest neighbour's draws is then about exp(-1/2) times that
        of its own, a context of moderate strength.
    n_draws : int, default=5
        Noisy copies drawn per fit point (the atoms number n_samples * n_draws).
    n_neighbors : int, default=15
        Fit points whose draws a row keeps, and fit points summed in p_A.
    algorithm : {"auto", "exact", "nndescent"}, default="auto"
        Neighbour search (see :class:`KNNContext`).
    n_jobs : int, default=None
        Threads for the neighbour searches; None means 1.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws (and of NN-descent).

    Attributes
    ----------
    joint_ : scipy.sparse.csr_matrix of shape (n_samples, n_samples * n_draws)
        The fit joint (each fit row has mass 1/n).
    n_atoms_ : int
        Number of atoms (draws).
    sigma_ : float
        The noise scale used.
    atoms_ : ndarray of shape (n_samples * n_draws, n_features)
        The draws; atom j is a copy of fit point ``atom_sources_[j]``.
    atom_sources_ : ndarray of shape (n_samples * n_draws,)
        The fit row each draw was made from.
    nearest_squared_ : ndarray of shape (n_samples * n_draws,)
        Squared distance from each atom to its nearest fit point.
    log_density_ : ndarray of shape (n_samples * n_draws,)
        log p_A of each atom, up to a constant, plus
        ``nearest_squared_ / (2 sigma_**2)``: finite for any sigma.

    Examples
    --------
    >>> import numpy as np
    >>> from skcontexture import GaussianNoiseContext
    >>> X = np.random.RandomState(0).normal(size=(100, 3))
    >>> ctx = GaussianNoiseContext(n_draws=4, n_neighbors=10, random_state=0).fit(X)
    >>> ctx.joint_.shape, bool(np.isclose(ctx.joint_.sum(), 1))
    ((100, 400), True)
    """

    _parameter_constraints = {
        **NEIGHBOR_SEARCH_CONSTRAINTS,
        "sigma": [Interval(Real, 0, None, closed="neither"), None],
        "n_draws": [count(1)],
    }
    _traits = ContextTraits(disconnected_advice="increase sigma")

    def __init__(
        self,
        sigma: float | None = None,
        n_draws: int = 5,
        n_neighbors: int = 15,
        algorithm: Algorithm = "auto",
        n_jobs: int | None = None,
        random_state: RandomStateLike = None,
    ) -> None:
        self.sigma = sigma
        self.n_draws = n_draws
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: ArrayLike | None = None) -> Self:
        """Draw the noisy atoms and build the joint.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Fit points.
        y : None
            Ignored.

        Returns
        -------
        self : GaussianNoiseContext
        """
        X = validate_data(self, X, dtype=np.float64)
        n_samples, n_features = X.shape
        n_entries = n_samples * self.n_neighbors * self.n_draws
        check_memory(
            BYTES_PER_ATOM_ENTRY * n_entries + 8 * n_samples * self.n_draws * n_features,
            f"GaussianNoiseContext with n_neighbors={self.n_neighbors} and "
            f"n_draws={self.n_draws} on {n_samples:,} rows builds a joint of "
            f"{n_entries:,} entries",
            "Use a smaller n_neighbors or n_draws, or fewer rows.",
        )
        rng = check_random_state(self.random_state)
        self.index_ = neighbor_index(self, rng.randint(np.iinfo(np.int32).max)).fit(X)
        self.sigma_ = self._default_sigma(X) if self.sigma is None else float(self.sigma)
        self.atom_sources_ = np.repeat(np.arange(n_samples), self.n_draws)
        noise = rng.standard_normal((n_samples * self.n_draws, n_features))
        self.atoms_ = X[self.atom_sources_] + self.sigma_ * noise
        check_coordinates(
            self.atoms_,
            f"the noisy draws (sigma_={self.sigma_:.3g})",
            "Use a smaller sigma (None is the median nearest-neighbour distance) or "
            "scale the data.",
        )
        distances, _ = self.index_.kneighbors(self.atoms_, self.n_neighbors)
        squared = distances**2
        self.nearest_squared_ = squared[:, 0]
        self.log_density_ = logsumexp(self._log_kernel(squared, squared[:, :1]), axis=1)
        self._set_joint_from_conditional(self._conditional(X))
        return self

    def conditional(self, X: MatrixLike) -> SparseMatrix:
        """Return the importance weights over the draws of each row's nearest fit points.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Returns
        -------
        rows : scipy.sparse.csr_matrix of shape (n_queries, n_atoms_)
        """
        self._check_fitted()
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._conditional(X)

    def _conditional(self, X):
        _, sources = self.index_.kneighbors(X, self.n_neighbors)
        # the draws of the nearest fit points: n_draws consecutive atoms per point
        atoms = (sources[:, :, None] * self.n_draws + np.arange(self.n_draws)).reshape(
            len(X), -1
        )
        squared = np.empty(atoms.shape)
        batch_size = max(1, 2**22 // (atoms.shape[1] * X.shape[1]))
        for batch in batches(len(X), batch_size, "noise row batches"):
            offsets = self.atoms_[atoms[batch]] - X[batch, None, :]
            squared[batch] = np.einsum("ijk,ijk->ij", offsets, offsets)
        # log N(a_j; x) - log p_A(a_j), both relative to a_j's nearest fit point,
        # then to the row's most likely atom: finite however small sigma is
        relative = squared - self.nearest_squared_[atoms]
        log_weights = (
            self._log_kernel(relative, relative.min(axis=1, keepdims=True))
            - self.log_density_[atoms]
        )
        weights = np.exp(log_weights - log_weights.max(axis=1, keepdims=True))
        rows = rows_from_neighbors(atoms, weights, len(self.atoms_))
        rows.eliminate_zeros()
        return rows

    def _log_kernel(self, squared_distances, nearest):
        """log N(a; x, sigma^2 I) relative to the ``nearest`` squared distance.

        Divided by sigma twice: sigma**2 would under- or overflow for extreme sigma;
        an overflowing quotient is an atom infinitely far (log weight -inf).
        """
        with np.errstate(over="ignore"):
            return -0.5 * ((squared_distances - nearest) / self.sigma_) / self.sigma_

    def _default_sigma(self, X):
        if X.shape[0] < 2:
            return 1.0
        distances, _ = self.index_.kneighbors(X, 2)
        nearest = distances[:, 1][distances[:, 1] > 0]
        return float(np.median(nearest)) if nearest.size else 1.0

    def _atom_points(self, X):
        return self.atoms_, self.atom_sources_
