"""One entry point for every product: what the CLI, the web page and the API all call.

:func:`run_product` takes a validated :class:`~core.query.Query` and returns a
:class:`ProductResult` whatever the instrument and product type; :func:`load_product` gets a
finished one back from the store by its id (web front ends keep ids, never arrays).
:func:`product_id` gives the id without computing anything, so a service can alias
identical requests before starting work. All three ask the query's instrument in the
registry (:mod:`core.instruments.base`): nothing here knows an instrument.

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

from typing import Callable

from ..errors import NotFoundError
from ..instruments.base import get_instrument
from ..query import Query
from .result import ProductResult, image_summary
from .scw_runner import Cancelled, ScwStatus

__all__ = ["ProductResult", "run_product", "load_product", "product_id", "ScwStatus", "Cancelled", "image_summary"]

Progress = Callable[[int, int, ScwStatus], None]


def product_id(query: Query, *, archive=None) -> str:
    """The id :func:`run_product` will store the product under (nothing is computed)."""
    return get_instrument(query.instrument).product_id(query, archive=archive)


def run_product(query: Query, *, progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
                workers: int | None = None, archive=None, store=None) -> ProductResult:
    """Compute (or restore) the product a query asks for.

    Parameters
    ----------
    query : Query
        Validated query; ``instrument`` and ``product_type`` choose the maker.
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
    return get_instrument(query.instrument).make(query, progress=progress, cancel=cancel, workers=workers,
                                                 archive=archive, store=store)


def load_product(pid: str, *, store=None, archive=None) -> ProductResult:
    """A finished product by id.

    Raises
    ------
    NotFoundError
        If the id is malformed or nothing is stored under it.
    """
    from .store import KEY_RE, get_store

    store = store or get_store()
    if not isinstance(pid, str) or not KEY_RE.fullmatch(pid):
        raise NotFoundError("product_id", f"no product {str(pid)[:40]!r}", "hexadecimal product ids")
    meta = store.meta(pid, verify=False)  # just the query: the loaders below verify the entry
    if meta is None or "query" not in meta:
        raise NotFoundError("product_id", f"no product {pid}")
    query = Query.from_params(meta["query"])
    res = get_instrument(query.instrument).load(pid, query, store=store)
    if res is None:
        raise NotFoundError("product_id", f"no product {pid}")
    return res
