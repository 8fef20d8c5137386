"""The table of metrics is the one place that says which metrics exist and how they rank."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skcontexture import ContextScorer, metrics
from skcontexture._metric_table import MAIN_JOB_METRICS, METRICS, SCORER_METRICS, Metric
from skcontexture._selection import ranking
from skcontexture.cli import build_parser


def test_every_function_is_a_public_metric():
    for metric in METRICS.values():
        if metric.needs == "labels":
            assert metric.function is None
        else:
            assert metric.function in metrics.__all__, metric
            assert callable(getattr(metrics, metric.function))


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(-10, 10))
def test_score_is_greater_for_the_better_value(a, b, target):
    greater = Metric("g", "f", "max", "spectrum", "g")
    smaller = Metric("s", "f", "min", "spectrum", "s")
    closer = Metric("c", "f", target, "spectrum", "c")
    assert (greater.score(a) > greater.score(b)) == (a > b)
    assert (smaller.score(a) > smaller.score(b)) == (a < b)
    assert (closer.score(a) > closer.score(b)) == (abs(a - target) < abs(b - target))


def test_scorer_and_command_line_take_the_table_choices():
    for name in SCORER_METRICS:
        ContextScorer(name)._validate_params()
    with pytest.raises(ValueError, match="metric"):
        ContextScorer("labelled")._validate_params()  # needs labelled rows: main job only
    assert set(SCORER_METRICS) | set(MAIN_JOB_METRICS) == set(METRICS)
    action = next(a for a in build_parser()._actions if a.dest == "metric")
    assert tuple(action.choices) == MAIN_JOB_METRICS


@pytest.mark.parametrize("metric", MAIN_JOB_METRICS)
def test_ranking_puts_the_best_score_first(metric):
    rng = np.random.default_rng(0)
    rows = [{metric: v, "tau_trusted": True, "outlying": 0, "context": str(i)}
            for i, v in enumerate(rng.normal(size=6))]
    rows.append({metric: np.nan, "tau_trusted": True, "outlying": 0, "context": "nan"})
    ordered = sorted(rows, key=ranking(metric))
    scores = [METRICS[metric].score(r[metric]) for r in ordered[:-1]]
    assert scores == sorted(scores, reverse=True)
    assert ordered[-1]["context"] == "nan"


def test_tau_ranks_the_trusted_contexts_first():
    rows = [{"tau": 0.5, "tau_trusted": False, "outlying": 0},
            {"tau": 1.5, "tau_trusted": True, "outlying": 0}]
    assert min(rows, key=ranking("tau"))["tau"] == 1.5
