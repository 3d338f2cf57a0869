"""Instrument effects the simulator draws events with and the analysis does not model.

The analysis (responses, PIFs, background templates of :mod:`core.spectral`, :mod:`core.imaging`)
uses the *nominal* instrument: one gain and one low threshold for all pixels, a PIF with an
opaque mask, an effective area scaled by cos θ off axis, and background templates that are
the mean spatial patterns. Real ISGRI data differ from that nominal model in ways OSA only
partly calibrates; drawing the simulated events from a more detailed instrument than the one
the analysis assumes keeps the validation from being circular (recovering the simulator's own
model proves consistency only). The effects, each deterministic per pixel (seeded by the
detector, not by the ScW) or per ScW (seeded by the ScW):

* **per-pixel gain**: each pixel's energy scale differs from the nominal by a factor
  N(1, :data:`GAIN_SPREAD`) (residual of OSA's per-pixel gain/offset calibration);
* **per-pixel low threshold**: each pixel's threshold is offset by N(0, :data:`THRESHOLD_SPREAD_KEV`)
  keV; events below ``mean − 2σ_edge + offset`` are lost (a pixel with a high threshold loses
  the low tail the nominal erfc edge keeps);
* **mask transparency**: above 200 keV the closed tungsten elements transmit (0.1 % at 300 keV,
  1.4 % at 500 keV, 13 % at 1 MeV); the PIF of each source is evaluated with that
  transparency in energy groups (:data:`PIF_ENERGY_GROUPS`); the analysis' PIF is opaque;
* **off-axis response**: photons reaching the detector at angle θ cross 1/cos θ times the
  passive material (the analysis: the on-axis transmission, cos θ for the projected area);
* **background module levels**: each ScW's background has per-module levels that jitter by
  N(1, :data:`MODULE_JITTER`) around the templates (temperature and noise-threshold changes).

The resulting systematic offsets of the analysis are measured by ``benchmarks/validate.py``
and stated in ``docs/validation.md``.
"""

from __future__ import annotations

import functools

import numpy as np

from . import detector as det

__all__ = ["GAIN_SPREAD", "THRESHOLD_SPREAD_KEV", "MODULE_JITTER", "PIF_ENERGY_GROUPS", "pixel_gain",
           "pixel_threshold_offset", "offaxis_transmission", "module_jitter_map", "threshold_cut_kev"]

#: rms of the per-pixel relative gain after calibration.
GAIN_SPREAD = 0.015
#: rms of the per-pixel low-threshold offset [keV].
THRESHOLD_SPREAD_KEV = 1.0
#: rms of the per-ScW, per-module background level around the templates.
MODULE_JITTER = 0.005
#: True-energy groups [keV] of the simulated PIF and the energy its transparency is taken at.
PIF_ENERGY_GROUPS = ((0.0, 200.0, None), (200.0, 400.0, 280.0), (400.0, 700.0, 520.0), (700.0, 2000.0, 850.0))


@functools.lru_cache(maxsize=1)
def pixel_gain() -> np.ndarray:
    """(134, 130) relative gain of every pixel (mean 1, rms :data:`GAIN_SPREAD`)."""
    rng = np.random.default_rng(0x6A1)
    g = 1.0 + GAIN_SPREAD * rng.standard_normal((det.N_Z, det.N_Y))
    g.setflags(write=False)
    return g


@functools.lru_cache(maxsize=1)
def pixel_threshold_offset() -> np.ndarray:
    """(134, 130) low-threshold offset [keV] of every pixel."""
    rng = np.random.default_rng(0x7E5)
    t = THRESHOLD_SPREAD_KEV * rng.standard_normal((det.N_Z, det.N_Y))
    t.setflags(write=False)
    return t


def threshold_cut_kev(revolution: int) -> np.ndarray:
    """(134, 130) hard per-pixel cut [keV]: events measured below it are not recorded."""
    from .response import low_threshold_mean, low_threshold_sigma

    return float(low_threshold_mean(revolution)) - 2.0 * float(low_threshold_sigma(revolution)) + pixel_threshold_offset()


def offaxis_transmission(energy_keV, cos_theta: float) -> np.ndarray:
    """Extra passive-material transmission of photons arriving at angle θ (1 on axis)."""
    from .response import passive_transmission

    extra = max(1.0 / max(float(cos_theta), 1e-3) - 1.0, 0.0)
    return np.asarray(passive_transmission(energy_keV), float) ** extra


def module_jitter_map(rng) -> np.ndarray:
    """(134, 130) multiplicative background level per module for one ScW."""
    levels = 1.0 + MODULE_JITTER * rng.standard_normal(det.N_MODULES)
    return levels[det.module_map().clip(0)] * (det.module_map() >= 0)
