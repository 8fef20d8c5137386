"""The memory guard: available memory, the check, and the contexts' estimates."""

import tracemalloc

import numpy as np
import pytest

from skcontexture import (CutMixContext, CutoutContext, GaussianNoiseContext, KNNContext,
                          RBFContext, SCARFContext, _memory)
from skcontexture.contexts._neighbors import BYTES_PER_NEIGHBOR


def test_available_memory_is_known_on_this_machine():
    available = _memory.available_memory()
    assert available is None or available > 0


def test_a_cgroup_limit_caps_the_available_memory(tmp_path, monkeypatch):
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    limit.write_text("1000000\n")
    usage.write_text("400000\n")
    monkeypatch.setattr(_memory, "_CGROUP_FILES", ((str(limit), str(usage)),))
    assert _memory.available_memory() <= 600_000
    limit.write_text("max\n")  # no limit
    assert _memory.available_memory() > 600_000


def test_check_memory_names_the_size_the_memory_and_the_fix(monkeypatch):
    monkeypatch.setattr(_memory, "available_memory", lambda: 23e9)
    _memory.check_memory(1e9, "a step", "Do less.")
    expected = r"^a step: about 480 GB; this machine has 23 GB available. Do less.$"
    with pytest.raises(MemoryError, match=expected):
        _memory.check_memory(480e9, "a step", "Do less.")
    monkeypatch.setattr(_memory, "available_memory", lambda: None)  # unknown: no guard
    _memory.check_memory(1e18, "a step", "Do less.")


@pytest.mark.parametrize(
    "context, message",
    [
        (KNNContext(15), r"KNNContext with n_neighbors=15 on 50 rows builds a joint of 750"),
        (RBFContext(), r"RBFContext with n_neighbors=None on 50 rows builds a 50 x 50 kernel"),
        (RBFContext(n_neighbors=10), r"RBFContext with n_neighbors=10 on 50 rows builds a joint"),
        (GaussianNoiseContext(), r"GaussianNoiseContext with n_neighbors=15 and n_draws=5 on 50"),
        (SCARFContext(), r"SCARFContext with n_neighbors=5 and n_draws=3 on 50 rows"),
        (CutMixContext(), r"CutMixContext with n_neighbors=5 and n_draws=3 on 50 rows"),
        (CutoutContext(), r"CutoutContext with n_neighbors=5 and n_draws=3 on 50 rows"),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_contexts_check_memory_before_building(context, message, monkeypatch, X):
    monkeypatch.setattr(_memory, "available_memory", lambda: 1000)
    with pytest.raises(MemoryError, match=message):
        context.fit(X)


def test_knn_estimate_is_the_measured_peak():
    n, k = 5000, 15
    points = np.random.RandomState(0).normal(size=(n, 3))
    tracemalloc.start()
    try:
        KNNContext(k).fit(points)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.8 < peak / (BYTES_PER_NEIGHBOR * n * k) < 1.25
