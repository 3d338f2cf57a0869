"""Jobs: products computed in the background, their state visible to every process.

A job's id is its product id (:func:`core.products.run.product_id`), so identical requests
alias to one job, as ODA's ``job_id`` does. Its state is one small JSON record on disk
(``<cache>/jobs/<id>.json``, written atomically, directory 0700): the Dash background
callback process, the API's threads and a reloaded page all see the same job.

Record fields: ``job_id``, ``product_type``, ``query`` (parameters), ``status`` (submitted,
progress, done, failed, cancelled), ``message``, ``error`` (field/message/allowed for bad
requests), ``scws`` (``[{scw_id, status, seconds}]``: "preparing" until the ScW is
done, then "restored from cache", "calculated" or "failed: reason"), ``n_done``,
``n_total``, ``submitted_at``, ``started_at``, ``finished_at``, ``updated_at`` (epoch
seconds; a running job refreshes it at every ScW, and one not refreshed for
:data:`STALE_AFTER` seconds is taken as dead and restarted on the next submit).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from core.config import ensure_private_dir, get_settings
from core.errors import QueryError
from core.products.run import Cancelled, ProductResult, load_product, product_id, run_product
from core.query import Query

__all__ = ["JobStore", "JobRunner", "get_runner", "ACTIVE", "STALE_AFTER"]

ACTIVE = ("submitted", "progress")
#: Seconds without a heartbeat after which a running job is considered dead.
STALE_AFTER = 180.0
PREPARING = "preparing"


class JobStore:
    """Job records on disk (one JSON file per job, atomic replace)."""

    def __init__(self, root: str | Path | None = None):
        self.root = ensure_private_dir(Path(root) if root else get_settings().cache_dir / "jobs")

    def _path(self, job_id: str) -> Path:
        from core.products.store import KEY_RE

        if not KEY_RE.fullmatch(job_id or ""):
            raise QueryError("job_id", f"malformed job id {str(job_id)[:40]!r}", "hexadecimal ids")
        return self.root / f"{job_id}.json"

    def read(self, job_id: str) -> dict | None:
        try:
            return json.loads(self._path(job_id).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def write(self, record: dict) -> dict:
        record["updated_at"] = time.time()
        path = self._path(record["job_id"])
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".job-")
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        os.replace(tmp, path)
        return record

    def lock(self, job_id: str):
        """Inter-process lock of a job's check-then-start (page jobs run in other processes)."""
        from filelock import FileLock

        return FileLock(str(self._path(job_id).with_suffix(".lock")), timeout=60)

    def cancel(self, job_id: str) -> None:
        self._path(job_id).with_suffix(".cancel").touch()

    def cancel_requested(self, job_id: str) -> bool:
        return self._path(job_id).with_suffix(".cancel").exists()

    def clear_cancel(self, job_id: str) -> None:
        self._path(job_id).with_suffix(".cancel").unlink(missing_ok=True)


def is_alive(record: dict | None) -> bool:
    """True for a job that is running (or queued) and not stale."""
    return bool(record) and record["status"] in ACTIVE and time.time() - record["updated_at"] < STALE_AFTER


class JobRunner:
    """Runs products, recording their progress in a :class:`JobStore`.

    Parameters
    ----------
    jobs : JobStore, optional
    max_parallel : int
        Products computed at once by :meth:`submit` (each may use ``workers`` processes).
    workers : int, optional
        Worker processes per product (default ``ODA_WORKERS``).
    """

    def __init__(self, jobs: JobStore | None = None, *, max_parallel: int = 1, workers: int | None = None):
        self.jobs = jobs or JobStore()
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="oda-job")

    # -- queries ---------------------------------------------------------------------------
    def job_id(self, query: Query) -> str:
        return product_id(query)

    def status(self, job_id: str) -> dict | None:
        """The job's record; a finished product without a record reads as done."""
        rec = self.jobs.read(job_id)
        if rec is None:
            try:
                res = load_product(job_id)
            except QueryError:
                return None
            rec = self._record(res.query, job_id, "done")
            self._finish(rec, res)
            self.jobs.write(rec)
        return rec

    # -- running ---------------------------------------------------------------------------
    def submit(self, query: Query) -> dict:
        """Start the job in the background unless it is done or running; return its record."""
        jid = self.job_id(query)
        with self.jobs.lock(jid):
            rec = self.jobs.read(jid)
            if is_alive(rec):
                return rec
            done = self._done_record(query, jid, rec)
            if done is not None:
                return done
            rec = self.jobs.write(self._record(query, jid, "submitted"))
            self.jobs.clear_cancel(jid)
        self._pool.submit(self._run_quietly, query, jid)
        return rec

    def run(self, query: Query, *, progress: Callable[[dict], None] | None = None,
            poll: float = 0.25) -> ProductResult:
        """Compute the product in this thread, or wait for the process already computing it.

        ``progress(record)`` is called at every change. Raises :class:`QueryError` for a
        request that cannot be served and :class:`Cancelled` when the job is cancelled.
        """
        jid = self.job_id(query)
        with self.jobs.lock(jid):
            rec = self.jobs.read(jid)
            alive = is_alive(rec)
            done = None if alive else self._done_record(query, jid, rec)
            if not alive and done is None:
                self.jobs.clear_cancel(jid)
                rec = self.jobs.write(self._record(query, jid, "submitted"))
        if alive:
            return self._wait(jid, progress, poll)
        if done is not None:
            if progress:
                progress(done)
            return load_product(jid)
        return self._execute(query, rec, progress)

    def cancel(self, job_id: str) -> dict | None:
        rec = self.jobs.read(job_id)
        if rec is not None and rec["status"] in ACTIVE:
            self.jobs.cancel(job_id)
        return rec

    # -- internals -------------------------------------------------------------------------
    def _record(self, query: Query, jid: str, status: str) -> dict:
        now = time.time()
        return {"job_id": jid, "product_type": query.product_type, "query": query.to_params(), "status": status,
                "message": "", "error": None, "scws": [], "n_done": 0, "n_total": 0, "submitted_at": now,
                "started_at": None, "finished_at": None, "updated_at": now, "pid": os.getpid()}

    def _done_record(self, query: Query, jid: str, rec: dict | None) -> dict | None:
        """The record of a finished product, or None. A done record whose product is still
        stored is answered without loading it (every poll of the API comes here)."""
        from core.products.store import get_store

        if not get_store().has(jid):
            return None
        if rec is not None and rec["status"] == "done":
            return rec
        try:
            res = load_product(jid)
        except QueryError:
            return None
        if rec is None or rec["status"] != "done":
            rec = self._record(query, jid, "done")
            self._finish(rec, res)
            self.jobs.write(rec)
        return rec

    def _finish(self, rec: dict, res: ProductResult) -> None:
        rec["status"] = "done"
        rec["scws"] = [s.to_dict() for s in res.scws]
        rec["n_done"] = rec["n_total"] = len(res.scws)
        rec["finished_at"] = rec["finished_at"] or time.time()
        rec["message"] = "restored from cache" if res.from_cache else "calculated"

    def _run_quietly(self, query: Query, jid: str) -> None:
        rec = self.jobs.read(jid) or self._record(query, jid, "submitted")
        try:
            self._execute(query, rec, None)
        except Exception:  # recorded in the job; nothing to raise to in a pool thread
            pass

    def _execute(self, query: Query, rec: dict, progress) -> ProductResult:
        from core.archive.store import get_archive

        jid = rec["job_id"]
        rec.update(status="progress", started_at=time.time(), pid=os.getpid())
        try:
            from core.instruments.base import get_instrument

            # Registered instruments without science windows (SPI-ACS) report their own units.
            sel = get_archive().select(query) if get_instrument(query.instrument, None) is None else None
            rec["scws"] = [{"scw_id": str(s), "status": PREPARING, "seconds": 0.0} for s in sel.ids] if sel else []
        except QueryError:
            rec["scws"] = []  # run_product raises the same error with its message below
        rec["n_total"] = len(rec["scws"])
        self.jobs.write(rec)
        if progress:
            progress(rec)
        index = {r["scw_id"]: i for i, r in enumerate(rec["scws"])}

        def on_scw(i, n, status):
            row = status.to_dict()
            if row["scw_id"] in index:
                rec["scws"][index[row["scw_id"]]] = row
            else:
                index[row["scw_id"]] = len(rec["scws"])
                rec["scws"].append(row)
            rec["n_done"], rec["n_total"] = i, max(n, rec["n_total"])
            self.jobs.write(rec)
            if progress:
                progress(rec)

        try:
            res = run_product(query, progress=on_scw, cancel=lambda: self.jobs.cancel_requested(jid),
                              workers=self.workers)
        except Cancelled as exc:
            rec.update(status="cancelled", message=str(exc), finished_at=time.time())
            self.jobs.write(rec)
            self.jobs.clear_cancel(jid)
            if progress:
                progress(rec)
            raise
        except QueryError as exc:
            rec.update(status="failed", message=str(exc), error=exc.to_dict(), finished_at=time.time())
            self.jobs.write(rec)
            if progress:
                progress(rec)
            raise
        except Exception as exc:
            # Say why without leaking paths or a traceback to users; the log has the rest.
            import logging

            logging.getLogger(__name__).exception("job %s failed", jid)
            rec.update(status="failed", message=f"internal error ({exc.__class__.__name__})",
                       finished_at=time.time())
            self.jobs.write(rec)
            if progress:
                progress(rec)
            raise
        rec["finished_at"] = time.time()
        self._finish(rec, res)
        self.jobs.write(rec)
        if progress:
            progress(rec)
        return res

    def _wait(self, jid: str, progress, poll: float) -> ProductResult:
        last = None
        while True:
            rec = self.jobs.read(jid)
            if rec is None:
                raise QueryError("job_id", "the job disappeared")
            if progress and rec.get("updated_at") != last:
                last = rec.get("updated_at")
                progress(rec)
            if rec["status"] == "done":
                return load_product(jid)
            if rec["status"] == "cancelled":
                raise Cancelled(rec.get("message") or "cancelled")
            if rec["status"] == "failed":
                err = rec.get("error") or {}
                raise QueryError(err.get("field", "query"), err.get("message", rec.get("message", "failed")),
                                 err.get("allowed"))
            if not is_alive(rec):
                raise QueryError("job_id", "the process computing this job stopped; submit again")
            time.sleep(poll)


_RUNNERS: dict[str, JobRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def get_runner() -> JobRunner:
    """The process's runner for the configured cache (one per cache directory)."""
    root = str(get_settings().cache_dir / "jobs")
    with _RUNNERS_LOCK:
        if root not in _RUNNERS:
            _RUNNERS[root] = JobRunner(JobStore(root), max_parallel=int(os.environ.get("ODA_JOBS_PARALLEL", "1")))
        return _RUNNERS[root]
