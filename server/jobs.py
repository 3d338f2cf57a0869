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
seconds), ``owner`` (``{host, pid, start}``: the process computing or queueing the job,
``start`` its start time, so that a reused pid is not taken for it) and ``heartbeat``
(refreshed every :data:`HEARTBEAT_S` seconds while the owner lives).

A job is alive while its owner is: on the owner's host that is checked directly (the pid
exists and started at ``owner.start``), elsewhere by a heartbeat younger than
:data:`HEARTBEAT_STALE_S`. A job found dead is marked failed when read (so a killed server's
jobs read "failed" as soon as anyone asks, within seconds) and a new submit runs it again.
A record that cannot be read as a job (bad JSON, a missing or mistyped key) is treated as
absent: the product is recomputed, never a 500.

Queue bounds: at most ``ODA_MAX_QUEUED`` jobs queued or running in this process's runner,
``ODA_MAX_QUEUED_PER_CLIENT`` per client (token subject, else address); beyond them
:meth:`JobRunner.submit` raises :class:`QueueFull` (HTTP 429 with ``Retry-After``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from core.config import ensure_private_dir, get_settings
from core import forksafe
from core.errors import QueryError
from core.products.run import Cancelled, ProductResult, load_product, product_id, run_product
from core.query import Query

from .celery_jobs import QUEUE_OWNER, broker_url
from .common import ApiError

__all__ = ["JobStore", "JobRunner", "get_runner", "ACTIVE", "STALE_AFTER", "HEARTBEAT_S", "HEARTBEAT_STALE_S",
           "QueueFull", "is_alive", "owner_alive", "this_owner"]

log = logging.getLogger(__name__)

ACTIVE = ("submitted", "progress")
STATUSES = ("submitted", "progress", "done", "failed", "cancelled")
#: Seconds between two heartbeats of a running job.
HEARTBEAT_S = 2.0
#: A job owned by another host is dead after this long without a heartbeat.
HEARTBEAT_STALE_S = 20.0
#: Records of an older format (no owner): dead after this long without an update.
STALE_AFTER = 180.0
PREPARING = "preparing"


class QueueFull(ApiError):
    """Too many jobs queued: HTTP 429 with Retry-After."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(429, message, "query", "retry later")
        self.headers = {"Retry-After": str(int(retry_after))}


_OWNER: dict | None = None


def this_owner() -> dict:
    """``{host, pid, start}`` of this process (recomputed after a fork)."""
    global _OWNER
    if _OWNER is None or _OWNER["pid"] != os.getpid():
        _OWNER = {"host": socket.gethostname(), "pid": os.getpid(), "start": _start_time(os.getpid())}
    return dict(_OWNER)


def _start_time(pid: int) -> float | None:
    try:
        import psutil

        return round(psutil.Process(pid).create_time(), 2)
    except Exception:  # no such process, or no psutil: fall back to heartbeats
        return None


def owner_alive(owner) -> bool | None:
    """True/False when the owner can be checked from here, None when only heartbeats tell."""
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return None
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    start = _start_time(pid)
    if start is None:
        return False
    return owner.get("start") is None or abs(start - float(owner["start"])) < 0.05


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def valid_record(rec, job_id: str | None = None) -> bool:
    """True for a record with every key the service reads, each of the right type."""
    if not isinstance(rec, dict):
        return False
    try:
        ok = (isinstance(rec["job_id"], str) and (job_id is None or rec["job_id"] == job_id)
              and rec["status"] in STATUSES and isinstance(rec["product_type"], str)
              and isinstance(rec["query"], dict) and isinstance(rec["message"], str)
              and (rec["error"] is None or isinstance(rec["error"], dict))
              and isinstance(rec["scws"], list) and all(isinstance(r, dict) and isinstance(r.get("scw_id"), str)
                                                       and isinstance(r.get("status"), str) for r in rec["scws"])
              and isinstance(rec["n_done"], int) and isinstance(rec["n_total"], int) and _num(rec["updated_at"])
              and _num(rec["submitted_at"])
              and all(rec.get(k) is None or _num(rec[k]) for k in ("started_at", "finished_at", "heartbeat"))
              and (rec.get("owner") is None or isinstance(rec["owner"], dict)))
    except (KeyError, TypeError):
        return False
    return bool(ok)


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
        """The job's record, or None when there is none or it is damaged."""
        path = self._path(job_id)
        try:
            from core.safejson import loads as safe_loads

            rec = safe_loads(path.read_bytes(), field="job record", max_depth=16)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("job record %s unreadable (%s): treated as absent", job_id, exc.__class__.__name__)
            return None
        if not valid_record(rec, job_id):
            log.warning("job record %s damaged: treated as absent", job_id)
            return None
        return rec

    def write(self, record: dict) -> dict:
        record["updated_at"] = record["heartbeat"] = time.time()
        path = self._path(record["job_id"])
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".job-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
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
    """True for a job that is running (or queued) by a process that still lives."""
    if not record or record["status"] not in ACTIVE:
        return False
    owner = record.get("owner")
    if isinstance(owner, dict) and owner.get("host") == QUEUE_OWNER:
        from .celery_jobs import queued_alive

        task = owner.get("task")
        return isinstance(task, str) and queued_alive(task, float(record["updated_at"]))
    alive = owner_alive(owner)
    if alive is not None:
        return alive
    if owner is None:  # an older record
        return time.time() - record["updated_at"] < STALE_AFTER
    return time.time() - float(record.get("heartbeat") or record["updated_at"]) < HEARTBEAT_STALE_S


def client_key() -> str:
    """Who is asking, for the per-client queue bound: the token's subject, else the address."""
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover
        return "local"
    if not has_request_context():
        return "local"
    from .auth import token_from_request

    tok = token_from_request(request, {"token": request.values.get("token")})
    if tok:
        try:
            import jwt

            secret = os.environ.get("ODA_JWT_SECRET", "")
            if secret:
                sub = jwt.decode(tok, secret, algorithms=["HS256"]).get("sub")
                if sub:
                    return f"sub:{sub}"
        except Exception:  # an invalid token is refused elsewhere; count the address
            pass
    return f"addr:{request.remote_addr or '-'}"


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
        self.max_parallel = max_parallel
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="oda-job")
        self._reset_process_state()

    def _reset_process_state(self) -> None:
        # Locks and threads do not survive a fork: a page-job process starts afresh.
        self._pid = os.getpid()
        self._lock = forksafe.Lock()
        self._active: dict[str, tuple[dict, forksafe.Lock]] = {}
        self._queued: dict[str, str] = {}
        self._heartbeat: threading.Thread | None = None

    def _state(self) -> None:
        if self._pid != os.getpid():
            self._reset_process_state()

    # -- queries ---------------------------------------------------------------------------
    def job_id(self, query: Query) -> str:
        return product_id(query)

    def status(self, job_id: str) -> dict | None:
        """The job's record; a finished product without a record reads as done; a job whose
        process died reads as failed."""
        rec = self.jobs.read(job_id)
        if rec is None:
            try:
                res = load_product(job_id)
            except QueryError:
                return None
            rec = self._record(res.query, job_id, "done")
            self._finish(rec, res)
            self.jobs.write(rec)
        elif rec["status"] in ACTIVE and not is_alive(rec):
            rec = self._mark_dead(rec)
        return rec

    def reap_dead(self) -> int:
        """Mark failed every active job whose process is gone (at start-up); returns how many."""
        n = 0
        for path in self.jobs.root.glob("*.json"):
            rec = self.jobs.read(path.stem) if not path.name.startswith(".") else None
            if rec is not None and rec["status"] in ACTIVE and not is_alive(rec):
                self._mark_dead(rec)
                n += 1
        return n

    def abandon(self, reason: str = "the server was stopped; submit again") -> int:
        """Mark failed the jobs this process is running or queueing (it is about to exit)."""
        with self._lock:
            active = list(self._active.items()) if self._pid == os.getpid() else []
        for jid, (rec, lock) in active:
            with lock:
                if self._active.get(jid, (None,))[0] is rec and rec.get("status") in ACTIVE:
                    rec.update(status="failed", message=reason, finished_at=time.time())
                    try:
                        self.jobs.write(rec)
                    except OSError:
                        pass
        return len(active)

    def _mark_dead(self, rec: dict) -> dict:
        with self.jobs.lock(rec["job_id"]):
            cur = self.jobs.read(rec["job_id"])
            if cur is None or cur["status"] not in ACTIVE or is_alive(cur):
                return cur or rec
            owner = cur.get("owner") or {}
            cur.update(status="failed", finished_at=time.time(), error=None,
                       message=f"the process computing this job stopped (pid {owner.get('pid', '?')}); submit again")
            log.warning("job %s: owner %s is gone, marked failed", cur["job_id"], owner)
            return self.jobs.write(cur)

    # -- running ---------------------------------------------------------------------------
    def submit(self, query: Query, client: str | None = None) -> dict:
        """Start the job in the background unless it is done or running; return its record.

        Raises :class:`QueueFull` when the queue bounds are reached.
        """
        self._state()
        jid = self.job_id(query)
        with self.jobs.lock(jid):
            rec = self.jobs.read(jid)
            if is_alive(rec):
                return rec
            done = self._done_record(query, jid, rec)
            if done is not None:
                return done
            if broker_url():
                return self._enqueue(query, jid)
            self._admit(jid, client or client_key())
            try:
                rec = self.jobs.write(self._record(query, jid, "submitted"))
                self.jobs.clear_cancel(jid)
                self._track(rec)
            except BaseException:
                self._release(jid)
                raise
        self._pool.submit(self._run_and_release, query, jid)
        return rec

    def _enqueue(self, query: Query, jid: str) -> dict:
        """Queue the job on Celery (called under the job's lock): the queue owns its record
        until a worker takes it, so the job outlives this web process."""
        from core.config import get_limits

        from .celery_jobs import enqueue, queue_length, task_name

        queued = queue_length()
        limit = get_limits().max_queued
        if queued >= limit:
            retry = max(5, queued)
            raise QueueFull(f"the job queue holds {queued} jobs, at most {limit} (ODA_MAX_QUEUED); "
                            f"retry in {retry} s", retry)
        rec = self._record(query, jid, "submitted")
        rec["pid"] = None
        self.jobs.clear_cancel(jid)
        # Written before the message can reach a worker, which takes the record over.
        rec["owner"] = {"host": QUEUE_OWNER, "pid": None, "start": None, "task": task_name(jid)}
        self.jobs.write(rec)
        enqueue(query.to_params(), jid, rec["owner"]["task"])
        return rec

    def run_celery_job(self, query: Query, jid: str) -> None:
        """Body of the Celery task: run the job here unless it is done or another process
        already runs it (a message delivered twice computes once)."""
        self._state()
        with self.jobs.lock(jid):
            rec = self.jobs.read(jid)
            owner = (rec or {}).get("owner") or {}
            if rec is not None and owner.get("host") != QUEUE_OWNER and is_alive(rec):
                return
            if self._done_record(query, jid, rec) is not None:
                return
            if rec is None or rec["status"] not in ACTIVE:
                rec = self._record(query, jid, "submitted")
            if self.jobs.cancel_requested(jid):
                rec.update(status="cancelled", finished_at=time.time(), message="cancelled before it started")
                self.jobs.write(rec)
                self.jobs.clear_cancel(jid)
                return
            owner = this_owner()
            rec.update(owner=owner, pid=owner["pid"])
            self.jobs.write(rec)
        try:
            self._execute(query, rec, None)
        except Exception:  # recorded in the job
            pass

    def queued(self) -> int:
        """Jobs this runner has queued or is running."""
        with self._lock:
            return len(self._queued)

    def _admit(self, jid: str, client: str) -> None:
        from core.config import get_limits

        limits = get_limits()
        with self._lock:
            queued = len(self._queued)
            mine = sum(1 for c in self._queued.values() if c == client)
            retry = max(1, int(5 * (queued + 1) / max(1, self.max_parallel)))
            if queued >= limits.max_queued:
                raise QueueFull(f"the server has {queued} jobs queued, at most {limits.max_queued} "
                                f"(ODA_MAX_QUEUED); retry in {retry} s", retry)
            if mine >= limits.max_queued_per_client:
                raise QueueFull(f"you have {mine} jobs queued, at most {limits.max_queued_per_client} per client "
                                f"(ODA_MAX_QUEUED_PER_CLIENT); retry in {retry} s", retry)
            self._queued[jid] = client

    def _release(self, jid: str) -> None:
        with self._lock:
            self._queued.pop(jid, None)

    def _run_and_release(self, query: Query, jid: str) -> None:
        try:
            self._run_quietly(query, jid)
        finally:
            self._release(jid)
            self._untrack(jid)

    def run(self, query: Query, *, progress: Callable[[dict], None] | None = None,
            poll: float = 0.25) -> ProductResult:
        """Compute the product in this thread, or wait for the process already computing it.

        ``progress(record)`` is called at every change. Raises :class:`QueryError` for a
        request that cannot be served and :class:`Cancelled` when the job is cancelled.
        """
        self._state()
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
        owner = this_owner()
        return {"job_id": jid, "product_type": query.product_type, "query": query.to_params(), "status": status,
                "message": "", "error": None, "scws": [], "n_done": 0, "n_total": 0, "submitted_at": now,
                "started_at": None, "finished_at": None, "updated_at": now, "heartbeat": now,
                "pid": owner["pid"], "owner": owner}

    def _write(self, rec: dict) -> dict:
        """Write a record this process is running (the heartbeat thread writes it too)."""
        entry = self._active.get(rec["job_id"])
        if entry is None:
            return self.jobs.write(rec)
        with entry[1]:
            return self.jobs.write(rec)

    def _beat(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(HEARTBEAT_S)
            with self._lock:
                active = list(self._active.items())
            for jid, entry in active:
                rec, lock = entry
                with lock:
                    # Only the record still tracked, still running: never an older copy.
                    if self._active.get(jid) is entry and rec.get("status") in ACTIVE:
                        try:
                            self.jobs.write(rec)
                        except OSError:  # a full disk: the next beat tries again
                            pass

    def _track(self, rec: dict) -> None:
        with self._lock:
            old = self._active.get(rec["job_id"])
            # One lock per job, kept when the queued record is replaced by the running one.
            self._active[rec["job_id"]] = (rec, old[1] if old else forksafe.Lock())
            if self._heartbeat is None or not self._heartbeat.is_alive():
                self._heartbeat = threading.Thread(target=self._beat, name="oda-job-heartbeat", daemon=True)
                self._heartbeat.start()

    def _untrack(self, jid: str) -> None:
        with self._lock:
            self._active.pop(jid, None)

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
        self._state()
        self._track(rec)
        try:
            return self._execute_tracked(query, rec, progress)
        finally:
            self._untrack(rec["job_id"])

    def _execute_tracked(self, query: Query, rec: dict, progress) -> ProductResult:
        from core.archive.store import get_archive

        jid = rec["job_id"]
        owner = this_owner()
        rec.update(status="progress", started_at=time.time(), pid=owner["pid"], owner=owner)
        try:
            from core.instruments.base import get_instrument

            # Instruments without science windows (SPI-ACS: None) report their own units.
            sel = get_instrument(query.instrument).select(query, get_archive())
            rec["scws"] = [{"scw_id": str(s), "status": PREPARING, "seconds": 0.0} for s in sel.ids] if sel else []
        except QueryError:
            rec["scws"] = []  # run_product raises the same error with its message below
        rec["n_total"] = len(rec["scws"])
        self._write(rec)
        if progress:
            progress(rec)
        index = {r["scw_id"]: i for i, r in enumerate(rec["scws"])}
        lock = self._active[jid][1]

        def on_scw(i, n, status):
            row = status.to_dict()
            with lock:
                if row["scw_id"] in index:
                    rec["scws"][index[row["scw_id"]]] = row
                else:
                    index[row["scw_id"]] = len(rec["scws"])
                    rec["scws"].append(row)
                rec["n_done"], rec["n_total"] = i, max(n, rec["n_total"])
                self.jobs.write(rec)
            if progress:
                progress(rec)

        def end(**changes):
            with lock:
                rec.update(finished_at=time.time(), **changes)
                self.jobs.write(rec)
            if progress:
                progress(rec)

        try:
            res = run_product(query, progress=on_scw, cancel=lambda: self.jobs.cancel_requested(jid),
                              workers=self.workers)
        except Cancelled as exc:
            end(status="cancelled", message=str(exc))
            self.jobs.clear_cancel(jid)
            raise
        except QueryError as exc:
            end(status="failed", message=str(exc), error=exc.to_dict())
            raise
        except Exception as exc:
            # Say why without leaking paths or a traceback to users; the log has the rest.
            log.exception("job %s failed", jid)
            end(status="failed", message=f"internal error ({exc.__class__.__name__})")
            raise
        with lock:
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
                self._mark_dead(rec)
                raise QueryError("job_id", "the process computing this job stopped; submit again")
            time.sleep(poll)


_RUNNERS: dict[str, JobRunner] = {}
_RUNNERS_LOCK = forksafe.Lock()


def get_runner() -> JobRunner:
    """The process's runner for the configured cache (one per cache directory)."""
    root = str(get_settings().cache_dir / "jobs")
    with _RUNNERS_LOCK:
        if root not in _RUNNERS:
            _RUNNERS[root] = JobRunner(JobStore(root), max_parallel=int(os.environ.get("ODA_JOBS_PARALLEL", "1")))
        return _RUNNERS[root]
