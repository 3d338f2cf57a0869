"""The skeleton every product maker shares, whatever the instrument.

A maker (ISGRI or JEM-X image, spectrum, light curve; spectral fit) does::

    check limits → product id → restored from the store? (progress replayed) → select ScWs
    → per-ScW tasks (restored from the store or computed, in this process, worker processes
      or Dask: :func:`core.products.scw_runner.run_scws`; progress; cancel) → fold
    → files → stored product

:func:`make_product` does the first and last steps and calls the instrument's ``build``
for the middle; :func:`cached_scw` is the per-ScW "restore or compute and store" step of
the tasks; :func:`store_product` / :func:`load_stored` write and read the finished product
(summary JSON + files, no arrays). Nothing here knows an instrument.
"""

from __future__ import annotations

import json
import math
import os
from typing import Callable

import numpy as np

from ..errors import QueryError
from .result import ProductResult
from .scw_runner import CALCULATED, RESTORED, ScwStatus, run_scws

__all__ = ["make_product", "replay_progress", "cached_scw", "store_product", "load_stored", "no_data_error",
           "clean", "resolve_workers", "run_scws"]

Build = Callable[..., ProductResult]


def resolve_workers(workers: int | None) -> int:
    """Worker processes for per-ScW work: the argument, else ``ODA_WORKERS``, else 1."""
    return max(1, int(workers or os.environ.get("ODA_WORKERS", "1")))


def replay_progress(progress, scws) -> None:
    """Report a restored product's ScWs as a computed one reports them."""
    if progress:
        for i, s in enumerate(scws, 1):
            progress(i, len(scws), s)


def make_product(instrument, query, build: Build, *, progress=None, cancel=None, workers=None, archive=None,
                 store=None) -> ProductResult:
    """Restore the product of ``query`` or ``build`` it.

    ``build(query, pid, progress=, cancel=, workers=, archive=, store=) -> ProductResult``
    does the instrument's part (selection, per-ScW tasks, fold, files, :func:`store_product`).
    """
    from ..archive.selection import check_limits
    from ..archive.store import get_archive
    from ..config import get_settings
    from .store import get_store

    archive = archive or get_archive()
    store = store or get_store()
    check_limits(query, get_settings().max_scw)
    pid = instrument.product_id(query, archive=archive)
    hit = instrument.load(pid, query, store=store)
    if hit is not None:
        replay_progress(progress, hit.scws)
        return hit
    return build(query, pid, progress=progress, cancel=cancel, workers=resolve_workers(workers), archive=archive,
                 store=store)


def cached_scw(store, key: str, compute: Callable[[], tuple[dict, dict]]):
    """One ScW's result under ``key``: from the store, or ``compute() -> (arrays, meta)`` and
    stored. Returns ``((arrays, meta), RESTORED | CALCULATED)`` as :func:`run_scws` tasks do."""
    hit = store.get(key)
    if hit is not None:
        return hit, RESTORED
    arrays, meta = compute()
    store.put(key, arrays=arrays, meta=meta)
    return (arrays, meta), CALCULATED


def no_data_error(statuses, query, what: str = "analysed") -> QueryError:
    """The error of a product none of whose ScWs gave data (their reasons quoted)."""
    reasons = sorted({s.status for s in statuses})
    return QueryError("scw_list" if query.scw_list else "T1", f"no ScW could be {what} ({'; '.join(reasons)[:300]})")


def clean(obj):
    """JSON-safe copy: NaN/inf → None, numpy scalars and arrays → Python."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def store_product(store, pid: str, query, statuses, summary: dict, files: dict[str, bytes], *,
                  data=None) -> ProductResult:
    """Store a finished spectrum / lc / fit product (its summary, ScWs and files, plus
    ``result.json``) and return it."""
    summary = dict(summary, scws=[s.to_dict() for s in statuses])
    files = dict(files)
    files["result.json"] = json.dumps(clean({"product_id": pid, "query": query.to_params(), **summary}),
                                      indent=1).encode()
    meta = {"query": query.to_params(), "product_type": query.product_type, "summary": clean(summary),
            "scws": [s.to_dict() for s in statuses]}
    path = store.put(pid, meta=meta, files=files)
    return ProductResult(pid, query.product_type, query, list(statuses), {n: path / n for n in files},
                         meta["summary"], False, data)


def load_stored(pid: str, query, *, store=None) -> ProductResult | None:
    """A product written by :func:`store_product` (None if absent or not such a product)."""
    from .store import get_store

    store = store or get_store()
    hit = store.get(pid)
    if hit is None:
        return None
    _, meta = hit
    if "summary" not in meta:
        return None
    files = {name: store.path(pid) / name for name in store.files(pid)}
    scws = [ScwStatus(d["scw_id"], RESTORED if not d["status"].startswith("failed") else d["status"], 0.0)
            for d in meta.get("scws", [])]
    return ProductResult(pid, meta.get("product_type", query.product_type), query, scws, files, meta["summary"],
                         True, None)
