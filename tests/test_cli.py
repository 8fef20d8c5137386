"""The command-line main job: label-free context selection."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from sklearn.preprocessing import StandardScaler

from skcontexture import ContextureEmbedding, KNNContext, RBFContext
from skcontexture.cli import default_grid, load_dataset, main, select
from skcontexture.metrics import feature_prediction, tau


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
    assert "chosen by feature_prediction" in out
    assert "downstream accuracy: chosen" in out and "best of grid" in out
    assert "worst of grid" in out
    assert "chosen by feature_prediction ranks " in out and "tau's pick" in out
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


def test_select_ranks_by_feature_prediction_and_fits_winner(blobs):
    X, _ = blobs
    grid = [("K=5", KNNContext(5)), ("K=30", KNNContext(30)), ("K=100", KNNContext(100))]
    result = select(X, None, grid=grid, max_dim=64, max_probe_dim=16)
    values = [r["feature_prediction"] for r in result["rows"]]
    assert values == sorted(values, reverse=True)
    winner = result["rows"][0]
    Xs = StandardScaler().fit_transform(X)
    expected = feature_prediction(ContextureEmbedding(KNNContext(winner["estimator"].n_neighbors),
                                                      n_components=16, solver="dense"), Xs,
                                  return_dim=True)
    assert (winner["feature_prediction"], winner["d_proxy"]) == pytest.approx(expected)
    emb = result["embedding"]
    assert emb.n_components == winner["d_proxy"]
    assert emb.embedding_.shape == (X.shape[0], winner["d_proxy"])


def test_select_by_tau_puts_trusted_contexts_first(blobs):
    X, _ = blobs
    grid = [("K=5", KNNContext(5)), ("K=30", KNNContext(30)), ("RBF wide", RBFContext(1e-4))]
    result = select(X, None, grid=grid, metric="tau", max_dim=64, max_probe_dim=8)
    rows = result["rows"]
    trusted = [r["tau_trusted"] for r in rows]
    assert trusted == sorted(trusted, reverse=True)  # trusted first
    assert not rows[-1]["tau_trusted"] and rows[-1]["context"] == "RBF wide"
    for group in (True, False):
        taus = [r["tau"] for r in rows if r["tau_trusted"] is group]
        assert taus == sorted(taus)
    assert rows[0]["tau"] == pytest.approx(tau(result["spectra"][rows[0]["context"]], max_dim=64))
    assert result["embedding"].n_components == rows[0]["d_tau"]


def test_labelled_selection(tmp_path, blobs, capsys):
    X, y = blobs
    path = tmp_path / "toy.npz"
    np.savez(path, X=X, y=y)
    assert main([str(path), *_small_args(), "--labelled", "40"]) == 0
    out = capsys.readouterr().out
    assert "cross-validated ridge probe on 40 labelled training rows" in out
    assert "chosen by labelled probe ranks" in out and "feature_prediction's pick" in out
    with pytest.raises(SystemExit):
        main([str(path), "--metric", "labelled"])
    np.savez(tmp_path / "nolabels.npz", X=X)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nolabels.npz"), "--labelled", "10"])


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


def test_selection_quick_runs_on_bundled_data(tmp_path, capsys):
    # benchmarks/selection.py --quick without a data folder falls back to scikit-learn's
    # bundled datasets, so the CI command works on a fresh clone
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "selection.py"
    spec = importlib.util.spec_from_file_location("selection_under_test", script)
    selection = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(selection)
    out = tmp_path / "sel"
    argv = ["--quick", "--data-dir", str(tmp_path / "none"), "--n-strengths", "2",
            "--datasets", "sk_iris", "sk_diabetes", "--output", str(out)]
    assert selection.main(argv) == 0
    saved = json.loads(out.with_suffix(".json").read_text())
    assert {d["dataset"] for d in saved["datasets"]} == {"sk_iris", "sk_diabetes"}
    for res in saved["datasets"]:
        assert res["n_failed"] == 0 and res["group"] == "bundled"
        for context in res["contexts"]:
            assert np.isfinite(context["error"])
            assert set(selection.LABEL_FREE) <= set(context["scores"])
        stats = res["stats"]["paper"]["metrics"]["feature_prediction"]
        assert 0.0 <= stats["regret"] and stats["n"] == 8
    summary = saved["meta"]["summary"]["bundled"]["paper"]
    assert summary["tau"]["n_datasets"] == 2
    # the statistics can be recomputed from the saved records
    assert selection.main(["--rescore", str(out.with_suffix(".json"))]) == 0
    assert "regret mean" in capsys.readouterr().out
