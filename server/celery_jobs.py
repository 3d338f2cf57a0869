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

__all__ = ["broker_url", "get_celery", "run_job", "enqueue", "queued_alive", "queue_length", "task_name", "QUEUE_OWNER"]

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
    app.task(name="oda.run_job", bind=False)(_run_job)
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


def task_name(job_id: str) -> str:
    """A new Celery task id for the job: ``<job id>-<nonce>`` (a resubmitted job is a new task,
    whose state is not the old one's)."""
    import uuid

    return f"{job_id}-{uuid.uuid4().hex[:8]}"


def enqueue(params: dict, job_id: str, task_id: str) -> None:
    """Send the job to the workers as task ``task_id``."""
    run_job().apply_async(args=[params, job_id], task_id=task_id)


#: A worker takes over a job's record within milliseconds of starting it; a record still owned by
#: the queue this long after its task started belongs to a worker that died in between.
TAKEOVER_S = 60.0


def queued_alive(task_id: str, updated_at: float) -> bool:
    """True while the broker still holds the queued task (pending or received), or a worker
    has just started it."""
    import time

    app = get_celery()
    if app is None:
        return False
    try:
        state = app.AsyncResult(task_id).state
    except Exception:  # the broker is unreachable: the queue cannot vouch for the job
        return False
    if state == "STARTED":
        return time.time() - updated_at < TAKEOVER_S
    return state in ("PENDING", "RECEIVED", "RETRY")


def queue_length() -> int:
    """Jobs waiting in the broker's default queue (0 when it cannot tell)."""
    app = get_celery()
    if app is None:
        return 0
    try:
        with app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(queue=app.conf.task_default_queue, passive=True)
                       .message_count)
    except Exception:  # an unreachable broker: enqueue reports the error
        return 0
