"""INTEGRAL time system: ScW lists by time and sky cone, and time conversions.

What ODA's ``timesystem`` service answers (``/gw/timesystem/api/v1.0/...``, served by
:mod:`server.timesystem`), computed from the archive's pointing history:

* :func:`scw_list`: pointing ScWs overlapping [T1, T2] whose axis is within ``radius`` of
  (RA, Dec) and with at least ``min_good`` s of good time, as bare 12-digit ids in time
  order (or the requested columns);
* :func:`convert_time`: IJD, UTC, MJD, REVNUM (revolution) and SCWID (the pointing ScW at
  that time) into each other.

Times are read leniently, as the real service reads them: ``2015-06-25T4:05:59`` (one-digit
fields), ``2003-03-15T23:27:40.0``, a date alone, IJD (< 20000) or MJD numbers; a T1 before
launch (or a T2 after the end) selects from the mission's start (end).
"""

from __future__ import annotations

import math
import re

import numpy as np
from astropy.time import Time

from ..errors import QueryError
from ..timeutil import IJD_MJDREF, ijd_to_isot, time_to_ijd
from .selection import angular_distance

__all__ = ["parse_time_lenient", "scw_list", "convert_time", "TIME_FORMATS", "COLUMNS", "READINESS"]

#: Formats of :func:`convert_time` (``ANY`` as input: detected; as output: all of them).
TIME_FORMATS = ("IJD", "UTC", "MJD", "REVNUM", "SCWID")
#: Columns :func:`scw_list` can return.
COLUMNS = ("SWID", "RA_SCX", "DEC_SCX", "TSTART", "TSTOP", "REVOL", "TELAPSE", "GOOD_ISGRI", "GOOD_JEMX")
#: Archive readiness levels the service accepts (one archive here: consolidated).
READINESS = ("cons", "nrt", "any")

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(\.\d*)?)?)?)?Z?$")


def parse_time_lenient(text, field: str = "T1") -> float:
    """IJD of a time written as ODA users write them (see the module text)."""
    s = str(text).strip()
    try:
        x = float(s)
    except ValueError:
        x = None
    if x is not None:
        if not math.isfinite(x):
            raise QueryError(field, f"{s[:40]!r} is not a time", "UTC (YYYY-MM-DDThh:mm:ss), IJD or MJD")
        return x - IJD_MJDREF if x > 20000 else x
    m = _ISO.match(s)
    if not m:
        raise QueryError(field, f"cannot read {s[:40]!r} as a time", "UTC as YYYY-MM-DDThh:mm:ss, IJD or MJD")
    y, mo, d, hh, mm, ss, frac = m.groups()
    iso = f"{y}-{int(mo):02d}-{int(d):02d}T{int(hh or 0):02d}:{int(mm or 0):02d}:{int(ss or 0):02d}{frac or ''}"
    try:
        return float(time_to_ijd(Time(iso, format="isot", scale="utc")))
    except ValueError as exc:
        raise QueryError(field, f"{s[:40]!r} is not a valid date ({exc})", "UTC as YYYY-MM-DDThh:mm:ss") from None


def scw_list(history: np.ndarray, ids: np.ndarray, t1, t2, *, ra=None, dec=None, radius=None,
             min_good: float | None = None, min_good_jemx: float | None = None, columns: str | None = None):
    """Pointing ScWs of ``history`` in [t1, t2] (and the cone, and ``min_good`` s of good ISGRI
    time, ``min_good_jemx`` s of good JEM-X time: each instrument's own, as the registry's
    :meth:`~core.instruments.base.Instrument.good_time_s`).

    Returns
    -------
    list of str, or dict
        Bare 12-digit ids in time order; with ``columns`` (e.g. ``"SWID,RA_SCX,DEC_SCX"``) a
        dict of equally long lists, one per column of :data:`COLUMNS`.
    """
    ijd1, ijd2 = parse_time_lenient(t1, "T1"), parse_time_lenient(t2, "T2")
    if ijd2 <= ijd1:
        raise QueryError("T2", f"must be after T1 ({ijd_to_isot(ijd1)[:19]})", "T2 > T1")
    cone = [v is not None for v in (ra, dec, radius)]
    if any(cone) and not all(cone):
        raise QueryError("radius" if ra is not None and dec is not None else "ra" if ra is None else "dec",
                         "ra, dec and radius go together", "all three (degrees), or none")
    m = (history["tstart"] < ijd2) & (history["tstop"] > ijd1)
    idx = np.flatnonzero(m)
    if all(cone):
        for name, v, lo, hi in (("ra", ra, 0.0, 360.0), ("dec", dec, -90.0, 90.0), ("radius", radius, 0.0, 180.0)):
            if not (math.isfinite(v) and lo <= v <= hi):
                raise QueryError(name, f"{v!r} is out of range", f"{lo:g} .. {hi:g} deg")
        off = angular_distance(history["ra_scx"][idx], history["dec_scx"][idx], ra, dec)
        idx = idx[off <= radius]
    from ..instruments.base import get_instrument

    for field, value, inst in (("min_good_isgri", min_good, "isgri"), ("min_good_jemx1", min_good_jemx, "jemx")):
        if value is None:
            continue
        if not (math.isfinite(value) and value >= 0):
            raise QueryError(field, f"{value!r} is out of range", "≥ 0 s")
        idx = idx[get_instrument(inst).good_time_s(history[idx]) >= value]
    idx = idx[np.argsort(history["tstart"][idx], kind="stable")]
    base = np.char.partition(ids[idx].astype(str), ".")[:, 0] if idx.size else np.array([], dtype=str)
    if not columns:
        return [str(s) for s in base]
    rows = history[idx]
    values = {"SWID": [str(s) for s in base], "RA_SCX": rows["ra_scx"].tolist(), "DEC_SCX": rows["dec_scx"].tolist(),
              "TSTART": rows["tstart"].tolist(), "TSTOP": rows["tstop"].tolist(),
              "REVOL": rows["revolution"].astype(int).tolist(),
              "TELAPSE": ((rows["tstop"] - rows["tstart"]) * 86400.0).tolist(),
              "GOOD_ISGRI": get_instrument("isgri").good_time_s(rows).astype(float).tolist(),
              "GOOD_JEMX": get_instrument("jemx").good_time_s(rows).astype(float).tolist()}
    out = {}
    for c in [c.strip() for c in str(columns).split(",") if c.strip()]:
        if c not in values:
            raise QueryError("return_columns", f"unknown column {c[:30]!r}", ", ".join(COLUMNS))
        out[c] = values[c]
    return out


def _detect_format(text: str) -> str:
    s = str(text).strip()
    if re.fullmatch(r"\d{12}(\.\d{3})?", s):
        return "SCWID"
    try:
        return "MJD" if float(s) > 20000 else "IJD"
    except ValueError:
        return "UTC"


def convert_time(history: np.ndarray, ids: np.ndarray, informat: str, value: str, outformat: str):
    """Convert ``value`` from ``informat`` to ``outformat`` (``ANY``: detect / all formats).

    Returns a string for one output format, a dict ``{format: string}`` for ``ANY``.
    """
    from .pointings import revolution_of_ijd, revolution_start_ijd
    from .scwid import parse_scw_id
    from .selection import find_rows

    inf = str(informat).strip().upper()
    outf = str(outformat).strip().upper()
    if inf == "ANY":
        inf = _detect_format(value)
    if inf not in TIME_FORMATS:
        raise QueryError("informat", f"unknown time format {informat[:20]!r}", ", ".join(TIME_FORMATS + ("ANY",)))
    if outf not in TIME_FORMATS + ("ANY",):
        raise QueryError("outformat", f"unknown time format {outformat[:20]!r}", ", ".join(TIME_FORMATS + ("ANY",)))
    v = str(value).strip()
    if inf == "SCWID":
        sid = str(parse_scw_id(v, "time"))
        rows = find_rows(ids, [sid])
        if rows.size == 0:
            raise QueryError("time", f"ScW {sid} is not in the archive", "ids of the pointing history")
        ijd = float(history["tstart"][rows[0]])
    elif inf == "REVNUM":
        try:
            rev = int(v)
        except ValueError:
            raise QueryError("time", f"{v[:20]!r} is not a revolution number", "an integer, e.g. 1555") from None
        ijd = float(revolution_start_ijd(rev))
    elif inf == "MJD":
        try:
            ijd = float(v) - IJD_MJDREF
        except ValueError:
            raise QueryError("time", f"{v[:20]!r} is not an MJD", "a number, e.g. 57195.44") from None
    elif inf == "IJD":
        try:
            ijd = float(v)
        except ValueError:
            raise QueryError("time", f"{v[:20]!r} is not an IJD", "a number, e.g. 5651.44") from None
    else:
        ijd = parse_time_lenient(v, "time")
    if not math.isfinite(ijd):
        raise QueryError("time", f"{v[:20]!r} is not finite", "a time within the mission")

    def scwid() -> str:
        k = np.flatnonzero((history["tstart"] <= ijd) & (history["tstop"] > ijd))
        if k.size == 0:
            return "none: no pointing ScW at that time (slew or perigee)"
        return str(ids[k[0]]).split(".")[0]

    out = {"IJD": f"{ijd:.8f}", "UTC": ijd_to_isot(ijd)[:23], "MJD": f"{ijd + IJD_MJDREF:.8f}",
           "REVNUM": str(int(revolution_of_ijd(ijd)))}
    if outf == "SCWID" or outf == "ANY":
        out["SCWID"] = scwid()
    return out if outf == "ANY" else out[outf]
