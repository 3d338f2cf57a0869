"""Spectrum, light-curve and spectral-fit products of ISGRI.

Each selected ScW is fitted once per (channel grid or time bins, sources in its field, code
and data versions) by :mod:`core.spectral.extract`; the per-ScW rates are kept in the
content-addressed store, so overlapping requests fit only their new ScWs. The products then
combine them:

* **spectrum**: per source, the mean rate of every channel over the ScWs where the source is
  in the field, stacked by :func:`stack_rates` (exposure-weighted, the same weights in every
  channel, errors propagated); EXPOSURE is the sum of their live times; the ARF is
  the on-axis effective area (the rates are on-axis equivalent); the RMF is the
  exposure-weighted mean of the redistribution matrices of the revolutions involved
  (threshold and resolution drift with time). Channels below the epoch's reliable threshold
  or without data get QUALITY = 1. OGIP type I PHA + ARF + RMF per source.
* **lc**: bins of ``time_bin`` (s or d) from the start of the first ScW, or one point per ScW
  (``time_bin = 0``); a bin spread over several ScWs combines their estimates by the same
  rule, :func:`stack_rates`; bins without good time are left out (gaps). FRACEXP is the good
  time over the bin width. Variability figures: χ² of a constant and its p-value, the
  fractional variability amplitude (Vaughan et al. 2003) and Bayesian blocks (astropy,
  ``measures`` fitness, p0 = 0.05).
* **spectral_fit**: the spectrum of the query's source fitted with :mod:`core.fitting`
  (``spectral_model`` over E1_keV–E2_keV).

Sources: ``selected_catalog`` when given (ODA's catalogue round trip), otherwise the
catalogue found in the image of the same selection and band (plus the query target when it was not
detected); sources closer than 12′ are merged first (:func:`core.spectral.catalog.merge_close_sources`).
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import CODE_VERSION
from ..errors import QueryError
from ..products.maker import cached_scw, load_stored, no_data_error, store_product
from ..products.scw_runner import ScwStatus, run_scws
from ..query import Query

__all__ = ["SPECTRAL_VERSION", "build_product", "make_product", "load", "product_png", "channel_edges",
           "safe_name", "stack_rates", "field_sources", "time_edges", "query_cards", "variability"]

#: Version of the products (combination, response, files); part of product ids.
SPECTRAL_VERSION = "3"
#: Version of the per-ScW fits (core.spectral.extract); part of their cache keys.
EXTRACT_VERSION = "2"
#: Bayesian-blocks false-alarm probability per change point.
BLOCKS_P0 = 0.05


def safe_name(name: str) -> str:
    """File-name form of a source name (``4U 1700-377`` → ``4U_1700-377``)."""
    return re.sub(r"[^A-Za-z0-9+\-.]+", "_", name.strip()).strip("_") or "source"


def channel_edges(grid: str, rebin: int = 1) -> np.ndarray:
    """Channel edges [keV] of a query's ``channel_grid`` merged ``rebin`` at a time."""
    from ..instrument import channels as ch

    edges = {"osa11": ch.osa11_channel_edges, "osa10": ch.osa10_channel_edges,
             "catalogue": ch.catalogue_band_edges}[grid]()
    return ch.rebin_edges(edges, factor=int(rebin)) if int(rebin) > 1 else np.asarray(edges, float)


# -- sources ---------------------------------------------------------------------------------------
def field_sources(query: Query, progress, cancel, workers, archive, store, *,
                  merge_radius_arcmin: float | None = None) -> tuple[list[tuple], dict]:
    """The (name, ra, dec) list to extract and, when found by imaging, the image product id.

    ``selected_catalog`` when given; else the sources of the image of the same selection and
    band made by the query's instrument (plus the target when it was not detected). Sources
    closer than ``merge_radius_arcmin`` (default :data:`.catalog.MERGE_RADIUS_ARCMIN`) are merged.
    """
    from ..instruments.base import get_instrument
    from .catalog import MERGE_RADIUS_ARCMIN, merge_close_sources, with_target

    radius = MERGE_RADIUS_ARCMIN if merge_radius_arcmin is None else merge_radius_arcmin
    if query.selected_catalog:
        rows, merged = merge_close_sources(query.selected_catalog, radius)
        return rows, ({"merged_sources": merged} if merged else {})
    from ..query import parse_catalog

    img = get_instrument(query.instrument).make(query.with_(product_type="image"), progress=progress, cancel=cancel,
                                                workers=workers, archive=archive, store=store)
    rows = [(r["name"], float(r["ra"]), float(r["dec"])) for r in img.summary["catalog"]
            if r["ra"] is not None and r["dec"] is not None]
    rows = with_target(rows, query.src_name, query.RA, query.DEC)
    if not rows:
        raise QueryError("selected_catalog", "no source was detected in the field and none was given",
                         "give src_name/RA/DEC or a selected_catalog")
    rows, merged = merge_close_sources([tuple(r) for r in parse_catalog(rows)], radius)  # unique names, as for a user's list
    return rows, {"image_product_id": img.product_id, **({"merged_sources": merged} if merged else {})}


def _local_sources(sources, ra_scx: float, dec_scx: float) -> list[tuple]:
    """The sources that can be in a ScW's field (within 20° of its pointing)."""
    from ..instrument.attitude import radec_to_unit

    if not sources:
        return []
    v = radec_to_unit(np.array([s[1] for s in sources]), np.array([s[2] for s in sources]))
    p = radec_to_unit(np.array([ra_scx]), np.array([dec_scx]))[0]
    cosd = v @ p
    return [s for s, c in zip(sources, cosd) if c > math.cos(math.radians(20.0))]


# -- per-ScW fits (cached) -------------------------------------------------------------------------
def _fit_task(scw_id: str, kind: str, sources, spec, *, archive, store):
    """Fit one ScW (or restore it): ``((arrays, meta), status)`` for :func:`run_scws`.

    ``spec``: channel edges, or (e1, e2, time edges).
    """
    from ..products.store import content_key
    from .extract import extract_lightcurve, extract_spectrum

    if kind == "spectrum":
        sig = [round(float(e), 4) for e in spec]
    else:
        e1, e2, tedges = spec
        sig = [round(e1, 3), round(e2, 3), [round(float(t), 9) for t in tedges]]
    key = content_key("scw-" + kind, scw_id, json.dumps(sig), json.dumps([list(s) for s in sources]),
                      EXTRACT_VERSION, CODE_VERSION, archive.data_version(scw_id))

    def compute():
        scw = archive.read(scw_id)
        if kind == "spectrum":
            res = extract_spectrum(scw, sources, spec)
        else:
            res, index = extract_lightcurve(scw, sources, e1, e2, tedges)
            res.meta["t_lo"] = [float(tedges[i]) for i in index]
            res.meta["t_hi"] = [float(tedges[i + 1]) for i in index]
        return res.to_arrays()

    return cached_scw(store, key, compute)


def _run_scws(kind, jobs, progress, cancel, workers, archive, store, statuses):
    """Fit every ScW of ``jobs`` = [(scw_id, sources, spec)]; returns their ScwFluxes."""
    from .extract import ScwFluxes

    results = []
    statuses += run_scws(_fit_task, [(sid, (kind, srcs, spec)) for sid, srcs, spec in jobs],
                         accept=lambda p: results.append(ScwFluxes.from_arrays(*p)), progress=progress,
                         cancel=cancel, workers=workers, archive=archive, store=store)
    return results


# -- response --------------------------------------------------------------------------------------
def true_energy_edges() -> np.ndarray:
    """True-energy grid of the products' responses: the instrument model's own grid.

    0.74% geometric bins from 12 keV to 1 MeV, on which the model's response is defined
    (:data:`core.archive.simulate.TRUE_ENERGY_EDGES`). OSA's linear 0.48 keV grid
    evaluated at bin centres misplaces the Cd and Te K edges (26.7, 31.8 keV) by up to a
    quarter of a bin, which shows as ±1.5% wiggles at 25–35 keV in a 1000σ spectrum.
    """
    from ..archive.simulate import TRUE_ENERGY_EDGES

    return np.asarray(TRUE_ENERGY_EDGES, dtype=float)


@lru_cache(maxsize=16)
def _rmf(rev: int, edges_key: tuple) -> np.ndarray:
    from ..instrument.response import redistribution_matrix

    return redistribution_matrix(true_energy_edges(), np.array(edges_key), rev)


def response_for(revs_weights: dict[int, float], edges: np.ndarray):
    """(true edges, ARF [cm²], exposure-weighted RMF [n_true, n_chan]) for live times per revolution."""
    from ..instrument.response import effective_area

    tedges = true_energy_edges()
    # Bin centres in log: the grid is geometric (as the simulator evaluates it).
    centres = np.sqrt(tedges[1:] * tedges[:-1])
    arf = effective_area(centres)
    total = sum(revs_weights.values())
    key = tuple(float(e) for e in edges)
    # Revolutions 10 apart differ by < 0.1% in threshold and resolution: group them.
    groups: dict[int, float] = {}
    for rev, w in revs_weights.items():
        groups[int(rev) // 10 * 10 + 5] = groups.get(int(rev) // 10 * 10 + 5, 0.0) + w
    matrix = sum(_rmf(rev, key) * (w / total) for rev, w in groups.items())
    return tedges, arf, matrix


def model_rates(source, ijd, edges, revolution: int) -> np.ndarray:
    """Count rates [cts/s] a sky-model source should give in channels ``edges`` at times ``ijd``.

    Folds the source's photon spectrum through :func:`response_for`; the prediction the
    extracted spectra and light curves are validated against. Returns ``(n_times, n_chan)``.
    """
    tedges, arf, matrix = response_for({int(revolution): 1.0}, np.asarray(edges, float))
    centres = np.sqrt(tedges[1:] * tedges[:-1])
    width = np.diff(tedges)
    t = np.atleast_1d(np.asarray(ijd, float))
    shape = source.photon_spectrum(centres, float(t[0])) * width
    level0 = float(np.atleast_1d(source.flux_mcrab_at(float(t[0])))[0])
    rates0 = (shape * arf) @ matrix
    if level0 <= 0:
        return np.array([((source.photon_spectrum(centres, float(x)) * width) * arf) @ matrix for x in t])
    # The spectral shape is fixed: the level scales it.
    return np.outer(np.asarray(source.flux_mcrab_at(t), float) / level0, rates0)


# -- combination -----------------------------------------------------------------------------------
def stack_rates(rates: np.ndarray, errors: np.ndarray, livetimes: np.ndarray):
    """Combine per-ScW rates of one source: the stacking rule of spectra and light-curve bins.

    ``rates``/``errors`` are ``(n_scw, n_chan)`` (or ``(n_scw,)``), ``livetimes`` ``(n_scw,)``.
    Result, per channel over the ScWs where it has a finite rate and a positive error, with
    ``Tᵢ`` the live times: ``r = Σ Tᵢ rᵢ / Σ Tᵢ`` and ``σ = √(Σ Tᵢ² σᵢ²) / Σ Tᵢ``.

    This is the exposure-weighted mean rate, i.e. the counts the source sent over the whole
    exposure divided by it: what RATE × EXPOSURE of a PHA and RATE × TIMEDEL·FRACEXP of a
    light-curve bin mean, unbiased whatever the source did in between.

    Why not inverse-variance weights: the variance of a ScW's rate includes the source's own
    Poisson counts, so 1/σᵢ² gives a flaring ScW *less* weight, and differently in every
    channel (its share of the variance depends on the source-to-background ratio there): the
    stack of a variable source then has the wrong level and the wrong shape (V404 Cyg, June
    2015: Γ 1.77 against 2.02, χ² 5459/86). The price of exposure weights: a ScW where the
    source is far off axis (large σᵢ) counts as much as its live time, so a stack of a *steady*
    source over mixed on/off-axis ScWs has a larger error than the inverse-variance one; the
    error is propagated, never assumed.
    """
    r = np.asarray(rates, float)
    e = np.asarray(errors, float)
    w = np.clip(np.nan_to_num(np.asarray(livetimes, float)), 0.0, None).reshape((-1,) + (1,) * (r.ndim - 1))
    ok = np.isfinite(r) & np.isfinite(e) & (e > 0) & (w > 0)
    wk = np.where(ok, w, 0.0)
    sw = wk.sum(axis=0)
    good = sw > 0
    safe = np.where(good, sw, 1.0)
    mean = np.where(good, (wk * np.where(ok, r, 0.0)).sum(axis=0) / safe, np.nan)
    err = np.where(good, np.sqrt((wk ** 2 * np.where(ok, e, 0.0) ** 2).sum(axis=0)) / safe, np.nan)
    return mean, err


def variability(t, rate, err) -> dict:
    """χ² of a constant, linear trend, fractional variability and Bayesian blocks."""
    from scipy import stats

    ok = np.isfinite(rate) & np.isfinite(err) & (err > 0)
    t, x, s = np.asarray(t)[ok], np.asarray(rate)[ok], np.asarray(err)[ok]
    out = {"n": int(ok.sum()), "mean": None, "mean_err": None, "chi2_const": None, "dof": None, "p_const": None,
           "fvar": None, "fvar_err": None, "slope_per_day": None, "slope_err": None, "chi2_linear": None,
           "blocks": []}
    if x.size == 0:
        return out
    w = 1.0 / s**2
    mean = float((w * x).sum() / w.sum())
    out.update(mean=mean, mean_err=float(1.0 / math.sqrt(w.sum())))
    if x.size >= 2:
        chi2 = float((((x - mean) / s) ** 2).sum())
        dof = int(x.size - 1)
        out.update(chi2_const=chi2, dof=dof, p_const=float(stats.chi2.sf(chi2, dof)))
        # Fractional rms variability and its error (Vaughan et al. 2003, eqs. 10 and B2).
        xm = float(x.mean())
        s2 = float(x.var(ddof=1))
        mse = float((s**2).mean())
        if xm != 0:
            excess = s2 - mse
            fvar = math.sqrt(excess) / abs(xm) if excess > 0 else 0.0
            n = x.size
            if fvar > 0:
                fe = math.sqrt((math.sqrt(1 / (2 * n)) * mse / (xm**2 * fvar)) ** 2
                               + (math.sqrt(mse / n) / abs(xm)) ** 2)
            else:
                fe = math.sqrt(math.sqrt(1 / (2 * n)) * mse / xm**2)
            out.update(fvar=float(fvar), fvar_err=float(fe))
        a = np.column_stack([np.ones_like(t), t - t.mean()])
        cov = np.linalg.pinv(a.T @ (a * w[:, None]))
        beta = cov @ (a.T @ (w * x))
        out.update(slope_per_day=float(beta[1]), slope_err=float(math.sqrt(max(cov[1, 1], 0.0))),
                   chi2_linear=float((((x - a @ beta) / s) ** 2).sum()))
        from astropy.stats import bayesian_blocks

        try:
            # Distinct times are required; ScW points are.
            edges = bayesian_blocks(t, x, s, fitness="measures", p0=BLOCKS_P0)
            out["blocks"] = [float(e) for e in edges]
        except ValueError:
            out["blocks"] = [float(t.min()), float(t.max())]
    return out


def query_cards(query: Query, pid: str) -> dict:
    """Header cards recording the query (HIERARCH ``ODA_*`` keys) and the product id."""
    cards = {"ODA_PID": pid}
    for k, v in query.to_params().items():
        if k == "selected_catalog":
            v = ";".join(f"{n}@{ra:.4f},{dec:.4f}" for n, ra, dec in v)
        if isinstance(v, (list, tuple)):
            v = ",".join(map(str, v))
        cards[f"ODA_{k.upper()}"] = v if isinstance(v, (int, float)) else str(v)
    from ..products.reproduce import reproduce_command

    cards["COMMENT"] = "Reproduce: " + reproduce_command(query)
    return cards


# -- the products ----------------------------------------------------------------------------------
def make_product(query: Query, *, progress=None, cancel=None, workers=None, archive=None, store=None):
    """Compute (or restore) an ISGRI spectrum, lc or spectral_fit product (see :func:`core.products.run.run_product`)."""
    from ..instruments.base import get_instrument
    from ..products.maker import make_product as skeleton

    return skeleton(get_instrument("isgri"), query, build_product, progress=progress, cancel=cancel, workers=workers,
                    archive=archive, store=store)


def build_product(query: Query, pid: str, *, progress, cancel, workers, archive, store):
    """The ISGRI part of :func:`core.products.maker.make_product` for spectra, lc and fits."""
    if query.product_type == "spectral_fit":
        from ..products.spectral_fit import make_fit

        return make_fit(query, pid, progress=progress, cancel=cancel, workers=workers, archive=archive, store=store)
    sel = archive.select(query)
    sources, extra = field_sources(query, progress, cancel, workers, archive, store)
    statuses: list[ScwStatus] = []
    rows = {str(i): r for i, r in zip(sel.ids, sel.rows)}
    if query.product_type == "spectrum":
        edges = channel_edges(query.channel_grid, query.rebin)
        jobs = [(sid, _local_sources(sources, float(r["ra_scx"]), float(r["dec_scx"])), edges)
                for sid, r in rows.items()]
        jobs = [j for j in jobs if j[1]] or jobs
        fluxes = _run_scws("spectrum", jobs, progress, cancel, workers, archive, store, statuses)
        _check_any(fluxes, statuses, query)
        summary, files = _spectrum_files(query, pid, sources, fluxes, edges)
    else:
        edges_by_scw = time_edges(query, sel)
        jobs = [(sid, _local_sources(sources, float(rows[sid]["ra_scx"]), float(rows[sid]["dec_scx"])),
                 (query.E1_keV, query.E2_keV, te)) for sid, te in edges_by_scw.items()]
        jobs = [j for j in jobs if j[1]] or jobs
        fluxes = _run_scws("lc", jobs, progress, cancel, workers, archive, store, statuses)
        _check_any(fluxes, statuses, query)
        summary, files = _lc_files(query, pid, sources, fluxes)
    summary.update(extra)
    return store_product(store, pid, query, statuses, summary, files)


def _check_any(fluxes, statuses, query):
    if not fluxes:
        raise no_data_error(statuses, query)


def time_edges(query: Query, sel) -> dict[str, np.ndarray]:
    """Time-bin edges [IJD] overlapping each ScW (one bin per ScW when time_bin is 0)."""
    rows = sel.rows
    t0 = np.asarray(rows["tstart"], float)
    t1 = np.asarray(rows["tstop"], float)
    ids = [str(i) for i in sel.ids]
    if not query.time_bin:
        return {sid: np.array([a, b]) for sid, a, b in zip(ids, t0, t1)}
    width = query.time_bin if query.time_bin_format == "jd" else query.time_bin / 86400.0
    origin = float(t0.min())
    out = {}
    for sid, a, b in zip(ids, t0, t1):
        k0 = int(math.floor((a - origin) / width))
        k1 = int(math.ceil((b - origin) / width))
        out[sid] = origin + width * np.arange(k0, k1 + 1)
    return out


def _spectrum_files(query, pid, sources, fluxes, edges):
    from ..fitting.ogip import write_arf, write_pha, write_rmf
    from ..instrument.response import minimum_reliable_energy
    from .ogip_keys import pha_time_cards

    nch = len(edges) - 1
    summary = {"sources": [], "channel_grid": query.channel_grid, "rebin": query.rebin}
    files: dict[str, bytes] = {}
    cards = query_cards(query, pid)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, ra, dec in sources:
            rates, errs, revs, weights, used = [], [], {}, [], []
            exposure = 0.0
            for f in fluxes:
                if name not in f.names:
                    continue
                j = f.names.index(name)
                if not np.isfinite(f.rate[:, j]).any():
                    continue
                used.append(f.scw_id)
                rates.append(f.rate[:, j])
                errs.append(f.rate_err[:, j])
                live = float(f.livetime[0])
                weights.append(live)
                exposure += live
                revs[f.revolution] = revs.get(f.revolution, 0.0) + live
            if not rates:
                summary["sources"].append({"name": name, "ra": ra, "dec": dec, "n_scw": 0, "exposure": 0.0,
                                           "message": "outside the field of every selected ScW"})
                continue
            rate, err = stack_rates(np.array(rates), np.array(errs), np.array(weights))
            tedges, arf, matrix = response_for(revs, edges)
            # Channels below the threshold of the earliest epoch (highest threshold) are unreliable.
            e_min_ok = max(minimum_reliable_energy(r) for r in revs)
            quality = np.where(np.isfinite(rate) & (edges[:-1] >= e_min_ok), 0, 1).astype(np.int16)
            stem = f"spectrum_{safe_name(name)}"
            header = {**cards, "OBJECT": name, "RA_OBJ": ra, "DEC_OBJ": dec, "TELESCOP": "INTEGRAL",
                      "INSTRUME": "IBIS", "DETNAM": "ISGRI", "NSCW": len(rates), **pha_time_cards(used)}
            write_pha(tmp / f"{stem}.pha", np.arange(nch), np.nan_to_num(rate), np.nan_to_num(err, nan=0.0),
                      exposure, sys_err=np.full(nch, float(query.systematic_fraction)), quality=quality, grouping=np.ones(nch, dtype=np.int16),
                      respfile=f"{stem}.rmf", ancrfile=f"{stem}.arf", header=header)
            write_arf(tmp / f"{stem}.arf", tedges[:-1], tedges[1:], arf, header={"ODA_PID": pid})
            write_rmf(tmp / f"{stem}.rmf", tedges[:-1], tedges[1:], matrix, edges[:-1], edges[1:], header={"ODA_PID": pid})
            for ext in ("pha", "arf", "rmf"):
                files[f"{stem}.{ext}"] = (tmp / f"{stem}.{ext}").read_bytes()
            summary["sources"].append({
                "name": name, "ra": ra, "dec": dec, "n_scw": len(rates), "exposure": exposure,
                "e_min": edges[:-1], "e_max": edges[1:], "rate": rate, "rate_err": err, "quality": quality,
                "pha": f"{stem}.pha", "arf": f"{stem}.arf", "rmf": f"{stem}.rmf"})
    return summary, files


def _lc_files(query, pid, sources, fluxes):
    from astropy.io import fits

    from .ogip_keys import lc_time_cards

    summary = {"sources": [], "E1_keV": query.E1_keV, "E2_keV": query.E2_keV,
               "time_bin": query.time_bin, "time_bin_format": query.time_bin_format}
    files: dict[str, bytes] = {}
    # All fitted bins (ScW pieces) keyed by their bin start.
    for name, ra, dec in sources:
        pieces = {}
        for f in fluxes:
            if name not in f.names:
                continue
            j = f.names.index(name)
            t_lo, t_hi = f.meta["t_lo"], f.meta["t_hi"]
            for i in range(len(t_lo)):
                if not np.isfinite(f.rate[i, j]):
                    continue
                pieces.setdefault((round(t_lo[i], 9), round(t_hi[i], 9)), []).append(
                    (f.rate[i, j], f.rate_err[i, j], f.bkg_rate[i], f.bkg_err[i], f.livetime[i], f.ontime[i],
                     f.tot_counts[i]))
        if not pieces:
            summary["sources"].append({"name": name, "ra": ra, "dec": dec, "n": 0,
                                       "message": "outside the field of every selected ScW"})
            continue
        keys = sorted(pieces)
        n = len(keys)
        t_lo = np.array([k[0] for k in keys])
        t_hi = np.array([k[1] for k in keys])
        rate, err, bkg, bkge = (np.empty(n) for _ in range(4))
        ontime, tot = np.empty(n), np.empty(n)
        for i, k in enumerate(keys):
            p = np.array(pieces[k])
            rate[i], err[i] = (float(v) for v in stack_rates(p[:, 0], p[:, 1], p[:, 4]))
            bkg[i], bkge[i] = (float(v) for v in stack_rates(p[:, 2], p[:, 3], p[:, 4]))
            ontime[i], tot[i] = p[:, 5].sum(), p[:, 6].sum()
        t = 0.5 * (t_lo + t_hi)
        timedel = (t_hi - t_lo) * 86400.0
        fracexp = np.clip(ontime / timedel, 0.0, 1.0)
        var = variability(t, rate, err)
        stem = f"lc_{safe_name(name)}"
        cols = [fits.Column("TIME", "D", unit="d", array=t),
                fits.Column("TIMEDEL", "D", unit="d", array=t_hi - t_lo),
                fits.Column("RATE", "E", unit="count/s", array=rate),
                fits.Column("ERROR", "E", unit="count/s", array=err),
                fits.Column("FRACEXP", "E", array=fracexp),
                fits.Column("BACKV", "E", unit="count/s", array=bkg),
                fits.Column("BACKE", "E", unit="count/s", array=bkge),
                fits.Column("TOT_COUNTS", "J", array=tot.astype(np.int64))]
        hdu = fits.BinTableHDU.from_columns(cols, name="ISGR-SRC.-LCR")
        h = hdu.header
        for key, value, comment in [
                ("TELESCOP", "INTEGRAL", ""), ("INSTRUME", "IBIS", ""), ("DETNAM", "ISGRI", ""),
                ("HDUCLASS", "OGIP", ""), ("HDUCLAS1", "LIGHTCURVE", ""), ("HDUCLAS2", "NET", ""),
                ("HDUCLAS3", "RATE", ""), ("OBJECT", name, ""), ("RA_OBJ", ra, "[deg]"), ("DEC_OBJ", dec, "[deg]"),
                ("E_MIN", query.E1_keV, "[keV]"), ("E_MAX", query.E2_keV, "[keV]"),
                ("TIMESYS", "TT", ""), ("TIMEREF", "LOCAL", ""), ("TIMEUNIT", "d", ""),
                ("MJDREF", 51544.0, "IJD 0 = MJD 51544.0 (TT)"), ("TSTART", float(t_lo.min()), "[IJD]"),
                ("TSTOP", float(t_hi.max()), "[IJD]"), ("TELAPSE", float((t_hi.max() - t_lo.min()) * 86400), "[s]"),
                ("ONTIME", float(ontime.sum()), "[s]")]:
            h[key] = (value, comment)
        if query.time_bin:
            width = query.time_bin if query.time_bin_format == "jd" else query.time_bin / 86400.0
            h["TIMEDEL"] = (width, "[d] nominal bin width")
        for key, value, comment in lc_time_cards(name, t_lo, t_hi, h.get("TIMEDEL")):
            h[key] = (value, comment)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)  # HIERARCH keys
            for key, value in query_cards(query, pid).items():
                if key == "COMMENT":
                    h.add_comment(value)
                else:
                    h[key] = value
        import io

        buf = io.BytesIO()
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
        files[f"{stem}.fits"] = buf.getvalue()
        summary["sources"].append({"name": name, "ra": ra, "dec": dec, "n": n, "time": t, "timedel": timedel,
                                   "rate": rate, "error": err, "fracexp": fracexp, "backv": bkg,
                                   "tot_counts": tot, "file": f"{stem}.fits", **var})
    return summary, files


# -- restore and figures ---------------------------------------------------------------------------
def load(pid: str, query: Query, *, store=None):
    """A stored spectrum, lc or fit product (:func:`core.products.maker.load_stored`)."""
    return load_stored(pid, query, store=store)


def product_png(result, name: str | None = None) -> Path:
    """Publication PNG of a spectrum, light curve or fit (rendered once, then from the store)."""
    from ..products.store import content_key, get_store
    from . import figures

    store = get_store()
    srcs = result.summary.get("sources", [])
    if result.product_type != "spectral_fit":
        usable = [s for s in srcs if s.get("n_scw") or s.get("n")]
        if not usable:
            raise QueryError("source", "no source has data in this product")
        if name is None:
            chosen = usable[0]
        else:
            match = [s for s in usable if s["name"] == name]
            if not match:
                raise QueryError("source", f"no source {name!r} in this product", ", ".join(s["name"] for s in usable))
            chosen = match[0]
        name = chosen["name"]
    key = content_key("spectral-png", result.product_id, name or "", SPECTRAL_VERSION)
    path = store.file(key, "figure.png")
    if path is not None:
        return path
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figure.png"
        if result.product_type == "spectrum":
            figures.spectrum_png(chosen, result.query, out)
        elif result.product_type == "lc":
            figures.lightcurve_png(chosen, result.query, out)
        else:
            figures.fit_png(result, out)
        entry = store.put(key, files={"figure.png": out.read_bytes()}, meta={"product_id": result.product_id})
    return entry / "figure.png"
