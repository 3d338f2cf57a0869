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

__all__ = ["catalog_rows", "read_catalog_file"]

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
