"""Hypothesis profiles: "ci" (the default) and "deep" (20x the examples).

Select one with ``HYPOTHESIS_PROFILE=deep``. Count the generated cases with
``pytest tests/test_properties.py -s`` (the last property test prints them) or
``--hypothesis-show-statistics``.
"""

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

_COMMON = dict(
    deadline=None,
    database=None,
    derandomize=False,
    # the "explain" phase reruns a failure hundreds of times to comment on it: slow here
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", max_examples=100, **_COMMON)
settings.register_profile("deep", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def dask_client():
    """A distributed client on a LocalCluster of 2 worker processes with 1 thread each."""
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        yield client
