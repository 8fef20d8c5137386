"""Plots of context spectra, tau curves and embeddings (matplotlib, an optional dependency).

Install it with ``pip install skcontexture[plot]``. matplotlib is imported only
when a function here is called.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .metrics import tau_curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ._typing import ArrayLike

__all__ = ["plot_spectra", "plot_tau_curves", "plot_context_selection", "plot_embedding"]

#: Most distinct whole numbers that ``plot_embedding`` draws as categories (one legend
#: entry each) rather than on a colour bar.
_MAX_CATEGORIES = 20


def _pyplot():
    try:
        import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skcontexture.plotting needs matplotlib; install the 'plot' extra: "
            "pip install 'skcontexture[plot]'"
        ) from exc
    return plt


def _axes(ax):
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def _style(label, chosen, untrusted, notes=()):
    """Legend text and line style of a context: the chosen one thick, untrusted tau dashed."""
    notes, style = list(notes), {}
    if chosen is not None and label == chosen:
        notes.append("chosen")
        style.update(linewidth=3, zorder=3)
    if label in untrusted:
        notes.append("tau untrusted")
        style.update(linestyle="--")
    return str(label) + (f" ({', '.join(notes)})" if notes else ""), style


def plot_spectra(
    spectra: Mapping[str, ArrayLike],
    ax: Axes | None = None,
    squared: bool = True,
    *,
    chosen: str | None = None,
    untrusted: Collection[str] = (),
) -> Axes:
    """Plot singular values s_i (or s_i^2) against i, one line per context.

    Parameters
    ----------
    spectra : dict of {str: array-like}
        Label -> s_1, s_2, ... (trivial s_0 excluded).
    ax : matplotlib Axes, default=None
        Where to draw; None creates a figure.
    squared : bool, default=True
        Plot s_i^2 (the eigenvalues of the dual kernel) on a log scale.
    chosen : str, default=None
        Label of the chosen context, drawn thick and marked "chosen" in the legend.
    untrusted : collection of str, default=()
        Labels of the contexts whose tau is not to be trusted, drawn dashed and marked
        "tau untrusted".

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    for label, s in spectra.items():
        s = np.asarray(s, dtype=float)
        text, style = _style(label, chosen, untrusted)
        ax.plot(np.arange(1, s.size + 1), s**2 if squared else s, label=text, **style)
    ax.set_xlabel("i")
    ax.set_ylabel("$s_i^2$" if squared else "$s_i$")
    if squared:
        ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_title("Context spectra")
    ax.legend(fontsize="small")
    return ax


def plot_tau_curves(
    spectra: Mapping[str, ArrayLike],
    beta: float = 1.0,
    max_dim: int = 512,
    ax: Axes | None = None,
    *,
    chosen: str | None = None,
    untrusted: Collection[str] = (),
) -> Axes:
    """Plot tau_d against d for each context (log-log), marking each argmin (suggested dimension).

    Parameters
    ----------
    spectra : dict of {str: array-like}
        Label -> s_1, s_2, ...
    beta : float, default=1.0
    max_dim : int, default=512
    ax : matplotlib Axes, default=None
    chosen : str, default=None
        Label of the chosen context, drawn thick and marked "chosen" in the legend.
    untrusted : collection of str, default=()
        Labels of the contexts whose tau is not to be trusted, drawn dashed and marked
        "tau untrusted".

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    for label, s in spectra.items():
        taus, best_d = tau_curve(s, beta=beta, max_dim=max_dim)
        d = np.arange(1, taus.size + 1)
        finite = np.isfinite(taus)
        if not finite.any():
            continue
        text, style = _style(label, chosen, untrusted, notes=[f"d*={best_d}"])
        (line,) = ax.plot(d[finite], taus[finite], label=text, **style)
        ax.plot([best_d], [taus[best_d - 1]], "o", color=line.get_color())
    # log-log: tau_d spans orders of magnitude across contexts, and one very strong
    # context would flatten every other curve on a linear axis
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("d")
    ax.set_ylabel(r"$\tau_d$")
    ax.set_title(r"$\tau_d$ curves (dot: argmin, the suggested dimension)")
    ax.legend(fontsize="small")
    return ax


def plot_context_selection(
    spectra: Mapping[str, ArrayLike],
    path: str | os.PathLike[str],
    beta: float = 1.0,
    max_dim: int = 512,
    *,
    chosen: str | None = None,
    untrusted: Collection[str] = (),
) -> str | os.PathLike[str]:
    """Save a two-panel figure (spectra, tau curves) to ``path``; return the path.

    Parameters
    ----------
    spectra : dict of {str: array-like}
    path : str or path-like
        Image file to write (format from the extension).
    beta : float, default=1.0
    max_dim : int, default=512
    chosen : str, default=None
        Label of the chosen context, drawn thick and marked "chosen" in both panels.
    untrusted : collection of str, default=()
        Labels of the contexts whose tau is not to be trusted, drawn dashed and marked
        "tau untrusted".

    Returns
    -------
    path : str or path-like
    """
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    plot_spectra(spectra, ax=left, chosen=chosen, untrusted=untrusted)
    plot_tau_curves(spectra, beta=beta, max_dim=max_dim, ax=right, chosen=chosen,
                    untrusted=untrusted)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_embedding(
    Z: ArrayLike,
    y: ArrayLike | None = None,
    *,
    ax: Axes | None = None,
    components: tuple[int, int] = (0, 1),
    categorical: bool | None = None,
    **scatter_kws: Any,
) -> Axes:
    """Scatter plot of two components of an embedding, coloured by ``y`` if given.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        An embedding, as ``ContextureEmbedding().fit_transform(X)``; at least 2 columns.
    y : array-like of shape (n_samples,), default=None
        Labels or a target to colour the points by; None draws them in one colour.
    ax : matplotlib Axes, default=None
        Where to draw; None creates a figure.
    components : tuple of two int, default=(0, 1)
        The columns of ``Z`` on the horizontal and vertical axes.
    categorical : bool, default=None
        Draw ``y`` as categories (a colour and a legend entry per value) or on a
        colour bar. None: categories when ``y`` is not numeric or has at most
        20 distinct whole numbers, a colour bar otherwise.
    **scatter_kws
        Passed to :meth:`matplotlib.axes.Axes.scatter` (``s=5``, ``alpha=0.5``, ...).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skcontexture import ContextureEmbedding, KNNContext
    >>> from skcontexture.plotting import plot_embedding
    >>> X, y = load_wine(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(),
    ...                       ContextureEmbedding(KNNContext(10), n_components=2))
    >>> Z = model.fit_transform(X)
    >>> ax = plot_embedding(Z, y)
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['0', '1', '2']
    """
    Z = np.asarray(Z, dtype=float)
    if Z.ndim != 2 or Z.shape[1] < 2:
        raise ValueError(f"Z must be a 2-d embedding with at least 2 columns, got shape "
                         f"{Z.shape}.")
    i, j = components
    if not (0 <= i < Z.shape[1] and 0 <= j < Z.shape[1]):
        raise ValueError(f"components must be two columns of Z (0 to {Z.shape[1] - 1}), "
                         f"got {components!r}.")
    ax = _axes(ax)
    ax.set_xlabel(f"component {i}")
    ax.set_ylabel(f"component {j}")
    if y is None:
        ax.scatter(Z[:, i], Z[:, j], **scatter_kws)
        return ax
    y = np.asarray(y)
    if y.shape != (Z.shape[0],):
        raise ValueError(f"y must have one value per row of Z, shape ({Z.shape[0]},); got "
                         f"shape {y.shape}.")
    values = np.unique(y)
    if categorical is None:
        numeric = y.dtype.kind in "iuf"
        categorical = not numeric or (
            values.size <= _MAX_CATEGORIES and np.array_equal(values, np.round(values)))
    if not categorical:
        points = ax.scatter(Z[:, i], Z[:, j], c=y, **scatter_kws)
        ax.figure.colorbar(points, ax=ax)
        return ax
    colours = _pyplot().get_cmap("tab10" if values.size <= 10 else "tab20")
    for k, value in enumerate(values):
        rows = y == value
        ax.scatter(Z[rows, i], Z[rows, j], color=colours(k % colours.N), label=str(value),
                   **scatter_kws)
    ax.legend(fontsize="small", markerscale=1.5)
    return ax
