"""The transients and solar particle events shipped with the SPI-ACS simulation.

``data/transients.ecsv``: GRBs, magnetar flares and a solar flare with real dates,
positions, published fluences, spectra and light-curve shapes (each row cites its
sources). ``data/solar_particle_events.ecsv``: real proton events that raise the
shield's background. Times are converted once to IJD (TT) seconds.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .response import Spectrum

__all__ = ["Transient", "SolarParticleEvent", "transients", "solar_particle_events", "find_transient",
           "TRANSIENTS_PATH", "SPE_PATH"]

TRANSIENTS_PATH = Path(__file__).with_name("data") / "transients.ecsv"
SPE_PATH = Path(__file__).with_name("data") / "solar_particle_events.ecsv"


def _utc_to_ijd_s(text: str) -> float:
    from astropy.time import Time

    from ...timeutil import time_to_ijd

    return float(time_to_ijd(Time(text, format="isot", scale="utc"))) * 86400.0


@dataclass(frozen=True)
class Transient:
    name: str
    kind: str
    t0_utc: str
    t0_s: float                 # IJD seconds (TT)
    ra: float                   # NaN: the Sun
    dec: float
    fluence: float              # erg/cm² in e_lo..e_hi
    e_lo: float
    e_hi: float
    spectrum: Spectrum
    t90: float
    pulses: tuple               # ((start_s, tau_rise, tau_decay, share), ...)
    period_s: float
    reference: str

    @property
    def start_s(self) -> float:
        return self.t0_s + min(p[0] for p in self.pulses)

    @property
    def stop_s(self) -> float:
        """Where the light curve has fallen below 1e-4 of its pulses' peaks."""
        return self.t0_s + max(p[0] + p[2] * 12.0 + 3.0 * math.sqrt(p[1] * p[2]) for p in self.pulses)

    def direction(self) -> tuple[float, float]:
        if math.isfinite(self.ra):
            return self.ra, self.dec
        from astropy.coordinates import get_sun
        from astropy.time import Time

        sun = get_sun(Time(self.t0_utc, format="isot", scale="utc"))
        return float(sun.ra.deg), float(sun.dec.deg)

    def profile(self, t_rel: np.ndarray) -> np.ndarray:
        """Shape of the count rate at ``t_rel`` s from t0, integrating to 1 (per s)."""
        out = np.zeros_like(t_rel, dtype=float)
        for ts, t1, t2, share in self.pulses:
            dt = t_rel - ts
            pos = dt > 0
            p = np.zeros_like(out)
            p[pos] = np.exp(2.0 * math.sqrt(t1 / t2) - t1 / dt[pos] - dt[pos] / t2)
            norm = _norris_integral(t1, t2)
            out += share * p / norm
        if self.period_s > 0:
            out *= 1.0 + 0.8 * np.cos(2.0 * math.pi * t_rel / self.period_s)
        return out


def _norris_integral(t1: float, t2: float) -> float:
    """∫ exp(2√(τ1/τ2) − τ1/t − t/τ2) dt over t > 0 = 2√(τ1τ2) K1(2√(τ1/τ2)) e^{2√(τ1/τ2)}."""
    from scipy.special import k1e

    z = 2.0 * math.sqrt(t1 / t2)
    return 2.0 * math.sqrt(t1 * t2) * float(k1e(z))


@dataclass(frozen=True)
class SolarParticleEvent:
    name: str
    onset_s: float
    rise_s: float
    decay_s: float
    peak_factor: float
    reference: str

    def factor(self, t_s: np.ndarray) -> np.ndarray:
        """Multiplier of the background rate (1 outside the event)."""
        dt = t_s - self.onset_s
        up = np.clip(dt / self.rise_s, 0.0, 1.0)
        down = np.exp(-np.clip(dt - self.rise_s, 0.0, None) / self.decay_s)
        return 1.0 + (self.peak_factor - 1.0) * np.where(dt > 0, up * down, 0.0)


def _read(path: Path):
    from astropy.table import Table

    return Table.read(path, format="ascii.ecsv")


@functools.lru_cache(maxsize=1)
def transients() -> tuple[Transient, ...]:
    out = []
    for r in _read(TRANSIENTS_PATH):
        pulses = tuple(tuple(float(x) for x in p.split("/")) for p in str(r["pulses"]).split(";") if p.strip())
        spec = Spectrum(str(r["spectrum"]), alpha=r["alpha"], beta=r["beta"], epeak=r["epeak_keV"], kT=r["kT_keV"])
        out.append(Transient(str(r["name"]), str(r["kind"]), str(r["t0_utc"]), _utc_to_ijd_s(str(r["t0_utc"])),
                             float(r["ra"]), float(r["dec"]), float(r["fluence_erg_cm2"]), float(r["e_lo_keV"]),
                             float(r["e_hi_keV"]), spec, float(r["t90_s"]), pulses, float(r["period_s"]),
                             str(r["reference"])))
    return tuple(sorted(out, key=lambda t: t.t0_s))


@functools.lru_cache(maxsize=1)
def solar_particle_events() -> tuple[SolarParticleEvent, ...]:
    return tuple(SolarParticleEvent(str(r["name"]), _utc_to_ijd_s(str(r["onset_utc"])), float(r["rise_s"]),
                                    float(r["decay_s"]), float(r["peak_factor"]), str(r["reference"]))
                 for r in _read(SPE_PATH))


def find_transient(name: str) -> Transient:
    key = " ".join(str(name).lower().split())
    for t in transients():
        if t.name.lower() == key or t.name.lower().replace(" ", "") == key.replace(" ", ""):
            return t
    raise KeyError(f"no transient {name!r} in {TRANSIENTS_PATH.name}")
