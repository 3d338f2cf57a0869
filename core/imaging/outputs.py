"""Product files of an image query: source list (FITS, ECSV), ds9 regions and a PNG of the mosaic.

The FITS source list follows OSA's ``ISGR-SRCL-RES`` (instruments.md, "OSA product formats");
the region file is ds9/fk5, written with the ``regions`` package; the PNG is drawn with
matplotlib's object API on the Agg canvas (no pyplot, so no global figure state).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from .types import SkyImages

__all__ = ["write_catalog_fits", "write_catalog_ecsv", "write_region_file", "mosaic_png",
           "REGION_MIN_RADIUS_ARCMIN"]

#: Region circles are never smaller than this (arcmin): a 0.3′ circle is invisible in ds9.
REGION_MIN_RADIUS_ARCMIN = 2.0

# OSA column order and FITS types (D: float64, I: int16).
_OSA_ORDER = ("NAME", "RA_OBJ", "DEC_OBJ", "RA_FIN", "DEC_FIN", "DETSIG", "FLUX", "FLUX_ERR", "ERR_RAD",
              "NEW_SOURCE", "ISGRI_FLAG", "FLAG")
_INT_COLUMNS = ("NEW_SOURCE", "ISGRI_FLAG", "FLAG", "meta_ID")


def _plain(v):
    """numpy scalars → Python (FITS headers and YAML want plain types)."""
    return v.item() if hasattr(v, "item") else v


def write_catalog_fits(table: Table, path, *, naming=None) -> Path:
    """Write a source list as an OSA-style ``ISGR-SRCL-RES`` binary table.

    ``naming`` (:class:`core.instruments.base.FitsNaming`): the instrument's EXTNAME
    (``catalog``) and TELESCOP/INSTRUME/DETNAM; default ISGRI's.

    Parameters
    ----------
    table : astropy.table.Table
        From :func:`core.imaging.detect.detect_sources` (or with a subset of its columns).
    path : str or Path
        Output file (overwritten).

    Returns
    -------
    Path
        ``path``. Columns in OSA order (NAME, RA_OBJ, DEC_OBJ, RA_FIN, DEC_FIN, DETSIG, FLUX,
        FLUX_ERR, ERR_RAD, NEW_SOURCE, ISGRI_FLAG, FLAG; others after), flags as int16; header
        TELESCOP/INSTRUME/DETNAM, RADECSYS FK5, EQUINOX 2000, E_MIN/E_MAX and the detection
        threshold when known.
    """
    path = Path(path)
    names = [c for c in _OSA_ORDER if c in table.colnames] + [c for c in table.colnames if c not in _OSA_ORDER]
    t = Table(table[names], copy=True)
    t.meta.clear()  # meta is written explicitly below as proper FITS keywords
    for c in _INT_COLUMNS:
        if c in t.colnames:
            t[c] = np.asarray(t[c]).astype(np.int16 if c != "meta_ID" else np.int32)
    if "NAME" in t.colnames:
        width = max(20, max((len(str(v)) for v in t["NAME"]), default=0))
        t["NAME"] = np.asarray([str(v) for v in t["NAME"]], dtype=f"U{width}")
    hdu = fits.table_to_hdu(t)
    h = hdu.header
    h["EXTNAME"] = (naming.extnames["catalog"] if naming else "ISGR-SRCL-RES", "name of this binary table extension")
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    h["HDUCLAS1"] = ("SRCL", "source list")
    h["TELESCOP"] = (naming.telescop if naming else "INTEGRAL", "mission")
    h["INSTRUME"] = (naming.instrume if naming else "IBIS", "instrument")
    h["DETNAM"] = (naming.detnam if naming else "ISGRI", "detector")
    h["RADECSYS"] = ("FK5", "coordinate frame (OSA keyword)")
    h["RADESYS"] = ("FK5", "coordinate frame")
    h["EQUINOX"] = (2000.0, "equinox of the coordinates")
    meta = table.meta or {}
    if meta.get("e1") is not None and meta.get("e2") is not None:
        h["E_MIN"] = (float(meta["e1"]), "[keV] lower energy bound")
        h["E_MAX"] = (float(meta["e2"]), "[keV] upper energy bound")
    if meta.get("threshold") is not None:
        h["DETTHR"] = (float(meta["threshold"]), "detection threshold (sigma)")
    if meta.get("n_detected") is not None:
        h["NDETECT"] = (int(meta["n_detected"]), "sources found above the threshold")
    h.add_comment("ERR_RAD: 90% error radius [deg]. FLAG bit 1: near the field edge; "
                  "bit 2: target listed although not detected.")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True, output_verify="exception")
    return path


def write_catalog_ecsv(table: Table, path) -> Path:
    """Write a source list as ECSV (columns, units and meta kept; readable by ``Table.read``)."""
    path = Path(path)
    t = Table(table, copy=True)
    t.meta = {str(k): _plain(v) for k, v in (table.meta or {}).items()}
    t.write(path, format="ascii.ecsv", overwrite=True)
    return path


def _colour(row) -> str:
    if "FLAG" in row.colnames and int(row["FLAG"]) & 2:
        return "yellow"    # target listed although not detected
    if "NEW_SOURCE" in row.colnames and int(row["NEW_SOURCE"]) == 1:
        return "red"       # not in the catalogue
    return "green"


def write_region_file(table: Table, path) -> Path:
    """ds9 region file (fk5): a circle per source, radius max(ERR_RAD, 2′), labelled by name.

    Colours: green catalogue sources, red new sources, yellow a target that was not detected.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion, Regions

    path = Path(path)
    ra_col = "RA_FIN" if "RA_FIN" in table.colnames else "RA_OBJ"
    dec_col = "DEC_FIN" if "DEC_FIN" in table.colnames else "DEC_OBJ"
    regs = []
    for row in table:
        err = float(row["ERR_RAD"]) * 60.0 if "ERR_RAD" in table.colnames else np.nan
        radius = max(err, REGION_MIN_RADIUS_ARCMIN) if np.isfinite(err) else REGION_MIN_RADIUS_ARCMIN
        centre = SkyCoord(float(row[ra_col]), float(row[dec_col]), unit="deg", frame="fk5")
        regs.append(CircleSkyRegion(centre, radius * u.arcmin, meta={"text": str(row["NAME"])},
                                    visual={"color": _colour(row), "width": 2}))
    text = Regions(regs).serialize(format="ds9") if regs else ""
    lines = text.splitlines()
    # regions names the FK5 frame "j2000" (a ds9 synonym); write the canonical "fk5".
    lines = ["fk5" if ln.strip() == "j2000" else ln for ln in lines]
    # regions builds the "global" properties from a set intersection, so their order follows
    # the string hash seed: sorted, the same catalogue writes the same bytes in every process.
    lines = [_sorted_global(ln) if ln.startswith("global ") else ln for ln in lines]
    if not any(ln.strip() == "fk5" for ln in lines):  # empty list: still a valid ds9 file
        lines = ["# Region file format: DS9 astropy/regions", "fk5", *lines[1:]]
    path.write_text("\n".join(lines) + "\n")
    return path


def _sorted_global(line: str) -> str:
    import re

    props = re.findall(r"(\w+)=(\{[^}]*\}|\S+)", line[len("global "):])
    return "global " + " ".join(f"{k}={v}" for k, v in sorted(props))


def _stretch(name: str, lo: float, hi: float):
    from astropy.visualization import AsinhStretch, LinearStretch, LogStretch, SqrtStretch

    # asinh is linear below ~a (in units of the full range) and logarithmic above: put the
    # turnover near 5σ so that the noise stays visible next to a source of hundreds of σ.
    a = float(np.clip(5.0 / max(hi - lo, 1e-9), 1e-4, 0.1))
    stretches = {"asinh": lambda: AsinhStretch(a=a), "linear": LinearStretch, "sqrt": SqrtStretch,
                 "log": LogStretch}
    try:
        return stretches[str(name).lower()]()
    except KeyError:
        raise ValueError(f"unknown stretch {name!r}; use one of {', '.join(stretches)}") from None


def mosaic_png(images: SkyImages, table: Table | None, path, *, title: str | None = None,
               vmin: float | None = None, vmax: float | None = None, stretch: str = "asinh") -> Path:
    """Publication-quality PNG of the significance map with the detected sources.

    Parameters
    ----------
    images : SkyImages
        Mosaic (its significance plane is shown; NaN = not covered, drawn light grey).
    table : astropy.table.Table or None
        Sources to mark (circle + name): catalogue sources cyan, new ones orange-red, a forced
        target yellow.
    path : str or Path
        Output PNG (150 dpi).
    title : str, optional
        Default: "ISGRI <e1>–<e2> keV significance, <n> ScWs" from the meta.
    vmin, vmax : float, optional
        Colour range in σ; default −3 (or the map's minimum if higher) to the maximum (≥ 10).
    stretch : {"asinh", "linear", "sqrt", "log"}
        Colour stretch (asinh shows noise and bright sources together).

    Returns
    -------
    Path
        ``path``.
    """
    from astropy.visualization import ImageNormalize
    from matplotlib import colormaps, patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    sig = np.asarray(images.significance, dtype=float)
    finite = np.isfinite(sig)
    smin = float(np.min(sig[finite])) if finite.any() else -3.0
    smax = float(np.max(sig[finite])) if finite.any() else 10.0
    lo = vmin if vmin is not None else max(smin, -3.0)
    hi = vmax if vmax is not None else max(smax, 10.0)
    if not hi > lo:
        hi = lo + 1.0
    # clip=False: astropy drops the NaN mask when clipping; the colour map clamps out-of-range
    # values to its end colours anyway.
    norm = ImageNormalize(vmin=lo, vmax=hi, stretch=_stretch(stretch, lo, hi), clip=False)

    ny, nx = sig.shape
    aspect = ny / nx if nx else 1.0
    width = 8.0
    height = float(np.clip(width * aspect * 0.9 + 0.8, 4.5, 11.0))
    fig = Figure(figsize=(width, height), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1, projection=images.wcs.celestial)
    cmap = colormaps["magma"].with_extremes(bad="#d9d9d9")
    # Masked, not NaN: the normalisation would otherwise clip NaN to the top colour.
    im = ax.imshow(np.ma.masked_invalid(sig), origin="lower", cmap=cmap, norm=norm, interpolation="nearest")
    ra_c, dec_c = ax.coords[0], ax.coords[1]
    if images.wcs.wcs.lngtyp == "RA":
        ra_c.set_axislabel("Right Ascension (J2000)")
        dec_c.set_axislabel("Declination (J2000)")
        ra_c.set_major_formatter("hh:mm")
        dec_c.set_major_formatter("dd")
    ax.coords.grid(color="white", alpha=0.35, linestyle="dotted", linewidth=0.6)
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    cb = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02)
    cb.set_label("significance (σ)")
    if str(stretch).lower() == "asinh":
        # The default locator bunches ticks at the compressed top of an asinh bar.
        nice = np.array([-5, -3, 0, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000,
                         2000, 5000])
        ticks = nice[(nice >= lo) & (nice <= hi)]
        pos = norm(ticks)   # keep ticks ≥ 4 % of the bar apart
        keep = [0]
        for i in range(1, len(ticks)):
            if pos[i] - pos[keep[-1]] >= 0.04:
                keep.append(i)
        cb.set_ticks(ticks[keep])

    if table is not None and len(table):
        from .detect import radec_to_pix

        ra_col = "RA_FIN" if "RA_FIN" in table.colnames else "RA_OBJ"
        dec_col = "DEC_FIN" if "DEC_FIN" in table.colnames else "DEC_OBJ"
        xs, ys = radec_to_pix(images.wcs, np.asarray(table[ra_col], float), np.asarray(table[dec_col], float))
        stroke = [patheffects.withStroke(linewidth=2.2, foreground="black")]
        r_mark = max(min(nx, ny) / 60.0, 4.0)   # marker radius in pixels, scales with the map
        for row, x, y in zip(table, xs, ys):
            if not (np.isfinite(x) and np.isfinite(y) and -0.5 <= x <= nx - 0.5 and -0.5 <= y <= ny - 0.5):
                continue
            c = {"green": "cyan", "red": "#ff6e54"}.get(_colour(row), _colour(row))
            ax.add_patch(_circle((x, y), r_mark, c))
            ax.text(x + r_mark * 0.9, y + r_mark * 0.9, str(row["NAME"]), color=c, fontsize=7,
                    ha="left", va="bottom", path_effects=stroke, clip_on=True)

    if title is None:
        meta = images.meta or {}
        band = ""
        if meta.get("e1") is not None and meta.get("e2") is not None:
            band = f" {meta['e1']:g}–{meta['e2']:g} keV"
        nscw = f", {meta['n_scw']} ScWs" if meta.get("n_scw") else ""
        title = f"{meta.get('instrument_label', 'ISGRI')}{band} significance{nscw}"
    ax.set_title(title)
    fig.savefig(path, dpi=150, facecolor="white")
    return path


def _circle(xy, r, colour):
    from matplotlib.patches import Circle

    return Circle(xy, r, fill=False, edgecolor=colour, linewidth=1.2)
