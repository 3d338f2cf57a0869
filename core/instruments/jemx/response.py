"""JEM-X energy response: effective area (ARF), redistribution (RMF) and channel grids.

Effective area of one unit on axis, in the OSA convention (a perfect detector, every pixel
working; rates are on-axis-equivalent count rates of the whole detector)::

    A(E) = N_ideal · p² · T_grid · T_Be(E) · ε_Xe(E)

``N_ideal · p²`` is the detector area that sees the sky through open mask elements
(Σ active fraction × on-axis PIF, ≈ 25 % of the 498.8 cm² disc, :func:`.pif.n_ideal`);
``T_Be = exp(−μ_Be ρ t)`` the 250 µm beryllium entrance window; ``ε_Xe = 1 − exp(−μ_Xe Σ)``
the photo-absorption efficiency of the gas (90 % Xe + 10 % CH₄ at 1.5 bar, 55 mm deep:
Σ = 0.0402 g/cm² of xenon), with the Xe L edges (4.78/5.11/5.45 keV) and the K edge at
34.56 keV; ``T_grid`` the on-axis open fraction of the collimator and of the window-support grid
together [approx: 0.51 is calibrated so that the Crab gives ≈ 115 cts/s per unit in
3–35 keV, inside the 110–126 of instruments.md; the peak area is then ≈ 64 cm² at 10 keV].

Redistribution: the deposited energy is measured with a Gaussian of
``FWHM/E = 0.40·sqrt(1/E + 1/60)`` (E in keV; ≈ 17 % at 6 keV, 12.5 % at 22 keV). Above the
K edge a xenon K fluorescence photon escapes the gas with probability
``(1 − 1/J_K)·ω_K·P_out`` = 0.82 × 0.89 × 0.75 ≈ 0.55 (jump ratio J_K = 5.6, fluorescence
yield ω_K, mean free path of 29.8 keV photons in the gas ≈ 15 cm against the 5.5 cm depth),
giving escape peaks at ``E − 29.7 keV`` (Kα, 85 %) and ``E − 33.6 keV`` (Kβ). Photons of
35–60 keV therefore also count between 5 and 30 keV: the RMF keeps true energies up to
120 keV.

Measured energies are written as PI channels of :data:`PI_STEP_KEV` (0.05 keV, 0–51.2 keV);
the spectral products use :func:`spectral_channel_edges` (16 channels, 3–35 keV, as ODA's
JEM-X spectra; the edges are log-spaced on the PI grid — OSA's own 16-channel JEM-X binning
is not in our sources).

Attenuation tables (cm²/g; [approx]: beryllium from NIST XCOM, rounded; xenon
photo-absorption from piecewise power laws anchored to XCOM values at 10, 30, 40, 60 and
100 keV with the edge jump ratios of Hubbell & Seltzer): good to a few per cent over
3–35 keV, which is what a simulated archive that is self-consistent with its own ARF needs.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import detector as det
from .pif import n_ideal

__all__ = ["TRUE_ENERGY_EDGES", "PI_STEP_KEV", "N_PI", "PI_EDGES", "ENERGY_MIN_KEV", "ENERGY_MAX_KEV",
           "XE_K_EDGE_KEV", "BE_THICKNESS_CM", "XE_COLUMN_G_CM2", "GRID_TRANSMISSION",
           "be_mass_attenuation", "xe_mass_attenuation", "window_transmission", "xe_efficiency",
           "effective_area", "fwhm_kev", "escape_probability", "redistribution_matrix",
           "pi_redistribution", "spectral_channel_edges", "channel_matrix"]

#: True-energy grid of the ARF/RMF (keV): 2–120 keV, 360 log bins.
TRUE_ENERGY_EDGES = np.geomspace(2.0, 120.0, 361)
#: Width of one PI channel (keV).
PI_STEP_KEV = 0.05
#: Number of PI channels (0 … 51.2 keV).
N_PI = 1024
#: Edges of the PI channels (keV).
PI_EDGES = np.arange(N_PI + 1) * PI_STEP_KEV
#: Energy range of JEM-X analyses (keV).
ENERGY_MIN_KEV, ENERGY_MAX_KEV = 3.0, 35.0
#: Xenon K edge (keV).
XE_K_EDGE_KEV = 34.561
_XE_L_EDGES = ((4.782, 2.9), (5.107, 1.41), (5.453, 1.16))  # (edge keV, jump ratio)
_XE_K_JUMP = 5.6
_XE_KA, _XE_KB, _KB_FRAC = 29.7, 33.6, 0.15
_OMEGA_K = 0.89
_P_OUT = 0.75
#: Beryllium window thickness (cm).
BE_THICKNESS_CM = 0.025
_BE_DENSITY = 1.848
#: Xenon column of the absorption volume (g/cm²): 0.9 × ρ_Xe(1.5 bar, 20 °C) × 5.5 cm.
XE_COLUMN_G_CM2 = 0.9 * 5.894e-3 * (1.5 / 1.01325) * (273.15 / 293.15) * 5.5
#: On-axis open fraction of the collimator and window support [approx].
GRID_TRANSMISSION = 0.51

_BE_E = np.array([1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 150.0])
_BE_MU = np.array([604.1, 179.7, 74.69, 21.27, 8.685, 4.369, 2.527, 1.124, 0.6466, 0.307, 0.2251, 0.1792,
                   0.164, 0.1554, 0.1493, 0.1401, 0.1328, 0.119])


def be_mass_attenuation(energy_keV) -> np.ndarray:
    """Beryllium μ/ρ (cm²/g), log-log interpolation."""
    e = np.clip(np.asarray(energy_keV, float), _BE_E[0], _BE_E[-1])
    return np.exp(np.interp(np.log(e), np.log(_BE_E), np.log(_BE_MU)))


def xe_mass_attenuation(energy_keV) -> np.ndarray:
    """Xenon photo-absorption μ/ρ (cm²/g) with its L and K edges [approx]."""
    e = np.maximum(np.asarray(energy_keV, float), 1.0)
    # Between L1 and K: 8.6 cm²/g at 30 keV, ∝ E^-2.75 (XCOM: 176 at 10 keV).
    mid = 8.6 * (30.0 / e) ** 2.75
    jump = np.ones_like(e)
    for edge, r in _XE_L_EDGES:
        jump = np.where(e < edge, jump / r, jump)
    below_k = mid * jump
    # Above K: 32.9 at the edge falling ∝ E^-2.7 (22 at 40, 7.4 at 60 keV) plus ≈0.12
    # of Compton scattering, which matters only near 100 keV.
    above_k = 32.9 * (XE_K_EDGE_KEV / e) ** 2.7 + 0.12
    return np.where(e < XE_K_EDGE_KEV, below_k, above_k)


def window_transmission(energy_keV) -> np.ndarray:
    """Transmission of the 250 µm Be window."""
    return np.exp(-be_mass_attenuation(energy_keV) * _BE_DENSITY * BE_THICKNESS_CM)


def xe_efficiency(energy_keV) -> np.ndarray:
    """Probability that a photon entering the gas is photo-absorbed in it."""
    return 1.0 - np.exp(-xe_mass_attenuation(energy_keV) * XE_COLUMN_G_CM2)


def effective_area(energy_keV) -> np.ndarray:
    """On-axis effective area (cm²) of one unit in the OSA convention (see module docstring).

    Both units share it: their differences (dead strips, gain uniformity) are in the
    detector maps that the analysis corrects for.
    """
    geom = n_ideal() * det.PITCH_MM ** 2 / 100.0
    e = np.asarray(energy_keV, float)
    return geom * GRID_TRANSMISSION * window_transmission(e) * xe_efficiency(e)


def fwhm_kev(energy_keV) -> np.ndarray:
    """Energy resolution FWHM (keV): E·0.40·sqrt(1/E + 1/60)."""
    e = np.maximum(np.asarray(energy_keV, float), 0.1)
    return 0.40 * np.sqrt(e + e * e / 60.0)


def escape_probability(energy_keV) -> np.ndarray:
    """Probability that a photo-absorbed photon's Xe K fluorescence escapes (0 below the K edge)."""
    e = np.asarray(energy_keV, float)
    return np.where(e >= XE_K_EDGE_KEV, (1.0 - 1.0 / _XE_K_JUMP) * _OMEGA_K * _P_OUT, 0.0)


def _gauss_rows(e_dep: np.ndarray, edges: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    sig = fwhm_kev(e_dep) / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    z = (edges[None, :] - e_dep[:, None]) / sig[:, None]
    return np.diff(ndtr(z), axis=1)


def redistribution_matrix(true_edges, channel_edges) -> np.ndarray:
    """P(measured in channel | photo-absorbed at true energy), ``(n_true, n_channels)``.

    Each true bin is represented by 4 sub-energies (the resolution is ≥ 5 bins wide).
    """
    te = np.asarray(true_edges, float)
    ce = np.asarray(channel_edges, float)
    sub = 4
    frac = (np.arange(sub) + 0.5) / sub
    e = (te[:-1, None] * (te[1:, None] / te[:-1, None]) ** frac[None, :]).ravel()
    pe = escape_probability(e)
    m = (1.0 - pe)[:, None] * _gauss_rows(e, ce)
    for line, w in ((_XE_KA, 1.0 - _KB_FRAC), (_XE_KB, _KB_FRAC)):
        dep = e - line
        ok = pe > 0
        if ok.any():
            rows = np.zeros_like(m)
            rows[ok] = _gauss_rows(np.maximum(dep[ok], 0.1), ce)
            m += (pe * w)[:, None] * rows
    return m.reshape(te.size - 1, sub, ce.size - 1).mean(axis=1)


@functools.lru_cache(maxsize=1)
def pi_redistribution() -> np.ndarray:
    """Redistribution from :data:`TRUE_ENERGY_EDGES` onto the PI channels (cached, read-only)."""
    m = redistribution_matrix(TRUE_ENERGY_EDGES, PI_EDGES)
    m.setflags(write=False)
    return m


def spectral_channel_edges(n: int = 16, e1: float = ENERGY_MIN_KEV, e2: float = ENERGY_MAX_KEV) -> np.ndarray:
    """Edges (keV) of ``n`` log-spaced spectral channels on the PI grid (default 16, 3–35 keV)."""
    edges = np.round(np.geomspace(e1, e2, int(n) + 1) / PI_STEP_KEV) * PI_STEP_KEV
    if np.any(np.diff(edges) <= 0):
        raise ValueError(f"{n} channels do not fit in {e1}-{e2} keV on the {PI_STEP_KEV} keV PI grid")
    return edges


def channel_matrix(channel_edges) -> np.ndarray:
    """RMF onto spectral channels that lie on the PI grid: sums of PI redistribution columns."""
    ce = np.asarray(channel_edges, float)
    idx = np.rint(ce / PI_STEP_KEV).astype(int)
    if np.any(np.abs(idx * PI_STEP_KEV - ce) > 1e-6) or idx[0] < 0 or idx[-1] > N_PI:
        raise ValueError("channel edges must be multiples of 0.05 keV within 0-51.2 keV")
    c = np.cumsum(np.concatenate([np.zeros((pi_redistribution().shape[0], 1)), pi_redistribution()], axis=1), axis=1)
    return c[:, idx[1:]] - c[:, idx[:-1]]
