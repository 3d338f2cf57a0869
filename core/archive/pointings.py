"""Mission-long pointing history (2002-10-17 → 2025-02-28), built deterministically.

Structure reproduced from the real mission (instruments.md):

* revolutions of ≈72 h up to rev 1502 (early 2015) and ≈2.662 d afterwards, anchored so
  that rev 1555 starts on 2015-06-20 (the V404 Cyg ToO of 2015-06-20…25 spans revs
  1555–1556, as its real ScWs) and rev 1626 on 2015-12-26;
* science only between the radiation-belt passages (≈88% of each orbit);
* science windows of 1800–3600 s separated by 100–250 s slews, in 5×5 (2.17° step) or
  hexagonal (2°) dithers around the target, or Galactic-plane scans;
* the spacecraft Z axis is kept towards the Sun (solar panels), which fixes the roll, and
  fields are only observed 50°–130° from the Sun (seasonal visibility windows);
* realistic ids ``RRRRPPPPSSSF.001``.

The history is a numpy structured array (one row per pointing ScW); building it takes a
few seconds and the result is cached as ``.npz`` next to the archive.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import tempfile
from pathlib import Path

import numpy as np
from astropy.time import Time

from ..instrument.attitude import radec_to_unit, unit_to_radec
from ..timeutil import IJD_MJDREF, MISSION_END, MISSION_START, time_to_ijd
from . import programme as prog

__all__ = [
    "HISTORY_VERSION", "HISTORY_DTYPE", "revolution_start_ijd", "revolution_of_ijd",
    "build_history", "load_history", "scw_ids", "sun_vector",
]

#: Bump when the history changes: it seeds ScW simulations and is part of product ids.
HISTORY_VERSION = "2"

HISTORY_DTYPE = np.dtype([
    ("revolution", "i2"), ("pointing", "i2"),
    ("tstart", "f8"), ("tstop", "f8"),           # IJD (TT)
    ("ra_scx", "f8"), ("dec_scx", "f8"), ("ra_scz", "f8"), ("dec_scz", "f8"),
    ("posangle", "f4"),                          # position angle of the Z axis (deg E of N)
    ("ontime", "f4"),                            # s, total GTI
    ("deadc", "f4"),                             # live-time fraction (1 - dead time)
    ("gap_start", "f4"), ("gap_len", "f4"),      # s from tstart: one telemetry gap (len 0: none)
    ("field", "i2"),                             # index into field_names()
])

_SECONDS_PER_DAY = 86400.0
_REV_TRANSITION = 1502          # first revolution of the 2.662 d orbit (early 2015)
_PERIOD_LATE = 2.6620           # d: (rev1626 − rev1555) / 71 = 189 d / 71
_SCIENCE_START, _SCIENCE_END = 0.06, 0.94   # orbital phase outside the radiation belts
_SUN_MIN, _SUN_MAX = 50.0, 130.0            # solar aspect constraint, deg


@functools.lru_cache(maxsize=1)
def _rev_anchors() -> tuple[float, float, float]:
    t0 = float(time_to_ijd(MISSION_START))
    # Rev 1555's perigee as the real ScWs place it: the V404 Cyg ToO's first pointing
    # (155500040010) starts 2015-06-20T15:50 and rev 1556's pointings 0004-0027 run to
    # 06-25T04:06, so rev 1556 begins ≈ 06-22T22:40; the flare at MJD 57195.44 is then
    # late in rev 1555's science time, as observed (not in a perigee passage).
    t1555 = float(time_to_ijd(Time("2015-06-20T06:40:00", scale="utc")))
    t_trans = t1555 - (1555 - _REV_TRANSITION) * _PERIOD_LATE
    period_early = (t_trans - t0) / _REV_TRANSITION
    return t0, t_trans, period_early


def revolution_start_ijd(rev):
    """IJD at which revolution ``rev`` (int or array) starts."""
    t0, t_trans, p1 = _rev_anchors()
    rev = np.asarray(rev, dtype=float)
    return np.where(rev < _REV_TRANSITION, t0 + rev * p1, t_trans + (rev - _REV_TRANSITION) * _PERIOD_LATE)


def revolution_of_ijd(ijd):
    """Revolution number containing IJD ``ijd`` (int or array)."""
    t0, t_trans, p1 = _rev_anchors()
    ijd = np.asarray(ijd, dtype=float)
    early = np.floor((ijd - t0) / p1)
    late = _REV_TRANSITION + np.floor((ijd - t_trans) / _PERIOD_LATE)
    return np.where(ijd < t_trans, early, late).astype(int)


@functools.lru_cache(maxsize=1)
def _sun_table():
    from astropy.coordinates import get_sun

    t0, _, _ = _rev_anchors()
    t_end = float(time_to_ijd(MISSION_END)) + 5
    grid = np.arange(t0 - 5, t_end, 1.0)
    sun = get_sun(Time(grid + IJD_MJDREF, format="mjd", scale="tt"))  # geocentric (GCRS) direction
    return grid, radec_to_unit(sun.ra.deg, sun.dec.deg)


def sun_vector(ijd):
    """Unit vector(s) towards the Sun (geocentric), interpolated from a daily astropy table."""
    grid, vec = _sun_table()
    ijd = np.atleast_1d(np.asarray(ijd, dtype=float))
    out = np.stack([np.interp(ijd, grid, vec[:, k]) for k in range(3)], axis=-1)
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def _frame(x, sun):
    """Spacecraft axes for viewing axis ``x``: Z towards the Sun's projection, Y = Z × X."""
    z = sun - np.sum(sun * x, axis=-1, keepdims=True) * x
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return y, z


def _posangle(x, z):
    """Position angle (deg, east of north) of the Z axis at the pointing."""
    north = np.array([0.0, 0.0, 1.0])
    n = north - x[..., 2:3] * x
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    e = np.cross(north, x)
    e /= np.linalg.norm(e, axis=-1, keepdims=True)
    return np.degrees(np.arctan2(np.sum(z * e, axis=-1), np.sum(z * n, axis=-1))) % 360.0


def _dither_offsets(pattern: str, n: int, rng) -> np.ndarray:
    """(n, 2) offsets (deg) along the spacecraft (Y, Z) axes."""
    if pattern == "5x5":
        step = 2.17
        grid = [(i, j if i % 2 == 0 else 4 - j) for i in range(5) for j in range(5)]
        base = (np.array(grid, dtype=float) - 2.0) * step
    elif pattern == "hex":
        ang = np.radians(np.arange(6) * 60.0)
        base = np.vstack([[0.0, 0.0], 2.0 * np.column_stack([np.cos(ang), np.sin(ang)])])
    else:  # staring
        base = np.zeros((1, 2))
    start = int(rng.integers(len(base)))
    return base[(start + np.arange(n)) % len(base)]


@functools.lru_cache(maxsize=1)
def _gps_grid():
    """Equatorial coordinates of the plane-scan nodes (l on a 0.1° grid, b = ∓2.6°)."""
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    l = np.arange(0.0, 360.0, 0.1)
    out = []
    for b in (-2.6, 2.6):
        c = SkyCoord(l=l * u.deg, b=np.full_like(l, b) * u.deg, frame="galactic").icrs
        out.append((c.ra.deg, c.dec.deg))
    return out


def _gal_to_eq(l, b):
    ra, dec = _gps_grid()[0 if b < 0 else 1]
    i = int(round(l * 10.0)) % 3600
    return ra[i], dec[i]


def field_names() -> list[str]:
    names = [f.name for f in prog.FIELDS]
    for b in prog.FIXED_BLOCKS:
        if b.field.name not in names:
            names.append(b.field.name)
    for extra in (prog.CRAB.name, prog.GX51_FIELD.name):
        if extra not in names:
            names.append(extra)
    return names


def _crab_revolutions(last_rev: int) -> set[int]:
    """Two calibration revolutions per year when the Crab is visible (Feb/Mar and Aug/Sep)."""
    revs = set()
    for year in range(2003, 2025):
        for md in ("02-25", "08-28"):
            ijd = float(time_to_ijd(Time(f"{year}-{md}T00:00:00", scale="utc")))
            r = int(revolution_of_ijd(ijd)) + 1
            if r <= last_rev:
                revs.add(r)
    # 2003 calibration campaign (Crab observed in revs 39-45 and 102 among others).
    revs.update({39, 40, 43, 44, 45, 102})
    return revs


def _seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256(("|".join(map(str, parts))).encode()).digest()[:8], "little")


def _visible(ra, dec, ijd) -> bool:
    """Solar-aspect check for one direction (scalar fast path: called ~10^5 times per build)."""
    grid, vec = _sun_table()
    i = min(max(int(round(ijd - grid[0])), 0), len(grid) - 1)
    sx, sy, sz = vec[i]
    r, d = math.radians(ra), math.radians(dec)
    cosang = math.cos(d) * math.cos(r) * sx + math.cos(d) * math.sin(r) * sy + math.sin(d) * sz
    return math.cos(math.radians(_SUN_MAX)) <= cosang <= math.cos(math.radians(_SUN_MIN))


def build_history() -> np.ndarray:
    """Build the whole pointing history (deterministic; a few seconds)."""
    names = field_names()
    name_index = {n: i for i, n in enumerate(names)}
    t_mission_end = float(time_to_ijd(MISSION_END))
    last_rev = int(revolution_of_ijd(t_mission_end))
    crab_revs = _crab_revolutions(last_rev)
    fixed_by_rev = {r: b for b in prog.FIXED_BLOCKS for r in b.revolutions}
    timed_blocks = [(float(time_to_ijd(Time(b.start, scale="utc"))), float(time_to_ijd(Time(b.stop, scale="utc"))), b)
                    for b in prog.FIXED_BLOCKS if b.start]
    weights = np.array([f.weight for f in prog.FIELDS])
    rows: list[tuple] = []
    # Per ScW: target centre, dither offset, and the field's GPS flag are resolved vectorially below.
    centre_ra, centre_dec, off_y, off_z = [], [], [], []

    for rev in range(0, last_rev + 1):
        rng = np.random.default_rng(_seed("rev", rev, HISTORY_VERSION))
        r0 = float(revolution_start_ijd(rev))
        r1 = float(revolution_start_ijd(rev + 1))
        s0 = r0 + _SCIENCE_START * (r1 - r0)
        s1 = min(r0 + _SCIENCE_END * (r1 - r0), t_mission_end)
        if s1 <= s0:
            continue
        # Split the science time into intervals, each with its field.
        intervals: list[tuple[float, float, prog.Field]] = []
        if rev in fixed_by_rev:
            intervals.append((s0, s1, fixed_by_rev[rev].field))
        elif rev in crab_revs:
            intervals.append((s0, s1, prog.CRAB))
        else:
            cuts = [(max(a, s0), min(b, s1), blk.field) for a, b, blk in timed_blocks if a < s1 and b > s0]
            cuts.sort(key=lambda c: c[0])
            free, cursor = [], s0
            for a, b, f in cuts:
                if a > cursor:
                    free.append((cursor, a))
                intervals.append((a, b, f))
                cursor = max(cursor, b)
            if cursor < s1:
                free.append((cursor, s1))
            for a, b in free:
                pieces = [(a, b)]
                if b - a > 1.2 and rng.random() < 0.35:  # some revolutions share two programmes
                    m = a + (b - a) * rng.uniform(0.35, 0.65)
                    pieces = [(a, m), (m, b)]
                for pa, pb in pieces:
                    mid = 0.5 * (pa + pb)
                    for _ in range(20):
                        f = prog.FIELDS[int(rng.choice(len(weights), p=weights / weights.sum()))]
                        if f.pattern == "gps" or _visible(f.ra, f.dec, mid):
                            break
                    intervals.append((pa, pb, f))
            intervals.sort(key=lambda c: c[0])

        pointing = 0
        for a, b, f in intervals:
            t = a
            gps_l = rng.uniform(0, 360)
            dithers = _dither_offsets(f.pattern, 400, rng)
            k = 0
            while True:
                # Slews of ≈1 min plus ≈25 s per degree (dither steps ≈2 min).
                slew = rng.uniform(100.0, 140.0) / _SECONDS_PER_DAY
                dur = rng.uniform(*f.scw_seconds) / _SECONDS_PER_DAY
                start = t + (slew if k > 0 or pointing > 0 else 0.0)
                stop = min(start + dur, b)
                if (stop - start) * _SECONDS_PER_DAY < 600.0 and k > 0:
                    break
                if stop <= start:
                    break
                pointing += 1
                if f.pattern == "gps":
                    # Sawtooth scan along the plane: 6.4° steps in l, ±2.6° in b, visible part only.
                    for _ in range(60):
                        gps_l = (gps_l + 6.4) % 360.0
                        ra_c, dec_c = _gal_to_eq(gps_l, 2.6 if k % 2 else -2.6)
                        if _visible(float(ra_c), float(dec_c), start):
                            break
                    centre_ra.append(float(ra_c)); centre_dec.append(float(dec_c))
                    off_y.append(0.0); off_z.append(0.0)
                else:
                    centre_ra.append(f.ra); centre_dec.append(f.dec)
                    off_y.append(dithers[k % len(dithers), 0]); off_z.append(dithers[k % len(dithers), 1])
                ontime = (stop - start) * _SECONDS_PER_DAY
                gap_start = gap_len = 0.0
                u = rng.random()
                if u < 0.05:  # telemetry gap
                    gap_len = float(rng.uniform(30.0, min(600.0, 0.5 * ontime)))
                    gap_start = float(rng.uniform(0.0, ontime - gap_len))
                elif u < 0.055:  # instrument mostly off (e.g. ISGRI reset): a short good time
                    gap_len = float(ontime - rng.uniform(100.0, 900.0))
                    gap_start = float(ontime - gap_len)
                deadc = float(rng.normal(0.895, 0.01))  # ISGRI dead time ≈ 10% (Lebrun et al. 2003)
                rows.append((rev, pointing, start, stop, 0.0, 0.0, 0.0, 0.0, 0.0,
                             ontime - gap_len, deadc, gap_start, gap_len, name_index[f.name]))
                t = stop
                k += 1
                if pointing >= 9999 or t >= b:
                    break

    hist = np.array(rows, dtype=HISTORY_DTYPE)
    # Attitude: viewing axis = target centre displaced by the dither along the spacecraft
    # axes; roll from the Sun (Z axis towards it, as the solar panels require).
    tmid = 0.5 * (hist["tstart"] + hist["tstop"])
    sun = sun_vector(tmid)
    c = radec_to_unit(np.array(centre_ra), np.array(centre_dec))
    y, z = _frame(c, sun)
    x = c + np.tan(np.radians(off_y))[:, None] * y + np.tan(np.radians(off_z))[:, None] * z
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    _, z = _frame(x, sun)
    hist["ra_scx"], hist["dec_scx"] = unit_to_radec(x)
    hist["ra_scz"], hist["dec_scz"] = unit_to_radec(z)
    hist["posangle"] = _posangle(x, z)
    return hist


def _cache_path(directory: Path) -> Path:
    from .. import CODE_VERSION  # noqa: F401  (history depends only on HISTORY_VERSION)

    return directory / f"pointing_history_v{HISTORY_VERSION}.npz"


def load_history(directory: Path | None = None) -> np.ndarray:
    """The pointing history, from the ``.npz`` cache in ``directory`` or built (and cached)."""
    return _load_history_cached(str(directory) if directory is not None else "")


@functools.lru_cache(maxsize=4)
def _load_history_cached(directory: str) -> np.ndarray:
    if not directory:
        from ..config import get_settings

        directory = str(get_settings().data_dir)
    path = _cache_path(Path(directory))
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as npz:
                hist = npz["history"]
            if hist.dtype == HISTORY_DTYPE:
                hist.flags.writeable = False
                return hist
        except (OSError, ValueError, KeyError):
            pass  # corrupt cache: rebuild below
    hist = build_history()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, history=hist)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    hist.flags.writeable = False
    return hist


def scw_ids(hist: np.ndarray) -> np.ndarray:
    """Ids ``RRRRPPPP0010.001`` of history rows (vectorised)."""
    rev = hist["revolution"].astype(np.int64)
    pnt = hist["pointing"].astype(np.int64)
    num = rev * 100000000 + pnt * 10000 + 10
    return np.char.add(np.char.zfill(num.astype(str), 12), ".001")
