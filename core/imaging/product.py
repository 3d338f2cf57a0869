"""The image product of any coded-mask instrument: its typed result, files and store entry.

Instrument-free: the instrument's FITS naming (:class:`core.instruments.base.FitsNaming`)
names the mosaic and source-list extensions.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..products.scw_task import RESTORED, ScwStatus
from ..query import Query
from .types import SkyImages

__all__ = ["IMAGE_FILES", "ImageResult", "image_result", "load_image_result", "store_image", "image_files"]

#: Files of an image product, as stored and as written by ``python -m core image --out``.
IMAGE_FILES = ("mosaic.fits", "catalog.fits", "catalog.ecsv", "sources.reg", "result.json")


@dataclass
class ImageResult:
    product_id: str
    query: Query
    images: SkyImages
    catalog: object                  # astropy Table (ISGR-SRCL-RES or JMXn-SRCL-RES columns)
    scws: list[ScwStatus]
    files: dict[str, Path] = field(default_factory=dict)
    from_cache: bool = False


def image_result(res: ImageResult):
    """An image product as the :class:`~core.products.result.ProductResult` every front end takes."""
    from ..products.result import ProductResult, image_summary

    return ProductResult(res.product_id, "image", res.query, res.scws, dict(res.files), image_summary(res),
                         res.from_cache, res)


def load_image_result(store, key: str, query: Query) -> ImageResult | None:
    """An image product from the store (None when absent; an unreadable one is discarded)."""
    from astropy.table import Table

    hit = store.get(key)
    if hit is None:
        return None
    arrays, meta = hit
    if "images" not in meta:
        return None
    files = {name: store.path(key) / name for name in store.files(key)}
    try:
        catalog = Table.read(files["catalog.ecsv"], format="ascii.ecsv")
    except (KeyError, OSError, ValueError):
        store.discard(key)
        return None
    images = SkyImages.from_arrays(arrays, meta["images"])
    scws = [ScwStatus(d["scw_id"], RESTORED, 0.0) for d in meta["scws"] if not d["status"].startswith("failed")]
    scws += [ScwStatus(d["scw_id"], d["status"], 0.0) for d in meta["scws"] if d["status"].startswith("failed")]
    return ImageResult(key, query, images, catalog, scws, files, from_cache=True)


def image_files(images, catalog, query, statuses, key, *, naming=None) -> dict[str, bytes]:
    """Render the product files in memory (the store writes them atomically)."""
    from ..products.reproduce import reproduce_command
    from .mosaic import write_mosaic_fits
    from .outputs import write_catalog_ecsv, write_catalog_fits, write_region_file

    out: dict[str, bytes] = {}
    command = reproduce_command(query)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_mosaic_fits(images, tmp / "mosaic.fits", query_params=query.to_params(), command=command, naming=naming)
        write_catalog_fits(catalog, tmp / "catalog.fits", naming=naming)
        write_catalog_ecsv(catalog, tmp / "catalog.ecsv")
        write_region_file(catalog, tmp / "sources.reg")
        for name in ("mosaic.fits", "catalog.fits", "catalog.ecsv", "sources.reg"):
            out[name] = (tmp / name).read_bytes()
    summary = {"product_id": key, "query": query.to_params(), "command": command,
               "scws": [s.to_dict() for s in statuses], "n_sources": len(catalog)}
    out["result.json"] = json.dumps(summary, indent=1).encode()
    return out


def store_image(store, key: str, query: Query, images, catalog, statuses, *, naming=None) -> ImageResult:
    """Write an image product's files and arrays to the store; the result it now holds."""
    files = image_files(images, catalog, query, statuses, key, naming=naming)
    arrays, img_meta = images.to_arrays()
    meta = {"images": img_meta, "scws": [s.to_dict() for s in statuses], "query": query.to_params(),
            "n_sources": len(catalog)}
    path = store.put(key, arrays=arrays, meta=meta, files=files)
    return ImageResult(key, query, images, catalog, statuses, {n: path / n for n in files}, from_cache=False)
