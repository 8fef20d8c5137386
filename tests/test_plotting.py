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


@pytest.fixture
def pyplot():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_chosen_and_untrusted_contexts_are_marked(pyplot):
    from skcontexture.plotting import plot_spectra, plot_tau_curves

    spectra = {"a": np.linspace(0.99, 0.1, 50), "b": np.linspace(0.9, 0.01, 50),
               "c": np.linspace(0.8, 0.01, 50)}
    ax = plot_spectra(spectra, chosen="a", untrusted=["b"])
    a, b, c = ax.get_lines()
    assert a.get_linewidth() > c.get_linewidth() and b.get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "a (chosen)", "b (tau untrusted)", "c"]
    ax = plot_tau_curves(spectra, max_dim=50, chosen="b", untrusted=["b"])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[1].startswith("b (d*=") and labels[1].endswith(", chosen, tau untrusted)")


def test_plot_embedding(pyplot):
    from skcontexture.plotting import plot_embedding

    rng = np.random.RandomState(0)
    Z = rng.normal(size=(60, 3))
    ax = plot_embedding(Z)
    assert len(ax.collections) == 1 and ax.get_legend() is None
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("component 0", "component 1")
    # class labels: a colour and a legend entry each
    ax = plot_embedding(Z, np.array(["cat", "dog", "eel"] * 20), components=(1, 2), s=4)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cat", "dog", "eel"]
    assert len(ax.collections) == 3 and ax.get_ylabel() == "component 2"
    # a continuous target: a colour bar, no legend
    ax = plot_embedding(Z, rng.normal(size=60))
    assert ax.get_legend() is None and len(ax.figure.axes) == 2
    # many whole numbers are a quantity too, unless said otherwise
    assert plot_embedding(Z, np.arange(60)).get_legend() is None
    assert plot_embedding(Z, np.arange(60) % 3 * 1.5, categorical=True).get_legend()
    _, ax = pyplot.subplots()
    assert plot_embedding(Z, ax=ax) is ax


@pytest.mark.parametrize("Z, y, kwargs, message", [
    (np.ones((10, 1)), None, {}, "at least 2 columns"),
    (np.ones((10, 2)), np.ones(9), {}, r"one value per row of Z, shape \(10,\)"),
    (np.ones((10, 2)), None, {"components": (0, 2)}, r"two columns of Z \(0 to 1\)"),
])
def test_plot_embedding_errors(pyplot, Z, y, kwargs, message):
    from skcontexture.plotting import plot_embedding

    with pytest.raises(ValueError, match=message):
        plot_embedding(Z, y, **kwargs)
