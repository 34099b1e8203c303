"""One in-process Dask cluster per test module: 2 single-threaded workers, small memory
limits."""

from __future__ import annotations

import pytest

distributed = pytest.importorskip("distributed")

#: a worker's memory limit: small enough that the batch tests need several shards a worker
WORKER_MEMORY = 48 * 2**20


@pytest.fixture(scope="module")
def client():
    import dask

    # in-process workers share this process's memory, so Dask's own pause / spill / restart
    # would measure the whole test run: the limit is only what shards are sized against
    with dask.config.set({"distributed.worker.memory.target": False,
                          "distributed.worker.memory.spill": False,
                          "distributed.worker.memory.pause": False,
                          "distributed.worker.memory.terminate": False}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                     dashboard_address=":0",
                                     memory_limit=WORKER_MEMORY) as cluster, \
            distributed.Client(cluster) as connected:
        yield connected

