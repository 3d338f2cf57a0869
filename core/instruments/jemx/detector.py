"""JEM-X detectors: circular Xe microstrip gas chambers, one per unit (JMX1, JMX2).

Every detector map here is a numpy array ``(N_PIX, N_PIX) = (128, 128)`` indexed
``[x, y]``: the first index is DETX (along the spacecraft +Z axis), the second DETY (along
+Y), as the direction tangents ``(tan_z, tan_y)`` of :mod:`core.instrument.attitude`
(JEM-X looks along the same pointing axis as IBIS). Pixel ``i`` is centred at
``(i − 63.5)·PITCH_MM`` from the detector centre, which lies under the mask centre.

Model (instruments.md, Lund et al. 2003, A&A 411, L231):

* sensitive area: a disc of ``ACTIVE_RADIUS_MM`` = 126 mm (498.8 cm², "500 cm² each");
  pixels on the rim count with the fraction of their area inside the disc;
* 2 mm analysis pixels (OSA bins the microstrip positions finer; 2 mm keeps the mask
  element 3.3 mm = 1.65 pixels finely sampled and the FFTs as small as ISGRI's), with the
  gas chamber's position resolution ``POSITION_FWHM_MM`` applied to the mask shadow
  (:mod:`.pif`);
* dead anode strips: in a microstrip plate a dead anode loses a line of the detector; we
  model them as whole pixel lines of constant DETY, each dead from a given revolution on
  (JEM-X lost anodes during the mission). The lists are illustrative, one per unit (the
  flight lists are in OSA's calibration files, which we do not have);
* per-pixel relative efficiency (gain uniformity after OSA's correction) N(1, 0.02),
  drawn once per unit from a fixed seed.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["UNITS", "N_PIX", "PITCH_MM", "CENTRE_INDEX", "ACTIVE_RADIUS_MM", "POSITION_FWHM_MM",
           "DEAD_STRIPS", "check_unit", "pixel_centres_mm", "active_fraction", "dead_strip_map",
           "pixel_efficiency", "ideal_efficiency", "active_area_cm2"]

#: JEM-X units.
UNITS = (1, 2)
#: Detector pixels per axis.
N_PIX = 128
#: Pixel pitch (mm).
PITCH_MM = 2.0
#: Fractional index of the detector centre.
CENTRE_INDEX = 63.5
#: Radius of the sensitive disc (mm).
ACTIVE_RADIUS_MM = 126.0
#: Position resolution of the gas chamber, FWHM (mm) [approx].
POSITION_FWHM_MM = 1.5
#: Dead anode strips per unit: (DETY pixel line, first revolution dead). Illustrative.
DEAD_STRIPS = {1: ((30, 0), (91, 850)), 2: ((17, 0), (18, 0), (64, 420), (102, 1300))}
_GAIN_SIGMA = 0.02
_GAIN_SEED = {1: 0x1A11, 2: 0x2A22}
#: Mean relative efficiency of the unit's pixels (the two chambers differ slightly).
UNIT_EFFICIENCY = {1: 1.0, 2: 0.985}


def check_unit(unit) -> int:
    """The unit number as an int, or ValueError naming the allowed values."""
    try:
        u = int(unit)
    except (TypeError, ValueError):
        raise ValueError(f"jemx_num must be 1 or 2, got {unit!r}") from None
    if u not in UNITS:
        raise ValueError(f"jemx_num must be 1 or 2, got {unit!r}")
    return u


def pixel_centres_mm() -> np.ndarray:
    """Centres (mm) of the pixels along either axis, length ``N_PIX``."""
    return (np.arange(N_PIX) - CENTRE_INDEX) * PITCH_MM


@functools.lru_cache(maxsize=1)
def _active_fraction() -> np.ndarray:
    sub = 16
    c = pixel_centres_mm()
    off = ((np.arange(sub) + 0.5) / sub - 0.5) * PITCH_MM
    x = (c[:, None] + off[None, :]).ravel()
    inside = (x[:, None] ** 2 + x[None, :] ** 2) <= ACTIVE_RADIUS_MM ** 2
    frac = inside.reshape(N_PIX, sub, N_PIX, sub).mean(axis=(1, 3))
    frac.setflags(write=False)
    return frac


def active_fraction() -> np.ndarray:
    """Fraction of each pixel inside the sensitive disc, float64 ``(128, 128)``."""
    return _active_fraction().copy()


def active_area_cm2() -> float:
    """Sensitive area of a perfect detector (no dead strips), cm²."""
    return float(_active_fraction().sum() * PITCH_MM ** 2 / 100.0)


def dead_strip_map(unit: int, revolution: int) -> np.ndarray:
    """Boolean ``(128, 128)``: True on pixel lines of dead anodes at this revolution."""
    unit = check_unit(unit)
    out = np.zeros((N_PIX, N_PIX), dtype=bool)
    for line, rev0 in DEAD_STRIPS[unit]:
        if int(revolution) >= rev0:
            out[:, line] = True
    return out


@functools.lru_cache(maxsize=2)
def _gain(unit: int) -> np.ndarray:
    rng = np.random.default_rng(_GAIN_SEED[unit])
    g = rng.normal(UNIT_EFFICIENCY[unit], _GAIN_SIGMA, size=(N_PIX, N_PIX)).clip(0.9, 1.1)
    g.setflags(write=False)
    return g


def pixel_efficiency(unit: int, revolution: int) -> np.ndarray:
    """Relative efficiency of every pixel: active fraction × gain uniformity, 0 on dead strips.

    float64 ``(128, 128)``; deterministic per (unit, revolution).
    """
    unit = check_unit(unit)
    eff = _active_fraction() * _gain(unit)
    return np.where(dead_strip_map(unit, revolution), 0.0, eff)


def ideal_efficiency() -> np.ndarray:
    """Efficiency of a perfect detector (the ARF convention): the active fraction only."""
    return active_fraction()
