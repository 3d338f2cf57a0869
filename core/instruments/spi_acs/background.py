"""The SPI-ACS background: level, orbit, radiation belts, solar cycle, solar particle events.

The shield counts cosmic-ray and secondary particles far more than photons. Its rate,
summed over the 91 crystals above threshold, is 6–9 × 10⁴ counts/s outside the belts
(instruments.md gives ~10⁵ [approx]), anticorrelated with solar activity through the
modulation of galactic cosmic rays (higher at solar minimum, 2009 and 2019–20), rising
steeply towards the radiation belts near each perigee and multiplied during solar
particle events. Its fluctuations exceed Poisson's: the standard deviation of the counts
in a bin is ≈ 1.57 √B (instruments.md), because a particle shower fires several
crystals at once. The simulation reproduces this with a compound Poisson process: a share
``f`` of the counts arrives in showers of ``m`` counts, so that the variance is
``B (1 + f (m − 1)) = 1.57² B`` at every time scale.

Data exist only outside the belts: from half an hour before the first science window of a
revolution to half an hour after its last one (the instruments are switched to safe mode
around perigee), taken from the pointing history so that they follow its revolution
timing.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

__all__ = ["NOISE_FACTOR", "SHOWER_SIZE", "SHOWER_FRACTION", "BASE_RATE", "coverage", "rate", "solar_activity",
           "attitude_at"]

#: Standard deviation of the counts over √(counts) (instruments.md: noise ≈ 1.57 √B).
NOISE_FACTOR = 1.57
SHOWER_SIZE = 4
SHOWER_FRACTION = (NOISE_FACTOR ** 2 - 1.0) / (SHOWER_SIZE - 1)
#: Counts/s outside the belts at solar minimum (GCR flux at its highest).
BASE_RATE = 8.2e4
_SOLAR_DEPTH = 0.22         # rate at solar maximum = BASE_RATE × (1 − depth × activity)
_GCR_LAG_YR = 1.0           # cosmic-ray modulation lags the sunspot number by about a year
_ON_MARGIN_S = 1800.0       # ACS on this long before/after the revolution's first/last ScW
_BELT_AMPLITUDE, _BELT_SCALE_S = 4.0, 1500.0
_DAY = 86400.0

# Solar cycles (SILSO sunspot number): minima and maxima (decimal years), relative amplitudes.
_MINIMA = np.array([1996.6, 2008.9, 2019.9, 2030.9])
_MAXIMA = np.array([2001.9, 2014.3, 2024.8])
_AMPL = np.array([1.0, 0.6, 0.85])


def _decimal_year(t_s):
    # IJD 0 = 2000-01-01T00:00 TT; a Julian year of 365.25 d is precise enough for this.
    return 2000.0 + np.asarray(t_s, dtype=float) / (_DAY * 365.25)


def solar_activity(t_s) -> np.ndarray:
    """Smooth solar activity in [0, 1] (0 at minima; each cycle's maximum its relative amplitude)."""
    y = _decimal_year(t_s)
    out = np.zeros_like(y)
    for i, (mx, amp) in enumerate(zip(_MAXIMA, _AMPL)):
        lo, hi = _MINIMA[i], _MINIMA[i + 1]
        rise = (y >= lo) & (y < mx)
        fall = (y >= mx) & (y < hi)
        out = np.where(rise, amp * 0.5 * (1 - np.cos(np.pi * (y - lo) / (mx - lo))), out)
        out = np.where(fall, amp * 0.5 * (1 + np.cos(np.pi * (y - mx) / (hi - mx))), out)
    return out


@functools.lru_cache(maxsize=2)
def _revolution_table(data_dir: str):
    """Per revolution of the pointing history: first ScW start and last ScW stop (IJD s)."""
    from ...archive.pointings import load_history

    hist = load_history(data_dir or None)
    rev = hist["revolution"].astype(np.int64)
    order = np.argsort(rev, kind="stable")
    rev_s = rev[order]
    uniq, first = np.unique(rev_s, return_index=True)
    tstart = hist["tstart"][order]
    tstop = hist["tstop"][order]
    a = np.minimum.reduceat(tstart, first) * _DAY
    b = np.maximum.reduceat(tstop, first) * _DAY
    on0 = a - _ON_MARGIN_S
    on1 = b + _ON_MARGIN_S
    o = np.argsort(on0)
    uniq, on0, on1 = uniq[o], on0[o], on1[o]
    _keep_known_events(on0, on1)
    return uniq, on0, on1


def _keep_known_events(on0: np.ndarray, on1: np.ndarray) -> None:
    """Move a simulated perigee off a catalogue transient.

    The real shield recorded every event of the catalogue; where the simulated revolution
    timing puts a perigee over one, the nearer edge of the data gap is moved so that the
    event and 1.5 h around it have data (the belts' rise then comes that much later).
    """
    from .catalogue import transients

    pad = 5400.0
    for tr in transients():
        a, b = tr.start_s - pad, tr.stop_s + pad
        i = int(np.searchsorted(on0, tr.t0_s, side="right")) - 1
        if 0 <= i < len(on0) and on0[i] <= a and on1[i] >= b:
            continue
        if 0 <= i < len(on0) and tr.t0_s - on1[i] < (on0[i + 1] - tr.t0_s if i + 1 < len(on0) else np.inf):
            on1[i] = max(on1[i], b)
            if on0[i] > a:
                on0[i] = a
        elif i + 1 < len(on0):
            on0[i + 1] = min(on0[i + 1], a)


def _data_dir() -> str:
    from ...config import get_settings

    return str(get_settings().data_dir)


def coverage(t0_s: float, t1_s: float) -> list[tuple[float, float]]:
    """Intervals (IJD s) within [t0, t1) when the shield is on and outside the belts."""
    _, on0, on1 = _revolution_table(_data_dir())
    i = max(int(np.searchsorted(on1, t0_s)) - 1, 0)
    out = []
    while i < len(on0) and on0[i] < t1_s:
        a, b = max(on0[i], t0_s), min(on1[i], t1_s)
        if b > a:
            out.append((float(a), float(b)))
        i += 1
    return out


def _seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def rate(t_s: np.ndarray) -> np.ndarray:
    """Expected background (counts/s) at IJD seconds ``t_s`` (inside covered intervals)."""
    from ...archive.pointings import revolution_of_ijd, revolution_start_ijd
    from .catalogue import solar_particle_events

    t_s = np.asarray(t_s, dtype=float)
    level = BASE_RATE * (1.0 - _SOLAR_DEPTH * solar_activity(t_s - _GCR_LAG_YR * 365.25 * _DAY))
    # Along the orbit: a mild modulation with orbital phase, and the belts near perigee.
    revs, on0, on1 = _revolution_table(_data_dir())
    j = np.clip(np.searchsorted(on0, t_s, side="right") - 1, 0, len(on0) - 1)
    since_on, until_off = t_s - on0[j], on1[j] - t_s
    belts = (_BELT_AMPLITUDE * np.exp(-np.clip(since_on, 0, None) / _BELT_SCALE_S)
             + _BELT_AMPLITUDE * np.exp(-np.clip(until_off, 0, None) / _BELT_SCALE_S))
    rev = revolution_of_ijd(t_s / _DAY)
    r0 = revolution_start_ijd(rev) * _DAY
    r1 = revolution_start_ijd(rev + 1) * _DAY
    phase = (t_s - r0) / (r1 - r0)
    orbit = 1.0 + 0.02 * np.cos(2.0 * np.pi * phase)
    # Slow drifts (hours) of the cosmic-ray flux and the spacecraft's activation, per revolution.
    drift = np.ones_like(t_s)
    for r in np.unique(rev):
        rng = np.random.default_rng(_seed("acs-drift", int(r)))
        sel = rev == r
        for _ in range(3):
            period = rng.uniform(2.0, 6.0) * 3600.0
            drift[sel] += 0.003 * np.sin(2.0 * np.pi * t_s[sel] / period + rng.uniform(0, 2 * np.pi))
    out = level * orbit * drift * (1.0 + belts)
    for spe in solar_particle_events():
        if np.any((t_s > spe.onset_s) & (t_s < spe.onset_s + spe.rise_s + 10.0 * spe.decay_s)):
            out *= spe.factor(t_s)
    return out


def attitude_at(t_s: float) -> tuple[float, float]:
    """Spacecraft X axis (RA, Dec) at IJD second ``t_s``: the pointing then, or the next one (slews)."""
    from ...archive.pointings import load_history

    hist = load_history(_data_dir() or None)
    tday = t_s / _DAY
    i = int(np.searchsorted(hist["tstop"], tday))
    i = min(max(i, 0), len(hist) - 1)
    return float(hist["ra_scx"][i]), float(hist["dec_scx"][i])
