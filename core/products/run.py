"""One entry point for every product: what the CLI, the web page and the API all call.

:func:`run_product` takes a validated :class:`~core.query.Query` and returns a
:class:`ProductResult` whatever the product type; :func:`load_product` gets a finished one
back from the store by its id (web front ends keep ids, never arrays). :func:`product_id`
gives the id without computing anything, so a service can alias identical requests before
starting work.

``summary`` is small JSON (what a page or an API client needs to draw the product):

* image: ``catalog`` (rows: name, ra, dec, significance, flux, flux_err, err_rad, new,
  edge), ``n_sources``, ``e1``/``e2``;
* spectrum: ``sources``: per source name, ra, dec, ``e_min``/``e_max`` [keV], ``rate``/
  ``rate_err`` [cts/s], ``exposure`` [s] and its file names (``pha``, ``arf``, ``rmf``);
* lc: ``sources``: per source name, ``time`` [IJD, bin centres], ``timedel`` [s], ``rate``,
  ``error`` [cts/s], ``fracexp``, ``backv``, ``tot_counts``, and variability figures (``mean``,
  ``chi2_const``, ``dof``, ``p_const``, ``fvar``, ``fvar_err``, ``slope_per_day``,
  ``slope_err``, ``chi2_linear``, ``blocks`` = Bayesian-block edges [IJD]);
* spectral_fit: ``source``, ``ra``, ``dec``, ``model``, ``fit`` (:meth:`core.fitting.fit.FitResult.to_dict`:
  ``parameters`` with value, unit, ``err_1sigma`` and ``err_90`` offsets; ``stat`` (chi2 or cash),
  ``statistic``, ``dof``; ``channels`` with data and folded model), ``fluxes`` (per band
  "e1-e2": energy and photon flux with 1σ and 90% offsets), ``spectrum`` (the fitted source's
  channels) and ``spectrum_product_id``.

``files`` maps file names (``mosaic.fits``, ``catalog.fits``, ``spectrum_Crab.pha``,
``lc_Crab.fits``, ``result.json``...) to paths inside the store; :meth:`ProductResult.png`
renders the publication figure on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import NotFoundError, QueryError
from ..query import Query

__all__ = ["ProductResult", "run_product", "load_product", "product_id", "ScwStatus", "Cancelled"]

from .scw_runner import Cancelled, ScwStatus  # noqa: E402  (re-exported: one vocabulary)

Progress = Callable[[int, int, ScwStatus], None]


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
        if self.product_type == "image":
            from ..imaging.pipeline import image_png

            return image_png(self.data)
        if self.query.instrument == "spi_acs":
            from ..instruments.spi_acs.product import lightcurve_png

            return lightcurve_png(self)
        from ..spectral import products as sp

        return sp.product_png(self, name)

    def to_dict(self) -> dict:
        """JSON-able description (no arrays beyond the small ones of ``summary``)."""
        return {"product_id": self.product_id, "product_type": self.product_type,
                "query": self.query.to_params(), "scws": [s.to_dict() for s in self.scws],
                "files": sorted(self.files), "summary": self.summary, "from_cache": self.from_cache}


def product_id(query: Query, *, archive=None) -> str:
    """The id :func:`run_product` will store the product under (nothing is computed)."""
    from ..archive.store import get_archive

    from ..imaging.pipeline import IMAGING_VERSION
    from ..spectral.products import SPECTRAL_VERSION

    if query.instrument == "spi_acs":
        from ..instruments.spi_acs.product import PRODUCT_VERSION

        return query.product_id(query.product_type, PRODUCT_VERSION, "simulated")
    archive = archive or get_archive()
    version = IMAGING_VERSION if query.product_type == "image" else SPECTRAL_VERSION
    return query.product_id(query.product_type, version, archive.tag)


def run_product(query: Query, *, progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
                workers: int | None = None, archive=None, store=None) -> ProductResult:
    """Compute (or restore) the product a query asks for.

    Parameters
    ----------
    query : Query
        Validated query; ``product_type`` chooses image, spectrum, lc or spectral_fit.
    progress : callable, optional
        ``progress(i, n, ScwStatus)`` after each ScW.
    cancel : callable, optional
        Polled between ScWs; when true, :class:`Cancelled` is raised.
    workers : int, optional
        Worker processes for per-ScW work.

    Raises
    ------
    QueryError
        For a request that cannot be served (no ScW, too many ScWs...), naming the field.
    Cancelled
    """
    if query.instrument == "spi_acs":
        from ..instruments.spi_acs.product import make_lightcurve

        return make_lightcurve(query, progress=progress, store=store)
    if query.instrument != "isgri":
        raise QueryError("instrument", f"{query.instrument} products are not available yet", "isgri, spi_acs")
    if query.product_type == "image":
        from ..imaging.pipeline import make_image

        res = make_image(query, progress=progress, cancel=cancel, workers=workers, archive=archive, store=store)
        return _image_result(res)
    from ..spectral import products as sp

    return sp.make_product(query, progress=progress, cancel=cancel, workers=workers, archive=archive, store=store)


def _image_result(res) -> ProductResult:
    return ProductResult(res.product_id, "image", res.query, res.scws, dict(res.files),
                         image_summary(res), res.from_cache, res)


def image_summary(res) -> dict:
    import math

    cat = res.catalog
    rows = []
    for r in cat:
        def num(col, default=math.nan):
            return float(r[col]) if col in cat.colnames else default

        rows.append({"name": str(r["NAME"]).strip(), "ra": num("RA_FIN"), "dec": num("DEC_FIN"),
                     "significance": num("DETSIG"), "flux": num("FLUX"), "flux_err": num("FLUX_ERR"),
                     "err_rad": num("ERR_RAD"), "new": bool(num("NEW_SOURCE", 0) > 0),
                     "edge": bool(int(num("FLAG", 0)) & 1) if "FLAG" in cat.colnames else False})
    rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()} for d in rows]
    return {"catalog": rows, "n_sources": len(rows), "e1": res.query.E1_keV, "e2": res.query.E2_keV}


def load_product(pid: str, *, store=None, archive=None) -> ProductResult:
    """A finished product by id.

    Raises
    ------
    NotFoundError
        If the id is malformed or nothing is stored under it.
    """
    from ..products.store import KEY_RE, get_store

    store = store or get_store()
    if not isinstance(pid, str) or not KEY_RE.fullmatch(pid):
        raise NotFoundError("product_id", f"no product {str(pid)[:40]!r}", "hexadecimal product ids")
    meta = store.meta(pid, verify=False)  # just the query: the loaders below verify the entry
    if meta is None or "query" not in meta:
        raise NotFoundError("product_id", f"no product {pid}")
    query = Query.from_params(meta["query"])
    if query.instrument == "spi_acs":
        from ..instruments.spi_acs.product import load_lightcurve

        res = load_lightcurve(pid, query, store=store)
        if res is None:
            raise NotFoundError("product_id", f"no product {pid}")
        return res
    if query.product_type == "image":
        from ..imaging.pipeline import _load_result

        res = _load_result(store, pid, query)
        if res is None:
            raise NotFoundError("product_id", f"no product {pid}")
        return _image_result(res)
    from ..spectral import products as sp

    res = sp.load(pid, query, store=store)
    if res is None:
        raise NotFoundError("product_id", f"no product {pid}")
    return res
