"""verbose: one line per stage of a fit (at 2 also per solver round and per tenth of a
context's long loop), silent at 0."""

import re
import threading

import numpy as np
import pytest

from skcontexture import (
    ContextScorer,
    ContextureEmbedding,
    GaussianNoiseContext,
    KNNContext,
    MaskedContext,
    SpectralContextEncoder,
)
from skcontexture._progress import Progress, loop

X = np.random.RandomState(0).normal(size=(1200, 4))  # above the dense side: rounds


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_embedding_prints_its_stages(capsys, verbose):
    ContextureEmbedding(KNNContext(10), n_components=3, random_state=0,
                        verbose=verbose).fit(X)
    lines = capsys.readouterr().out.splitlines()
    stages = [line for line in lines if not line.startswith("[ContextureEmbedding]   ")]
    rounds = [line for line in lines if re.match(r"\[ContextureEmbedding\]   round \d+: ", line)]
    if verbose == 0:
        assert lines == []
        return
    assert [line.split("]")[1].split()[0] for line in stages] == [
        "KNNContext", "operator", "solver", "Nystrom"]
    assert all(re.search(r"\(\d+\.\d\d s\)$", line) for line in stages)
    assert "joint 1200 x 1200, 12,000 nonzeros" in stages[0]
    assert "1 connected component(s)" in stages[1]
    if verbose == 1:
        assert rounds == []
    else:
        assert rounds and "3/3 converged" in rounds[-1]


def test_encoder_prints_its_stages(capsys):
    SpectralContextEncoder(KNNContext(10), n_components=2, verbose=1).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("]")[1].split()[0] for line in lines] == [
        "backbone", "KNNContext:", "moments", "generalised"]
    assert "backbone none (linear): 1200 x 4 features" in lines[0]


def test_verbose_does_not_change_the_result(capsys):
    quiet = ContextureEmbedding(KNNContext(10), n_components=3, random_state=0).fit(X)
    loud = ContextureEmbedding(KNNContext(10), n_components=3, random_state=0,
                               verbose=2).fit(X)
    np.testing.assert_array_equal(quiet.embedding_, loud.embedding_)


X_MASKED = np.random.RandomState(1).normal(size=(300, 8))
MASK_LINE = re.compile(r"\[ContextureEmbedding\]   masks (\d+)/(\d+) \(\d+%\) in \d+\.\d s")


def _masked_fit(verbose, n_jobs):
    context = MaskedContext(KNNContext(10), n_masks=20, n_jobs=n_jobs, random_state=0)
    return ContextureEmbedding(context, n_components=3, random_state=0,
                               verbose=verbose).fit(X_MASKED)


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_masked_context_reports_its_masks_at_verbose_2(capsys, n_jobs):
    model = _masked_fit(2, n_jobs)
    lines = [MASK_LINE.match(line) for line in capsys.readouterr().out.splitlines()]
    counts = [(int(m[1]), int(m[2])) for m in lines if m]
    n_distinct = len(model.context_.bases_)
    assert n_distinct > 10  # more masks than lines: the lines are a tenth apart
    assert len(counts) == 10
    assert counts[-1] == (n_distinct, n_distinct)
    assert [done for done, _ in counts] == sorted({done for done, _ in counts})


@pytest.mark.parametrize("verbose", [0, 1])
def test_masked_context_is_silent_in_its_loop_below_verbose_2(capsys, verbose):
    _masked_fit(verbose, 2)
    out = capsys.readouterr().out
    assert "masks" not in out
    assert (out == "") == (verbose == 0)


def test_reporting_the_masks_does_not_change_the_result(capsys):
    quiet = _masked_fit(0, 2)
    for verbose, n_jobs in [(2, None), (2, 2)]:
        loud = _masked_fit(verbose, n_jobs)
        np.testing.assert_array_equal(quiet.embedding_, loud.embedding_)
        assert (quiet.context_.joint_ != loud.context_.joint_).nnz == 0


def test_batched_contexts_report_their_row_batches(capsys):
    SpectralContextEncoder(GaussianNoiseContext(n_draws=20, n_neighbors=30, random_state=0),
                           n_components=2, verbose=2).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("[SpectralContextEncoder]   noise row batches ") for line in lines)


def test_loop_is_the_iterable_itself_unless_a_fit_reports():
    items = [1, 2, 3]
    assert loop(items, 3, "items") is items
    with Progress(verbose=1, owner="Test").active():
        assert loop(items, 3, "items") is items


def test_nested_and_threaded_loops_stay_silent(capsys):
    seen = []
    with Progress(verbose=2, owner="Test").active():
        for _ in loop(range(2), 2, "outer"):
            seen.append(loop(range(3), 3, "inner"))
        worker = threading.Thread(target=lambda: seen.append(loop(range(3), 3, "worker")))
        worker.start()
        worker.join()
    assert seen == [range(3)] * 3
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["outer"] * 2


def _fitted_embedding():
    return ContextureEmbedding(KNNContext(10), n_components=3, random_state=0).fit(X)


SCORER_STAGE = re.compile(r"\[ContextScorer\] (\S+) .*\(\d+\.\d\d s\)$")
SCORER_ROUND = re.compile(r"\[ContextScorer\]   round \d+: \d+ Krylov columns, stopping rule ")


@pytest.mark.parametrize("verbose", [0, 1, 2])
@pytest.mark.parametrize("source", ["fit", "X"])
def test_scorer_prints_its_stages(capsys, verbose, source):
    emb = _fitted_embedding()
    capsys.readouterr()
    ContextScorer("tau", max_dim=64, source=source, verbose=verbose)(emb, X)
    lines = capsys.readouterr().out.splitlines()
    if verbose == 0:
        assert lines == []
        return
    stages = [SCORER_STAGE.match(line) for line in lines
              if not line.startswith("[ContextScorer]   ")]
    assert all(stages)
    expected = ["KNNContext", "spectrum:", "tau"] if source == "X" else ["spectrum:", "tau"]
    assert [stage[1] for stage in stages] == expected
    assert "64 singular values of the 1200 x 1200 joint" in lines[-2]
    rounds = [line for line in lines if SCORER_ROUND.match(line)]
    if verbose == 1:
        assert rounds == []
    else:  # 1200 rows with d0 = 64: the randomized solver
        assert len(rounds) >= 2 and "relative change" in rounds[-1]


def test_scorer_reports_a_cached_spectrum_as_the_metric_only(capsys):
    emb = _fitted_embedding()
    ContextScorer("tau", max_dim=64)(emb, X)
    capsys.readouterr()
    ContextScorer("rankme", max_dim=64, verbose=1)(emb, X)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("[ContextScorer] rankme score ")


def test_scorer_reports_the_long_loops_of_a_refitted_context(capsys):
    emb = _masked_fit(0, None)
    capsys.readouterr()
    ContextScorer("rankme", max_dim=16, source="X", verbose=2)(emb, X_MASKED)
    out = capsys.readouterr().out
    assert "[ContextScorer]   masks " in out
    assert "[ContextScorer] MaskedContext refitted on X, 300 x 8" in out


@pytest.mark.parametrize("metric", ["tau", "rankme", "feature_prediction"])
def test_verbose_does_not_change_the_score(capsys, metric):
    quiet = [ContextScorer(metric, max_dim=64, source=source)(_fitted_embedding(), X)
             for source in ("fit", "X")]
    loud = [ContextScorer(metric, max_dim=64, source=source, verbose=2)(_fitted_embedding(), X)
            for source in ("fit", "X")]
    assert quiet == loud
    assert capsys.readouterr().out.count(f"[ContextScorer] {metric} score ") == 2


def test_scorer_spectrum_of_reports_and_keeps_the_values(capsys):
    quiet = ContextScorer(max_dim=64).spectrum_of(_fitted_embedding())
    loud = ContextScorer(max_dim=64, verbose=2).spectrum_of(_fitted_embedding())
    np.testing.assert_array_equal(quiet, loud)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("[ContextScorer] spectrum: 64 singular values")
    assert any(SCORER_ROUND.match(line) for line in lines)
