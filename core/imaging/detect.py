"""Source detection and localisation in ISGRI significance maps, and ODA catalogue JSON.

Peaks of the significance map above a threshold are fitted with the PSF (a circular Gaussian of
σ ≈ 1.2 pixel, coded-mask.md "Detection and localisation"), measured at the fitted position,
cross-matched with a catalogue and listed with the columns of OSA's ``ISGR-SRCL-RES``:

NAME, RA_OBJ, DEC_OBJ, RA_FIN, DEC_FIN, DETSIG, FLUX, FLUX_ERR, ERR_RAD, NEW_SOURCE,
ISGRI_FLAG, FLAG.

``FLAG`` bits: 1 = near the edge of the field (low exposure or uncovered pixels close by).

As ODA's catalogues, the list holds the detections and nothing else, each under its
catalogue name (``NEW_n`` when none matches): the query target is not forced in, and a
catalogue source at the target's position keeps its own name. (Spectra and light curves
that need an undetected target add it themselves, :func:`core.spectral.catalog.with_target`.)
"""

from __future__ import annotations

import json
import math

import numpy as np
from astropy.table import Table

from .photometry import point_source_flux
from .types import SkyImages

__all__ = [
    "SRCL_COLUMNS",
    "FLAG_EDGE",
    "FLAG_FORCED",
    "R90_STAT_ARCMIN",
    "R90_SYS_ARCMIN",
    "error_radius_deg",
    "find_peaks",
    "fit_peak",
    "detect_sources",
    "empty_catalog",
    "catalog_to_oda_json",
    "catalog_from_oda_json",
]

#: Output columns, in OSA's ISGR-SRCL-RES order (plus FLUX, FLUX_ERR).
SRCL_COLUMNS = ("NAME", "RA_OBJ", "DEC_OBJ", "RA_FIN", "DEC_FIN", "DETSIG", "FLUX", "FLUX_ERR",
                "ERR_RAD", "NEW_SOURCE", "ISGRI_FLAG", "FLAG")
#: FLAG bit: near the edge of the field.
FLAG_EDGE = 1
#: FLAG bit once used for a query target forced into the list (never set now; kept for readers).
FLAG_FORCED = 2

#: Statistical 90 % error radius r90 ≈ R90_STAT_ARCMIN / SNR, measured for this module's own
#: estimator (the PSF fit of :func:`fit_peak` on the significance map, SNR = DETSIG = FLUX/FLUX_ERR).
#: Measured (issue 15), detections at DETSIG ≥ 7, per-axis pulls against ERR_RAD / 2.146:
#: Monte-Carlo ensemble (:func:`core.ensembles.position_ensemble`, 1129 realisations at SNR 8–22,
#: isolated source, nominal instrument): σ_axis ≈ 9.1′/SNR; with 18′ the pull rms was 1.07 and 87 %
#: of positions fell inside r90, with 19′ 1.01 and 90 %. Full simulations (truth instrument) of the
#: Galactic Centre field, positions against the sky model: 101 detections on 28 single-ScW images,
#: pull rms 0.96 and 92 % inside r90 with 19′; 45 detections on 2-ScW mosaics, 1.01 and 96 %.
#: (The decoder's exact main-lobe fit, :func:`core.imaging.decode.locate_peak`, is ≈ 10 % more
#: precise; the pull rms of 0.87 once quoted came from that estimator, not this one.) Gros et al.
#: 2003 (A&A 411, L179) quote ≈ 15′/SNR for OSA's finer-sampled images.
R90_STAT_ARCMIN = 19.0
#: Systematic floor added in quadrature (in-flight point-source location accuracy below 1′
#: for SNR > 30, Gros et al. 2003).
R90_SYS_ARCMIN = 0.3

#: Minimum separation of two peaks (pixels): 2.5 PSF σ, two sources closer blend into one.
_MIN_SEP_PIX = 3.0
#: Peak pixels down to this fraction of the threshold are fitted (see :func:`detect_sources`).
CANDIDATE_FRACTION = 0.8
#: Half-size of the fitting box (7×7 pixels: ±2.5 PSF σ).
_FIT_HALF = 3
#: Uncovered pixels within this distance make a source "near the edge".
_EDGE_MARGIN_PIX = 3
#: Match radius floor, arcmin (the ISGRI PSF is 12′ FWHM; a catalogue source closer than 4′
#: to a detection is the same object even for bright, well-localised detections).
_MATCH_FLOOR_ARCMIN = 4.0
#: A catalogue entry this close to the target (arcmin) is the target under another name.
_TARGET_ALIAS_ARCMIN = 1.0


def error_radius_deg(snr) -> np.ndarray:
    """90 % error radius (degrees) of an ISGRI position at significance ``snr``.

    r90 = √((19′/SNR)² + (0.3′)²): statistical term (see :data:`R90_STAT_ARCMIN`) and the
    in-flight systematic floor of Gros et al. 2003 in quadrature. Non-positive or NaN ``snr``
    gives the 19′ of SNR 1.
    """
    s = np.asarray(snr, dtype=float)
    s = np.where(np.isfinite(s) & (s > 1.0), s, 1.0)
    return np.hypot(R90_STAT_ARCMIN / s, R90_SYS_ARCMIN) / 60.0


# -- peaks and fits -------------------------------------------------------------------------------
def find_peaks(sig: np.ndarray, threshold: float, min_sep: float = _MIN_SEP_PIX) -> list[tuple[int, int]]:
    """Local maxima of ``sig`` ≥ ``threshold``, at least ``min_sep`` pixels apart.

    Returns (iy, ix) pairs in order of decreasing value. A maximum filter finds candidates;
    a greedy pass (brightest first) then enforces the Euclidean separation, which also settles
    plateaus of equal values.
    """
    from scipy.ndimage import maximum_filter

    s = np.where(np.isfinite(sig), sig, -np.inf)
    r = max(int(math.ceil(min_sep)) - 1, 1)
    mx = maximum_filter(s, size=2 * r + 1, mode="constant", cval=-np.inf)
    cand = np.argwhere((s == mx) & (s >= threshold))
    if len(cand) == 0:
        return []
    order = np.argsort(-s[cand[:, 0], cand[:, 1]], kind="stable")
    kept: list[tuple[int, int]] = []
    for iy, ix in cand[order]:
        if all((iy - ky) ** 2 + (ix - kx) ** 2 >= min_sep ** 2 for ky, kx in kept):
            kept.append((int(iy), int(ix)))
    return kept


def fit_peak(img: np.ndarray, iy: int, ix: int, psf_sigma_pix: float = 1.2) -> tuple[float, float, float]:
    """Sub-pixel position of the peak near pixel (iy, ix) by a Gaussian PSF fit.

    A circular Gaussian of fixed width ``psf_sigma_pix`` with free amplitude and centre is
    fitted (least squares, equal weights: every pixel of a significance map has unit noise)
    to the finite pixels of a 7×7 box. A fixed width keeps the centre well determined at low
    SNR (a free width trades against the amplitude); a wider true PSF does not bias the centre
    of a symmetric peak. If the fit cannot run (too few pixels) or wanders off, the
    intensity-weighted centroid of the positive 3×3 pixels is used.

    Returns
    -------
    x, y : float
        0-based pixel coordinates (x along columns).
    amp : float
        Fitted peak value.
    """
    from scipy.optimize import least_squares

    ny, nx = img.shape
    y0, y1 = max(iy - _FIT_HALF, 0), min(iy + _FIT_HALF + 1, ny)
    x0, x1 = max(ix - _FIT_HALF, 0), min(ix + _FIT_HALF + 1, nx)
    box = img[y0:y1, x0:x1]
    yy, xx = np.mgrid[y0:y1, x0:x1]
    ok = np.isfinite(box)
    peak = float(img[iy, ix])

    # Fallback / starting point: centroid of the positive part of the 3×3 core.
    cy0, cy1, cx0, cx1 = max(iy - 1, 0), min(iy + 2, ny), max(ix - 1, 0), min(ix + 2, nx)
    core = img[cy0:cy1, cx0:cx1]
    wts = np.where(np.isfinite(core), np.clip(core, 0.0, None), 0.0)
    cyy, cxx = np.mgrid[cy0:cy1, cx0:cx1]
    if wts.sum() > 0:
        cx, cy = float((wts * cxx).sum() / wts.sum()), float((wts * cyy).sum() / wts.sum())
    else:
        cx, cy = float(ix), float(iy)
    if ok.sum() < 6:
        return cx, cy, peak

    x, y, z = xx[ok].astype(float), yy[ok].astype(float), box[ok].astype(float)
    s2 = 2.0 * psf_sigma_pix ** 2

    def resid(p):
        return p[0] * np.exp(-((x - p[1]) ** 2 + (y - p[2]) ** 2) / s2) - z

    def jac(p):
        g = np.exp(-((x - p[1]) ** 2 + (y - p[2]) ** 2) / s2)
        return np.column_stack([g, p[0] * g * 2 * (x - p[1]) / s2, p[0] * g * 2 * (y - p[2]) / s2])

    try:
        fit = least_squares(resid, [max(peak, 1e-3), cx, cy], jac=jac,
                            bounds=([0.0, ix - 1.5, iy - 1.5], [np.inf, ix + 1.5, iy + 1.5]),
                            x_scale=[max(abs(peak), 1.0), 0.3, 0.3], method="trf")
    except (ValueError, np.linalg.LinAlgError):
        return cx, cy, peak
    amp, fx, fy = (float(v) for v in fit.x)
    if not (fit.success and np.isfinite(fx) and np.isfinite(fy)) or max(abs(fx - ix), abs(fy - iy)) >= 1.49:
        return cx, cy, peak  # hit the bounds: not a PSF-like peak
    return fx, fy, amp


def _sample(arr: np.ndarray, x, y) -> np.ndarray:
    """Bilinear value of ``arr`` at 0-based (x, y), using only finite neighbours (renormalised).

    NaN where no neighbour is finite or the point is off the image.
    """
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    ny, nx = arr.shape
    out = np.full(x.shape, np.nan)
    for k, (xk, yk) in enumerate(zip(x, y)):
        if not (np.isfinite(xk) and np.isfinite(yk)) or not (-0.5 <= xk <= nx - 0.5 and -0.5 <= yk <= ny - 0.5):
            continue
        i0, j0 = int(np.floor(yk)), int(np.floor(xk))
        fy, fx = yk - i0, xk - j0
        num = den = 0.0
        for di, wy in ((0, 1 - fy), (1, fy)):
            for dj, wx in ((0, 1 - fx), (1, fx)):
                i, j = min(max(i0 + di, 0), ny - 1), min(max(j0 + dj, 0), nx - 1)
                v = arr[i, j]
                if np.isfinite(v) and wy * wx > 0:
                    num += wy * wx * v
                    den += wy * wx
        if den > 0:
            out[k] = num / den
    return out


def _edge_mask(images: SkyImages, frac: float) -> np.ndarray:
    """Pixels near the edge of the field: uncovered pixels within a few pixels, or low exposure."""
    from scipy.ndimage import binary_dilation

    sig = np.asarray(images.significance, dtype=float)
    bad = ~np.isfinite(sig)
    edge = binary_dilation(bad, iterations=_EDGE_MARGIN_PIX) if bad.any() else np.zeros(sig.shape, bool)
    # The image border counts as uncovered too (the field continues unseen beyond it).
    m = _EDGE_MARGIN_PIX
    edge[:m, :] = edge[-m:, :] = True
    edge[:, :m] = edge[:, -m:] = True
    expo = np.asarray(images.exposure, dtype=float)
    good = np.isfinite(expo)
    if good.any() and frac > 0:
        emax = float(np.max(expo[good]))
        if emax > 0:
            with np.errstate(invalid="ignore"):
                edge |= ~good | (expo < frac * emax)
    return edge


# -- coordinates ----------------------------------------------------------------------------------
def _pix_to_radec(wcs, x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
    if wcs.wcs.lngtyp == "RA":
        ra, dec = wcs.celestial.all_pix2world(x, y, 0)
        return np.asarray(ra) % 360.0, np.asarray(dec)
    c = wcs.celestial.pixel_to_world(x, y).fk5
    return c.ra.deg, c.dec.deg


def _radec_to_pix(wcs, ra, dec) -> tuple[np.ndarray, np.ndarray]:
    ra, dec = np.atleast_1d(np.asarray(ra, float)), np.atleast_1d(np.asarray(dec, float))
    if wcs.wcs.lngtyp == "RA":
        x, y = wcs.celestial.all_world2pix(ra, dec, 0)
        return np.asarray(x), np.asarray(y)
    from astropy.coordinates import SkyCoord

    x, y = wcs.celestial.world_to_pixel(SkyCoord(ra, dec, unit="deg", frame="fk5"))
    return np.asarray(x), np.asarray(y)


#: Public name of :func:`_radec_to_pix` (figures mark sources with it).
radec_to_pix = _radec_to_pix


def _sep_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle separation (degrees), haversine form (accurate at small angles), broadcast."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(a, float)) for a in (ra1, dec1, ra2, dec2))
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def _catalog_arrays(catalog) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, ra, dec) from a SkyModel, a Table, or an iterable of (name, ra, dec) / objects."""
    if catalog is None:
        return [], np.empty(0), np.empty(0)
    if isinstance(catalog, Table):
        cols = {c.upper(): c for c in catalog.colnames}
        name = cols.get("NAME") or cols.get("SRC_NAMES") or cols.get("SOURCE")
        ra = cols.get("RA_OBJ") or cols.get("RA") or cols.get("RA_FIN")
        dec = cols.get("DEC_OBJ") or cols.get("DEC") or cols.get("DEC_FIN")
        if not (name and ra and dec):
            raise ValueError(f"catalogue table needs name, RA and Dec columns, has {catalog.colnames}")
        return ([str(n).strip() for n in catalog[name]], np.asarray(catalog[ra], float),
                np.asarray(catalog[dec], float))
    if hasattr(catalog, "sources") and hasattr(catalog, "ra") and hasattr(catalog, "dec"):
        return [s.name for s in catalog.sources], np.asarray(catalog.ra, float), np.asarray(catalog.dec, float)
    names, ras, decs = [], [], []
    for item in catalog:
        if hasattr(item, "name") and hasattr(item, "ra"):
            n, r, d = item.name, item.ra, item.dec
        else:
            n, r, d = item
        names.append(str(n))
        ras.append(float(r))
        decs.append(float(d))
    return names, np.asarray(ras, float), np.asarray(decs, float)


def _norm_name(name: str) -> str:
    from ..sky.catalog import normalise_name

    return normalise_name(name)


# -- detection --------------------------------------------------------------------------------------
def empty_catalog() -> Table:
    """A source list with no rows (the columns of :data:`SRCL_COLUMNS`)."""
    return _empty_table()


def _empty_table() -> Table:
    t = Table()
    t["NAME"] = np.array([], dtype="U32")
    for c in ("RA_OBJ", "DEC_OBJ", "RA_FIN", "DEC_FIN", "DETSIG", "FLUX", "FLUX_ERR", "ERR_RAD"):
        t[c] = np.array([], dtype=np.float64)
    for c in ("NEW_SOURCE", "ISGRI_FLAG", "FLAG"):
        t[c] = np.array([], dtype=np.int16)
    return t


def _set_units(t: Table) -> None:
    for c in ("RA_OBJ", "DEC_OBJ", "RA_FIN", "DEC_FIN", "ERR_RAD"):
        t[c].unit = "deg"
    for c in ("FLUX", "FLUX_ERR"):
        t[c].unit = "count / s"
    t["DETSIG"].description = "significance at the fitted position (sigma)"
    t["ERR_RAD"].description = "90% error radius"
    t["FLAG"].description = "bit 1: near the field edge"


def detect_sources(images: SkyImages, *, threshold: float = 7.0, catalog=None, target=None,
                   psf_sigma_pix: float = 1.2, edge_exposure_fraction: float = 0.1,
                   catalog_match_radius_arcmin: float | None = None) -> Table:
    """Find, localise, measure and identify sources in a significance map.

    Parameters
    ----------
    images : SkyImages
        Mosaic or single image (significance, intensity, variance, exposure, WCS).
    threshold : float
        Detection threshold on the significance map (ODA's default 7).
    catalog : SkyModel, Table or iterable of (name, ra, dec), optional
        Known sources for identification.
    target : tuple (name, ra, dec), optional
        The query target. It is never added as a row; its name identifies a detection at its
        position only when no catalogue entry lies within 1′ of it (a position the catalogue
        does not know, named by the user).
    psf_sigma_pix : float
        Gaussian PSF σ in pixels (1.2 is a fair approximation of the ISGRI PSF).
    edge_exposure_fraction : float
        Exposure below this fraction of the map's maximum sets the edge flag.
    catalog_match_radius_arcmin : float, optional
        Fixed match radius; default max(3·ERR_RAD, 4′) per detection.

    Returns
    -------
    astropy.table.Table
        Columns :data:`SRCL_COLUMNS`, sorted by DETSIG descending. RA_OBJ/DEC_OBJ are the
        catalogue position for identified sources and the fitted one for new ones; RA_FIN/
        DEC_FIN the fitted position; DETSIG, FLUX, FLUX_ERR the bilinear significance,
        intensity and √variance at the fitted position (a source is kept when its peak pixel
        or its PSF-fit DETSIG passes the threshold); ERR_RAD the 90 % radius (deg,
        :func:`error_radius_deg`); NEW_SOURCE 1 for unidentified sources (named NEW_1, NEW_2, …
        by decreasing significance), else 0; ISGRI_FLAG 2 for catalogue sources, 1 for new
        ones (as ODA's catalogues); FLAG bits :data:`FLAG_EDGE`, :data:`FLAG_FORCED`.
        ``meta``: threshold, n_detected (peaks above threshold), psf_sigma_pix, and e1/e2 when
        known.
    """
    sig = np.asarray(images.significance, dtype=float)
    inten = np.asarray(images.intensity, dtype=float)
    var = np.asarray(images.variance, dtype=float)
    wcs = images.wcs
    edge = _edge_mask(images, edge_exposure_fraction)
    ny, nx = sig.shape

    def flag_at(x: float, y: float) -> int:
        i, j = int(round(y)), int(round(x))
        if not (0 <= i < ny and 0 <= j < nx):
            return FLAG_EDGE
        return FLAG_EDGE if edge[i, j] else 0

    # 1. peaks, PSF fits, measurements at the fitted positions
    dets = []
    # Resampling onto the mosaic grid lowers peak pixels (by up to ~20% for a source between
    # pixel centres), so a source whose PSF-fit significance passes the threshold can have a
    # peak pixel below it: candidates are taken from a lower pixel level and kept if either
    # the peak pixel or the PSF fit passes the threshold.
    for iy, ix in find_peaks(sig, threshold * CANDIDATE_FRACTION):
        fx, fy, _amp = fit_peak(sig, iy, ix, psf_sigma_pix)
        s = _sample(sig, fx, fy)[0]
        if not np.isfinite(s):
            s = float(sig[iy, ix])
        # Flux from a PSF-template fit (resampling lowers peaks); DETSIG = FLUX / FLUX_ERR.
        f, fe = point_source_flux(inten, var, fx, fy)
        if np.isfinite(f) and np.isfinite(fe) and fe > 0:
            s = f / fe
        if max(s, float(sig[iy, ix])) < threshold:
            continue
        dets.append({"x": fx, "y": fy, "DETSIG": float(s), "FLUX": float(f), "FLUX_ERR": float(fe),
                     "FLAG": flag_at(fx, fy)})
    if dets:
        ra, dec = _pix_to_radec(wcs, [d["x"] for d in dets], [d["y"] for d in dets])
        for d, r, de in zip(dets, ra, dec):
            d["RA_FIN"], d["DEC_FIN"] = float(r), float(de)
            d["ERR_RAD"] = float(error_radius_deg(d["DETSIG"]))
    dets.sort(key=lambda d: -d["DETSIG"])

    # 2. catalogue; a user-named target joins it only where the catalogue has nothing
    names, cra, cdec = _catalog_arrays(catalog)
    if target is not None:
        tname, tra, tdec = str(target[0]).strip(), float(target[1]), float(target[2])
        known = {_norm_name(n) for n in names}
        if (np.isfinite(tra) and np.isfinite(tdec) and tname.lower() not in ("", "target", "query")
                and _norm_name(tname) not in known
                and not (len(names) and np.min(_sep_deg(tra, tdec, cra, cdec)) * 60.0 <= _TARGET_ALIAS_ARCMIN)):
            names = list(names) + [tname]
            cra = np.append(cra, tra)
            cdec = np.append(cdec, tdec)

    # 3. identification: brightest first, nearest free catalogue entry within the radius
    taken: set[int] = set()
    for d in dets:
        d["match"] = None
        if not len(names):
            continue
        radius = (catalog_match_radius_arcmin if catalog_match_radius_arcmin is not None
                  else max(3.0 * d["ERR_RAD"] * 60.0, _MATCH_FLOOR_ARCMIN))
        sep = _sep_deg(d["RA_FIN"], d["DEC_FIN"], cra, cdec) * 60.0
        for k in np.argsort(sep):
            if sep[k] > radius:
                break
            if k not in taken:
                taken.add(int(k))
                d["match"] = int(k)
                break

    rows = []
    n_new = 0
    for d in dets:
        if d["match"] is not None:
            k = d["match"]
            name, ra_obj, dec_obj, new, iflag = names[k], float(cra[k]), float(cdec[k]), 0, 2
        else:
            n_new += 1
            name, ra_obj, dec_obj, new, iflag = f"NEW_{n_new}", d["RA_FIN"], d["DEC_FIN"], 1, 1
        rows.append((name, ra_obj, dec_obj, d["RA_FIN"], d["DEC_FIN"], d["DETSIG"], d["FLUX"], d["FLUX_ERR"],
                     d["ERR_RAD"], new, iflag, d["FLAG"]))

    t = _empty_table()
    if rows:
        t = Table(rows=rows, names=SRCL_COLUMNS,
                  dtype=[f"U{max(32, max(len(r[0]) for r in rows))}"] + ["f8"] * 8 + ["i2"] * 3)
        key = np.where(np.isfinite(t["DETSIG"]), -np.asarray(t["DETSIG"]), np.inf)
        t = t[np.argsort(key, kind="stable")]
    _set_units(t)
    t.meta["threshold"] = float(threshold)
    t.meta["n_detected"] = int(len(dets))
    t.meta["psf_sigma_pix"] = float(psf_sigma_pix)
    meta = images.meta or {}
    if meta.get("e1") is not None and meta.get("e2") is not None:
        t.meta["e1"], t.meta["e2"] = float(meta["e1"]), float(meta["e2"])
    return t


# -- ODA catalogue JSON ----------------------------------------------------------------------------
#: ODA column name → our column.
_ODA_COLUMNS = (("meta_ID", "meta_ID"), ("src_names", "NAME"), ("significance", "DETSIG"), ("ra", "RA_FIN"),
                ("dec", "DEC_FIN"), ("NEW_SOURCE", "NEW_SOURCE"), ("ISGRI_FLAG", "ISGRI_FLAG"),
                ("FLAG", "FLAG"), ("ERR_RAD", "ERR_RAD"))
_ODA_INT = {"meta_ID", "NEW_SOURCE", "ISGRI_FLAG", "FLAG"}


def _json_float(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None  # strict JSON has no NaN


def catalog_to_oda_json(table: Table) -> dict:
    """The ODA API catalogue dictionary (as ``api_cat_str`` of an ODA image product).

    Parameters
    ----------
    table : astropy.table.Table
        ISGR-SRCL-RES columns (from :func:`detect_sources` or :func:`catalog_from_oda_json`).
        ``ra``/``dec`` are RA_FIN/DEC_FIN, ``significance`` DETSIG; ``meta_ID`` is the
        table's meta_ID column if present, else the row index.

    Returns
    -------
    dict
        Keys cat_frame ("fk5"), cat_coord_units ("deg"), cat_column_list (one list per column),
        cat_column_names, cat_column_descr ([name, numpy dtype string]), cat_lat_name ("dec"),
        cat_lon_name ("ra"). ``json.dumps`` of it is what ODA returns.
    """
    n = len(table)
    cols = []
    descr = []
    for oda, ours in _ODA_COLUMNS:
        if oda == "meta_ID" and ours not in table.colnames:
            values = list(range(n))
        elif oda in ("ra", "dec") and ours not in table.colnames:
            values = [float(v) for v in table[ours.replace("_FIN", "_OBJ")]]
        else:
            values = list(table[ours])
        if oda == "src_names":
            values = [str(v) for v in values]
            width = max((len(v) for v in values), default=1)
            descr.append([oda, f"<U{max(width, 1)}"])
        elif oda in _ODA_INT:
            values = [int(v) for v in values]
            descr.append([oda, "<i8"])
        else:
            values = [_json_float(v) for v in values]
            descr.append([oda, "<f8"])
        cols.append(values)
    return {
        "cat_frame": str(table.meta.get("cat_frame", "fk5")),
        "cat_coord_units": str(table.meta.get("cat_coord_units", "deg")),
        "cat_column_list": cols,
        "cat_column_names": [c[0] for c in _ODA_COLUMNS],
        "cat_column_descr": descr,
        "cat_lat_name": "dec",
        "cat_lon_name": "ra",
    }


def catalog_from_oda_json(data) -> Table:
    """ODA API catalogue (dict or JSON text) → Table with ISGR-SRCL-RES column names.

    Parameters
    ----------
    data : dict or str or bytes
        E.g. the content of an ODA ``api_cat_str``.

    Returns
    -------
    astropy.table.Table
        Columns meta_ID, NAME, RA_OBJ, DEC_OBJ, RA_FIN, DEC_FIN (the catalogue's ra/dec, which
        ODA takes from the fitted positions), DETSIG, NEW_SOURCE, ISGRI_FLAG, FLAG, ERR_RAD,
        with the catalogue's values unchanged (e.g. NEW_SOURCE = -32768, OSA's null, for known
        sources). Columns ODA adds beyond these are kept under their own names. ``meta`` keeps
        cat_frame and cat_coord_units.
    """
    if isinstance(data, (str, bytes, bytearray)):
        data = json.loads(data)
    names = list(data["cat_column_names"])
    columns = data["cat_column_list"]
    if len(names) != len(columns):
        raise ValueError("cat_column_names and cat_column_list differ in length")
    descr = {d[0]: d[1] for d in data.get("cat_column_descr", [])}
    ours = dict(_ODA_COLUMNS)
    t = Table()
    for name, values in zip(names, columns):
        col = ours.get(name, name)
        dt = descr.get(name)
        if name == "src_names":
            arr = np.array([str(v) for v in values], dtype=dt if dt and dt.lstrip("<>|=").startswith("U") else str)
        elif dt:
            kind = np.dtype(dt).kind
            arr = np.array([np.nan if v is None and kind == "f" else v for v in values], dtype=dt)
        else:
            arr = np.array([np.nan if v is None else v for v in values])
        t[col] = arr
    if "RA_FIN" in t.colnames and "DEC_FIN" in t.colnames:
        i = t.colnames.index("RA_FIN")
        t.add_column(t["RA_FIN"].copy(), name="RA_OBJ", index=i)
        t.add_column(t["DEC_FIN"].copy(), name="DEC_OBJ", index=i + 1)
        t["RA_OBJ"].unit = t["DEC_OBJ"].unit = t["RA_FIN"].unit = t["DEC_FIN"].unit = "deg"
    if "ERR_RAD" in t.colnames:
        t["ERR_RAD"].unit = "deg"
    t.meta["cat_frame"] = data.get("cat_frame", "fk5")
    t.meta["cat_coord_units"] = data.get("cat_coord_units", "deg")
    return t
