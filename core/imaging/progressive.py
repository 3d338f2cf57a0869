"""Progressive mosaic: the image of a running job from the ScWs it has finished so far.

The per-ScW images projected on the target's canonical grid are stored
(:func:`core.imaging.parts.projected_part`) as each ScW finishes, whatever the instrument;
co-adding the stored ones on the query's mosaic grid gives the mosaic as it stands, with
its sources. Nothing is computed for a ScW that is not finished, and nothing here is
stored: the finished job writes the real product.

>>> frame = partial_mosaic(query, ["005600620010"])   # doctest: +SKIP
>>> frame.n_scw, len(frame.catalog)                    # doctest: +SKIP
(1, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..query import Query
from .types import SkyImages

__all__ = ["PartialMosaic", "partial_mosaic"]


@dataclass
class PartialMosaic:
    images: SkyImages
    catalog: object          # astropy Table (ISGR-SRCL-RES / JMXn-SRCL-RES columns), as the product's
    scw_ids: list[str]       # the ScWs co-added

    @property
    def n_scw(self) -> int:
        return len(self.scw_ids)


def partial_mosaic(query: Query, finished, *, archive=None, store=None) -> PartialMosaic | None:
    """The mosaic of an image query from the stored parts of the ``finished`` ScW ids.

    Same grid, co-addition and source detection as the instrument's image product (its
    :meth:`~core.instruments.base.Instrument.mosaic_plan`); ScWs not yet stored are skipped.
    None when no finished ScW touches the grid, or the instrument makes no mosaics.
    """
    from ..archive.store import get_archive
    from ..instruments.base import get_instrument
    from ..products.store import get_store
    from .parts import PartsMosaic, mosaic_centre, stored_part

    archive = archive or get_archive()
    store = store or get_store()
    plan = get_instrument(query.instrument).mosaic_plan(query, archive=archive)
    if plan is None:
        return None
    sel = archive.select(query)
    ids = [str(s) for s in sel.ids]
    ra0, dec0 = mosaic_centre(query, sel.rows)
    mosaic = PartsMosaic(plan.grid, ra0, dec0, list(zip(sel.rows["ra_scx"], sel.rows["dec_scx"])))
    done = {str(s) for s in finished}
    used = []
    for scw_id in ids:  # the job's order, so frames only ever add ScWs
        if scw_id not in done:
            continue
        hit = stored_part(plan.grid, plan.image_key(scw_id), ra0, dec0, store=store)
        if hit is not None and mosaic.add(*hit):
            used.append(scw_id)
    if mosaic.n_added == 0:
        return None
    images = mosaic.result()
    images.meta.update({"e1": query.E1_keV, "e2": query.E2_keV, "partial": True, "scws_done": used})
    return PartialMosaic(images, plan.detect(images), used)
