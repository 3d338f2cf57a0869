"""Per-ScW work of every product: in this process or in worker processes, with progress and cancel.

Images, spectra and light curves all do the same thing: a task per science window (restored
from the store or calculated), reported as it ends ("restored from cache", "calculated" or
"failed: reason"), folded into the product by the caller, cancellable between ScWs.
:func:`run_scws` does it once for all of them.

Worker processes are spawned once per size and process (start-up and imports cost ~1 s) and
run single-threaded BLAS (:mod:`core._worker_init`): the processes are the parallelism. At
most two tasks per worker are in flight, which keeps the parent's memory flat. Workers exit
when the process that started them dies, however it dies.

A worker that dies (``kill -9``, the out-of-memory killer) breaks its pool: the pool is
replaced and every ScW that was in flight is run again once, alone (so that a second break
is that ScW's own); a ScW whose second attempt also loses its worker is reported
``failed: the worker process died while computing ScW …`` and the others go on.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures as cf
import logging
import multiprocessing as mp
import os
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

__all__ = ["RESTORED", "CALCULATED", "Cancelled", "ScwStatus", "failure", "pool", "replace_pool", "worker_context",
           "run_scws", "WORKER_DIED"]

from .. import forksafe
from .scw_task import CALCULATED, RESTORED, Cancelled, ScwStatus, failure, run_task, worker_context

log = logging.getLogger(__name__)
#: Status of a ScW whose worker died twice.
WORKER_DIED = "failed: the worker process died while computing ScW {scw} (retried once)"

_POOLS: dict[int, cf.ProcessPoolExecutor] = {}
_POOLS_LOCK = forksafe.Lock()
_POOLS_PID = [os.getpid()]


@atexit.register
def _shutdown_pools() -> None:
    # Before the interpreter tears modules down: a pool collected later prints a spurious
    # "Exception ignored in weakref_cb" at exit.
    if _POOLS_PID[0] == os.getpid():
        for p in _POOLS.values():
            p.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()


def _own_pools() -> dict:
    # A forked child (a page job) inherits the parent's pools without their threads: unusable.
    if _POOLS_PID[0] != os.getpid():
        _POOLS.clear()
        _POOLS_PID[0] = os.getpid()
    return _POOLS


def pool(workers: int) -> cf.ProcessPoolExecutor:
    """The process's long-lived pool of ``workers`` processes (locked: the API runs jobs in
    threads, and two pools of one size would leak processes)."""
    with _POOLS_LOCK:
        pools = _own_pools()
        p = pools.get(workers)
        if p is None:
            from .._worker_init import single_threaded

            p = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                       initializer=single_threaded, initargs=(os.getpid(),))
            pools[workers] = p
        return p


def replace_pool(workers: int, broken: cf.ProcessPoolExecutor) -> cf.ProcessPoolExecutor:
    """A working pool in place of ``broken`` (replaced once, however many jobs noticed it)."""
    with _POOLS_LOCK:
        pools = _own_pools()
        if pools.get(workers) is broken:
            log.warning("a worker process of the %d-process pool died: replacing the pool", workers)
            pools.pop(workers)
            try:
                broken.shutdown(wait=False, cancel_futures=True)
            except Exception:  # already torn down by its own management thread
                pass
    return pool(workers)


def run_scws(task: Callable, items, *, accept: Callable, progress=None, cancel=None, workers: int = 1,
             archive, store) -> list[ScwStatus]:
    """Run ``task`` for every ScW and hand each result to ``accept`` in this process.

    Parameters
    ----------
    task : callable
        Module-level ``task(scw_id, *args, archive=, store=) -> (payload, status)`` (it is
        sent to worker processes by reference); ``status`` is RESTORED or CALCULATED.
    items : list of (scw_id, args)
    accept : callable
        ``accept(payload)`` for every ScW that did not fail, in completion order.
    progress : callable, optional
        ``progress(i, n, ScwStatus)`` after each ScW (i from 1).
    cancel : callable, optional
        Polled between ScWs; when it returns true :class:`Cancelled` is raised.
    workers : int
        1 runs in this process; more use :func:`pool`. Ignored when ``ODA_DASK_SCHEDULER`` is
        set: the tasks then run on that Dask cluster (:mod:`core.products.dask_runner`).

    Returns
    -------
    list of ScwStatus
        In completion order.
    """
    statuses: list[ScwStatus] = []
    n = len(items)

    def record(scw_id, status, seconds):
        statuses.append(ScwStatus(scw_id, status, seconds))
        if progress:
            progress(len(statuses), n, statuses[-1])

    from .dask_runner import scheduler_address

    if scheduler_address():  # ODA_DASK_SCHEDULER: the cluster replaces the local pool
        from .dask_runner import run_scws_dask

        run_scws_dask(task, items, accept=accept, record=record, cancel=cancel, archive=archive, store=store)
        return statuses
    if workers <= 1:
        for scw_id, args in items:
            if cancel and cancel():
                raise Cancelled(f"cancelled after {len(statuses)} of {n} ScWs")
            t0 = time.perf_counter()
            try:
                payload, status = task(scw_id, *args, archive=archive, store=store)
                accept(payload)
            except Exception as exc:
                status = failure(exc)
            record(scw_id, status, time.perf_counter() - t0)
        return statuses
    executor = pool(workers)
    # Workers must use this call's store and archive, not whatever their environment says.
    context = (str(store.root), str(archive.root), archive.settings.archive_mode)
    pending: dict = {}
    it = iter(items)
    retries: collections.deque = collections.deque()

    def submit(scw_id, args, attempt):
        nonlocal executor
        try:
            fut = executor.submit(run_task, task, scw_id, args, context)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down by another job's replacement
            executor = replace_pool(workers, executor)
            fut = executor.submit(run_task, task, scw_id, args, context)
        pending[fut] = (scw_id, args, attempt)

    while True:
        if retries:
            # After a break, ScWs run again one at a time: a second break is that ScW's own.
            if not pending:
                submit(*retries.popleft())
        else:
            while len(pending) < 2 * workers:
                nxt = next(it, None)
                if nxt is None:
                    break
                submit(nxt[0], tuple(nxt[1]), 0)
        if not pending:
            break
        done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
        broken = None
        for fut in done:
            scw_id, args, attempt = pending.pop(fut)
            try:
                scw_id, status, seconds, payload = fut.result()
            except BrokenProcessPool:
                broken = True
                if attempt == 0:
                    retries.append((scw_id, args, 1))
                else:
                    record(scw_id, WORKER_DIED.format(scw=scw_id), 0.0)
                continue
            except Exception as exc:  # the result could not come back (e.g. unpicklable)
                record(scw_id, failure(exc), 0.0)
                continue
            if payload is not None:
                accept(payload)
            record(scw_id, status, seconds)
        if broken:
            executor = replace_pool(workers, executor)
        if cancel and cancel():
            for f in pending:
                f.cancel()
            raise Cancelled(f"cancelled after {len(statuses)} of {n} ScWs")
    return statuses
