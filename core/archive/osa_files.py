"""OSA-style ScW files: the one writer (simulator) and the one reader (analysis).

Layout, as in the real archive: ``scw/RRRR/RRRRPPPPSSSF.001/`` holding

``swg.fits``
    ScW group header (GNRL-SCWG-GRP): pointing keywords, times, revolution.
``isgri_events.fits.gz``
    ``ISGR-EVTS-ALL`` (TIME [IJD], DETY, DETZ, ISGRI_ENERGY [keV], SELECT_FLAG) with the
    pointing keywords RA_SCX, DEC_SCX, RA_SCZ, DEC_SCZ, REVOL, SWID, TSTART, TSTOP;
    ``IBIS-GNRL-GTI`` (START, STOP in IJD); ``ISGR-PXLS-STA`` pixel status map
    (0 good, 1 dead, 2 noisy; optional: real OSA ScWs do not carry it and the reader
    then derives it from the events).

The reader accepts any files in this layout (real OSA data included): it only needs the
columns and keywords listed above.
"""

from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

try:  # ISA-L inflate/deflate is 3-8x faster than zlib on event lists and writes gzip
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - optional speed-up
    _gzip = gzip

__all__ = ["ScwData", "EVENT_DTYPE", "write_scw", "read_scw", "read_pointing", "EVENTS_FILE", "SWG_FILE"]

EVENTS_FILE = "isgri_events.fits.gz"
SWG_FILE = "swg.fits"

#: In-memory event record (native byte order).
EVENT_DTYPE = np.dtype([("TIME", "f8"), ("DETY", "u1"), ("DETZ", "u1"), ("ISGRI_ENERGY", "f4"), ("SELECT_FLAG", "u1")])
_FITS_DTYPE = np.dtype([("TIME", ">f8"), ("DETY", "u1"), ("DETZ", "u1"), ("ISGRI_ENERGY", ">f4"), ("SELECT_FLAG", "u1")])

_POINTING_KEYS = ("RA_SCX", "DEC_SCX", "RA_SCZ", "DEC_SCZ", "POSANGLE")


@dataclass
class ScwData:
    """One science window as the analysis sees it."""

    scw_id: str
    header: dict               # pointing and timing keywords (RA_SCX..., TSTART, TSTOP, REVOL...)
    events: np.ndarray         # EVENT_DTYPE
    gti: np.ndarray            # (n, 2) IJD
    pixel_status: np.ndarray   # uint8 (134, 130): 0 good, 1 dead, 2 noisy

    @property
    def revolution(self) -> int:
        return int(self.header["REVOL"])

    @property
    def ontime(self) -> float:
        """Seconds of good time (sum of GTIs)."""
        return float(np.sum(self.gti[:, 1] - self.gti[:, 0]) * 86400.0)

    @property
    def livetime(self) -> float:
        return self.ontime * float(self.header.get("DEADC", 1.0))

    def good_events(self) -> np.ndarray:
        """Events with SELECT_FLAG == 0 on good pixels."""
        ev = self.events
        ok = ev["SELECT_FLAG"] == 0
        return ev[ok]


def _common_header(meta: dict) -> fits.Header:
    h = fits.Header()
    h["TELESCOP"] = ("INTEGRAL", "Telescope or mission name")
    h["INSTRUME"] = ("IBIS", "Instrument name")
    h["DETNAM"] = ("ISGRI", "Detector name")
    h["ORIGIN"] = (meta.get("ORIGIN", "INTEGRAL-ODA"), "Origin of FITS file")
    h["CREATOR"] = (meta.get("CREATOR", "core.archive.simulate"), "Program that created this file")
    h["REVOL"] = (int(meta["REVOL"]), "Revolution number")
    h["SWID"] = (meta["SWID"], "Science Window identifier")
    h["SW_TYPE"] = ("POINTING", "Type of the Science Window")
    h["SWBOUND"] = ("POINTING", "Reason for Science Window ending")
    for k in _POINTING_KEYS:
        h[k] = (float(meta[k]), {"RA_SCX": "RA of the X axis (pointing) [deg]",
                                 "DEC_SCX": "Dec of the X axis (pointing) [deg]",
                                 "RA_SCZ": "RA of the Z axis [deg]", "DEC_SCZ": "Dec of the Z axis [deg]",
                                 "POSANGLE": "Position angle of the Z axis [deg]"}[k])
    h["TIMESYS"] = ("TT", "Time system")
    h["TIMEREF"] = ("LOCAL", "Time reference frame")
    h["TIMEUNIT"] = ("d", "Time unit")
    h["MJDREF"] = (51544.0, "Modified Julian Date of time origin (IJD 0)")
    h["TSTART"] = (float(meta["TSTART"]), "Start time of the ScW [IJD]")
    h["TSTOP"] = (float(meta["TSTOP"]), "Stop time of the ScW [IJD]")
    h["TELAPSE"] = (float(meta["TELAPSE"]), "Elapsed time [s]")
    h["ONTIME"] = (float(meta["ONTIME"]), "Sum of good time intervals [s]")
    h["DEADC"] = (float(meta["DEADC"]), "Dead-time correction (live fraction)")
    h["LIVETIME"] = (float(meta["ONTIME"]) * float(meta["DEADC"]), "ONTIME x DEADC [s]")
    for k in ("SIMULATE", "SIMVERS", "SKYVERS"):
        if k in meta:
            h[k] = meta[k]
    return h


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def write_scw(directory: Path, meta: dict, events: np.ndarray, gti: np.ndarray, pixel_status: np.ndarray,
              compresslevel: int = 1) -> None:
    """Write ``swg.fits`` and ``isgri_events.fits.gz`` into ``directory`` (which must exist).

    ``meta`` holds REVOL, SWID, RA_SCX, DEC_SCX, RA_SCZ, DEC_SCZ, POSANGLE, TSTART, TSTOP,
    TELAPSE, ONTIME, DEADC (and optionally SIMULATE, SIMVERS, SKYVERS).
    """
    directory = Path(directory)
    hdr = _common_header(meta)

    primary = fits.PrimaryHDU(header=hdr.copy())
    rec = np.empty(len(events), dtype=_FITS_DTYPE)
    for name in EVENT_DTYPE.names:
        rec[name] = events[name]
    ev_hdu = fits.BinTableHDU(data=rec, header=hdr.copy(), name="ISGR-EVTS-ALL")
    for i, (unit, comment) in enumerate((("d", "Event time [IJD]"), ("", "Detector Y (0..129)"),
                                         ("", "Detector Z (0..133)"), ("keV", "Reconstructed energy"),
                                         ("", "0 good; 1 noisy pixel")), start=1):
        if unit:
            ev_hdu.header[f"TUNIT{i}"] = unit
        ev_hdu.header.comments[f"TTYPE{i}"] = comment
    ev_hdu.header["HDUCLASS"] = ("ISDC", "ISDC data product")
    ev_hdu.header["HDUCLAS1"] = ("EVENTS", "")
    gti_hdu = fits.BinTableHDU.from_columns(
        [fits.Column("START", "D", unit="d", array=gti[:, 0]), fits.Column("STOP", "D", unit="d", array=gti[:, 1])],
        header=hdr.copy(), name="IBIS-GNRL-GTI")
    sta_hdu = fits.ImageHDU(np.asarray(pixel_status, dtype=np.uint8), name="ISGR-PXLS-STA")
    sta_hdu.header["COMMENT"] = "Pixel status [DETZ, DETY]: 0 good, 1 dead, 2 noisy (events flagged)"
    buf = io.BytesIO()
    fits.HDUList([primary, ev_hdu, gti_hdu, sta_hdu]).writeto(buf)
    _atomic_write_bytes(directory / EVENTS_FILE, _gzip.compress(buf.getvalue(), compresslevel=compresslevel))

    swg = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column("MEMBER_XTENSION", "8A", array=["BINTABLE"]), fits.Column("MEMBER_NAME", "32A", array=["ISGR-EVTS-ALL"]),
         fits.Column("MEMBER_LOCATION", "64A", array=[EVENTS_FILE])], header=hdr.copy(), name="GNRL-SCWG-GRP")])
    buf = io.BytesIO()
    swg.writeto(buf)
    _atomic_write_bytes(directory / SWG_FILE, buf.getvalue())


def _header_dict(h: fits.Header) -> dict:
    keys = ("REVOL", "SWID", *_POINTING_KEYS, "TSTART", "TSTOP", "TELAPSE", "ONTIME", "DEADC", "LIVETIME",
            "SIMULATE", "SIMVERS", "SKYVERS")
    return {k: h[k] for k in keys if k in h}


def read_pointing(directory: Path) -> dict:
    """Pointing and timing keywords of a ScW (from ``swg.fits`` or, failing that, the events)."""
    directory = Path(directory)
    swg = directory / SWG_FILE
    if swg.exists():
        with fits.open(swg) as hdul:
            for hdu in hdul:
                if "RA_SCX" in hdu.header:
                    return _header_dict(hdu.header)
    return read_scw(directory).header


def _column(data: fits.FITS_rec, name: str, dtype) -> np.ndarray:
    """A column as a native-endian array (raw buffer when unscaled: no per-row conversion)."""
    col = data.columns[name]
    if col.bscale in (None, 1) and col.bzero in (None, 0):
        return np.asarray(data.view(np.ndarray)[name]).astype(dtype, copy=True)
    return np.asarray(data[name]).astype(dtype)


def read_scw(directory: Path, scw_id: str | None = None) -> ScwData:
    """Read one ScW directory (``isgri_events.fits.gz`` plus optional pixel status).

    Raises
    ------
    OSError
        if the file is missing or not a readable FITS file (the archive layer turns this
        into a re-simulation or a clear error).
    """
    directory = Path(directory)
    path = directory / EVENTS_FILE
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        blob = _gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except Exception as exc:  # truncated / corrupt gzip stream
        raise OSError(f"corrupt event file {path.name}: {exc}") from None
    try:
        hdul = fits.open(io.BytesIO(blob), memmap=False)
        ev = hdul["ISGR-EVTS-ALL"]
        data = ev.data
        n = 0 if data is None else len(data)
        events = np.empty(n, dtype=EVENT_DTYPE)
        if n:
            for name in EVENT_DTYPE.names:
                if name in data.columns.names:
                    events[name] = _column(data, name, EVENT_DTYPE[name])
                else:  # real OSA files always have these; tolerate a missing SELECT_FLAG
                    events[name] = 0
        header = _header_dict(ev.header)
        if "IBIS-GNRL-GTI" in hdul:
            g = hdul["IBIS-GNRL-GTI"].data
            gti = np.column_stack([np.asarray(g["START"], float), np.asarray(g["STOP"], float)])
        else:
            gti = np.array([[float(header["TSTART"]), float(header["TSTOP"])]])
        if "ISGR-PXLS-STA" in hdul:
            status = np.asarray(hdul["ISGR-PXLS-STA"].data, dtype=np.uint8)
        else:
            status = _status_from_events(events)
        hdul.close()
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise OSError(f"unreadable ScW file {path.name}: {exc}") from None
    missing = [k for k in ("RA_SCX", "DEC_SCX", "RA_SCZ", "DEC_SCZ", "TSTART", "TSTOP") if k not in header]
    if missing:
        raise OSError(f"{path.name} lacks keywords {', '.join(missing)}")
    header.setdefault("DEADC", 1.0)
    header.setdefault("REVOL", int(directory.name[:4]) if directory.name[:4].isdigit() else 0)
    return ScwData(scw_id or directory.name, header, events, gti, status)


def _status_from_events(events: np.ndarray) -> np.ndarray:
    """Pixel status for files without a status map: pixels with no events are dead."""
    from ..instrument import detector as det

    good = events["SELECT_FLAG"] == 0
    flat = events["DETZ"][good].astype(np.int64) * det.N_Y + events["DETY"][good]
    counts = np.bincount(flat, minlength=det.N_Z * det.N_Y).reshape(det.N_Z, det.N_Y)
    status = np.zeros((det.N_Z, det.N_Y), dtype=np.uint8)
    status[(counts == 0) & det.live_pixels()] = 1
    return status
