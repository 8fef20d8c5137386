"""The command-line main job: context selection by tau."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from skcontexture import KNNContext
from skcontexture.cli import default_grid, load_dataset, main, select
from skcontexture.metrics import tau


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=240, centers=3, n_features=4, cluster_std=2.0, random_state=0)
    return X, y


def _small_args():
    return ["--k", "5", "20", "--gamma", "0.3", "--max-dim", "64", "--max-probe-dim", "16"]


def test_npz_with_labels(tmp_path, blobs, capsys):
    X, y = blobs
    path = tmp_path / "toy.npz"
    np.savez(path, X=X, y=y)
    assert main([str(path), *_small_args()]) == 0
    out = capsys.readouterr().out
    assert "dataset: toy  (240 samples x 4 features, classification)" in out
    assert "chosen by tau" in out
    assert "downstream accuracy: tau-chosen" in out and "best of grid" in out
    assert "worst of grid" in out
    # three contexts ranked 1..3
    for rank in ("   1  ", "   2  ", "   3  "):
        assert rank in out


def test_csv_without_target_has_no_probe(tmp_path, blobs, capsys):
    import pandas as pd

    X, _ = blobs
    path = tmp_path / "toy.csv"
    pd.DataFrame(X, columns=list("abcd")).to_csv(path, index=False)
    assert main([str(path), *_small_args()]) == 0
    out = capsys.readouterr().out
    assert "no labels" in out
    assert "downstream" not in out


def test_csv_with_regression_target(tmp_path, blobs, capsys):
    import pandas as pd

    X, _ = blobs
    frame = pd.DataFrame(X, columns=list("abcd"))
    frame["t"] = X[:, 0] ** 2 + X[:, 1]
    path = tmp_path / "reg.csv"
    frame.to_csv(path, index=False)
    assert main([str(path), "--target", "t", *_small_args()]) == 0
    out = capsys.readouterr().out
    assert "regression" in out and "downstream R^2" in out


def test_load_dataset_errors(tmp_path, blobs):
    import pandas as pd

    with pytest.raises(ValueError, match="Unsupported file type"):
        load_dataset(str(tmp_path / "x.txt"))
    path = tmp_path / "toy.csv"
    pd.DataFrame(blobs[0], columns=list("abcd")).to_csv(path, index=False)
    with pytest.raises(ValueError, match="not a column"):
        load_dataset(str(path), target="zz")
    X, y, name = load_dataset(None)
    assert X.shape == (1797, 64) and name.startswith("digits")


def test_select_ranks_by_tau_and_fits_winner(blobs):
    X, _ = blobs
    grid = [("K=5", KNNContext(5)), ("K=30", KNNContext(30)), ("K=100", KNNContext(100))]
    result = select(X, None, grid=grid, max_dim=64)
    taus = [r["tau"] for r in result["rows"]]
    assert taus == sorted(taus)
    winner = result["rows"][0]
    assert winner["tau"] == pytest.approx(tau(result["spectra"][winner["context"]], max_dim=64))
    emb = result["embedding"]
    assert emb.n_components == winner["d"]
    assert emb.embedding_.shape == (X.shape[0], winner["d"])


def test_default_grid_respects_sample_size():
    names = [name for name, _ in default_grid(30, 4)]
    assert "kNN K=50" not in names and "kNN K=20" in names
    assert all(ctx.n_neighbors is None for name, ctx in default_grid(100, 4) if "RBF" in name)
    assert all(ctx.n_neighbors == 200 for name, ctx in default_grid(6000, 4) if "RBF" in name)


def test_plot_option(tmp_path, blobs, capsys):
    pytest.importorskip("matplotlib")
    X, y = blobs
    data = tmp_path / "toy.npz"
    np.savez(data, X=X, y=y)
    image = tmp_path / "spectra.png"
    assert main([str(data), *_small_args(), "--plot", str(image)]) == 0
    assert image.exists() and image.stat().st_size > 1000
    assert "saved spectra" in capsys.readouterr().out


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


def test_table1_quick_runs_on_bundled_data(tmp_path, capsys):
    # benchmarks/table1.py --quick without a data folder falls back to scikit-learn's bundled
    # datasets (tests never read ../shared/data)
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "table1.py"
    spec = importlib.util.spec_from_file_location("table1_under_test", script)
    table1 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table1)
    out = tmp_path / "t1"
    argv = ["--quick", "--data-dir", str(tmp_path / "none"), "--n-strengths", "3",
            "--output", str(out)]
    assert table1.main(argv) == 0
    saved = json.loads(out.with_suffix(".json").read_text())
    assert {d["dataset"] for d in saved["datasets"]} == {"sk_breast_cancer", "sk_wine",
                                                         "sk_diabetes"}
    for res in saved["datasets"]:
        assert res["n_failed"] == 0 and res["n_contexts"] >= 8
        assert res["correlations"]["tau"]["n"] >= 3
    assert "| **mean** |" in out.with_suffix(".md").read_text()
    # the correlations can be recomputed from the saved records
    assert table1.main(["--rescore", str(out.with_suffix(".json"))]) == 0
    assert "τ Pearson" in capsys.readouterr().out
