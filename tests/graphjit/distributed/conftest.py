"""A two-worker local Dask cluster (separate processes) for the distributed tests; they
skip when Dask is not installed (`pip install 'graphjit[distributed]'`). Its workers, and
the ones a restart makes, inherit the driver's kernel cache folder (GRAPHJIT_CACHE_DIR)."""

import os

import pytest

try:
    from dask import distributed
except ImportError:  # each test module skips on its own importorskip
    distributed = None


@pytest.fixture(scope="module")
def client():
    if distributed is None:
        pytest.skip("dask.distributed is not installed")
    from codegen.cache import cache_dir
    before = os.environ.get("GRAPHJIT_CACHE_DIR")
    os.environ["GRAPHJIT_CACHE_DIR"] = cache_dir()  # for worker processes started later too
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
    if before is None:
        del os.environ["GRAPHJIT_CACHE_DIR"]
