"""skcontexture.plotting: the spectra and tau curves, and the error without matplotlib."""

import numpy as np
import pytest


def test_plotting_functions():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skcontexture.plotting import plot_spectra, plot_tau_curves

    spectra = {"a": np.linspace(0.99, 0.1, 50), "b": np.linspace(0.9, 0.01, 50)}
    ax = plot_spectra(spectra)
    assert len(ax.get_lines()) == 2
    ax = plot_tau_curves(spectra, max_dim=50)
    assert len(ax.get_lines()) == 4  # a curve and its argmin marker per context
    assert ax.get_yscale() == "log"  # one strong context does not flatten the others


def test_plotting_import_error_names_the_extra(monkeypatch):
    import builtins

    from skcontexture import plotting

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"skcontexture\[plot\]"):
        plotting.plot_spectra({"a": [0.5, 0.2]})
