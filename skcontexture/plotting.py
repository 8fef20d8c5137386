"""Plots of context spectra and tau curves (matplotlib, an optional dependency).

Install it with ``pip install skcontexture[plot]``. matplotlib is imported only
when a function here is called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .metrics import tau_curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ._typing import ArrayLike

__all__ = ["plot_spectra", "plot_tau_curves", "plot_context_selection"]


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


def plot_spectra(
    spectra: Mapping[str, ArrayLike], ax: Axes | None = None, squared: bool = True
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

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    for label, s in spectra.items():
        s = np.asarray(s, dtype=float)
        ax.plot(np.arange(1, s.size + 1), s**2 if squared else s, label=str(label))
    ax.set_xlabel("i")
    ax.set_ylabel("$s_i^2$" if squared else "$s_i$")
    if squared:
        ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_title("Context spectra")
    ax.legend(fontsize="small")
    return ax


def plot_tau_curves(
    spectra: Mapping[str, ArrayLike], beta: float = 1.0, max_dim: int = 512, ax: Axes | None = None
) -> Axes:
    """Plot tau_d against d for each context (log-log), marking each argmin (suggested dimension).

    Parameters
    ----------
    spectra : dict of {str: array-like}
        Label -> s_1, s_2, ...
    beta : float, default=1.0
    max_dim : int, default=512
    ax : matplotlib Axes, default=None

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
        (line,) = ax.plot(d[finite], taus[finite], label=f"{label} (d*={best_d})")
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
) -> str | os.PathLike[str]:
    """Save a two-panel figure (spectra, tau curves) to ``path``; return the path.

    Parameters
    ----------
    spectra : dict of {str: array-like}
    path : str or path-like
        Image file to write (format from the extension).
    beta : float, default=1.0
    max_dim : int, default=512

    Returns
    -------
    path : str or path-like
    """
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    plot_spectra(spectra, ax=left)
    plot_tau_curves(spectra, beta=beta, max_dim=max_dim, ax=right)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
