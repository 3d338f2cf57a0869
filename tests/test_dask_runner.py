"""Per-ScW work on a real Dask cluster: a ``dask scheduler`` and ``dask worker`` processes on loopback.

The products must be those of the local runner, byte for byte in their arrays; a worker killed
with SIGKILL in the middle of a job loses nothing (Dask reschedules its tasks and the nanny
starts a new worker); cancel stops the job between ScWs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
#: Three pointings of Feb 2003 near the Crab (the default selection of that query).
QUERY = dict(src_name="Crab", T1="2003-02-01T00:00:00", T2="2003-03-01T00:00:00", E1_keV=20, E2_keV=40)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and a worker with 2 processes (single-threaded), started as a deployment would."""
    from distributed import Client

    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    bindir = Path(sys.executable).parent
    dask = [str(bindir / "dask")]  # the console script of the dask package, beside this interpreter
    sched = subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             cwd=ROOT, env=env, stdout=open(logs / "scheduler.log", "wb"), stderr=subprocess.STDOUT,
                             start_new_session=True)
    worker = subprocess.Popen([*dask, "worker", addr, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
                               "--memory-limit", "4GB", "--death-timeout", "60"],
                              cwd=ROOT, env=env, stdout=open(logs / "worker.log", "wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        client = Client(addr, timeout="60s", set_as_default=False)
        client.wait_for_workers(2, timeout=120)
        yield {"address": addr, "client": client, "logs": logs}
        from core.products.dask_runner import close_clients

        close_clients()
        client.close()
    finally:
        for p in (worker, sched):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in (worker, sched):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _maps(res) -> dict:
    from astropy.io import fits

    with fits.open(res.files["mosaic.fits"]) as hdul:
        return {h.header.get("IMATYPE"): np.array(h.data) for h in hdul if h.header.get("IMATYPE")}


def _fresh_store(tmp_path, name):
    from core.products.store import ProductStore

    return ProductStore(tmp_path / name)


def test_mosaic_on_dask_equals_the_local_pool(cluster, tmp_path, monkeypatch):
    from core.archive.store import get_archive
    from core.products.run import run_product
    from core.query import Query

    q = Query.from_params(**QUERY, max_pointings=3)
    archive = get_archive()
    local = run_product(q, workers=1, archive=archive, store=_fresh_store(tmp_path, "local"))
    monkeypatch.setenv("ODA_DASK_SCHEDULER", cluster["address"])
    seen = []
    remote = run_product(q, archive=archive, store=_fresh_store(tmp_path, "dask"),
                         progress=lambda i, n, st: seen.append((i, n, st.status)))
    assert [s[2] for s in seen] == ["calculated"] * 3 and [s[0] for s in seen] == [1, 2, 3]
    a, b = _maps(local), _maps(remote)
    assert set(a) == set(b) >= {"INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"}
    for k in a:
        np.testing.assert_array_equal(np.nan_to_num(a[k]), np.nan_to_num(b[k]), err_msg=k)
    # The per-ScW products were written to the shared store by the workers: a second run restores.
    seen.clear()
    run_product(q.with_(detection_threshold=8.0), archive=archive, store=_fresh_store(tmp_path, "dask"),
                progress=lambda i, n, st: seen.append(st.status))
    assert seen == ["restored from cache"] * 3


def _worker_pids(client) -> list[int]:
    return sorted(client.run(os.getpid).values())


def test_a_worker_killed_mid_job_loses_nothing(cluster, tmp_path, monkeypatch):
    from core.archive.store import get_archive
    from core.products.run import run_product
    from core.query import Query

    client = cluster["client"]
    q = Query.from_params(src_name="Crab", T1="2003-03-01T00:00:00", T2="2003-04-30T00:00:00", E1_keV=25, E2_keV=60,
                          max_pointings=6)
    monkeypatch.setenv("ODA_DASK_SCHEDULER", cluster["address"])
    pids = _worker_pids(client)
    assert len(pids) == 2
    killed = []

    def progress(i, n, st):
        if i == 1 and not killed:  # one ScW done: kill a worker while others are in flight
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    res = run_product(q, archive=get_archive(), store=_fresh_store(tmp_path, "kill"), progress=progress)
    assert killed
    statuses = [s.status for s in res.scws]
    assert len(statuses) == 6 and not [s for s in statuses if s.startswith("failed")], statuses
    # The nanny replaced the killed worker.
    client.wait_for_workers(2, timeout=120)
    assert killed[0] not in _worker_pids(client)
    maps = _maps(res)
    assert np.nanmax(maps["SIGNIFICANCE"]) > 30


def test_cancel_between_scws(cluster, tmp_path, monkeypatch):
    from core.archive.store import get_archive
    from core.products.run import run_product
    from core.products.scw_runner import Cancelled
    from core.query import Query

    q = Query.from_params(src_name="Crab", T1="2004-01-01T00:00:00", T2="2004-12-31T00:00:00", E1_keV=20,
                          E2_keV=40, max_pointings=6)
    monkeypatch.setenv("ODA_DASK_SCHEDULER", cluster["address"])
    done = []
    flag = threading.Event()

    def progress(i, n, st):
        done.append(st.status)
        if i == 2:
            flag.set()

    with pytest.raises(Cancelled):
        run_product(q, archive=get_archive(), store=_fresh_store(tmp_path, "cancel"), progress=progress,
                    cancel=flag.is_set)
    assert 2 <= len(done) < 6
    # Nothing of the cancelled run is left queued on the cluster.
    time.sleep(1.0)
    assert not any(cluster["client"].processing().values())
