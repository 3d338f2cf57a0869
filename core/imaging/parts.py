"""Per-ScW images projected once onto a target's canonical grid, stored, and co-added from there.

A mosaic's cost per ScW is the resampling of its image onto the mosaic grid. The grids that
:func:`core.imaging.mosaic.mosaic_grid` makes for one target (same centre, same pixel) differ
only by an integer offset: every one is a window of the largest, the target's *canonical
grid*. So each ScW image is resampled once onto the canonical grid, the result (a
:class:`~core.imaging.mosaic.Projected`) is stored under the image's key and the target,
and every later mosaic of that target — another band of detection threshold, more or fewer
ScWs, a progressive frame of a running job — costs a load and a co-addition.

Instrument-free: an instrument says how its images go onto grids with a :class:`MosaicGrid`
(pixel, margin about the pointings, largest size, whether its pixels' noise is correlated)
and, for the image product and its progressive frames, a :class:`MosaicPlan` (that grid,
the store key of a ScW's decoded image, the product's source detection).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..products.scw_task import RESTORED
from .types import SkyImages

__all__ = ["MosaicGrid", "MosaicPlan", "PartsMosaic", "projected_part", "stored_part", "mosaic_centre"]


@dataclass(frozen=True)
class MosaicGrid:
    """How one instrument's ScW images go onto mosaic grids.

    Attributes
    ----------
    tag : str
        Names the canonical grid in the stored parts' keys (change it when the grid changes).
    pixel_deg : float or None
        Grid pixel; None: :func:`~core.imaging.mosaic.mosaic_grid`'s default (ISGRI's).
    margin_deg : float
        Field added about the extreme pointings of a query's grid.
    max_size_deg : float
        Largest width and height of a grid: the canonical grid's size.
    correlated_noise : bool
        Resample with the noise correlation of each image's adjacent pixels
        (:func:`~core.imaging.mosaic.noise_correlation`, the ``pixel_correlation`` of
        :func:`~core.imaging.mosaic.project`).
    """

    tag: str
    pixel_deg: float | None = None
    margin_deg: float = 15.0
    max_size_deg: float = 80.0
    correlated_noise: bool = False

    def canonical(self, ra0: float, dec0: float):
        """``(wcs, shape)`` of the target's largest grid: every grid of :meth:`query_grid` is a window of it."""
        from .mosaic import mosaic_grid

        return mosaic_grid(ra0, dec0, [], pixel_deg=self.pixel_deg, margin_deg=90.0, max_size_deg=self.max_size_deg)

    def query_grid(self, ra0: float, dec0: float, pointings):
        """``(wcs, shape)`` of a mosaic about (ra0, dec0) covering the fields of ``pointings`` (RA, Dec)."""
        from .mosaic import mosaic_grid

        return mosaic_grid(ra0, dec0, pointings, pixel_deg=self.pixel_deg, margin_deg=self.margin_deg,
                           max_size_deg=self.max_size_deg)

    def offset(self, ra0: float, dec0: float, shape) -> tuple[int, int]:
        """(dy, dx): pixel (y, x) of the canonical grid is pixel (y + dy, x + dx) of a grid of ``shape``."""
        _, canon = self.canonical(ra0, dec0)
        return (int(shape[0]) - 1) // 2 - (canon[0] - 1) // 2, (int(shape[1]) - 1) // 2 - (canon[1] - 1) // 2

    def part_key(self, image_key: str, ra0: float, dec0: float) -> str:
        from ..products.store import content_key

        return content_key("scw-proj", image_key, round(float(ra0), 6), round(float(dec0), 6), self.tag)


@dataclass(frozen=True)
class MosaicPlan:
    """What an instrument's image product co-adds and detects, for one query.

    ``image_key(scw_id)`` is the store key of the ScW's decoded image (the parts are stored
    under it); ``detect(images)`` the product's source detection on a mosaic.
    """

    grid: MosaicGrid
    image_key: Callable[[str], str]
    detect: Callable[[SkyImages], object]


def _part_from_entry(arrays: dict, meta: dict):
    from .mosaic import Projected

    return None if meta.get("empty") else Projected.from_arrays(arrays, meta)


def stored_part(grid: MosaicGrid, image_key: str, ra0: float, dec0: float, *, store):
    """A ScW's stored part on the canonical grid of (ra0, dec0), computing nothing.

    Returns ``(Projected | None, image meta)`` (None part: the image misses the grid), or
    None when the part is not (yet) stored.
    """
    hit = store.get(grid.part_key(image_key, ra0, dec0))
    if hit is None:
        return None
    arrays, meta = hit
    return _part_from_entry(arrays, meta), meta.get("image_meta", {})


def projected_part(grid: MosaicGrid, image_key: str, image: Callable[[], tuple[SkyImages, str]],
                   ra0: float, dec0: float, *, store):
    """A ScW's image projected onto the canonical grid of the target at (ra0, dec0), stored.

    Parameters
    ----------
    grid : MosaicGrid
        The instrument's grids and projection options.
    image_key : str
        Store key of the ScW's decoded image: the part's key is made from it and the target.
    image : callable
        ``image() -> (SkyImages, status)``, the decoded image, restored or computed; called
        only when the part is not stored.

    Returns
    -------
    (Projected | None, status, image meta)
        ``status`` is ``restored from cache`` when the part was stored, else the image's.
    """
    from .mosaic import noise_correlation, project

    key = grid.part_key(image_key, ra0, dec0)
    hit = store.get(key)
    if hit is not None:
        arrays, meta = hit
        return _part_from_entry(arrays, meta), RESTORED, meta.get("image_meta", {})
    img, status = image()
    wcs, shape = grid.canonical(ra0, dec0)
    # Correlated pixel noise (detector resolution, decoding): the resampling propagates the
    # variance with the correlation measured on this image.
    corr = noise_correlation(img.significance) if grid.correlated_noise else None
    part = project(img, wcs, shape, pixel_correlation=corr)
    image_meta = {k: v for k, v in img.meta.items() if k != "iros_sources"}
    if part is None:
        store.put(key, meta={"empty": True, "image_meta": image_meta})
        return None, status, image_meta
    arrays, meta = part.to_arrays()
    arrays = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in arrays.items()}
    store.put(key, arrays=arrays, meta={**meta, "image_meta": image_meta})
    # Mosaic what a later request restores (float32), so that a product is the same bytes
    # whether its ScWs were just calculated or restored.
    return _part_from_entry(arrays, meta), status, image_meta


class PartsMosaic:
    """A mosaic on a query's grid co-added from parts on the target's canonical grid.

    ``wcs``, ``shape``: the query's grid (:meth:`MosaicGrid.query_grid`); :meth:`add` takes
    what :func:`projected_part` / :func:`stored_part` give; ``builder`` is the
    :class:`~core.imaging.mosaic.MosaicBuilder` (``n_added``, ``result()``).
    """

    def __init__(self, grid: MosaicGrid, ra0: float, dec0: float, pointings):
        from .mosaic import MosaicBuilder

        self.wcs, self.shape = grid.query_grid(ra0, dec0, pointings)
        self._dy, self._dx = grid.offset(ra0, dec0, self.shape)
        self.builder = MosaicBuilder(self.wcs, self.shape)

    def add(self, part, meta: dict | None = None) -> bool:
        """Co-add one canonical-grid part (None, or a part off this grid: nothing added)."""
        if part is None:
            return False
        return self.builder.accumulate(part.shifted(self._dy, self._dx, self.shape), meta)

    @property
    def n_added(self) -> int:
        return self.builder.n_added

    def result(self) -> SkyImages:
        return self.builder.result()


def mosaic_centre(query, rows) -> tuple[float, float]:
    """Centre of a query's mosaic: its position, else the mean pointing of its ScWs."""
    if math.isfinite(query.RA):
        return float(query.RA), float(query.DEC)
    from ..instrument.attitude import radec_to_unit, unit_to_radec

    ra, dec = unit_to_radec(radec_to_unit(rows["ra_scx"], rows["dec_scx"]).sum(axis=0))
    return float(ra), float(dec)
