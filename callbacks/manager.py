"""The background-callback manager, chosen by configuration.

* default: ``DiskcacheManager`` on a private (0700) directory ``$ODA_CACHE_DIR/dash-jobs``
  (one host; several gunicorn workers share it);
* ``ODA_CELERY_BROKER`` set (e.g. ``redis://localhost:6379/0``): ``CeleryManager`` with that
  broker and ``ODA_CELERY_BACKEND`` (default: the broker) as result backend; start workers
  with ``celery -A app:celery_app worker``.

Either way the callbacks hold only job ids and small JSON; products live in the product store.
The diskcache holds JSON only (:class:`JsonDisk`): diskcache's default ``Disk`` pickles any
value that is not a plain str/bytes/number, and its unpickling path has an open CVE.

Cancelling: Dash's ``DiskcacheManager`` kills whatever process id a (signed) ``oldJob``
handle names. :class:`OwnJobsManager` signals only processes this deployment started for
its page jobs: each job process is recorded when it starts (pid, start time, owner uid) in
the shared cache, and a pid that is not in that record, was reused by another process since
(start time differs) or belongs to another user is left alone, whatever the request says.
Job processes also exit when the server that started them dies (:func:`core._worker_init.exit_with_parent`).
"""

from __future__ import annotations

import functools
import os

__all__ = ["background_manager", "JsonDisk", "OwnJobsManager"]

REGISTRY_PREFIX = "oda-own-job:"
#: How long a job process stays cancellable (longer jobs keep running, they just cannot be killed).
REGISTRY_TTL_S = 7 * 86400.0


@functools.lru_cache(maxsize=None)
def _json_disk_class():
    import json
    import zlib

    import diskcache
    from plotly.utils import PlotlyJSONEncoder

    class JsonDisk(diskcache.JSONDisk):
        """diskcache values as zlib-compressed JSON (Plotly's encoder: figures, numpy, no_update)."""

        def store(self, value, read, key=diskcache.core.UNKNOWN):
            if not read:
                value = zlib.compress(json.dumps(value, cls=PlotlyJSONEncoder).encode("utf-8"), self.compress_level)
            return diskcache.Disk.store(self, value, read, key=key)

        def get(self, key, raw):
            if not raw:  # a key stored by pickling (only a planted row could be): refuse
                raise ValueError("pickled key in a JSON-only cache")
            return super().get(key, raw)

        def fetch(self, mode, filename, value, read):
            if mode == diskcache.core.MODE_PICKLE:  # never written by this class: refuse, do not unpickle
                raise ValueError("pickled entry in a JSON-only cache")
            data = diskcache.Disk.fetch(self, mode, filename, value, read)
            return data if read else json.loads(zlib.decompress(data).decode("utf-8"))

    return JsonDisk


def _guarded_job(job_fn, parent_pid: int, *args):
    """Body of a page-job process: leave with the server, then run Dash's job function."""
    from core._worker_init import exit_with_parent

    exit_with_parent(parent_pid)
    job_fn(*args)


@functools.lru_cache(maxsize=None)
def _own_jobs_manager_class():
    import logging

    import psutil
    from dash import DiskcacheManager

    log = logging.getLogger("oda.jobs")

    class OwnJobsManager(DiskcacheManager):
        """``DiskcacheManager`` that only ever signals the job processes it started."""

        def call_job_fn(self, key, job_fn, args, context):
            from multiprocess import Process

            process = Process(target=_guarded_job,
                              args=(job_fn, os.getpid(), key, self._make_progress_key(key), args, context))
            process.start()
            try:
                created = psutil.Process(process.pid).create_time()
            except psutil.Error:  # already gone: nothing to cancel later
                return process.pid
            self.handle.set(f"{REGISTRY_PREFIX}{process.pid}",
                            {"create_time": created, "uid": os.getuid(), "parent": os.getpid()},
                            expire=REGISTRY_TTL_S)
            return process.pid

        def own_process(self, job):
            """The psutil process of one of our job processes, or None for anything else."""
            try:
                pid = int(str(job))
            except (TypeError, ValueError):
                return None
            if pid <= 1 or pid == os.getpid():
                return None
            rec = self.handle.get(f"{REGISTRY_PREFIX}{pid}")
            if not isinstance(rec, dict) or not isinstance(rec.get("create_time"), (int, float)):
                return None
            try:
                proc = psutil.Process(pid)
                if abs(proc.create_time() - rec["create_time"]) > 0.05 or proc.uids().real != os.getuid():
                    return None  # the pid was reused by another process
            except psutil.Error:
                return None
            return proc

        def terminate_job(self, job):
            if job is None:
                return
            proc = self.own_process(job)
            if proc is None:
                log.warning("refused to signal process %r: not a job process of this app", str(job)[:20])
                return
            with self.handle.transact():
                for child in proc.children(recursive=True):
                    try:
                        child.kill()
                    except psutil.Error:
                        pass
                try:
                    proc.kill()
                    proc.wait(1)
                except (psutil.Error, psutil.TimeoutExpired):
                    pass
                self.handle.delete(f"{REGISTRY_PREFIX}{proc.pid}")

        def terminate_unhealthy_job(self, job):
            proc = self.own_process(job)
            if proc is not None and not self.job_running(job):
                self.terminate_job(job)
                return True
            return False

        def job_running(self, job):
            proc = self.own_process(job)
            try:
                return proc is not None and proc.status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                return False

    return OwnJobsManager


def __getattr__(name):  # JsonDisk / OwnJobsManager without importing diskcache and dash at import
    if name == "JsonDisk":
        return _json_disk_class()
    if name == "OwnJobsManager":
        return _own_jobs_manager_class()
    raise AttributeError(name)


def background_manager():
    """(manager, celery_app or None) for the configured backend."""
    from server.celery_jobs import get_celery

    celery_app = get_celery()  # ODA_CELERY_BROKER: one Celery app for page and API jobs
    if celery_app is not None:
        from dash import CeleryManager

        return CeleryManager(celery_app), celery_app
    import diskcache

    from core.config import ensure_private_dir, get_settings

    root = ensure_private_dir(get_settings().cache_dir / "dash-jobs")
    cache = diskcache.Cache(str(root), size_limit=int(256e6), disk=_json_disk_class())
    return _own_jobs_manager_class()(cache), None
