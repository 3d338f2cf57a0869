"""Times as INTEGRAL uses them: astropy ``Time`` in TT, IJD = MJD − 51544.

The user-facing formats mirror ODA's ``T_format``: ``isot``, ``mjd`` and ``ijd``.
"""

from __future__ import annotations

import warnings

import numpy as np
from astropy.time import Time

from .errors import QueryError

__all__ = [
    "IJD_MJDREF", "MISSION_START", "MISSION_END", "T_FORMATS",
    "parse_time", "ijd_to_time", "time_to_ijd", "ijd_to_isot", "mission_bounds_ijd",
]

#: MJD of IJD 0 (2000-01-01T00:00:00 TT), the MJDREF of every INTEGRAL FITS file.
IJD_MJDREF = 51544.0
MISSION_START = Time("2002-10-17T00:00:00", format="isot", scale="utc")
MISSION_END = Time("2025-02-28T23:59:59", format="isot", scale="utc")
T_FORMATS = ("isot", "mjd", "ijd")


def time_to_ijd(t: Time) -> np.ndarray | float:
    """IJD (TT days since 2000-01-01) of an astropy time."""
    return t.tt.mjd - IJD_MJDREF


def ijd_to_time(ijd) -> Time:
    return Time(np.asarray(ijd, dtype=float) + IJD_MJDREF, format="mjd", scale="tt")


def ijd_to_isot(ijd) -> str | np.ndarray:
    return ijd_to_time(ijd).utc.isot


def mission_bounds_ijd() -> tuple[float, float]:
    return float(time_to_ijd(MISSION_START)), float(time_to_ijd(MISSION_END))


def _make_time(text: str, fmt: str) -> Time:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "isot":
            t = Time(text, scale="utc")
            if t.format not in ("isot", "iso", "fits"):
                raise ValueError(text)
            return t
        num = float(text)
        if not np.isfinite(num):
            raise ValueError(text)
        return Time(num + (IJD_MJDREF if fmt == "ijd" else 0.0), format="mjd", scale="tt")


def parse_time(value, t_format: str | None = None, field: str = "T1") -> Time:
    """Parse a user time in ``isot``, ``mjd`` or ``ijd``.

    With ``t_format=None`` the format is guessed: a string with ``-`` is ISO, a number
    below 20000 is IJD, otherwise MJD.

    Raises
    ------
    QueryError
        naming ``field`` when the value cannot be read or lies outside the mission.
    """
    allowed = f"{MISSION_START.isot[:10]} .. {MISSION_END.isot[:10]}"
    if t_format is not None and t_format not in T_FORMATS:
        raise QueryError("T_format", f"unknown time format {t_format!r}", ", ".join(T_FORMATS))
    if isinstance(value, Time):
        t = value
    else:
        text = str(value).strip()
        if not text:
            raise QueryError(field, "is empty", allowed)
        fmt = t_format
        if fmt is None:
            fmt = "isot" if ("-" in text[1:] or "T" in text or ":" in text) else None
            if fmt is None:
                try:
                    num = float(text)
                except ValueError:
                    raise QueryError(field, f"cannot read {text!r} as a time", allowed) from None
                fmt = "ijd" if num < 20000 else "mjd"
        try:
            t = _make_time(text, fmt)
        except (ValueError, TypeError):
            raise QueryError(field, f"cannot read {text!r} as {fmt}", allowed) from None
    with warnings.catch_warnings():
        # ERFA warns about "dubious years" far outside the mission; such times are rejected here.
        warnings.simplefilter("ignore")
        if t < MISSION_START - 1 or t > MISSION_END + 1:
            raise QueryError(field, f"{t.utc.isot[:19]} is outside the INTEGRAL mission", allowed)
    return t
