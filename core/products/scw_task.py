"""What a per-ScW task is, wherever it runs: its statuses, its result, its context in a worker.

Shared by the local runner (:mod:`core.products.scw_runner`) and the Dask runner
(:mod:`core.products.dask_runner`), so that a ScW is reported the same way on either.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RESTORED", "CALCULATED", "Cancelled", "ScwStatus", "failure", "worker_context", "run_task"]

RESTORED, CALCULATED = "restored from cache", "calculated"


class Cancelled(RuntimeError):
    """Raised when the caller's ``cancel()`` returns true between ScWs."""


@dataclass
class ScwStatus:
    scw_id: str
    status: str
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"scw_id": self.scw_id, "status": self.status, "seconds": round(self.seconds, 3)}


def failure(exc: Exception) -> str:
    """The status of a ScW whose task raised (no paths of the service in it)."""
    from ..errors import public_message

    return f"failed: {public_message(exc)}"


@functools.lru_cache(maxsize=8)
def worker_context(store_root: str, archive_dir: str, archive_mode: str):
    """The parent's store and archive, rebuilt once per worker process."""
    from dataclasses import replace as dc_replace

    from ..archive.store import Archive
    from ..config import get_settings
    from .store import ProductStore

    settings = dc_replace(get_settings(), archive_dir=Path(archive_dir), archive_mode=archive_mode)
    return Archive(settings), ProductStore(Path(store_root))


def run_task(task, scw_id: str, args: tuple, context: tuple[str, str, str]):
    """Runs in a worker (a local process or a Dask worker): the task on the caller's store and archive."""
    t0 = time.perf_counter()
    try:
        archive, store = worker_context(*context)
        payload, status = task(scw_id, *args, archive=archive, store=store)
        return scw_id, status, time.perf_counter() - t0, payload
    except Exception as exc:  # reported per ScW; the product goes on without it
        return scw_id, failure(exc), time.perf_counter() - t0, None
