"""Sky image / mosaic product: query → ScWs → per-ScW images (cached) → mosaic → sources.

Per-ScW images are keyed by (ScW, band, code and data versions) in the product store, so
an identical request decodes nothing and an overlapping one decodes only its new ScWs;
the finished mosaic and its files are keyed by the query's product id. Per-ScW work
(simulate if needed, read, decode, reproject onto the mosaic grid) runs in worker
processes; the parent only accumulates, so memory does not grow with the number of ScWs.

Progress is reported per ScW as ``restored from cache``, ``calculated`` or
``failed: <reason>``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import CODE_VERSION
from ..errors import QueryError
from ..products.scw_runner import CALCULATED, RESTORED, Cancelled, ScwStatus, pool, run_scws
from ..query import Query
from .parts import MosaicGrid, MosaicPlan, PartsMosaic, mosaic_centre, projected_part
from .product import IMAGE_FILES, ImageResult, image_result, load_image_result, store_image
from .types import SkyImages

__all__ = ["IMAGING_VERSION", "ISGRI_GRID", "ScwStatus", "ImageResult", "make_image", "image_result",
           "load_image_result", "mosaic_plan", "scw_image", "scw_part", "image_png", "warm_up",
           "canonical_grid", "Cancelled", "IMAGE_FILES"]

#: Bump when decoding or mosaicking changes the numbers.
IMAGING_VERSION = "2"


# -- per-ScW images ------------------------------------------------------------------------------
def _scw_key(archive, scw_id: str, e1: float, e2: float) -> str:
    from ..products.store import content_key

    return content_key("scw-image", scw_id, round(e1, 3), round(e2, 3), CODE_VERSION, IMAGING_VERSION,
                       archive.data_version(scw_id))


def scw_image(scw_id: str, e1: float, e2: float, *, archive=None, store=None) -> tuple[SkyImages, str]:
    """The decoded image of one ScW in one band, from the store or computed (and stored)."""
    from ..archive.store import get_archive
    from ..products.store import get_store
    from .scw_image import decode_scw

    archive = archive or get_archive()
    store = store or get_store()
    key = _scw_key(archive, scw_id, e1, e2)
    hit = store.get(key)
    if hit is not None:
        return SkyImages.from_arrays(*hit), RESTORED
    data = archive.read(scw_id)
    # IROS finds the sources from the data (peaks ≥ 6σ, PIF fits in detector space); it is not
    # handed the sky model, which on the simulated archive is the truth. The mosaic's
    # detection names what it finds from the catalogue.
    img = decode_scw(data, e1, e2, catalog=None)
    arrays, meta = img.to_arrays()
    store.put(key, arrays=arrays, meta=meta)
    return img, CALCULATED


#: ISGRI's grids: its own pixel, 15° about the pointings (the field to zero response), at most
#: 80°; the canonical grid's tag is part of the stored parts' keys (unchanged since they were
#: first stored).
ISGRI_GRID = MosaicGrid(tag="canonical-grid-80deg", margin_deg=15.0, max_size_deg=80.0)


def canonical_grid(ra0: float, dec0: float):
    """The largest mosaic grid of a target: every grid of that target is a window of it."""
    return ISGRI_GRID.canonical(ra0, dec0)


def scw_part(scw_id: str, e1: float, e2: float, ra0: float, dec0: float, *, archive=None, store=None):
    """A ScW's image projected onto the canonical grid of the target at (ra0, dec0).

    Cached too (:func:`core.imaging.parts.projected_part`: keyed by the ScW image key and the
    target), so a later mosaic of the same target that shares this ScW costs a load instead
    of a resampling. Returns ``(Projected | None, status, image meta)``.
    """
    from ..archive.store import get_archive
    from ..products.store import get_store

    archive = archive or get_archive()
    store = store or get_store()
    return projected_part(ISGRI_GRID, _scw_key(archive, scw_id, e1, e2),
                          lambda: scw_image(scw_id, e1, e2, archive=archive, store=store), ra0, dec0, store=store)


def _part_task(scw_id: str, e1: float, e2: float, ra0: float, dec0: float, *, archive, store):
    """Per-ScW task of :func:`core.products.scw_runner.run_scws`: the part on the canonical grid."""
    part, status, meta = scw_part(scw_id, e1, e2, ra0, dec0, archive=archive, store=store)
    return (part, meta), status


def mosaic_plan(query: Query, *, archive=None) -> MosaicPlan:
    """ISGRI's image product for ``query``: its grid, ScW image keys and source detection."""
    from ..archive.store import get_archive

    archive = archive or get_archive()
    e1, e2 = query.E1_keV, query.E2_keV

    def detect(images):
        from ..sky.catalog import sky_model
        from .detect import detect_sources

        target = (query.src_name or "target", query.RA, query.DEC) if np.isfinite(query.RA) else None
        return detect_sources(images, threshold=query.detection_threshold,
                              catalog=[(s.name, s.ra, s.dec) for s in sky_model()], target=target)

    return MosaicPlan(ISGRI_GRID, lambda scw_id: _scw_key(archive, scw_id, e1, e2), detect)


def _warm_worker(_: int) -> int:
    from . import decode, mosaic  # noqa: F401  (imports and first-call tables)

    decode.warm_tables()
    time.sleep(0.3)  # hold this worker so the next call lands on another one
    return os.getpid()


def warm_up(workers: int = 1) -> None:
    """Import the imaging stack here and in the worker pool, as a running service has.

    Called by servers at start-up (and by the benchmarks' "service" scenarios), so that the
    first request does not pay ~1 s of imports per process.
    """
    from . import decode, detect, mosaic, outputs  # noqa: F401

    if workers <= 1:
        decode.warm_tables()
    else:
        list(pool(workers).map(_warm_worker, range(workers)))


# -- the product -------------------------------------------------------------------------------
def make_image(query: Query, *, progress: Callable[[int, int, ScwStatus], None] | None = None,
               cancel: Callable[[], bool] | None = None, workers: int | None = None,
               archive=None, store=None) -> ImageResult:
    """Build (or restore) the mosaic, source list and files of an ``image`` query.

    Parameters
    ----------
    query : Query
        Validated query (band E1_keV–E2_keV, detection_threshold, selection parameters).
    progress : callable, optional
        ``progress(i, n, ScwStatus)`` after each ScW (i from 1).
    cancel : callable, optional
        Polled between ScWs; when it returns true :class:`Cancelled` is raised.
    workers : int, optional
        Worker processes for per-ScW work (default: ``ODA_WORKERS`` or 1 = in-process).
    """
    from ..archive.selection import check_limits
    from ..archive.store import get_archive
    from ..config import get_settings
    from ..products.store import get_store

    from ..instruments.base import get_instrument
    from ..products.maker import replay_progress, resolve_workers

    archive = archive or get_archive()
    store = store or get_store()
    check_limits(query, get_settings().max_scw)
    key = get_instrument(query.instrument).product_id(query, archive=archive)
    cached = load_image_result(store, key, query)
    if cached is not None:
        replay_progress(progress, cached.scws)
        return cached

    sel = archive.select(query)
    ids = [str(s) for s in sel.ids]
    ra0, dec0 = mosaic_centre(query, sel.rows)
    mosaic = PartsMosaic(ISGRI_GRID, ra0, dec0, list(zip(sel.rows["ra_scx"], sel.rows["dec_scx"])))
    e1, e2 = query.E1_keV, query.E2_keV
    workers = resolve_workers(workers)
    statuses = run_scws(_part_task, [(scw_id, (e1, e2, ra0, dec0)) for scw_id in ids],
                        accept=lambda pm: mosaic.add(*pm), progress=progress, cancel=cancel, workers=workers,
                        archive=archive, store=store)

    if mosaic.n_added == 0:
        reasons = {s.status for s in statuses}
        raise QueryError("scw_list" if query.scw_list else "T1", f"no ScW could be imaged ({'; '.join(sorted(reasons))[:300]})")
    images = mosaic.result()
    images.meta.update({"e1": e1, "e2": e2, "product_id": key, "query": query.to_params()})
    catalog = mosaic_plan(query, archive=archive).detect(images)
    return store_image(store, key, query, images, catalog, statuses)


def image_png(result: ImageResult, *, store=None, label: str = "ISGRI") -> Path:
    """The publication PNG of an image product, rendered on first request and cached.

    Rendering (matplotlib WCSAxes, ~0.3–0.7 s) is kept out of :func:`make_image`: most
    requests (API, interactive plots) never need it.
    """
    from ..products.store import content_key, get_store
    from .outputs import mosaic_png

    store = store or get_store()
    key = content_key("image-png", result.product_id)
    path = store.file(key, "mosaic.png")
    if path is not None:
        return path
    import tempfile

    n_ok = sum(not s.status.startswith("failed") for s in result.scws)
    title = f"{label} {result.query.E1_keV:g}–{result.query.E2_keV:g} keV, {n_ok} ScWs"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mosaic.png"
        mosaic_png(result.images, result.catalog, out, title=title)
        entry = store.put(key, files={"mosaic.png": out.read_bytes()}, meta={"product_id": result.product_id})
    return entry / "mosaic.png"
