"""verbose: one line per stage of a fit (and per solver round at 2), silent at 0."""

import re

import numpy as np
import pytest

from skcontexture import ContextureEmbedding, KNNContext, SpectralContextEncoder

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
