"""Source lists for spectra and light curves: from files users upload or edit.

ODA's catalogue round trip: a mosaic's catalogue is edited (sources removed, added by name
or position) and sent back as ``selected_catalog``. :func:`catalog_rows` turns any of the
forms astronomers hold into the ``(name, ra, dec)`` rows of
:func:`core.query.parse_catalog`: an ODA catalogue JSON (``api_cat_str``), our ISGR-SRCL-RES
FITS or ECSV, or any table with name and RA/Dec columns.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..errors import QueryError

__all__ = ["catalog_rows", "read_catalog_file", "MERGE_RADIUS_ARCMIN", "merge_close_sources", "with_target"]

#: Sources closer than this (arcmin) are one source to the PIF fit. ISGRI's angular
#: resolution is 12′ FWHM (coded-mask.md): two PIF models this close are nearly the same
#: pattern on the detector, and fitting both splits one flux between two anti-correlated
#: rates with errors many times too large (3C 279 added by hand at a catalogue entry's
#: position: errors ×37). The closest distinct pair of the sky model, 1E 1743.1-2843 and
#: IGR J17461-2853, is 12.4′ apart and stays two sources.
MERGE_RADIUS_ARCMIN = 12.0

_NAME_COLS = ("NAME", "SRC_NAMES", "SOURCE", "SOURCE_NAME", "OBJECT")
_RA_COLS = ("RA_FIN", "RA_OBJ", "RA", "RAJ2000", "RA_DEG")
_DEC_COLS = ("DEC_FIN", "DEC_OBJ", "DEC", "DEJ2000", "DECJ2000", "DEC_DEG")


def _pick(colnames, options):
    upper = {c.upper(): c for c in colnames}
    for o in options:
        if o in upper:
            return upper[o]
    return None


def catalog_rows(table) -> list[tuple[str, float, float]]:
    """``(name, ra_deg, dec_deg)`` rows of an astropy Table with name and position columns."""
    ra_col, dec_col = _pick(table.colnames, _RA_COLS), _pick(table.colnames, _DEC_COLS)
    if ra_col is None or dec_col is None:
        raise QueryError("selected_catalog", f"no RA/Dec columns in the table (has {', '.join(table.colnames[:12])})",
                         "columns NAME, RA_FIN/RA_OBJ/RA and DEC_FIN/DEC_OBJ/DEC in degrees")
    name_col = _pick(table.colnames, _NAME_COLS)
    rows = []
    for i, r in enumerate(table):
        name = str(r[name_col]).strip() if name_col else f"SRC_{i + 1}"
        ra, dec = float(np.asarray(r[ra_col])), float(np.asarray(r[dec_col]))
        rows.append((name, ra, dec))
    return rows


def read_catalog_file(source, filename: str | None = None) -> list[tuple[str, float, float]]:
    """Rows of a catalogue file: ECSV, FITS (first table HDU, e.g. ISGR-SRCL-RES) or ODA JSON.

    Parameters
    ----------
    source : str, pathlib.Path or bytes
        A path, or the file's content (an upload).
    filename : str, optional
        Name of an uploaded file (its extension picks the format when ``source`` is bytes).

    Raises
    ------
    QueryError
        (field ``selected_catalog``) if the file cannot be read as a catalogue.
    """
    from astropy.table import Table

    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise QueryError("catalog", f"no such file {path.name!r}", "an ECSV, FITS or ODA JSON catalogue")
        data, filename = path.read_bytes(), filename or path.name
    else:
        data = bytes(source)
    name = (filename or "").lower()
    try:
        if name.endswith(".json") or data.lstrip()[:1] in (b"{", b"["):
            from ..query import parse_catalog

            return [tuple(r) for r in parse_catalog(json.loads(data))]
        if data[:6] == b"SIMPLE" or name.endswith((".fits", ".fit", ".fts")):
            from astropy.io import fits

            with fits.open(io.BytesIO(data)) as hdul:
                hdu = next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU)), None)
                if hdu is None:
                    raise ValueError("no table extension")
                table = Table(hdu.data)
        else:
            table = Table.read(data.decode("utf-8"), format="ascii.ecsv" if name.endswith(".ecsv") or
                               data.startswith(b"# %ECSV") else "ascii")
    except QueryError:
        raise
    except Exception as exc:
        raise QueryError("selected_catalog", f"cannot read {filename or 'the file'} as a catalogue "
                         f"({exc.__class__.__name__}: {str(exc)[:120]})", "ECSV, FITS or ODA JSON") from None
    return catalog_rows(table)


def _catalogue_names() -> set[str]:
    from ..sky.catalog import normalise_name, sky_model

    return {normalise_name(src.name) for src in sky_model()}


def merge_close_sources(rows, radius_arcmin: float = MERGE_RADIUS_ARCMIN) -> tuple[list[tuple], list[dict]]:
    """One entry per group of sources closer than ``radius_arcmin``.

    Of two entries closer than the radius the one kept is a catalogue name over a new or
    user-given one (``NEW_1``, a name added by hand), and otherwise the first in ``rows``;
    the other is dropped, never fitted beside it.

    Returns
    -------
    (rows, merged)
        The kept ``(name, ra, dec)`` rows in their original order, and one
        ``{"kept", "dropped", "separation_arcmin"}`` record per dropped entry.
    """
    rows = [(str(n), float(r), float(d)) for n, r, d in rows]
    if len(rows) < 2:
        return rows, []
    from ..archive.selection import angular_distance

    ra = np.array([r[1] for r in rows])
    dec = np.array([r[2] for r in rows])
    from ..sky.catalog import normalise_name

    names = _catalogue_names()
    known = [normalise_name(r[0]) in names and not r[0].upper().startswith("NEW_") for r in rows]
    # Catalogue names first, then the given order: the first of a close group survives.
    priority = sorted(range(len(rows)), key=lambda i: (not known[i], i))
    kept: list[int] = []
    merged = []
    for i in priority:
        sep = angular_distance(ra[i], dec[i], ra[kept], dec[kept]) * 60.0 if kept else np.array([])
        close = np.flatnonzero(sep < radius_arcmin)
        if close.size:
            k = kept[int(close[np.argmin(sep[close])])]
            merged.append({"kept": rows[k][0], "dropped": rows[i][0], "separation_arcmin": round(float(sep.min()), 3)})
        else:
            kept.append(i)
    return [rows[i] for i in sorted(kept)], merged


def with_target(rows, name: str, ra: float, dec: float, radius_arcmin: float = MERGE_RADIUS_ARCMIN) -> list[tuple]:
    """``rows`` plus the query target, unless an entry lies within ``radius_arcmin`` of it
    (the spectrum of a target that the image did not detect is still extracted)."""
    rows = list(rows)
    if not (np.isfinite(ra) and np.isfinite(dec)):
        return rows
    from ..archive.selection import angular_distance

    if rows and np.min(angular_distance(ra, dec, np.array([r[1] for r in rows]),
                                        np.array([r[2] for r in rows]))) * 60.0 < radius_arcmin:
        return rows
    return rows + [(name or "target", float(ra), float(dec))]
