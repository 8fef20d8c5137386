"""Fixtures of the tests of dask input: the lazy transform and the fit on a cluster."""

import pytest


@pytest.fixture(scope="session")
def dask_client():
    """A distributed client on a LocalCluster of 2 worker processes with 1 thread each."""
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        yield client
