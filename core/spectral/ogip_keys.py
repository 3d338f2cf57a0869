"""Time and identification keywords of spectra and light curves (OGIP, as OSA writes them).

Readers beyond our own need them: ``oda_api``'s ``OdaSpectrum.write_fits`` reads MJDREF,
TSTART, TSTOP and EXPOSURE of a PHA; ``OdaLightCurve.write_fits`` reads TIMEDEL and TIMEPIXR
of a light curve; XSPEC and gammapy use DATE-OBS/DATE-END, and astropy turns a TIME column
into :class:`~astropy.time.Time` from MJDREF, TIMESYS and the column unit.

Times are IJD (TT) as everywhere in OSA: MJDREF = 51544 (IJD 0 = 2000-01-01T00:00 TT).
"""

from __future__ import annotations

import numpy as np

from ..timeutil import IJD_MJDREF, ijd_to_isot

__all__ = ["scw_time_range", "pha_time_cards", "lc_time_cards"]


def scw_time_range(scw_ids) -> tuple[float, float] | None:
    """(first start, last stop) in IJD of the listed ScWs of the pointing history, or None."""
    from ..archive.selection import find_rows
    from ..archive.store import get_archive

    ids = [str(s) if "." in str(s) else f"{s}.001" for s in scw_ids]
    if not ids:
        return None
    archive = get_archive()
    hist = archive.history
    rows = find_rows(archive.ids, ids)
    if rows.size == 0:
        return None
    return float(hist["tstart"][rows].min()), float(hist["tstop"][rows].max())


def _date_cards(t0: float, t1: float) -> list[tuple[str, object, str]]:
    return [("MJDREF", float(IJD_MJDREF), "IJD 0 = MJD 51544.0 (TT)"), ("TIMESYS", "TT", ""),
            ("TIMEUNIT", "d", ""), ("TIMEREF", "LOCAL", ""),
            ("TSTART", float(t0), "[IJD] start of the first ScW"), ("TSTOP", float(t1), "[IJD] end of the last ScW"),
            ("DATE-OBS", ijd_to_isot(t0)[:19], "UTC"), ("DATE-END", ijd_to_isot(t1)[:19], "UTC"),
            ("TELAPSE", float((t1 - t0) * 86400.0), "[s]")]


def pha_time_cards(scw_ids) -> dict:
    """Header cards (name → value) of a spectrum accumulated over ``scw_ids``."""
    span = scw_time_range(scw_ids)
    if span is None:
        return {}
    return {k: v for k, v, _ in _date_cards(*span)}


def lc_time_cards(name: str, t_lo, t_hi, nominal_bin_d: float | None = None) -> list[tuple[str, object, str]]:
    """Cards of a light curve whose TIME column holds bin centres (TIMEPIXR = 0.5).

    ``nominal_bin_d``: the requested bin width [d]; by default the median bin width (one
    bin per ScW has no fixed width; the TIMEDEL column has each bin's).
    """
    t_lo, t_hi = np.asarray(t_lo, float), np.asarray(t_hi, float)
    width = float(nominal_bin_d) if nominal_bin_d else float(np.median(t_hi - t_lo))
    return [("NAME", str(name), "source name"), ("TIMEPIXR", 0.5, "TIME is the bin centre"),
            ("TIMEZERO", 0.0, "[d]"), ("TIMEDEL", width, "[d] nominal bin width"),
            *_date_cards(float(t_lo.min()), float(t_hi.max()))]
