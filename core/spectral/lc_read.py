"""Reader of light curves written by OSA, ODA or this service (OGIP ``*-SRC.-LCR`` / ``RATE`` tables).

Accepted: ISGRI ``ISGR-SRC.-LCR`` (OSA ``ii_light`` / ``lc_pick``, ODA ``isgri_lc``, ours),
JEM-X ``JMXn-SRC.-LCR``, and any OGIP ``HDUCLAS1 = LIGHTCURVE`` table with TIME and RATE
columns. Times follow the OGIP timing keywords: ``MJDREF`` (or ``MJDREFI`` + ``MJDREFF``),
``TIMEUNIT`` (``d`` or ``s``; INTEGRAL writes IJD days from MJDREF 51544), ``TIMEZERO``, and
``TIMEPIXR`` (where in the bin TIME lies; OGIP default 0.5, the centre). The bin width is the
``TIMEDEL`` column when there is one, else the ``TIMEDEL`` keyword.

Real files carry bad rows (the ODA JEM-X light curve of GRB 221009A has a bin with
TIMEDEL = −1000 s and a duplicated time): they are left out, never silently kept, and every
fix is listed in :attr:`LightCurve.notes`. Rules, in order:

1. rows with a non-finite TIME, RATE or ERROR, or ERROR < 0, are dropped;
2. rows with TIMEDEL ≤ 0 (a bin cannot have a negative or zero width) are dropped;
3. rows are sorted by time; rows with the same time as an earlier one are dropped (exact
   copies, or a second measurement of the same bin whose independence we cannot know: the
   first one is kept), so times are strictly increasing, as plotting and Bayesian blocks need.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["LightCurve", "read_lightcurve", "MAX_LC_BYTES", "MAX_LC_ROWS"]

#: Largest file accepted (a 10⁶-row light curve is ~40 MB).
MAX_LC_BYTES = 64 * 1024 * 1024
#: Most rows kept.
MAX_LC_ROWS = 2_000_000


@dataclass
class LightCurve:
    """A light curve with times as MJD (TT) bin centres.

    Attributes
    ----------
    time_mjd, timedel_s, rate, error : numpy.ndarray
        Bin centre [MJD], width [s], rate and 1σ error [RATE's unit, usually count/s].
    fracexp, back_rate, back_error : numpy.ndarray or None
        When the file has them (FRACEXP; BACKV/BACKE or BRATE/BERROR).
    name, instrument, extname, rate_unit : str
    e_min, e_max : float
        Band [keV] (NaN when not given).
    n_input : int
        Rows in the file.
    notes : list of str
        Every row left out and why.
    """

    time_mjd: np.ndarray
    timedel_s: np.ndarray
    rate: np.ndarray
    error: np.ndarray
    fracexp: np.ndarray | None
    back_rate: np.ndarray | None
    back_error: np.ndarray | None
    name: str = ""
    instrument: str = ""
    extname: str = ""
    rate_unit: str = "count/s"
    e_min: float = math.nan
    e_max: float = math.nan
    n_input: int = 0
    notes: list = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.time_mjd.size)

    def to_dict(self) -> dict:
        """JSON-able form (NaN → None)."""
        def arr(a):
            return None if a is None else [None if not math.isfinite(float(v)) else float(v) for v in a]

        def num(v):
            return None if not math.isfinite(float(v)) else float(v)

        return {"name": self.name, "instrument": self.instrument, "extname": self.extname,
                "rate_unit": self.rate_unit, "e_min_keV": num(self.e_min), "e_max_keV": num(self.e_max),
                "n_input": int(self.n_input), "n": len(self), "notes": list(self.notes),
                "time_mjd": arr(self.time_mjd), "timedel_s": arr(self.timedel_s), "rate": arr(self.rate),
                "error": arr(self.error), "fracexp": arr(self.fracexp), "back_rate": arr(self.back_rate),
                "back_error": arr(self.back_error)}


def _is_lc_table(hdu) -> bool:
    from astropy.io import fits

    if not isinstance(hdu, fits.BinTableHDU) or hdu.data is None:
        return False
    names = {n.upper() for n in hdu.columns.names}
    return "TIME" in names and "RATE" in names


def _unit_seconds(unit: str, default_unit: str) -> float:
    u = (unit or default_unit or "s").strip().lower()
    if u in ("d", "day", "days", "jd"):
        return 86400.0
    if u in ("h", "hr", "hour"):
        return 3600.0
    if u in ("s", "sec", "second", "seconds", ""):
        return 1.0
    raise ValueError(f"unknown time unit {unit!r} (d or s expected)")


def _mjdref(header) -> float:
    if "MJDREFI" in header:
        return float(header["MJDREFI"]) + float(header.get("MJDREFF", 0.0))
    if "MJDREF" in header:
        return float(header["MJDREF"])
    # INTEGRAL products always use IJD (MJD 51544.0) when they say nothing.
    return 51544.0


def read_lightcurve(source) -> LightCurve:
    """Read a light curve from a path, bytes or a file object.

    Raises
    ------
    ValueError
        With a message naming what is wrong (not FITS, no light-curve table, no usable row, too
        large).
    """
    from astropy.io import fits

    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.stat().st_size > MAX_LC_BYTES:
            raise ValueError(f"file larger than {MAX_LC_BYTES // 2**20} MB")
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        data = source.read(MAX_LC_BYTES + 1)
    if len(data) > MAX_LC_BYTES:
        raise ValueError(f"file larger than {MAX_LC_BYTES // 2**20} MB")
    if data[:2] == b"\x1f\x8b":
        import gzip

        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(4 * MAX_LC_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise ValueError(f"not a readable gzip file ({exc})") from None
        if len(data) > 4 * MAX_LC_BYTES:
            raise ValueError("file too large once decompressed")
    if not data.startswith(b"SIMPLE  ="):
        raise ValueError("not a FITS file (it must start with SIMPLE =)")
    try:
        hdul = fits.open(io.BytesIO(data), memmap=False)
        hdul.verify("silentfix")
    except Exception as exc:  # astropy raises many types on damaged files
        raise ValueError(f"not a readable FITS file ({type(exc).__name__})") from None
    with hdul:
        tables = [h for h in hdul if _is_lc_table(h)]
        if not tables:
            raise ValueError("no light-curve table (a binary table with TIME and RATE columns)")
        # Prefer the OSA/OGIP light-curve extension when several tables qualify.
        hdu = next((h for h in tables if str(h.header.get("EXTNAME", "")).upper().endswith("-LCR")
                    or str(h.header.get("HDUCLAS1", "")).upper() == "LIGHTCURVE"), tables[0])
        return _from_hdu(hdu, hdul[0].header)


def _column(d, names, *candidates):
    for c in candidates:
        if c in names:
            return np.asarray(d[names[c]], dtype=float).ravel()
    return None


def _from_hdu(hdu, primary) -> LightCurve:
    h = hdu.header
    d = hdu.data
    names = {n.upper(): n for n in d.columns.names}
    n_input = len(d)
    if n_input > MAX_LC_ROWS:
        raise ValueError(f"{n_input} rows: at most {MAX_LC_ROWS} are accepted")
    timeunit = str(h.get("TIMEUNIT", primary.get("TIMEUNIT", "d"))).strip()
    tcol = hdu.columns[names["TIME"]]
    t_scale = _unit_seconds(tcol.unit or "", timeunit)
    time = _column(d, names, "TIME")
    rate = _column(d, names, "RATE")
    error = _column(d, names, "ERROR", "STAT_ERR", "RATE_ERR")
    notes: list[str] = []
    if error is None:
        raise ValueError("the table has RATE but no ERROR column")
    if "TIMEDEL" in names:
        dcol = hdu.columns[names["TIMEDEL"]]
        timedel_s = _column(d, names, "TIMEDEL") * _unit_seconds(dcol.unit or "", timeunit)
    elif "TIMEDEL" in h:
        timedel_s = np.full(n_input, float(h["TIMEDEL"]) * _unit_seconds("", timeunit))
    else:
        # No width anywhere: the spacing of consecutive times (the last bin as its neighbour).
        order = np.argsort(time)
        gaps = np.diff(time[order]) * t_scale
        timedel_s = np.full(n_input, float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else math.nan)
        notes.append("no TIMEDEL: bin width taken as the median time step")
    fracexp = _column(d, names, "FRACEXP")
    back = _column(d, names, "BACKV", "BRATE")
    back_err = _column(d, names, "BACKE", "BERROR")

    pixr = float(h.get("TIMEPIXR", 0.5))
    zero = float(h.get("TIMEZERO", 0.0))
    mjdref = _mjdref(h)
    centre_mjd = mjdref + (time + zero) * t_scale / 86400.0 + (0.5 - pixr) * timedel_s / 86400.0

    keep = np.ones(n_input, bool)
    bad = ~(np.isfinite(time) & np.isfinite(rate) & np.isfinite(error) & (error >= 0))
    if bad.any():
        notes.append(f"{int(bad.sum())} row(s) with a non-finite TIME/RATE/ERROR or a negative ERROR left out")
    keep &= ~bad
    width_bad = keep & ~(np.isfinite(timedel_s) & (timedel_s > 0))
    if width_bad.any():
        rows = ", ".join(str(int(i) + 1) for i in np.flatnonzero(width_bad)[:5])
        notes.append(f"{int(width_bad.sum())} row(s) with TIMEDEL ≤ 0 left out (row {rows})")
    keep &= ~width_bad
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(centre_mjd[idx], kind="stable")]
    if idx.size:
        dup = np.r_[False, np.diff(time[idx]) == 0]
        if dup.any():
            rows = ", ".join(str(int(i) + 1) for i in idx[dup][:5])
            notes.append(f"{int(dup.sum())} row(s) repeating an earlier time left out (row {rows})")
            idx = idx[~dup]
    if idx.size == 0:
        raise ValueError("no usable row (every row has a bad TIME, RATE, ERROR or TIMEDEL)")

    def pick(a):
        return None if a is None else a[idx]

    name = str(h.get("NAME", h.get("OBJECT", primary.get("OBJECT", "")))).strip()
    instrument = str(h.get("INSTRUME", primary.get("INSTRUME", ""))).strip()
    rcol = hdu.columns[names["RATE"]]
    e1 = h.get("E_MIN", primary.get("E_MIN"))
    e2 = h.get("E_MAX", primary.get("E_MAX"))
    return LightCurve(centre_mjd[idx], timedel_s[idx], rate[idx], error[idx], pick(fracexp), pick(back),
                      pick(back_err), name=name, instrument=instrument, extname=str(h.get("EXTNAME", "")).strip(),
                      rate_unit=str(rcol.unit or "count/s"), e_min=float(e1) if e1 is not None else math.nan,
                      e_max=float(e2) if e2 is not None else math.nan, n_input=n_input, notes=notes)
