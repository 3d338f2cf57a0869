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
from .product import IMAGE_FILES, ImageResult, image_result, load_image_result, store_image
from .types import SkyImages

__all__ = ["IMAGING_VERSION", "ScwStatus", "ImageResult", "make_image", "image_result", "load_image_result",
           "mean_pointing", "scw_image", "scw_part", "image_png", "warm_up",
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


def canonical_grid(ra0: float, dec0: float):
    """The largest mosaic grid of a target: every grid of that target is a window of it."""
    from .mosaic import mosaic_grid

    return mosaic_grid(ra0, dec0, [], margin_deg=90.0, max_size_deg=80.0)


def scw_part(scw_id: str, e1: float, e2: float, ra0: float, dec0: float, *, archive=None, store=None):
    """A ScW's image projected onto the canonical grid of the target at (ra0, dec0).

    Cached too (keyed by the ScW image key and the target), so a later mosaic of the same
    target that shares this ScW costs a load instead of a resampling. Returns
    ``(Projected | None, status, image meta)``.
    """
    from ..archive.store import get_archive
    from ..products.store import content_key, get_store
    from .mosaic import Projected, project

    archive = archive or get_archive()
    store = store or get_store()
    key = content_key("scw-proj", _scw_key(archive, scw_id, e1, e2), round(float(ra0), 6), round(float(dec0), 6),
                      "canonical-grid-80deg")
    hit = store.get(key)
    if hit is not None:
        arrays, meta = hit
        part = None if meta.get("empty") else Projected.from_arrays(arrays, meta)
        return part, RESTORED, meta.get("image_meta", {})
    img, status = scw_image(scw_id, e1, e2, archive=archive, store=store)
    wcs, shape = canonical_grid(ra0, dec0)
    part = project(img, wcs, shape)
    image_meta = {k: v for k, v in img.meta.items() if k != "iros_sources"}
    if part is None:
        store.put(key, meta={"empty": True, "image_meta": image_meta})
    else:
        arrays, meta = part.to_arrays()
        arrays = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in arrays.items()}
        store.put(key, arrays=arrays, meta={**meta, "image_meta": image_meta})
        # Mosaic what a later request restores (float32), so that a product is the same bytes
        # whether its ScWs were just calculated or restored.
        part = Projected.from_arrays(arrays, meta)
    return part, status, image_meta


def _part_task(scw_id: str, e1: float, e2: float, ra0: float, dec0: float, *, archive, store):
    """Per-ScW task of :func:`core.products.scw_runner.run_scws`: the part on the canonical grid."""
    part, status, meta = scw_part(scw_id, e1, e2, ra0, dec0, archive=archive, store=store)
    return (part, meta), status


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
    from ..sky.catalog import sky_model
    from .detect import detect_sources
    from .mosaic import MosaicBuilder, mosaic_grid

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
    ra0, dec0 = (query.RA, query.DEC) if np.isfinite(query.RA) else mean_pointing(sel.rows)
    wcs, shape = mosaic_grid(ra0, dec0, list(zip(sel.rows["ra_scx"], sel.rows["dec_scx"])))
    builder = MosaicBuilder(wcs, shape)
    e1, e2 = query.E1_keV, query.E2_keV
    # Offset of this grid inside the target's canonical grid (same centre and pixel).
    _, canon_shape = canonical_grid(ra0, dec0)
    dy = (shape[0] - 1) // 2 - (canon_shape[0] - 1) // 2
    dx = (shape[1] - 1) // 2 - (canon_shape[1] - 1) // 2

    def add(part, meta):
        if part is not None:
            builder.accumulate(part.shifted(dy, dx, shape), meta)
    workers = resolve_workers(workers)
    statuses = run_scws(_part_task, [(scw_id, (e1, e2, ra0, dec0)) for scw_id in ids], accept=lambda pm: add(*pm),
                        progress=progress, cancel=cancel, workers=workers, archive=archive, store=store)

    if builder.n_added == 0:
        reasons = {s.status for s in statuses}
        raise QueryError("scw_list" if query.scw_list else "T1", f"no ScW could be imaged ({'; '.join(sorted(reasons))[:300]})")
    images = builder.result()
    images.meta.update({"e1": e1, "e2": e2, "product_id": key, "query": query.to_params()})
    target = (query.src_name or "target", query.RA, query.DEC) if np.isfinite(query.RA) else None
    catalog = detect_sources(images, threshold=query.detection_threshold,
                             catalog=[(s.name, s.ra, s.dec) for s in sky_model()], target=target)
    return store_image(store, key, query, images, catalog, statuses)


def mean_pointing(rows) -> tuple[float, float]:
    from ..instrument.attitude import radec_to_unit, unit_to_radec

    v = radec_to_unit(rows["ra_scx"], rows["dec_scx"]).sum(axis=0)
    ra, dec = unit_to_radec(v)
    return float(ra), float(dec)


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


def cached_part(scw_id: str, e1: float, e2: float, ra0: float, dec0: float, *, archive=None, store=None):
    """A ScW's projected image as stored by :func:`scw_part`, without computing anything.

    Returns ``(Projected | None, image meta)`` or None when the part is not (yet) stored:
    the progressive mosaic (:mod:`core.imaging.progressive`) reads what a running job has
    finished so far.
    """
    from ..archive.store import get_archive
    from ..products.store import content_key, get_store
    from .mosaic import Projected

    archive = archive or get_archive()
    store = store or get_store()
    key = content_key("scw-proj", _scw_key(archive, scw_id, e1, e2), round(float(ra0), 6), round(float(dec0), 6),
                      "canonical-grid-80deg")
    hit = store.get(key)
    if hit is None:
        return None
    arrays, meta = hit
    return (None if meta.get("empty") else Projected.from_arrays(arrays, meta)), meta.get("image_meta", {})
