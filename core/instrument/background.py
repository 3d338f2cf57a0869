"""ISGRI instrumental background: spectrum, per-module and spatial non-uniformity, drifts.

The detector background is dominated by cosmic-ray induced continuum and by fluorescence
and activation lines (Terrier et al. 2003, A&A 411, L167; Lebrun et al. 2003): tungsten
Kα/Kβ (58.0, 59.3, 67.2 keV) from the mask and collimator, lead (72.8, 75.0 keV) from the
shield, Cd/Te K escape-related lines near 23–31 keV and, at higher energy, activation lines
and 511 keV. Its spatial pattern is not flat: modules differ by several per cent and the
low-energy part is brighter towards the detector edges (OSA corrects both with background
maps). It rises when the cosmic-ray flux does (solar minimum) and near the radiation belts.

The absolute level is not published in our sources; it is calibrated (``RATE_20_40``) so
that the published significances come out: the Crab at ≈1400–1700σ in a 50-ScW 20–40 keV
mosaic and ≈1 mCrab at 3σ in 1 Ms (instruments.md).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import detector as det

__all__ = ["RATE_20_40", "background_spectrum_shape", "spatial_maps", "level_factor", "LINES_KEV"]

#: Background count rate of the whole detector in 20–40 keV (measured energy), cts/s,
#: at the reference epoch (2009, solar minimum ⇒ factor 1.12) and mid-orbit.
RATE_20_40 = 800.0

#: (energy keV, equivalent width relative to the continuum at that energy, keV)
LINES_KEV = ((23.2, 1.0), (27.5, 1.2), (31.0, 0.6), (58.0, 2.5), (59.3, 4.5), (67.2, 1.8),
             (72.8, 1.2), (75.0, 2.0), (84.9, 0.6), (150.0, 3.0), (245.0, 4.0), (511.0, 25.0))


def background_spectrum_shape(energy_keV) -> np.ndarray:
    """Relative background rate per keV in true deposited energy (peak-normalised)."""
    e = np.asarray(energy_keV, dtype=float)
    # Broken continuum: flat-ish below 40 keV (shield leakage + Compton), E^-2 above.
    cont = np.where(e < 40.0, (e / 40.0) ** -0.4, (e / 40.0) ** -2.0)
    out = cont.copy()
    for e0, ew in LINES_KEV:
        sigma = 0.5 + 0.01 * e0  # intrinsic, before the detector's resolution
        cont0 = (e0 / 40.0) ** -0.4 if e0 < 40.0 else (e0 / 40.0) ** -2.0
        out += cont0 * ew * np.exp(-0.5 * ((e - e0) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return out


@functools.lru_cache(maxsize=1)
def _base_patterns() -> tuple[np.ndarray, np.ndarray]:
    """Low- and high-energy spatial patterns (mean 1 over live pixels), deterministic."""
    rng = np.random.default_rng(0xB6)
    live = det.live_pixels()
    zc, yc = det.pixel_centres_mm()
    r = np.hypot(zc / zc.max(), yc / yc.max())
    module = det.module_map()
    mod_level_lo = 1.0 + 0.06 * rng.standard_normal(det.N_MODULES)
    mod_level_hi = 1.0 + 0.03 * rng.standard_normal(det.N_MODULES)
    lo = (1.0 + 0.25 * r ** 2) * np.where(module >= 0, mod_level_lo[module], 0.0)
    hi = (1.0 + 0.08 * r ** 2) * np.where(module >= 0, mod_level_hi[module], 0.0)
    # Module-edge pixels see more shield leakage at low energy.
    edge = np.zeros_like(live)
    for sz, sy in det.module_slices():
        m = np.zeros_like(live)
        m[sz, sy] = True
        inner = np.zeros_like(live)
        inner[sz.start + 1:sz.stop - 1, sy.start + 1:sy.stop - 1] = True
        edge |= m & ~inner
    lo = lo * np.where(edge, 1.15, 1.0)
    out = []
    for p in (lo, hi):
        p = np.where(live, p, 0.0)
        out.append((p / p[live].mean()).astype(np.float64))
    return out[0], out[1]


def spatial_maps(revolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) energy background patterns times pixel efficiency, dead pixels at 0."""
    lo, hi = _base_patterns()
    eff = det.pixel_efficiency(revolution)
    return lo * eff, hi * eff


def level_factor(ijd: float, orbit_phase: float) -> float:
    """Background level relative to the reference epoch.

    Solar modulation of cosmic rays (±12% over the 11-year cycle, maximum at solar minima,
    2009 and 2020), slow activation build-up (+0.8%/yr), and the rise near the radiation
    belts at the start and end of each revolution's science window.
    """
    year = 2000.0 + ijd / 365.25
    solar = 1.0 + 0.12 * math.cos(2 * math.pi * (year - 2009.0) / 11.0)
    activation = 1.0 + 0.008 * (year - 2009.0)
    edge = min(abs(orbit_phase - 0.06), abs(0.94 - orbit_phase))
    belts = 1.0 + 0.25 * math.exp(-edge / 0.03)
    return solar / 1.12 * activation * belts
