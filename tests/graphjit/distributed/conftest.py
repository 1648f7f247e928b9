"""A two-worker local Dask cluster (separate processes) for the distributed tests; they
skip when Dask is not installed (`pip install 'graphjit[distributed]'`)."""

import pytest

try:
    from dask import distributed
except ImportError:  # each test module skips on its own importorskip
    distributed = None


@pytest.fixture(scope="module")
def client():
    if distributed is None:
        pytest.skip("dask.distributed is not installed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
