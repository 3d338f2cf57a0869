"""Jobs on Celery (with Redis) when ``ODA_CELERY_BROKER`` is set.

One Celery application serves both kinds of background work, so one pool of workers runs
them all (``celery -A app:celery_app worker``, started in the checkout):

* the page's background callbacks (Dash's ``CeleryManager``, :mod:`callbacks.manager`);
* the API's jobs: :meth:`server.jobs.JobRunner.submit` enqueues :func:`run_job` instead of
  starting a thread, so a job outlives the web process that submitted it.

The job's state stays where it always is, in the job store on the shared filesystem: the
worker computing it owns its record (pid and heartbeat), a cancel is the store's flag, and
an identical job submitted from two web processes is enqueued once (the store's per-job lock
and the "alive" check). While a job waits in the queue its record is owned by the queue: it
is alive as long as the broker knows the task (pending, received, started).

Messages and results are JSON only (``accept_content=["json"]``): a pickled message from the
broker is refused, never loaded.
"""

from __future__ import annotations

import functools
import os

__all__ = ["broker_url", "get_celery", "run_job", "enqueue", "queued_alive", "QUEUE_OWNER"]

#: ``owner["host"]`` of a record whose job waits in the Celery queue.
QUEUE_OWNER = "celery-queue"


def broker_url() -> str | None:
    url = os.environ.get("ODA_CELERY_BROKER", "").strip()
    return url or None


@functools.lru_cache(maxsize=1)
def get_celery():
    """The deployment's Celery application (None when ``ODA_CELERY_BROKER`` is unset)."""
    broker = broker_url()
    if not broker:
        return None
    from celery import Celery

    app = Celery("oda", broker=broker, backend=os.environ.get("ODA_CELERY_BACKEND", "").strip() or broker)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    result_accept_content=["json"], task_track_started=True, worker_prefetch_multiplier=1,
                    # A job is one long task: acknowledge it when it starts, so that a worker killed
                    # mid-job leaves it failed (the record says so) rather than re-running it unasked.
                    task_acks_late=False, broker_connection_retry_on_startup=True,
                    worker_hijack_root_logger=False)
    app.task(name="oda.run_job", bind=False, ignore_result=True)(_run_job)
    return app


def _run_job(params: dict, job_id: str) -> None:
    """Celery task: compute the product in this worker, recording progress in the job store."""
    from core.query import Query

    from .jobs import get_runner

    query = Query.from_params(params)
    get_runner().run_celery_job(query, job_id)


def run_job():
    """The registered task (for ``apply_async``)."""
    return get_celery().tasks["oda.run_job"]


def enqueue(params: dict, job_id: str) -> None:
    """Send the job to the workers; the task id is the job id."""
    run_job().apply_async(args=[params, job_id], task_id=job_id)


def queued_alive(job_id: str) -> bool:
    """True while the broker still has the queued task (pending, received or started)."""
    app = get_celery()
    if app is None:
        return False
    try:
        state = app.AsyncResult(job_id).state
    except Exception:  # the broker is unreachable: the queue cannot vouch for the job
        return False
    return state in ("PENDING", "RECEIVED", "STARTED", "RETRY")
