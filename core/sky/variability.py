"""Time behaviour of sky-model sources: 20–40 keV flux in mCrab as a function of IJD.

Grammar of the catalogue's ``variability`` column:

``steady``
    constant.
``crab``
    the real long-term Crab history: yearly means of Swift/BAT (2005–2018, daily light curve
    of the BAT transient monitor) and Fermi/GBM Earth occultation 25–50 keV (2008–2018),
    averaged where both exist; 2016 from GBM only (BAT's 2016 dip is instrumental);
    2003–2004 held at the 2005 value, 2019 on at the 2018 value. Normalised to a mean of 1.
``lognormal:rms=R,tau=D``
    red noise: exp of an Ornstein–Uhlenbeck process with correlation time D days, scaled so
    the fractional rms is R and the mean is the catalogue flux. Deterministic per source.
``outbursts:MJD0/RISE/DECAY/PEAK;...``
    fast-rise exponential-decay outbursts (days, mCrab) on top of the quiescent level.
``v404``
    V404 Cyg, June 2015 (Rodriguez et al. 2015; Kuulkers 2015; ATel 7702): an outburst from
    2015-06-15 with a train of flares, the brightest at MJD 57195.44 and 57197.17 reaching
    ≈ 45 Crab in 20–40 keV (7226 ISGRI cts/s), ≈ 44 episodes above 1000 cts/s (≈ 6.25 Crab)
    between 2015-06-20 and 06-25; a weaker re-brightening in late December 2015.
``3c279``
    3C 279: lognormal long-term level plus the June 2015 flare of Bottacini et al. 2016
    (ApJ 832, 17), whose ISGRI rates (0.85, 1.35, 2.89, 1.92 cts/s at MJD 57188.74, 57188.90,
    57189.06, 57189.23) are expressed relative to the 2003–2018 mean of 0.45 cts/s.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from ..forksafe import cached_property

__all__ = ["Variability", "parse_variability", "CRAB_YEARLY"]

_MJD_IJD = 51544.0

#: Crab yearly relative flux, (decimal year at mid-year, factor). See module docstring.
CRAB_YEARLY = (
    (2003.5, 1.035), (2004.5, 1.035), (2005.5, 1.035), (2006.5, 1.052), (2007.5, 1.039),
    (2008.5, 1.046), (2009.5, 1.025), (2010.5, 0.988), (2011.5, 0.991), (2012.5, 0.996),
    (2013.5, 1.008), (2014.5, 1.011), (2015.5, 0.998), (2016.5, 0.990), (2017.5, 0.994),
    (2018.5, 0.997),
)


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _ijd_to_year(ijd):
    # 2000-01-01 is IJD 0; a Julian year is 365.25 d (precision far below a yearly table).
    return 2000.0 + np.asarray(ijd, dtype=float) / 365.25


def _fred(t, t0, rise, decay):
    """Fast-rise exponential decay, peak 1 at t0 (same time unit for all)."""
    dt = np.asarray(t, dtype=float) - t0
    out = np.where(dt < 0, np.exp(np.clip(dt / rise, -50, 0)), np.exp(-np.clip(dt / decay, 0, 50)))
    return out


class Variability:
    """Callable: ``flux_mcrab(ijd)`` for a source of catalogue flux ``mean_mcrab``."""

    #: Sources whose flux changes within a ScW need sub-ScW sampling in the simulator.
    fast = False

    def __init__(self, mean_mcrab: float):
        self.mean = float(mean_mcrab)

    def __call__(self, ijd) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError


class Steady(Variability):
    def __call__(self, ijd):
        return np.full(np.shape(ijd), self.mean)


class CrabHistory(Variability):
    def __init__(self, mean_mcrab):
        super().__init__(mean_mcrab)
        yrs, fac = np.array(CRAB_YEARLY).T
        self._yrs, self._fac = yrs, fac / fac.mean()

    def __call__(self, ijd):
        return self.mean * np.interp(_ijd_to_year(ijd), self._yrs, self._fac)


class LogNormal(Variability):
    def __init__(self, mean_mcrab, rms: float, tau_days: float, key: str):
        super().__init__(mean_mcrab)
        self.rms, self.tau, self.key = float(rms), max(float(tau_days), 0.5), key

    @cached_property
    def _grid(self):
        step = min(1.0, self.tau / 4.0)
        t = np.arange(900.0, 9300.0, step)  # IJD 900 (2002-06) .. 9300 (2025-06)
        rng = np.random.default_rng(_seed("lognormal|" + self.key))
        a = math.exp(-step / self.tau)
        noise = rng.standard_normal(t.size) * math.sqrt(1 - a * a)
        x = np.empty(t.size)
        x[0] = rng.standard_normal()
        for i in range(1, t.size):  # a few thousand steps; once per source and process
            x[i] = a * x[i - 1] + noise[i]
        sigma = math.sqrt(math.log1p(self.rms ** 2))
        return t, np.exp(sigma * x - 0.5 * sigma * sigma)

    def __call__(self, ijd):
        t, f = self._grid
        return self.mean * np.interp(ijd, t, f)


class Outbursts(Variability):
    def __init__(self, mean_mcrab, outbursts):
        super().__init__(mean_mcrab)
        self.outbursts = [(m - _MJD_IJD, r, d, p) for m, r, d, p in outbursts]

    def __call__(self, ijd):
        out = np.full(np.shape(ijd), self.mean, dtype=float)
        for t0, rise, decay, peak in self.outbursts:
            out = out + peak * _fred(ijd, t0, rise, decay)
        return out


class V404Cyg(Variability):
    fast = True

    @cached_property
    def _flares(self):
        rng = np.random.default_rng(_seed("v404-2015"))
        flares = [(57195.44, 45000.0, 400.0, 900.0), (57197.17, 46000.0, 300.0, 700.0)]
        # Bright episodes (> 6.25 Crab) spread over the ToO, at least ~1.2 h apart.
        times: list[float] = [57195.44, 57197.17]
        while len(times) < 46:
            t = rng.uniform(57193.70, 57198.15)
            if min(abs(t - x) for x in times) > 0.05:
                times.append(t)
                flares.append((t, float(np.exp(rng.uniform(np.log(7500), np.log(30000)))),
                               float(rng.uniform(150, 600)), float(rng.uniform(300, 1500))))
        # Weaker flaring across the whole June outburst.
        for t in rng.uniform(57188.6, 57201.0, 160):
            flares.append((float(t), float(np.exp(rng.uniform(np.log(300), np.log(4500)))),
                           float(rng.uniform(100, 800)), float(rng.uniform(300, 3000))))
        # December 2015 re-brightening (Motta et al. 2016): flares up to ~2 Crab.
        for t in rng.uniform(57381.0, 57392.0, 25):
            flares.append((float(t), float(np.exp(rng.uniform(np.log(200), np.log(2000)))),
                           float(rng.uniform(200, 900)), float(rng.uniform(500, 3000))))
        return np.array(flares)  # MJD, peak mCrab, rise s, decay s

    def __call__(self, ijd):
        ijd = np.asarray(ijd, dtype=float)
        mjd = ijd + _MJD_IJD
        out = np.full(mjd.shape, self.mean)
        # Smooth envelope of the June outburst (~0.5 Crab plateau) and of December.
        out += 500.0 * np.clip((mjd - 57188.6) / 1.5, 0, 1) * np.exp(-np.clip(mjd - 57199.0, 0.0, 60.0) / 1.5) * (mjd > 57188.6)
        out += 150.0 * _fred(mjd, 57385.0, 1.0, 4.0) * (mjd > 57375.0)
        fl = self._flares
        near = np.abs(mjd[..., None] - fl[:, 0]) < 0.35
        if near.any():
            dt = (mjd[..., None] - fl[:, 0]) * 86400.0
            shape = np.where(dt < 0, np.exp(np.clip(dt / fl[:, 2], -50, 0)), np.exp(-np.clip(dt / fl[:, 3], 0, 50)))
            out += np.sum(np.where(near, fl[:, 1] * shape, 0.0), axis=-1)
        return out


class ThreeC279(LogNormal):
    fast = True
    _TEMPLATE = ((57188.5 + 0.08, 0.0), (57188.5 + 0.24, 0.85 / 0.45), (57188.5 + 0.401, 1.347 / 0.45),
                 (57188.5 + 0.563, 2.892 / 0.45), (57188.5 + 0.725, 1.918 / 0.45), (57188.5 + 0.90, 0.0))

    def __call__(self, ijd):
        base = super().__call__(ijd)
        t, f = np.array(self._TEMPLATE).T
        flare = np.interp(np.asarray(ijd, dtype=float) + _MJD_IJD, t, f, left=0.0, right=0.0)
        return base + self.mean * flare


def parse_variability(spec: str, mean_mcrab: float, key: str) -> Variability:
    """Build the variability model of a catalogue row (see module docstring for the grammar)."""
    spec = (spec or "steady").strip()
    kind, _, args = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "steady":
        return Steady(mean_mcrab)
    if kind == "crab":
        return CrabHistory(mean_mcrab)
    if kind in ("lognormal", "3c279"):
        kv = dict(item.split("=") for item in args.split(",") if "=" in item)
        rms, tau = float(kv.get("rms", 0.5)), float(kv.get("tau", 100.0))
        return (ThreeC279 if kind == "3c279" else LogNormal)(mean_mcrab, rms, tau, key)
    if kind == "outbursts":
        obs = [tuple(float(x) for x in item.split("/")) for item in args.split(";") if item.strip()]
        if any(len(o) != 4 for o in obs):
            raise ValueError(f"bad outbursts spec {spec!r}")
        return Outbursts(mean_mcrab, obs)
    if kind == "v404":
        return V404Cyg(mean_mcrab)
    raise ValueError(f"unknown variability {spec!r}")
