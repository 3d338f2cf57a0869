"""JEM-X instrumental background: spectrum, spatial non-uniformity and its drifts.

A gas chamber behind a collimator sees (Lund et al. 2003; Huovelin et al. 2003 for the
JEM-X in-flight background):

* the cosmic X-ray background through the collimator aperture (and the mask), dominant
  below ≈ 15 keV; through the collimator it illuminates the detector almost uniformly,
  slightly less towards the rim where the collimator cells are shadowed by the housing;
* the charged-particle induced continuum left after the anti-coincidence and rise-time
  rejection, flat in counts per keV, brighter towards the chamber walls;
* fluorescence lines: Xe Kα/Kβ (29.7/33.6 keV) from the gas excited by particles, Cu Kα
  (8.05 keV) from the detector body and Mo Kα (17.4 keV) from the collimator.

The level is not published in the sources we have: ``RATE_3_35`` (per unit, at the reference
epoch) is an [approx] value of ≈ 20 cts/s over 3–35 keV, about a sixth of the Crab's rate,
which gives JEM-X the few-mCrab per-day sensitivity it is known for. JMX2 runs ≈ 8 % higher.
The particle part follows the solar cycle like ISGRI's (:func:`level_factor`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import detector as det

__all__ = ["RATE_3_35", "UNIT_LEVEL", "LINES_KEV", "background_spectrum", "spatial_maps", "level_factor",
           "COMPONENTS"]

#: Background count rate of the whole detector in 3–35 keV (measured), cts/s, unit 1 [approx].
RATE_3_35 = 20.0
#: Relative background level of each unit.
UNIT_LEVEL = {1: 1.0, 2: 1.08}
#: Lines: (energy keV, equivalent width keV relative to the particle continuum).
LINES_KEV = ((8.05, 0.6), (17.4, 0.5), (29.7, 2.2), (33.6, 0.4))
#: Background components, each with its own spectrum and spatial template.
COMPONENTS = ("cxb", "particle")


def background_spectrum(component: str, energy_keV) -> np.ndarray:
    """Relative deposited-energy spectrum (counts per keV, arbitrary units) of a component."""
    e = np.asarray(energy_keV, float)
    if component == "cxb":
        # CXB photons (Γ ≈ 1.4 below 30 keV) times the detection efficiency shape: it
        # falls steeply once the gas becomes transparent.
        from .response import window_transmission, xe_efficiency

        return 3.0 * (e / 5.0) ** -1.4 * window_transmission(e) * xe_efficiency(e)
    if component == "particle":
        out = np.ones_like(e) * 0.6
        for e0, ew in LINES_KEV:
            sigma = 0.2 + 0.01 * e0
            out = out + 0.6 * ew * np.exp(-0.5 * ((e - e0) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        return out * (e > 1.0)
    raise ValueError(f"unknown background component {component!r} (use {', '.join(COMPONENTS)})")


@functools.lru_cache(maxsize=4)
def _patterns(unit: int) -> tuple[np.ndarray, np.ndarray]:
    c = det.pixel_centres_mm()
    r = np.hypot(c[:, None], c[None, :]) / det.ACTIVE_RADIUS_MM
    rng = np.random.default_rng(0xB600 + unit)
    # A slight tilt per unit (the chamber's field lines are not perfectly uniform).
    tilt = 0.04 * rng.standard_normal(2)
    x = c[:, None] / det.ACTIVE_RADIUS_MM
    y = c[None, :] / det.ACTIVE_RADIUS_MM
    cxb = (1.0 - 0.12 * r ** 2) * (1.0 + tilt[0] * x + tilt[1] * y)
    particle = (1.0 + 0.35 * r ** 4) * (1.0 - tilt[1] * x + tilt[0] * y)
    act = det.active_fraction()
    out = []
    for p in (cxb, particle):
        p = p * act
        out.append(p / p[act > 0].mean())
    return out[0], out[1]


def spatial_maps(unit: int, revolution: int) -> dict[str, np.ndarray]:
    """Per-component spatial templates × pixel efficiency (dead strips at 0), mean ≈ 1."""
    unit = det.check_unit(unit)
    eff = det.pixel_efficiency(unit, revolution)
    act = det.active_fraction()
    rel = np.where(act > 0, eff / np.where(act > 0, act, 1.0), 0.0)  # gain × dead, per unit area
    cxb, particle = _patterns(unit)
    return {"cxb": cxb * rel, "particle": particle * rel}


def level_factor(ijd: float) -> float:
    """Particle background relative to the reference epoch (solar modulation of cosmic rays)."""
    year = 2000.0 + float(ijd) / 365.25
    return (1.0 + 0.12 * math.cos(2 * math.pi * (year - 2009.0) / 11.0)) / 1.12
