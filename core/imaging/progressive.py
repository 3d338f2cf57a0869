"""Progressive mosaic: the image of a running job from the ScWs it has finished so far.

The per-ScW images projected on the target's canonical grid are stored by
:func:`core.imaging.pipeline.scw_part` as each ScW finishes; co-adding the stored ones on the
query's mosaic grid gives the mosaic as it stands, with its sources. Nothing is computed
for a ScW that is not finished, and nothing here is stored: the finished job writes the
real product.

>>> frame = partial_mosaic(query, ["005600620010"])   # doctest: +SKIP
>>> frame.n_scw, len(frame.catalog)                    # doctest: +SKIP
(1, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..query import Query
from .types import SkyImages

__all__ = ["PartialMosaic", "partial_mosaic"]


@dataclass
class PartialMosaic:
    images: SkyImages
    catalog: object          # astropy Table (ISGR-SRCL-RES columns), as the finished product's
    scw_ids: list[str]       # the ScWs co-added

    @property
    def n_scw(self) -> int:
        return len(self.scw_ids)


def _centre(query: Query, rows) -> tuple[float, float]:
    if np.isfinite(query.RA):
        return float(query.RA), float(query.DEC)
    from ..instrument.attitude import radec_to_unit, unit_to_radec

    ra, dec = unit_to_radec(radec_to_unit(rows["ra_scx"], rows["dec_scx"]).sum(axis=0))
    return float(ra), float(dec)


def partial_mosaic(query: Query, finished, *, archive=None, store=None) -> PartialMosaic | None:
    """The mosaic of an image query from the stored parts of the ``finished`` ScW ids.

    Same grid, co-addition and source detection as :func:`core.imaging.pipeline.make_image`;
    ScWs not yet stored are skipped. None when no finished ScW touches the grid.
    """
    from ..archive.store import get_archive
    from ..products.store import get_store
    from ..sky.catalog import sky_model
    from .detect import detect_sources
    from .mosaic import MosaicBuilder, mosaic_grid
    from .pipeline import cached_part, canonical_grid

    if query.instrument != "isgri":
        return None  # only ISGRI stores its per-ScW parts on the target's canonical grid
    archive = archive or get_archive()
    store = store or get_store()
    sel = archive.select(query)
    ids = [str(s) for s in sel.ids]
    ra0, dec0 = _centre(query, sel.rows)
    wcs, shape = mosaic_grid(ra0, dec0, list(zip(sel.rows["ra_scx"], sel.rows["dec_scx"])))
    _, canon_shape = canonical_grid(ra0, dec0)
    dy = (shape[0] - 1) // 2 - (canon_shape[0] - 1) // 2
    dx = (shape[1] - 1) // 2 - (canon_shape[1] - 1) // 2
    builder = MosaicBuilder(wcs, shape)
    done = {str(s) for s in finished}
    used = []
    for scw_id in ids:  # the job's order, so frames only ever add ScWs
        if scw_id not in done:
            continue
        hit = cached_part(scw_id, query.E1_keV, query.E2_keV, ra0, dec0, archive=archive, store=store)
        if hit is None:
            continue
        part, meta = hit
        if part is not None and builder.accumulate(part.shifted(dy, dx, shape), meta):
            used.append(scw_id)
    if builder.n_added == 0:
        return None
    images = builder.result()
    images.meta.update({"e1": query.E1_keV, "e2": query.E2_keV, "partial": True, "scws_done": used})
    target = (query.src_name or "target", query.RA, query.DEC) if np.isfinite(query.RA) else None
    catalog = detect_sources(images, threshold=query.detection_threshold,
                             catalog=[(s.name, s.ra, s.dec) for s in sky_model()], target=target)
    return PartialMosaic(images, catalog, used)
