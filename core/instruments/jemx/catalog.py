"""JEM-X source detection and its catalogue, with the columns of the real ODA JEM-X plugin.

Detection on a JEM-X significance map (a ScW image of :mod:`.decode` or a mosaic of them):
peaks ≥ ``threshold`` (:func:`core.imaging.detect.find_peaks`), sub-pixel positions by a
Gaussian PSF fit of the JEM-X main lobe (:func:`core.imaging.detect.fit_peak` with
:func:`.decode.psf_sigma_pix`); where IROS modelled a source at the peak its detector-space
PIF fit (position and rate) is used instead. Names come from the catalogue given (nearest
within max(2·r90, 2′)), else ``NEW_n``.

Error radius: r90 = √((R90_STAT/SNR)² + R90_SYS²). For a main lobe of σ = 0.88 pixel =
1.79′ a background-limited centroid has σ_axis ≈ √2·σ/SNR, so r90 = 2.146·√2·σ/SNR ≈ 5.4′/SNR
(the same reasoning as ISGRI's 18′/SNR for its 5.8′ lobe); the floor stands for the
in-flight alignment accuracy of JEM-X [approx, 0.5′].

Columns: the OSA ``JMXn-SRCL-RES`` names NAME, RA_OBJ, DEC_OBJ, DETSIG, FLUX, FLUX_ERR,
ERR_RAD, FLAG; the ODA catalogue JSON has ``meta_ID, src_names, significance, ra, dec,
FLAG, ERR_RAD`` — the columns of ``OsaJemxCatalog`` in oda-hub/dispatcher-plugin-integral
(``cdci_osa_plugin/osa_catalog.py``: BasicCatalog's meta_ID/src_names/significance/ra/dec
plus FLAG and ERR_RAD, RA/Dec from RA_OBJ/DEC_OBJ; no NEW_SOURCE or ISGRI_FLAG for JEM-X).
"""

from __future__ import annotations

import math

import numpy as np
from astropy.table import Table

from ...imaging.detect import find_peaks, fit_peak
from .decode import PIXEL_DEG, psf_sigma_pix

__all__ = ["R90_STAT_ARCMIN", "R90_SYS_ARCMIN", "SRCL_COLUMNS", "ODA_COLUMNS", "error_radius_deg",
           "detect_sources", "catalog_to_oda_json", "srcl_extname"]

R90_STAT_ARCMIN = 2.146 * math.sqrt(2.0) * 0.88 * PIXEL_DEG * 60.0
R90_SYS_ARCMIN = 0.5
SRCL_COLUMNS = ("NAME", "RA_OBJ", "DEC_OBJ", "DETSIG", "FLUX", "FLUX_ERR", "ERR_RAD", "FLAG")
ODA_COLUMNS = ("meta_ID", "src_names", "significance", "ra", "dec", "FLAG", "ERR_RAD")
#: FLAG bit: the peak is within 3 pixels of the edge of the covered field.
FLAG_EDGE = 1


def srcl_extname(unit: int) -> str:
    return f"JMX{int(unit)}-SRCL-RES"


def error_radius_deg(snr) -> np.ndarray:
    """90 % error radius (degrees) of a JEM-X position at significance ``snr``."""
    s = np.asarray(snr, float)
    s = np.where(np.isfinite(s) & (s > 1.0), s, 1.0)
    return np.hypot(R90_STAT_ARCMIN / s, R90_SYS_ARCMIN) / 60.0


def _sep_deg(ra1, dec1, ra2, dec2):
    r1, d1, r2, d2 = (np.radians(np.asarray(v, float)) for v in (ra1, dec1, ra2, dec2))
    c = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(r1 - r2)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def detect_sources(images, *, threshold: float = 7.0, catalog=None, unit: int = 1) -> Table:
    """Sources above ``threshold`` in a JEM-X :class:`~core.imaging.types.SkyImages`.

    ``catalog``: iterable of (name, ra, dec) or objects with name/ra/dec used for names.
    Returns a Table with :data:`SRCL_COLUMNS` (units deg, count/s), meta EXTNAME
    ``JMXn-SRCL-RES``, sorted by decreasing DETSIG.
    """
    sig = np.asarray(images.significance, float)
    inten = np.asarray(images.intensity, float)
    var = np.asarray(images.variance, float)
    covered = np.isfinite(sig)
    iros = list(images.meta.get("iros_sources", []))
    cat = []
    for item in catalog or ():
        if hasattr(item, "ra"):
            cat.append((str(getattr(item, "name", "")), float(item.ra), float(item.dec)))
        else:
            cat.append((str(item[0]), float(item[1]), float(item[2])))
    rows = []
    n_new = 0
    used: set[int] = set()
    found = []
    for iy, ix in find_peaks(sig, threshold):
        fx, fy, _ = fit_peak(sig, iy, ix, psf_sigma_pix())
        snr = float(sig[iy, ix])
        flux, flux_err = float(inten[iy, ix]), float(math.sqrt(var[iy, ix])) if var[iy, ix] > 0 else math.nan
        ra, dec = (float(v) for v in images.wcs.pixel_to_world_values(fx, fy))
        for k, s in enumerate(iros):
            if k not in used and math.hypot(s.get("iz", -99) - fy, s.get("iy", -99) - fx) <= 1.5 and s["snr"] > 0:
                ra, dec, flux, flux_err, snr = s["ra"], s["dec"], s["flux"], s["flux_err"], max(snr, s["snr"])
                used.add(k)
                break
        found.append((iy, ix, ra, dec, snr, flux, flux_err))
    # IROS sources above the threshold in the covered field whose put-back peak the image
    # search missed (blended with a neighbour, or on a coverage edge): listed from their fit.
    for k, s in enumerate(iros):
        iz, iy = int(round(s.get("iz", -1))), int(round(s.get("iy", -1)))
        if k in used or s["snr"] < threshold or not (0 <= iz < sig.shape[0] and 0 <= iy < sig.shape[1]):
            continue
        if covered[iz, iy]:
            found.append((iz, iy, s["ra"], s["dec"], s["snr"], s["flux"], s["flux_err"]))
    for iy, ix, ra, dec, snr, flux, flux_err in found:
        r90 = float(error_radius_deg(snr))
        name = None
        if cat:
            d = _sep_deg(ra, dec, [c[1] for c in cat], [c[2] for c in cat])
            k = int(np.argmin(d))
            if d[k] <= max(2.0 * r90, 2.0 / 60.0):
                name = cat[k][0]
        if name is None:
            n_new += 1
            name = f"NEW_{n_new}"
        box = covered[max(iy - 3, 0):iy + 4, max(ix - 3, 0):ix + 4]
        flag = FLAG_EDGE if (box.size < 49 or not box.all()) else 0
        rows.append((name, ra, dec, snr, flux, flux_err, r90, flag))
    t = Table(rows=rows or None, names=SRCL_COLUMNS,
              dtype=("U32", "f8", "f8", "f8", "f8", "f8", "f8", "i4"))
    if len(t):
        t.sort("DETSIG", reverse=True)
    for c, u in (("RA_OBJ", "deg"), ("DEC_OBJ", "deg"), ("ERR_RAD", "deg"), ("FLUX", "count/s"), ("FLUX_ERR", "count/s")):
        t[c].unit = u
    t.meta["EXTNAME"] = srcl_extname(unit)
    t.meta["INSTRUME"] = f"JMX{int(unit)}"
    return t


def catalog_to_oda_json(table: Table) -> dict:
    """The ODA API catalogue dict of a JEM-X source list (``OsaJemxCatalog`` columns)."""
    n = len(table)
    cols = [list(range(n)), [str(v) for v in table["NAME"]],
            [float(v) for v in table["DETSIG"]], [float(v) for v in table["RA_OBJ"]],
            [float(v) for v in table["DEC_OBJ"]], [int(v) for v in table["FLAG"]],
            [float(v) for v in table["ERR_RAD"]]]
    width = max((len(v) for v in cols[1]), default=1)
    descr = [["meta_ID", "<i8"], ["src_names", f"<U{max(width, 1)}"], ["significance", "<f8"], ["ra", "<f8"],
             ["dec", "<f8"], ["FLAG", "<i8"], ["ERR_RAD", "<f8"]]
    for c in cols[2:5] + cols[6:]:
        for i, v in enumerate(c):
            if not math.isfinite(v):
                c[i] = None
    return {"cat_frame": "fk5", "cat_coord_units": "deg", "cat_column_list": cols,
            "cat_column_names": list(ODA_COLUMNS), "cat_column_descr": descr, "cat_lat_name": "dec",
            "cat_lon_name": "ra"}
