"""The JEM-X products: ``jemx_image``, ``jemx_spectrum``, ``jemx_lc`` (and, through
:mod:`core.products.spectral_fit`, ``spectral_fit``), on the shared maker skeleton.

Per selected ScW and unit (``jemx_num``) a task decodes the sky image (:mod:`.decode`, IROS
on, no catalogue handed over) or fits the sources' rates in channels or time bins
(:mod:`.extract`); the results are kept in the content-addressed store under the ScW, unit,
band or bins, sources, code and data versions, so overlapping requests compute only new
ScWs. The folds are instrument-free: mosaics co-added from each ScW image's part on the
target's canonical JEM-X-pixel grid (:mod:`core.imaging.parts`: resampled once, with the
variance propagated with the noise correlation of the image's adjacent pixels, no
rescaling, and stored, so a later mosaic of the target loads it), per-source stacks by
:func:`core.spectral.products.stack_rates` (exposure-weighted), light-curve bins and
variability as ISGRI's. Detection: :func:`.catalog.detect_sources` (JMXn-SRCL-RES,
r90 of :func:`.catalog.error_radius_deg`).

Files: ``mosaic.fits`` (JMXn-MOSA-IMA, IMATYPE RECONSTRUCTED/VARIANCE/SIGNIFICANCE/EXPOSURE),
``catalog.fits`` (JMXn-SRCL-RES), ``catalog.ecsv``, ``sources.reg``; per source
``spectrum_<src>.pha/.arf/.rmf`` (JMXn-PHA1-SPE, JMXn-AXIS-ARF, JMXn-RMF.-RSP + JMXn-FBDS-MOD)
and ``lc_<src>.fits`` (PRIMARY, JMXn-GNRL-GTI, JMXn-SRC.-LCR: the LCR is the third HDU as in
the ODA JEM-X light curves).
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np

from ... import CODE_VERSION
from ...errors import QueryError
from ...imaging.parts import MosaicGrid, MosaicPlan, PartsMosaic, mosaic_centre, projected_part
from ...products.maker import cached_scw, no_data_error, run_scws, store_product
from ...products.store import content_key
from .decode import PIXEL_DEG
from .instrument import JEMX, PRODUCT_VERSION

__all__ = ["build_product", "load_image", "product_png", "scw_data_version", "mosaic_plan", "JEMX_GRID",
           "MOSAIC_MARGIN_DEG", "MERGE_RADIUS_ARCMIN"]

#: Field added around the extreme pointings of a mosaic: the collimator's zero response is
#: 6.6° off axis, and the decoded ScW image reaches ±7°.
MOSAIC_MARGIN_DEG = 7.0
#: Sources closer than this are one source to the PIF fits (JEM-X's PSF is ≈ 3′ FWHM).
MERGE_RADIUS_ARCMIN = 4.0


def scw_data_version(archive, scw_id: str, unit: int) -> str:
    """Version of a unit's events of one ScW (the JEM-X model when simulated, the file in a mirror)."""
    from .files import events_file, model_version

    if archive.simulated:
        from ...sky.catalog import sky_model

        return model_version(sky_model().version)
    return archive.data_version(scw_id, events_file(unit))


# -- image -----------------------------------------------------------------------------------------
#: JEM-X's grids: its 2.02′ pixel, :data:`MOSAIC_MARGIN_DEG` about the pointings, at most 40°;
#: resampled with each ScW image's measured noise correlation (the decoded pixels' noise is
#: partly correlated by the detector resolution and the decoding).
JEMX_GRID = MosaicGrid(tag="jemx-canonical-grid-40deg", pixel_deg=PIXEL_DEG, margin_deg=MOSAIC_MARGIN_DEG,
                       max_size_deg=40.0, correlated_noise=True)


def _image_key(archive, scw_id: str, unit: int, e1: float, e2: float) -> str:
    return content_key("jemx-scw-image", scw_id, int(unit), round(e1, 3), round(e2, 3), CODE_VERSION, PRODUCT_VERSION,
                       scw_data_version(archive, scw_id, unit))


def _image_task(scw_id: str, unit: int, e1: float, e2: float, ra0: float, dec0: float, *, archive, store):
    """Per-ScW task: the decoded image (stored) projected onto the target's canonical grid (stored)."""
    from ...imaging.types import SkyImages
    from .files import read_jemx
    from .scw_image import decode_jemx

    key = _image_key(archive, scw_id, unit, e1, e2)

    def image():
        (arrays, meta), status = cached_scw(
            store, key, lambda: decode_jemx(read_jemx(archive, scw_id, unit), e1, e2, iros=True).to_arrays())
        return SkyImages.from_arrays(arrays, meta), status

    part, status, meta = projected_part(JEMX_GRID, key, image, ra0, dec0, store=store)
    return (part, meta), status


def mosaic_plan(query, *, archive=None) -> MosaicPlan:
    """The ``jemx_image`` of ``query``: its grid, ScW image keys and source detection."""
    from ...archive.store import get_archive

    archive = archive or get_archive()
    unit, e1, e2 = int(query.jemx_num), query.E1_keV, query.E2_keV

    def detect(images):
        from ...sky.catalog import sky_model
        from .catalog import detect_sources

        catalog = detect_sources(images, threshold=query.detection_threshold, catalog=sky_model(), unit=unit)
        catalog.meta.update({"e1": e1, "e2": e2, "threshold": query.detection_threshold, "n_detected": len(catalog)})
        return catalog

    return MosaicPlan(JEMX_GRID, lambda scw_id: _image_key(archive, scw_id, unit, e1, e2), detect)


def _build_image(query, pid, *, progress, cancel, workers, archive, store):
    from ...imaging.product import image_result, store_image

    unit = int(query.jemx_num)
    naming = JEMX.fits_naming(query)
    sel = archive.select(query)
    ra0, dec0 = mosaic_centre(query, sel.rows)
    mosaic = PartsMosaic(JEMX_GRID, ra0, dec0, list(zip(sel.rows["ra_scx"], sel.rows["dec_scx"])))
    e1, e2 = query.E1_keV, query.E2_keV
    items = [(str(s), (unit, e1, e2, ra0, dec0)) for s in sel.ids]
    statuses = run_scws(_image_task, items, accept=lambda pm: mosaic.add(*pm), progress=progress, cancel=cancel,
                        workers=workers, archive=archive, store=store)
    if mosaic.n_added == 0:
        raise no_data_error(statuses, query, "imaged")
    images = mosaic.result()
    images.meta.update({"e1": e1, "e2": e2, "product_id": pid, "query": query.to_params(),
                        "instrument_label": naming.label, "jemx_num": unit})
    catalog = mosaic_plan(query, archive=archive).detect(images)
    return image_result(store_image(store, pid, query, images, catalog, statuses, naming=naming))


def load_image(pid, query, *, store):
    from ...imaging.product import image_result, load_image_result

    res = load_image_result(store, pid, query)
    return None if res is None else image_result(res)


# -- per-ScW fluxes --------------------------------------------------------------------------------
def _fluxes_to_arrays(f) -> tuple[dict, dict]:
    arrays = {k: np.asarray(getattr(f, k), float) for k in
              ("rate", "rate_err", "bkg_rate", "bkg_err", "livetime", "ontime", "offaxis")}
    meta = {"scw_id": f.scw_id, "unit": int(f.unit), "names": list(f.names), **f.meta}
    return arrays, meta


def _fluxes_from_arrays(arrays, meta):
    from .extract import JemxFluxes

    m = dict(meta)
    base = {k: m.pop(k) for k in ("scw_id", "unit", "names")}
    return JemxFluxes(base["scw_id"], base["unit"], list(base["names"]), *(np.asarray(arrays[k], float) for k in
                      ("rate", "rate_err", "bkg_rate", "bkg_err", "livetime", "ontime", "offaxis")), meta=m)


def _flux_task(scw_id: str, unit: int, kind: str, sources, spec, *, archive, store):
    """Per-ScW task: the sources' rates in channels (``spec`` = edges) or time bins
    (``spec`` = (e1, e2, time edges)), stored."""
    from .extract import extract_lightcurve, extract_spectrum
    from .files import read_jemx

    if kind == "spectrum":
        sig = [round(float(e), 4) for e in spec]
    else:
        e1, e2, tedges = spec
        sig = [round(e1, 3), round(e2, 3), [round(float(t), 9) for t in tedges]]
    key = content_key("jemx-scw-" + kind, scw_id, int(unit), json.dumps(sig), json.dumps([list(s) for s in sources]),
                      CODE_VERSION, PRODUCT_VERSION, scw_data_version(archive, scw_id, unit))

    def compute():
        scw = read_jemx(archive, scw_id, unit)
        if kind == "spectrum":
            return _fluxes_to_arrays(extract_spectrum(scw, sources, np.asarray(spec, float)))
        f, index = extract_lightcurve(scw, sources, e1, e2, np.asarray(tedges, float))
        f.meta["t_lo"] = [float(tedges[i]) for i in index]
        f.meta["t_hi"] = [float(tedges[i + 1]) for i in index]
        return _fluxes_to_arrays(f)

    return cached_scw(store, key, compute)


def _in_field(sources, ra: float, dec: float) -> list[tuple]:
    from ...archive.selection import angular_distance
    from .simulate import MAX_OFFAXIS_DEG

    return [s for s in sources if float(angular_distance(ra, dec, s[1], s[2])) <= MAX_OFFAXIS_DEG]


def _run_fluxes(query, kind, jobs, progress, cancel, workers, archive, store):
    results = []
    items = [(sid, (int(query.jemx_num), kind, srcs, spec)) for sid, srcs, spec in jobs]
    statuses = run_scws(_flux_task, items, accept=lambda p: results.append(_fluxes_from_arrays(*p)),
                        progress=progress, cancel=cancel, workers=workers, archive=archive, store=store)
    if not results:
        raise no_data_error(statuses, query)
    return results, statuses


def _spectrum(query, pid, sources, fluxes):
    from ...spectral.products import query_cards, stack_rates
    from .extract import write_spectrum
    unit = int(query.jemx_num)
    edges = JEMX.channel_edges(query)
    summary = {"sources": [], "channel_grid": "jemx16", "rebin": 1}
    files: dict[str, bytes] = {}
    cards = {k: v for k, v in query_cards(query, pid).items() if k != "COMMENT"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, ra, dec in sources:
            rates, errs, lives = [], [], []
            for f in fluxes:
                if name in f.names and np.isfinite(f.rate[:, f.names.index(name)]).any():
                    j = f.names.index(name)
                    rates.append(f.rate[:, j])
                    errs.append(f.rate_err[:, j])
                    lives.append(float(f.livetime[0]))
            if not rates:
                summary["sources"].append({"name": name, "ra": ra, "dec": dec, "n_scw": 0, "exposure": 0.0,
                                           "message": "outside the field of every selected ScW"})
                continue
            rate, err = stack_rates(np.array(rates), np.array(errs), np.array(lives))
            exposure = float(sum(lives))
            import warnings

            from astropy.io.fits.verify import VerifyWarning

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", VerifyWarning)  # HIERARCH query cards
                paths = write_spectrum(tmp, name, unit, rate, err, exposure, edges,
                                       sys_err=float(query.systematic_fraction),
                                       header={**cards, "RA_OBJ": ra, "DEC_OBJ": dec, "NSCW": len(rates)})
            for p in paths.values():
                files[p.name] = p.read_bytes()
            quality = np.where(np.isfinite(rate) & np.isfinite(err) & (err > 0), 0, 1).astype(np.int16)
            summary["sources"].append({
                "name": name, "ra": ra, "dec": dec, "n_scw": len(rates), "exposure": exposure,
                "e_min": edges[:-1], "e_max": edges[1:], "rate": rate, "rate_err": err, "quality": quality,
                "pha": paths["pha"].name, "arf": paths["arf"].name, "rmf": paths["rmf"].name})
    return summary, files


def _lightcurve_file(query, name, t_lo, t_hi, rate, err, bkg, bkge, fracexp) -> bytes:
    from astropy.io import fits

    from .extract import write_lightcurve

    unit = int(query.jemx_num)
    naming = JEMX.fits_naming(query)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_lightcurve(Path(tmp) / "lc.fits", name, unit, 0.5 * (t_lo + t_hi), (t_hi - t_lo) * 86400.0,
                                rate, err, bkg, bkge, fracexp, e1=query.E1_keV, e2=query.E2_keV)
        with fits.open(path, memmap=False) as hdul:
            prim, lcr = hdul[0].copy(), hdul[1].copy()
    gti = fits.BinTableHDU.from_columns([fits.Column("START", "D", unit="d", array=t_lo),
                                         fits.Column("STOP", "D", unit="d", array=t_hi)], name=naming.extnames["gti"])
    for hdu in (gti, lcr):
        hdu.header["TSTART"] = (float(t_lo.min()), "[IJD]")
        hdu.header["TSTOP"] = (float(t_hi.max()), "[IJD]")
        hdu.header["OBJECT"] = name
    lcr.header["ONTIME"] = (float(np.sum(fracexp * (t_hi - t_lo) * 86400.0)), "[s]")
    buf = io.BytesIO()
    fits.HDUList([prim, gti, lcr]).writeto(buf)
    return buf.getvalue()


def _lightcurve(query, pid, sources, fluxes):
    from ...spectral.products import safe_name, stack_rates, variability

    summary = {"sources": [], "E1_keV": query.E1_keV, "E2_keV": query.E2_keV,
               "time_bin": query.time_bin, "time_bin_format": query.time_bin_format}
    files: dict[str, bytes] = {}
    for name, ra, dec in sources:
        pieces: dict = {}
        for f in fluxes:
            if name not in f.names:
                continue
            j = f.names.index(name)
            for i, (a, b) in enumerate(zip(f.meta["t_lo"], f.meta["t_hi"])):
                if np.isfinite(f.rate[i, j]):
                    pieces.setdefault((round(a, 9), round(b, 9)), []).append(
                        (f.rate[i, j], f.rate_err[i, j], f.bkg_rate[i], f.bkg_err[i], f.livetime[i], f.ontime[i]))
        if not pieces:
            summary["sources"].append({"name": name, "ra": ra, "dec": dec, "n": 0,
                                       "message": "outside the field of every selected ScW"})
            continue
        keys = sorted(pieces)
        t_lo = np.array([k[0] for k in keys])
        t_hi = np.array([k[1] for k in keys])
        n = len(keys)
        rate, err, bkg, bkge, ontime = (np.empty(n) for _ in range(5))
        for i, k in enumerate(keys):
            p = np.array(pieces[k])
            rate[i], err[i] = (float(v) for v in stack_rates(p[:, 0], p[:, 1], p[:, 4]))
            bkg[i], bkge[i] = (float(v) for v in stack_rates(p[:, 2], p[:, 3], p[:, 4]))
            ontime[i] = p[:, 5].sum()
        t = 0.5 * (t_lo + t_hi)
        timedel = (t_hi - t_lo) * 86400.0
        fracexp = np.clip(ontime / timedel, 0.0, 1.0)
        stem = f"lc_{safe_name(name)}"
        files[f"{stem}.fits"] = _lightcurve_file(query, name, t_lo, t_hi, rate, err, bkg, bkge, fracexp)
        summary["sources"].append({"name": name, "ra": ra, "dec": dec, "n": n, "time": t, "timedel": timedel,
                                   "rate": rate, "error": err, "fracexp": fracexp, "backv": bkg, "backe": bkge,
                                   "tot_counts": np.full(n, np.nan), "file": f"{stem}.fits",
                                   **variability(t, rate, err)})
    return summary, files


# -- the products ----------------------------------------------------------------------------------
def build_product(query, pid, *, progress, cancel, workers, archive, store):
    """The JEM-X part of :func:`core.products.maker.make_product`."""
    if query.product_type == "image":
        return _build_image(query, pid, progress=progress, cancel=cancel, workers=workers, archive=archive,
                            store=store)
    if query.product_type == "spectral_fit":
        from ...products.spectral_fit import make_fit

        return make_fit(query, pid, progress=progress, cancel=cancel, workers=workers, archive=archive, store=store)
    if query.product_type not in ("spectrum", "lc"):
        raise QueryError("product_type", f"{query.product_type!r} is not a JEM-X product", "image, spectrum, lc, spectral_fit")
    from ...spectral.products import field_sources, time_edges

    sel = archive.select(query)
    sources, extra = field_sources(query, progress, cancel, workers, archive, store,
                                   merge_radius_arcmin=MERGE_RADIUS_ARCMIN)
    rows = {str(i): r for i, r in zip(sel.ids, sel.rows)}
    local = {sid: _in_field(sources, float(r["ra_scx"]), float(r["dec_scx"])) for sid, r in rows.items()}
    if query.product_type == "spectrum":
        edges = [float(e) for e in JEMX.channel_edges(query)]
        jobs = [(sid, local[sid], edges) for sid in rows if local[sid]]
    else:
        by_scw = time_edges(query, sel)
        jobs = [(sid, local[sid], (query.E1_keV, query.E2_keV, [float(t) for t in by_scw[sid]]))
                for sid in rows if local[sid]]
    if not jobs:
        raise QueryError("selected_catalog", "no source is in the JEM-X field of any selected ScW",
                         f"sources within {9.5:g} deg of the pointings")
    fluxes, statuses = _run_fluxes(query, query.product_type, jobs, progress, cancel, workers, archive, store)
    summary, files = (_spectrum if query.product_type == "spectrum" else _lightcurve)(query, pid, sources, fluxes)
    summary.update(extra)
    return store_product(store, pid, query, statuses, summary, files)


def product_png(result, name=None):
    """The publication PNG of a JEM-X product (the instrument-free figures, labelled JEM-Xn)."""
    if result.product_type == "image":
        from ...imaging.pipeline import image_png

        return image_png(result.data, label=JEMX.unit_label(result.query))
    from ...spectral.products import product_png as spectral_png

    return spectral_png(result, name)
