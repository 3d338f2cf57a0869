"""Per-ScW work on a Dask distributed cluster, with the contract of the local runner.

Used by :func:`core.products.scw_runner.run_scws` when ``ODA_DASK_SCHEDULER`` names a
scheduler (``tcp://host:8786``); the embedded process pool stays the default. The contract
is the local runner's: every ScW reported as it ends (restored, calculated or failed with a
reason), folded by ``accept`` in the calling process, cancellable between ScWs.

What the cluster must share with the web process
------------------------------------------------
* the code: workers import ``core`` (start them in a checkout or with it on ``PYTHONPATH``);
* the archive and the product store, at the same paths: tasks read ScWs from the archive and
  write their per-ScW products to the store, then hand the caller a small payload. The
  filesystem must offer atomic ``rename`` within a directory and working ``flock``/``fcntl``
  locks (local disks, NFSv4 with locking, Lustre, GPFS and CephFS do; NFSv3 without ``lockd``
  does not).

A worker lost mid-task (killed, out of memory, its host gone) is recovered by Dask: its
tasks are rescheduled on the other workers (``distributed.scheduler.allowed-failures``
times). A task that fails in Python is reported as that ScW's failure, as locally.
"""

from __future__ import annotations

import uuid
from typing import Callable

from .. import forksafe

__all__ = ["scheduler_address", "get_client", "close_clients", "run_scws_dask"]

_CLIENT_LOCK = forksafe.Lock()


def scheduler_address() -> str | None:
    """``ODA_DASK_SCHEDULER`` (``tcp://host:port``), or None for the local process pool."""
    import os

    addr = os.environ.get("ODA_DASK_SCHEDULER", "").strip()
    return addr or None


_OPEN: dict = {}


def get_client(address: str | None = None):
    """The process's client of ``address`` (default ``ODA_DASK_SCHEDULER``), made once."""
    address = address or scheduler_address()
    if not address:
        raise RuntimeError("ODA_DASK_SCHEDULER is not set")
    with _CLIENT_LOCK:
        client = _OPEN.get(address)
        if client is None or client.status in ("closed", "closing"):
            from distributed import Client

            # It reconnects by itself if the scheduler restarts.
            client = _OPEN[address] = Client(address, set_as_default=False, timeout="30s")
        return client


def close_clients() -> None:
    """Close this process's clients (before their scheduler goes away, e.g. after a test)."""
    with _CLIENT_LOCK:
        clients = list(_OPEN.values())
        _OPEN.clear()
    for c in clients:
        c.close()


def run_scws_dask(task: Callable, items, *, accept: Callable, record: Callable, cancel=None, archive, store,
                  client=None) -> None:
    """Submit every ScW to the cluster, ``accept`` and ``record`` each as it completes.

    At most two tasks per worker thread are in flight (the caller folds payloads as they come,
    so its memory stays flat however many ScWs there are). ``record(scw_id, status, seconds)``
    reports progress; :class:`~core.products.scw_task.Cancelled` is raised when ``cancel()``
    turns true, after cancelling what is still queued.
    """
    from distributed import as_completed

    from .scw_task import Cancelled, failure, run_task

    client = client or get_client()
    context = (str(store.root), str(archive.root), archive.settings.archive_mode)
    threads = sum(client.nthreads().values()) or 1
    window = max(2, 2 * threads)
    run = uuid.uuid4().hex[:12]
    it = iter(items)
    done_count = 0
    n = len(items)

    def submit_next(ac) -> bool:
        nxt = next(it, None)
        if nxt is None:
            return False
        scw_id, args = nxt
        # Unique keys: the same ScW in two concurrent requests is two tasks (the store's locks
        # make the second a restore), and a cancelled request never cancels another's task.
        fut = client.submit(run_task, task, scw_id, tuple(args), context, key=f"oda-{scw_id}-{run}", pure=False)
        ac.add(fut)
        return True

    ac = as_completed(loop=client.loop)
    for _ in range(window):
        if not submit_next(ac):
            break
    for fut in ac:
        try:
            scw_id, status, seconds, payload = fut.result()
        except Exception as exc:  # the task could not run at all (e.g. KilledWorker after retries)
            scw_id = str(fut.key).split("-")[1]
            status, seconds, payload = failure(exc), 0.0, None
        fut.release()
        if payload is not None:
            accept(payload)
        done_count += 1
        record(scw_id, status, seconds)
        if cancel and cancel():
            rest = list(ac.futures)
            client.cancel(rest)
            raise Cancelled(f"cancelled after {done_count} of {n} ScWs")
        submit_next(ac)
