"""The command-line main job: label-free context selection."""

import numpy as np
import pytest

from sklearn.preprocessing import StandardScaler

from skcontexture import (ContextureEmbedding, ContextureUnion, KNNContext, LabelContext,
                          LinearTeacherContext, RBFContext)
from skcontexture._embedding import concentrated_columns
from skcontexture._defaults import MODEL_COMPONENTS
from skcontexture._selection import model_parts, ranking, select
from skcontexture.cli import load_dataset, main
from skcontexture.metrics import feature_prediction, tau


@pytest.fixture(scope="module")
def blobs(make_blobs_data):
    """240 points around 3 centres in 4 features, with their labels."""
    return make_blobs_data(n_samples=240, centers=3, n_features=4, cluster_std=2.0)


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
    # the CSV reader (no pandas needed) agrees with pandas
    X, _, _ = load_dataset(str(path))
    np.testing.assert_allclose(X, pd.read_csv(path).to_numpy(), rtol=1e-15)
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
                                                      n_components=16, solver="dense",
                                                      scale="none"), Xs,
                                  return_dim=True)
    assert (winner["feature_prediction"], winner["d_proxy"]) == pytest.approx(expected)
    # the winner's model: its components up to MODEL_COMPONENTS, weighted by s / sqrt(1 - a s^2)
    emb = result["embedding"]
    assert emb.n_components == min(MODEL_COMPONENTS, winner["n_probe"])
    assert emb.scale == "propagation"
    unscaled = ContextureEmbedding(winner["estimator"], n_components=emb.n_components,
                                   solver="dense", scale="none").fit(Xs)
    np.testing.assert_allclose(np.abs(emb.embedding_),
                               np.abs(unscaled.embedding_) * emb._column_weights(), atol=1e-8)


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
    assert result["embedding"].n_components == min(MODEL_COMPONENTS, rows[0]["n_probe"])


def test_labelled_selection(tmp_path, blobs, capsys):
    X, y = blobs
    path = tmp_path / "toy.npz"
    np.savez(path, X=X, y=y)
    assert main([str(path), *_small_args(), "--labelled", "40"]) == 0
    out = capsys.readouterr().out
    assert "cross-validated ridge probe on 40 labelled training rows" in out
    assert "chosen by labelled probe ranks" in out and "feature_prediction's pick" in out
    assert main([str(path), "--metric", "labelled"]) == 2
    assert "--metric labelled needs --labelled M" in capsys.readouterr().err
    np.savez(tmp_path / "nolabels.npz", X=X)
    assert main([str(tmp_path / "nolabels.npz"), "--labelled", "10"]) == 2
    assert "--labelled needs labels" in capsys.readouterr().err


def test_plot_option(tmp_path, blobs, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from skcontexture import plotting

    X, y = blobs
    data = tmp_path / "toy.npz"
    np.savez(data, X=X, y=y)
    image = tmp_path / "spectra.png"
    marks = {}
    real = plotting.plot_context_selection

    def recording(spectra, path, **kwargs):
        marks.update(chosen=kwargs["chosen"], untrusted=kwargs["untrusted"])
        return real(spectra, path, **kwargs)

    monkeypatch.setattr(plotting, "plot_context_selection", recording)
    assert main([str(data), *_small_args(), "--plot", str(image)]) == 0
    assert image.exists() and image.stat().st_size > 1000
    out = capsys.readouterr().out
    assert "saved spectra" in out
    # the chosen context and the ones whose tau is untrusted are marked
    assert f"chosen by feature_prediction: {marks['chosen']}\n" in out
    assert marks["untrusted"] == ["RBF g=0.3", "linear"]
    assert "tau is untrusted for 2 of 4 contexts" in out


def test_selection_quick_runs_on_bundled_data(tmp_path, capsys, monkeypatch):
    # benchmarks/selection.py --quick without a data folder falls back to scikit-learn's
    # bundled datasets, so the CI command works on a fresh clone
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "selection.py"
    monkeypatch.syspath_prepend(str(script.parent))  # as a script, it imports _common
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


def _write_csv(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case, expected", [
    ("missing", "No such file"),
    ("extension", "Unsupported file type '.txt'"),
    ("npz_without_X", "has no array 'X' (it has: data)"),
    ("npz_bad_y", "y in bad.npz must be 1-d with one label per row"),
    ("non_numeric", "Column 'colour' of data.csv is not numeric ('red' at line 2): pass "
                    "--drop colour if it is an identifier, or encode it as numbers, or pass "
                    "--target colour if it is the label"),
    ("empty_cell", "1 of 30 rows of data.csv have a missing or non-finite value (the first "
                   "at line 5): pass --dropna"),
    ("infinite", "1 of 30 rows of data.csv have a missing or non-finite value"),
    ("string_label_missing", "1 of 30 rows of data.csv have a missing or non-finite value"),
    ("target_missing", "--target 'zz' is not a column of clean.csv (its columns: a, b, c)"),
    ("target_npz", "--target names a column of a .csv"),
    ("too_few_rows", "has 10 rows; the main job needs at least 20"),
    ("one_feature", "needs at least 2 features; use --metric tau"),
    ("ragged", "Line 3 of data.csv has 2 fields, the header has 3"),
    ("bad_option", "argument --k: invalid int value: 'x' (see --help)"),
    ("bad_output", "--save-embedding writes .npy or .csv"),
    ("no_directory", "--save-model"),
    # flags are checked as given, by their own name
    ("k_zero", "argument --k: '0' is not allowed: K is a number of neighbours, 1 or more"),
    ("gamma_negative", "argument --gamma: '-1' is not allowed: RBF widths are numbers above 0"),
    ("labelled_one", "argument --labelled: '1' is not allowed: M is a number of labelled rows"),
    ("test_size", "argument --test-size: '1.5' is not allowed: a fraction between 0 and 1"),
    ("task_choice", "argument --task: invalid choice: 'ordinal'"),
    ("task_without_labels", "--task needs labels"),
    ("drop_missing", "--drop 'id' is not a column of clean.csv (its columns: a, b, c)"),
    ("drop_target", "--drop 'c' is the --target column"),
    ("drop_npz", "--drop names columns of a .csv file"),
    ("regression_of_strings", "--task regression needs numbers; the target has labels such "
                              "as 'x'"),
    ("single_row_class", "Class 'y' of the target has a single row"),
])
def test_user_errors_end_in_one_line_and_status_2(tmp_path, capsys, case, expected):
    rng = np.random.RandomState(0)
    rows = [f"{a:.3f},{b:.3f},{c:.3f}" for a, b, c in rng.normal(size=(30, 3))]
    csv_path = _write_csv(tmp_path / "clean.csv", "a,b,c\n" + "\n".join(rows) + "\n")
    args = {
        "missing": lambda: [str(tmp_path / "nothing.csv")],
        "extension": lambda: [_write_csv(tmp_path / "data.txt", "a\n1\n")],
        "non_numeric": lambda: [_write_csv(tmp_path / "data.csv", "a,colour\n1,red\n2,blue\n")],
        "empty_cell": lambda: [_write_csv(tmp_path / "data.csv",
                                  "a,b,c\n" + "\n".join(rows[:3] + ["1,,2"] + rows[4:]))],
        "infinite": lambda: [_write_csv(tmp_path / "data.csv", "a,b,c\n" + "\n".join(
            rows[:-1] + ["1,inf,2"]))],
        "string_label_missing": lambda: [_write_csv(
            tmp_path / "data.csv", "a,b,label\n" + "\n".join(
                r.rsplit(",", 1)[0] + (",x" if i else ",") for i, r in enumerate(rows))),
            "--target", "label"],
        "target_missing": lambda: [csv_path, "--target", "zz"],
        "too_few_rows": lambda: [_write_csv(tmp_path / "data.csv",
                                            "a,b,c\n" + "\n".join(rows[:10]))],
        "one_feature": lambda: [_write_csv(tmp_path / "data.csv", "a\n" + "\n".join(
            r.split(",")[0] for r in rows))],
        "ragged": lambda: [_write_csv(tmp_path / "data.csv", "a,b,c\n1,2,3\n1,2\n")],
        "bad_option": lambda: [csv_path, "--k", "x"],
        "bad_output": lambda: [csv_path, "--save-embedding", str(tmp_path / "z.parquet")],
        "no_directory": lambda: [csv_path, "--save-model", str(tmp_path / "no" / "model.joblib")],
        "k_zero": lambda: [csv_path, "--k", "5", "0"],
        "gamma_negative": lambda: [csv_path, "--gamma", "-1"],
        "labelled_one": lambda: [csv_path, "--labelled", "1"],
        "test_size": lambda: [csv_path, "--test-size", "1.5"],
        "task_choice": lambda: [csv_path, "--task", "ordinal"],
        "task_without_labels": lambda: [csv_path, "--task", "regression"],
        "drop_missing": lambda: [csv_path, "--drop", "id"],
        "drop_target": lambda: [csv_path, "--target", "c", "--drop", "c"],
        "regression_of_strings": lambda: [labels_csv, "--target", "label", "--task",
                                          "regression"],
        "single_row_class": lambda: [labels_csv, "--target", "label"],
    }
    labels = ["x", "z"] * 14 + ["z", "y"]  # 'y' on a single row
    labels_csv = _write_csv(tmp_path / "labels.csv", "a,b,label\n" + "\n".join(
        r.rsplit(",", 1)[0] + f",{label}" for r, label in zip(rows, labels)))
    if case == "npz_without_X":
        np.savez(tmp_path / "bad.npz", data=np.ones((30, 2)))
        args[case] = lambda: [str(tmp_path / "bad.npz")]
    if case == "npz_bad_y":
        np.savez(tmp_path / "bad.npz", X=np.ones((30, 2)), y=np.ones(29))
        args[case] = lambda: [str(tmp_path / "bad.npz")]
    if case in ("target_npz", "drop_npz"):
        np.savez(tmp_path / "ok.npz", X=np.ones((30, 2)))
        args[case] = lambda: [str(tmp_path / "ok.npz"),
                              *(["--target", "y"] if case == "target_npz" else ["--drop", "a"])]
    try:
        status = main(args[case]())
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err


def test_dropna_drops_the_rows_and_says_so(tmp_path, capsys):
    rng = np.random.RandomState(0)
    rows = [",".join(f"{v:.3f}" for v in row) for row in rng.normal(size=(60, 3))]
    rows[4] = "1,,2"
    path = _write_csv(tmp_path / "data.csv", "a,b,c\n" + "\n".join(rows))
    X, _, _ = load_dataset(path, dropna=True)
    assert X.shape == (59, 3) and np.isfinite(X).all()
    assert "dropped 1 rows" in capsys.readouterr().err
    assert main([path, "--dropna", *_small_args()]) == 0


def test_string_labels_from_csv(tmp_path, blobs, capsys):
    X, y = blobs
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    lines = ["a,b,c,d,species"] + [",".join(f"{v:.4f}" for v in x) + f",{n}"
                                   for x, n in zip(X, names)]
    path = _write_csv(tmp_path / "flowers.csv", "\n".join(lines))
    assert main([path, "--target", "species", *_small_args()]) == 0
    assert "classification" in capsys.readouterr().out


def test_too_few_rows_for_a_context_is_said(tmp_path, capsys):
    X = np.random.RandomState(0).normal(size=(40, 3))
    np.savez(tmp_path / "small.npz", X=X)
    assert main([str(tmp_path / "small.npz"), "--k", "5", "50", "--gamma", "1",
                 "--max-dim", "16", "--max-probe-dim", "8"]) == 0
    err = capsys.readouterr().err
    assert "kNN K=50 left out of the grid: K must be below the 40 training rows" in err


def test_version_json_and_saved_outputs(tmp_path, blobs, capsys):
    import json

    import joblib

    import skcontexture

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"skcontexture {skcontexture.__version__}"
    X, y = blobs
    data = tmp_path / "toy.npz"
    np.savez(data, X=X, y=y)
    emb_npy, emb_csv, model = tmp_path / "z.npy", tmp_path / "z.csv", tmp_path / "m.joblib"
    assert main([str(data), *_small_args(), "--json", "--save-embedding", str(emb_npy),
                 "--save-model", str(model)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dataset"] == "toy" and result["task"] == "classification"
    assert result["chosen"] == result["rows"][0]["context"]
    parts = result["model"]["parts"]
    assert len(result["rows"]) == 4
    assert result["n_components"] == sum(len(part["singular_values"]) for part in parts)
    Z = np.load(emb_npy)
    pipeline = joblib.load(model)
    np.testing.assert_allclose(pipeline.transform(X), Z, rtol=1e-12, atol=1e-12)
    assert Z.shape == (len(X), result["n_components"])
    assert main([str(data), *_small_args(), "--save-embedding", str(emb_csv)]) == 0
    np.testing.assert_allclose(np.loadtxt(emb_csv, delimiter=",", skiprows=1), Z, atol=1e-12)
    assert emb_csv.read_text().startswith("linear__contextureembedding0,")


def test_plot_without_matplotlib_is_refused_before_the_run(tmp_path, blobs, capsys,
                                                           monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    np.savez(tmp_path / "toy.npz", X=blobs[0])
    assert main([str(tmp_path / "toy.npz"), "--plot", str(tmp_path / "p.png")]) == 2
    captured = capsys.readouterr()
    assert "--plot needs matplotlib: pip install 'skcontexture[plot]'" in captured.err
    assert captured.out == ""  # refused before any context was fitted


def test_contexts_that_isolate_outliers_are_ranked_last(blobs):
    X, _ = blobs
    X = np.vstack([X, X[:4] + 60.0 * np.eye(4, X.shape[1])])  # 4 far outliers
    grid = [("RBF narrow", RBFContext(gamma=5.0)), ("K=10", KNNContext(10)),
            ("K=30", KNNContext(30))]
    for metric in ("feature_prediction", "tau"):
        rows = select(X, None, grid=grid, metric=metric, max_dim=64, max_probe_dim=16)["rows"]
        outlying = {r["context"]: r["outlying"] for r in rows}
        assert outlying["RBF narrow"] > 0 and outlying["K=10"] == outlying["K=30"] == 0
        assert rows[-1]["context"] == "RBF narrow"
    # whatever its score: an isolating context with the best score still comes last
    rows = [{"context": "isolating", "outlying": 3, "feature_prediction": 0.9, "tau": 1.1,
             "tau_trusted": True, "labelled": 0.9},
            {"context": "fine", "outlying": 0, "feature_prediction": 0.1, "tau": 1.9,
             "tau_trusted": False, "labelled": 0.1}]
    for metric in ("feature_prediction", "tau", "labelled"):
        assert min(rows, key=ranking(metric))["context"] == "fine"


def test_a_linear_direction_of_few_rows_is_not_an_isolated_row():
    # a feature that 2 rows carry: one of the linear kernel's directions lives on them, but it
    # is a linear function that new rows share, not rows the context isolates
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(size=(1000, 1)) + 0.1 * rng.normal(size=(1000, 4)),
                         np.zeros(1000)])  # one shared direction, and a direction of its own
    X[:2, -1] = 1.0
    grid = [("linear", LinearTeacherContext(whiten=False)), ("K=10", KNNContext(10))]
    result = select(X, None, grid=grid, max_dim=64, max_probe_dim=16)
    linear = next(r for r in result["rows"] if r["context"] == "linear")
    assert concentrated_columns(linear["model"].embedding_)[0].size > 0
    assert linear["outlying"] == 0


def test_the_model_is_the_linear_kernel_beside_the_best_local_context(blobs):
    X, _ = blobs
    X = np.vstack([X, X[:4] + 60.0 * np.eye(4, X.shape[1])])  # 4 far outliers
    grid = [("RBF narrow", RBFContext(gamma=5.0)), ("K=10", KNNContext(10)),
            ("K=30", KNNContext(30)), ("linear", LinearTeacherContext(whiten=False)),
            ("labels", LabelContext())]
    result = select(X, None, grid=grid, max_dim=64, max_probe_dim=16)
    rows = result["rows"]
    assert rows[-1]["context"] == "labels" and rows[-2]["context"] == "RBF narrow"
    # the best-ranked context other than the linear kernel that neither failed nor isolates
    # rows, whatever the linear kernel's own rank
    local = next(r for r in rows if r["context"] in ("K=10", "K=30"))
    linear = next(r for r in rows if r["context"] == "linear")
    parts = result["model_parts"]
    assert [(p["name"], p["context"]) for p in parts] == [("linear", "linear"),
                                                          ("local", local["context"])]
    union = result["embedding"]
    assert isinstance(union, ContextureUnion)
    # the blocks are the grid's own fitted models, each divided to total variance 1
    Xs = result["scaler"].transform(X)
    Z = union.transform(Xs)
    blocks = [linear["model"].transform(Xs), local["model"].transform(Xs)]
    np.testing.assert_allclose(Z, np.hstack([b / np.sqrt(np.sum(np.var(b, axis=0)))
                                             for b in blocks]), atol=1e-10)
    assert [p["embedding"] for p in parts] == [linear["model"], local["model"]]


def test_the_model_is_probed_on_every_column(blobs):
    # with labels the report adds the probe of the model as a downstream model gets it
    from sklearn.model_selection import train_test_split

    from skcontexture._selection import _probe

    X, y = blobs
    grid = [("K=10", KNNContext(10)), ("linear", LinearTeacherContext(whiten=False))]
    result = select(X, y, grid=grid, max_dim=64, max_probe_dim=16)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0,
                                                        stratify=y)
    scaler, model = result["scaler"], result["embedding"]
    assert isinstance(model, ContextureUnion)
    expected = _probe("classification").fit(model.transform(scaler.transform(X_train)), y_train)
    assert result["model_score"] == pytest.approx(
        expected.score(model.transform(scaler.transform(X_test)), y_test))
    assert select(X, None, grid=grid, max_dim=64, max_probe_dim=16)["model_score"] is None


def test_the_model_parts_rule():
    def row(name, linear=False, outlying=0, error=False):
        r = {"context": name, "outlying": outlying,
             "estimator": LinearTeacherContext(whiten=False) if linear else KNNContext(5)}
        return r | ({"error": "no fit"} if error else {})

    rows = [row("linear", linear=True), row("K=5"), row("K=10")]
    assert [(name, r["context"]) for name, r in model_parts(rows, "feature_prediction")] == [
        ("linear", "linear"), ("local", "K=5")]
    rows = [row("K=5", error=True), row("K=10", outlying=2), row("K=20"),
            row("linear", linear=True)]
    assert [r["context"] for _, r in model_parts(rows, "tau")] == ["linear", "K=20"]
    # labels chose the context; no linear kernel in the grid; no usable local context; a
    # linear kernel of a teacher's outputs is not the features' linear kernel
    assert model_parts(rows, "labelled") == [("winner", rows[0])]
    assert [(n, r["context"]) for n, r in model_parts([row("K=5"), row("K=10")],
                                                      "feature_prediction")] == [("winner", "K=5")]
    only = [row("linear", linear=True), row("K=5", outlying=1)]
    assert [(n, r["context"]) for n, r in model_parts(only, "tau")] == [("winner", "linear")]
    teacher = row("teacher")
    teacher["estimator"] = LinearTeacherContext(teacher=StandardScaler())
    assert [n for n, _ in model_parts([teacher, row("K=5")], "tau")] == ["winner"]


def _bundled_csv(tmp_path, loader):
    """A scikit-learn bundled dataset as a CSV with its target column named "target"."""
    path = tmp_path / f"{loader.__name__[5:]}.csv"
    loader(as_frame=True).frame.to_csv(path, index=False)
    return str(path)


def test_whole_number_regression_target(tmp_path, capsys):
    # scikit-learn's diabetes: its target is whole numbers, 214 distinct over 442 rows
    import json

    from sklearn.datasets import load_diabetes

    path = _bundled_csv(tmp_path, load_diabetes)
    assert main([path, "--target", "target", *_small_args()]) == 0
    out = capsys.readouterr().out
    assert "(442 samples x 10 features, regression)" in out and "downstream R^2" in out
    assert ("task: regression, inferred from the target (214 distinct whole numbers over 442 "
            "rows, fewer than 5 rows per value); --task classification overrides it") in out
    # the labelled probe is a regression too (as classes, a value on one row sinks it)
    assert main([path, "--target", "target", *_small_args(), "--labelled", "60",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "regression" and result["metric"] == "labelled"
    assert all(row["labelled"] is not None for row in result["rows"])
    assert main([path, "--target", "target", "--task", "classification"]) == 2
    assert "has a single row" in capsys.readouterr().err


def test_grid_is_sized_by_the_real_training_rows(tmp_path, capsys):
    # wine's 178 rows split into 124 training rows (not round(0.7 * 178) = 125)
    from sklearn.datasets import load_wine

    path = _bundled_csv(tmp_path, load_wine)
    assert main([path, "--target", "target", "--k", "124", "--gamma", "1",
                 "--max-dim", "64", "--max-probe-dim", "16"]) == 0
    captured = capsys.readouterr()
    assert "K=124 left out of the grid: K must be below the 124 training rows" in captured.err
    assert "RBF g=1" in captured.out


def test_a_context_that_cannot_be_fitted_is_na(tmp_path, blobs, capsys):
    import json

    X, y = blobs
    data = tmp_path / "toy.npz"
    np.savez(data, X=X, y=y)
    # an RBF kernel so wide that every row has the same context: no function to fit
    args = [str(data), "--k", "10", "--gamma", "1", "1e-12", "--max-dim", "64",
            "--max-probe-dim", "16"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "   4  RBF g=1e-12       n/a   n/a      n/a    n/a      n/a" in out
    assert "n/a: RBF g=1e-12 could not be fitted: no singular value above 1e-6" in out
    assert main([*args, "--json"]) == 0
    last = json.loads(capsys.readouterr().out)["rows"][-1]
    assert last["context"] == "RBF g=1e-12" and "the same context" in last["error"]
    assert last["feature_prediction"] is None and last["score"] is None
    # any context whose fit raises: a label context without labels, given to select directly
    rows = select(X, None, grid=[("labels", LabelContext()), ("K=10", KNNContext(10))],
                  max_dim=64, max_probe_dim=8)["rows"]
    assert [r["context"] for r in rows] == ["K=10", "labels"]
    assert "requires y" in rows[1]["error"] and np.isnan(rows[1]["tau"])
    with pytest.raises(ValueError, match="No context of the grid could be scored.*labels"):
        select(X, None, grid=[("labels", LabelContext())], max_dim=64, max_probe_dim=8)


def test_the_winner_is_reported_as_python(tmp_path, blobs, capsys):
    import json

    import joblib
    from sklearn.pipeline import make_pipeline  # noqa: F401 - the line's namespace

    X, _ = blobs
    data, model = tmp_path / "toy.npz", tmp_path / "m.joblib"
    np.savez(data, X=X)
    # K=1000 is left out: only the RBF kernel, its gamma in absolute units (0.3 / 4)
    assert main([str(data), "--k", "1000", "--gamma", "0.3", "--max-dim", "64", "--json",
                 "--save-model", str(model)]) == 0
    result = json.loads(capsys.readouterr().out)
    line = result["model"]["python"]
    assert line == ("make_pipeline(StandardScaler(), ContextureUnion(["
                    "('linear', ContextureEmbedding(LinearTeacherContext(whiten=False), "
                    "n_components=4, scale='propagation', random_state=0)), "
                    "('local', ContextureEmbedding(RBFContext(gamma=0.075), n_components=32, "
                    "scale='propagation', random_state=0))]))")
    linear, local = result["model"]["parts"]
    assert (linear["name"], linear["context"], linear["context_class"]) == (
        "linear", "linear", "LinearTeacherContext")
    assert local["context_params"] == {"gamma": 0.075} and local["context"] == "RBF g=0.3"
    assert local["n_components"] == MODEL_COMPONENTS and linear["n_components"] == 4
    assert result["n_components"] == MODEL_COMPONENTS + 4
    assert local["n_components_reason"] == "the main job's default"
    assert linear["n_components_reason"].startswith("the functions the context was probed")
    # without labels the model is fitted on every row: the line reproduces it
    refit = eval(line).fit(X)
    saved = joblib.load(model)
    assert isinstance(saved[-1], ContextureUnion)
    np.testing.assert_allclose(np.abs(refit.transform(X)), np.abs(saved.transform(X)),
                               atol=1e-8)
    assert main([str(data), *_small_args()]) == 0
    out = capsys.readouterr().out
    assert ("  make_pipeline(StandardScaler(), ContextureUnion([('linear', ContextureEmbedding("
            "LinearTeacherContext(whiten=False)") in out
    assert "('local', ContextureEmbedding(KNNContext(n_neighbors=" in out
    assert "16 components (the functions the context was probed with" in out


def test_few_labels_cap_the_model(tmp_path, blobs, capsys):
    import json

    X, y = blobs
    data = tmp_path / "toy.npz"
    np.savez(data, X=X, y=y)
    assert main([str(data), "--k", "10", "--gamma", "1", "--max-dim", "64",
                 "--labelled", "30", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # labels chose the context: the model is that context alone
    (part,) = result["model"]["parts"]
    assert part["name"] == "winner" and part["context"] == result["chosen"]
    assert result["n_components"] == part["n_components"] == 7
    assert "30 labelled rows" in part["n_components_reason"]


def test_saved_model_takes_the_csv_columns_by_name(tmp_path, blobs, capsys):
    import warnings

    import joblib
    import pandas as pd

    X, y = blobs
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame.insert(0, "id", np.arange(1000, 1000 + len(X)))  # an identifier, left out
    frame["label"] = y
    path = tmp_path / "toy.csv"
    frame.to_csv(path, index=False)
    saved = tmp_path / "m.joblib"
    assert main([str(path), "--drop", "id", "--target", "label", *_small_args(),
                 "--save-model", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "(240 samples x 4 features, classification)" in out
    usage = f"model.transform(pd.read_csv({str(path)!r}).drop(columns=['label', 'id']))"
    assert f"it takes the feature columns by name: {usage}" in out
    model = joblib.load(saved)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-names warning
        Z = eval(usage)
    assert Z.shape[0] == len(X)
    with pytest.raises(ValueError, match="feature names"):
        model.transform(pd.read_csv(path)[["b", "a", "c", "d"]])
    X_kept, _, _, names = load_dataset(str(path), "label", drop=["id"],
                                       return_feature_names=True)
    np.testing.assert_allclose(X_kept, X)
    assert names == ["a", "b", "c", "d"]


def test_help_and_import_do_not_load_scikit_learn():
    # --help, a usage error and `import skcontexture` answer without importing scikit-learn,
    # the selection or the solvers (they load on first use)
    import subprocess
    import sys

    probe = ("import runpy, sys\n"
             "sys.argv = ['skcontexture', *sys.argv[1:]]\n"
             "try:\n"
             "    runpy.run_module('skcontexture', run_name='__main__')\n"
             "except SystemExit:\n"
             "    pass\n"
             "heavy = [m for m in ('sklearn', 'scipy', 'skcontexture._selection') if m in sys.modules]\n"
             "print(','.join(heavy) or 'none')\n")
    for args in (["--help"], ["--k", "0"]):
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                             text=True, check=True).stdout
        assert out.strip().splitlines()[-1] == "none", (args, out[-300:])
    out = subprocess.run([sys.executable, "-c", "import sys, skcontexture; "
                          "print('sklearn' in sys.modules)"], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_workers_started_while_the_data_loads_change_nothing(tmp_path, blobs, capsys):
    # the main job starts its worker processes before it loads the data: the same result
    # as one job, and the thread that starts them has ended when it returns
    import json
    import threading

    X, y = blobs
    data = tmp_path / "toy.npz"
    np.savez(data, X=X, y=y)
    results = []
    for n_jobs in ("1", "2"):
        assert main([str(data), *_small_args(), "--json", "--n-jobs", n_jobs]) == 0
        assert "skcontexture-workers" not in [t.name for t in threading.enumerate()]
        rows = json.loads(capsys.readouterr().out)["rows"]
        results.append([{k: v for k, v in row.items() if k != "seconds"} for row in rows])
    assert results[0] == results[1]


def test_parallel_grid_gives_the_same_ranking_and_model(blobs):
    # the contexts scored in worker processes: the same rows, spectra and model as in one
    X, _ = blobs
    grid = [("K=5", KNNContext(5)), ("K=20", KNNContext(20)), ("RBF", RBFContext(gamma=0.5)),
            ("linear", LinearTeacherContext(whiten=False))]
    serial = select(X, None, grid=grid, max_dim=64, max_probe_dim=16, n_jobs=1)
    parallel = select(X, None, grid=grid, max_dim=64, max_probe_dim=16, n_jobs=2)
    keys = ("context", "feature_prediction", "d_proxy", "tau", "d_tau", "s1", "outlying")
    assert [[r[k] for k in keys] for r in serial["rows"]] == \
        [[r[k] for k in keys] for r in parallel["rows"]]
    for name, s in serial["spectra"].items():
        np.testing.assert_array_equal(s, parallel["spectra"][name])
    assert isinstance(serial["embedding"], ContextureUnion)
    Xs = serial["scaler"].transform(X)
    np.testing.assert_array_equal(serial["embedding"].transform(Xs),
                                  parallel["embedding"].transform(Xs))
    assert [r["estimator"].get_params() for r in serial["rows"]] == \
        [r["estimator"].get_params() for r in parallel["rows"]]
