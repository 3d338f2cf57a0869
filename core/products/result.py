"""What every product is once made: :class:`ProductResult`, whatever the instrument or type.

Instrument-free: the figure is drawn by the registered instrument of the query
(:meth:`core.instruments.base.Instrument.png`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..query import Query
from .scw_task import ScwStatus

__all__ = ["ProductResult", "image_summary"]


@dataclass
class ProductResult:
    """A finished product, whatever its type."""

    product_id: str
    product_type: str
    query: Query
    scws: list[ScwStatus]
    files: dict[str, Path]
    summary: dict
    from_cache: bool = False
    #: The typed result of the product's module: an ImageResult for images; the FitResult of a
    #: spectral fit computed in this call; None for spectra, light curves and restored fits
    #: (everything they hold is in ``summary`` and ``files``).
    data: object = field(default=None, repr=False)

    def png(self, name: str | None = None) -> Path:
        """Path of the publication PNG (rendered and cached on first call).

        ``name`` picks a source for spectra and light curves (default: the first).
        """
        from ..instruments.base import get_instrument

        return get_instrument(self.query.instrument).png(self, name)

    def to_dict(self) -> dict:
        """JSON-able description (no arrays beyond the small ones of ``summary``)."""
        return {"product_id": self.product_id, "product_type": self.product_type,
                "query": self.query.to_params(), "scws": [s.to_dict() for s in self.scws],
                "files": sorted(self.files), "summary": self.summary, "from_cache": self.from_cache}


def image_summary(res) -> dict:
    """The JSON summary of an image product from its source list (ISGR-SRCL-RES or
    JMXn-SRCL-RES columns: fitted positions RA_FIN/DEC_FIN, else RA_OBJ/DEC_OBJ)."""
    cat = res.catalog
    ra_col = "RA_FIN" if "RA_FIN" in cat.colnames else "RA_OBJ"
    dec_col = "DEC_FIN" if "DEC_FIN" in cat.colnames else "DEC_OBJ"
    rows = []
    for r in cat:
        def num(col, default=math.nan):
            return float(r[col]) if col in cat.colnames else default

        new = num("NEW_SOURCE", 0) > 0 if "NEW_SOURCE" in cat.colnames else str(r["NAME"]).startswith("NEW_")
        rows.append({"name": str(r["NAME"]).strip(), "ra": num(ra_col), "dec": num(dec_col),
                     "significance": num("DETSIG"), "flux": num("FLUX"), "flux_err": num("FLUX_ERR"),
                     "err_rad": num("ERR_RAD"), "new": bool(new),
                     "edge": bool(int(num("FLAG", 0)) & 1) if "FLAG" in cat.colnames else False})
    rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()} for d in rows]
    return {"catalog": rows, "n_sources": len(rows), "e1": res.query.E1_keV, "e2": res.query.E2_keV}
