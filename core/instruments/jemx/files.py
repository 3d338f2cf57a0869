"""JEM-X ScW files in OSA layout, beside the ISGRI files, and their lazy simulated archive.

``scw/RRRR/RRRRPPPPSSSF.001/jmx{1,2}_events.fits.gz`` holds

``JMXn-FULL-ALL``
    TIME [IJD] (scaled 2⁻¹³ s ticks from TSTART), DETX, DETY (detector pixel 0–127, 2 mm),
    PI (0.05 keV channels), STATUS (0 good, 1 flagged), with the pointing keywords
    RA_SCX, DEC_SCX, RA_SCZ, DEC_SCZ, POSANGLE, REVOL, SWID, TSTART, TSTOP, ONTIME, DEADC;
``JMXn-GNRL-GTI``
    START, STOP [IJD];
``JMXn-PXLS-STA``
    pixel status (0 good, 1 dead anode strip, 2 outside the sensitive disc); optional for
    the reader (derived from the unit and revolution otherwise).

The primary header carries ``JMXVERS``, the model version the events were simulated
with (:func:`model_version`); a file of another version is stale and re-simulated.

The archive side (:func:`ensure_jemx`, :func:`read_jemx`) works on a
:class:`core.archive.store.Archive`: same root, same ScW directories, same size accounting
(the files count in the ScW's size and are evicted with it); one lock per (ScW, unit);
writes go to a temporary file renamed into place. In ``mirror`` mode the files are read
as they are and never written.
"""

from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from filelock import FileLock

from ...config import ensure_private_dir
from ...errors import NotFoundError
from . import detector as det
from .simulate import EVENT_DTYPE, JEMX_SIM_VERSION, pixel_status

__all__ = ["JemxScw", "events_file", "extname", "write_jemx", "read_jemx_file", "ensure_jemx", "read_jemx",
           "model_version"]

_TICK_D = 2.0 ** -13 / 86400.0
_FITS_DTYPE = np.dtype([("TIME", ">i4"), ("DETX", "u1"), ("DETY", "u1"), ("PI", ">i2"), ("STATUS", "u1")])
_POINTING = ("RA_SCX", "DEC_SCX", "RA_SCZ", "DEC_SCZ", "POSANGLE")
_HEADER_KEYS = ("REVOL", "SWID", "JEMX_NUM", *_POINTING, "TSTART", "TSTOP", "TELAPSE", "ONTIME", "DEADC",
                "LIVETIME", "JMXVERS")
_LOCK_TIMEOUT_S = 600.0


def events_file(unit: int) -> str:
    """File name of a unit's events: ``jmx1_events.fits.gz`` or ``jmx2_events.fits.gz``."""
    return f"jmx{det.check_unit(unit)}_events.fits.gz"


def extname(unit: int, kind: str) -> str:
    """OSA extension name ``JMXn-<kind>`` (``FULL-ALL``, ``GNRL-GTI``, ``PXLS-STA``...)."""
    return f"JMX{det.check_unit(unit)}-{kind}"


def model_version(sky_version: str = "") -> str:
    """What simulated JEM-X events depend on (simulator, pointing history, sky model)."""
    from ...archive.pointings import HISTORY_VERSION

    if not sky_version:
        from ...sky.catalog import sky_model

        sky_version = sky_model().version
    return f"jmxsim{JEMX_SIM_VERSION}-history{HISTORY_VERSION}-sky{sky_version}"


@dataclass
class JemxScw:
    """One JEM-X science window as the analysis sees it (typed numpy arrays)."""

    scw_id: str
    unit: int
    header: dict
    events: np.ndarray          # EVENT_DTYPE: TIME f8 IJD, DETX u1, DETY u1, PI i2, STATUS u1
    gti: np.ndarray             # (n, 2) IJD
    pixel_status: np.ndarray    # uint8 (128, 128)

    @property
    def revolution(self) -> int:
        return int(self.header["REVOL"])

    @property
    def ontime(self) -> float:
        """Seconds of good time (sum of the GTIs)."""
        return float(np.sum(self.gti[:, 1] - self.gti[:, 0]) * 86400.0)

    @property
    def livetime(self) -> float:
        return self.ontime * float(self.header.get("DEADC", 1.0))

    def pixel_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """(PI int16, pixel index int32) as contiguous arrays, computed once per ScW.

        The pixel index is ``DETX·128 + DETY`` for good events and ``128²`` (a dump bin) for
        flagged events and events on pixels that are not good, so a band's detector image is
        one comparison pass and one ``bincount``.
        """
        cached = self.__dict__.get("_columns")
        if cached is None:
            ev = self.events
            pix = ev["DETX"].astype(np.int32) * det.N_PIX + ev["DETY"]
            bad = (ev["STATUS"] != 0) | (np.asarray(self.pixel_status).ravel()[pix] != 0)
            pix[bad] = det.N_PIX * det.N_PIX
            cached = self.__dict__["_columns"] = (np.ascontiguousarray(ev["PI"]), pix)
        return cached

    def good_events(self) -> np.ndarray:
        """Events with STATUS == 0 on good pixels."""
        ev = self.events
        ok = ev["STATUS"] == 0
        ok &= self.pixel_status[ev["DETX"], ev["DETY"]] == 0
        return ev[ok]


def _header(meta: dict, unit: int) -> fits.Header:
    h = fits.Header()
    h["TELESCOP"] = ("INTEGRAL", "Telescope or mission name")
    h["INSTRUME"] = (f"JMX{unit}", "Instrument name")
    h["DETNAM"] = (f"JMX{unit}", "Detector name")
    h["ORIGIN"] = ("INTEGRAL-ODA", "Origin of FITS file")
    h["CREATOR"] = ("core.instruments.jemx.simulate", "Program that created this file")
    h["REVOL"] = (int(meta["REVOL"]), "Revolution number")
    h["SWID"] = (str(meta["SWID"]), "Science Window identifier")
    h["JEMX_NUM"] = (int(unit), "JEM-X unit")
    h["SW_TYPE"] = ("POINTING", "Type of the Science Window")
    for k in _POINTING:
        h[k] = (float(meta[k]), "[deg]")
    h["TIMESYS"], h["TIMEREF"], h["TIMEUNIT"] = "TT", "LOCAL", "d"
    h["MJDREF"] = (51544.0, "Modified Julian Date of time origin (IJD 0)")
    h["TSTART"] = (float(meta["TSTART"]), "Start time of the ScW [IJD]")
    h["TSTOP"] = (float(meta["TSTOP"]), "Stop time of the ScW [IJD]")
    h["TELAPSE"] = (float(meta["TELAPSE"]), "Elapsed time [s]")
    h["ONTIME"] = (float(meta["ONTIME"]), "Sum of good time intervals [s]")
    h["DEADC"] = (float(meta["DEADC"]), "Dead-time correction (live fraction)")
    h["LIVETIME"] = (float(meta["ONTIME"]) * float(meta["DEADC"]), "ONTIME x DEADC [s]")
    if "JMXVERS" in meta:
        h["JMXVERS"] = (str(meta["JMXVERS"]), "JEM-X simulation model version")
    return h


def write_jemx(path: Path, meta: dict, events: np.ndarray, gti: np.ndarray, status: np.ndarray) -> Path:
    """Write a unit's event file atomically (temporary file in the same folder, renamed)."""
    path = Path(path)
    unit = det.check_unit(meta["JEMX_NUM"])
    hdr = _header(meta, unit)
    rec = np.empty(len(events), dtype=_FITS_DTYPE)
    rec["TIME"] = np.floor((np.asarray(events["TIME"]) - float(meta["TSTART"])) / _TICK_D)
    for name in ("DETX", "DETY", "PI", "STATUS"):
        rec[name] = events[name]
    ev = fits.BinTableHDU(data=rec, header=hdr.copy(), name=extname(unit, "FULL-ALL"))
    ev.header["TSCAL1"], ev.header["TZERO1"] = _TICK_D, float(meta["TSTART"]) + 0.5 * _TICK_D
    for i, (unit_s, comment) in enumerate((("d", "Event time [IJD]"), ("pixel", "Detector X (0..127, 2 mm)"),
                                           ("pixel", "Detector Y (0..127, 2 mm)"), ("chan", "PI channel (0.05 keV)"),
                                           ("", "0 good; 1 flagged")), start=1):
        if unit_s:
            ev.header[f"TUNIT{i}"] = unit_s
        ev.header.comments[f"TTYPE{i}"] = comment
    ev.header["TLMIN4"], ev.header["TLMAX4"] = 0, 1023
    ev.header["HDUCLASS"], ev.header["HDUCLAS1"] = "ISDC", "EVENTS"
    gti_hdu = fits.BinTableHDU.from_columns(
        [fits.Column("START", "D", unit="d", array=np.asarray(gti)[:, 0]),
         fits.Column("STOP", "D", unit="d", array=np.asarray(gti)[:, 1])],
        header=hdr.copy(), name=extname(unit, "GNRL-GTI"))
    sta = fits.ImageHDU(np.asarray(status, np.uint8), name=extname(unit, "PXLS-STA"))
    sta.header["COMMENT"] = "Pixel status [DETX, DETY]: 0 good, 1 dead anode strip, 2 outside the sensitive disc"
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(header=hdr.copy()), ev, gti_hdu, sta]).writeto(buf)
    # Event lists of random times and pixels barely compress: a stored gzip container keeps
    # the OSA file name and reads at memory speed (as the ISGRI files do by default).
    data = gzip.compress(buf.getvalue(), compresslevel=0, mtime=0)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path


def read_jemx_file(path: Path, scw_id: str | None = None, unit: int | None = None) -> JemxScw:
    """Read a ``jmxN_events.fits.gz`` file; OSError if it is missing, corrupt or incomplete."""
    path = Path(path)
    if unit is None:
        unit = int(path.name[3]) if path.name[:3] == "jmx" and path.name[3:4].isdigit() else 1
    unit = det.check_unit(unit)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        blob = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        with fits.open(io.BytesIO(blob), memmap=False) as hdul:
            hdu = hdul[extname(unit, "FULL-ALL")]
            h = hdu.header
            data = hdu.data
            n = 0 if data is None else len(data)
            events = np.empty(n, dtype=EVENT_DTYPE)
            if n:
                col = data.columns["TIME"]
                tr = np.asarray(data.view(np.ndarray)["TIME"])
                scale = 1.0 if col.bscale is None else float(col.bscale)
                zero = 0.0 if col.bzero is None else float(col.bzero)
                events["TIME"] = tr.astype(np.float64) * scale + zero
                for name in ("DETX", "DETY", "PI", "STATUS"):
                    events[name] = np.asarray(data[name])
            header = {k: h[k] for k in _HEADER_KEYS if k in h}
            header.setdefault("JMXVERS", hdul[0].header.get("JMXVERS", ""))
            g = hdul[extname(unit, "GNRL-GTI")].data
            gti = np.column_stack([np.asarray(g["START"], float), np.asarray(g["STOP"], float)])
            sta_name = extname(unit, "PXLS-STA")
            status = np.asarray(hdul[sta_name].data, np.uint8) if sta_name in hdul else None
    except (OSError, KeyError, ValueError, TypeError, IndexError, EOFError) as exc:
        raise OSError(f"unreadable JEM-X file {path.name}: {exc}") from None
    missing = [k for k in ("RA_SCX", "DEC_SCX", "RA_SCZ", "DEC_SCZ", "TSTART", "TSTOP") if k not in header]
    if missing:
        raise OSError(f"{path.name} lacks keywords {', '.join(missing)}")
    header.setdefault("DEADC", 1.0)
    header.setdefault("REVOL", int(path.parent.name[:4]) if path.parent.name[:4].isdigit() else 0)
    header["JEMX_NUM"] = unit
    if status is None or status.shape != (det.N_PIX, det.N_PIX):
        status = pixel_status(unit, int(header["REVOL"]))
    return JemxScw(scw_id or path.parent.name, unit, header, events, gti, status)


def _current(path: Path, version: str) -> bool:
    """Whether the file's primary header names this model version (reads 4 FITS blocks)."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
            fh.seek(0)
            stream = gzip.GzipFile(fileobj=fh) if magic == b"\x1f\x8b" else fh
            head = stream.read(2880 * 4)
    except (OSError, EOFError):
        return False
    cards = [head[i:i + 80] for i in range(0, len(head) - 79, 80)]
    for card in cards:  # the primary header only: up to its END card
        if card.startswith(b"END") and not card[3:].strip():
            return False
        if card.startswith(b"JMXVERS ="):
            value = card[10:].split(b"/")[0].strip().strip(b"'").strip()
            return value == version.encode()
    return False


def ensure_jemx(archive, scw_id: str, unit: int) -> tuple[Path, bool]:
    """Path of a unit's event file in ``archive``, simulating it if needed (simulated mode).

    Returns ``(path, simulated_now)``. A file written by another model version is replaced.
    """
    from ...archive.scwid import parse_scw_id
    from ...sky.catalog import sky_model
    from .simulate import simulate_jemx

    unit = det.check_unit(unit)
    sid = str(parse_scw_id(scw_id))
    directory = archive.path(sid)
    path = directory / events_file(unit)
    if not archive.simulated:
        if path.exists():
            return path, False
        raise NotFoundError("scw_list", f"ScW {sid} has no JEM-X{unit} data in the archive mirror",
                            f"ScWs with {events_file(unit)} under {archive.root.name}/scw")
    version = model_version(sky_model().version)
    if path.exists() and _current(path, version):
        return path, False
    row = archive.row(sid)
    ensure_private_dir(archive.root / ".locks")
    with FileLock(str(archive.root / ".locks" / f"{sid}.jmx{unit}.lock"), timeout=_LOCK_TIMEOUT_S):
        if path.exists() and _current(path, version):
            return path, False
        sim = simulate_jemx(row, sid, unit, sky_version=sky_model().version)
        ensure_private_dir(directory.parent)
        ensure_private_dir(directory)
        write_jemx(path, dict(sim.meta, JMXVERS=version), sim.events, sim.gti, sim.pixel_status)
    return path, True


def read_jemx(archive, scw_id: str, unit: int) -> JemxScw:
    """Read a unit's ScW from ``archive``; a corrupt simulated file is re-simulated once."""
    from ...archive.scwid import parse_scw_id

    sid = str(parse_scw_id(scw_id))
    for attempt in range(2):
        path, _ = ensure_jemx(archive, sid, unit)
        try:
            data = read_jemx_file(path, sid, unit)
            try:
                os.utime(path.parent, None)  # the archive's LRU clock is the ScW folder's mtime
            except OSError:
                pass
            return data
        except OSError:
            if not archive.simulated or attempt:
                raise
            path.unlink(missing_ok=True)
    raise AssertionError("unreachable")
