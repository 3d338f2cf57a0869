"""Photon spectra of the sky model, N(E) in ph/cm²/s/keV.

Every source is normalised by its 20–40 keV energy flux expressed in mCrab
(1 mCrab = 7.6e-12 erg/cm²/s in 20–40 keV, instruments.md), which is how the IBIS
catalogue (Bird et al. 2016) quotes fluxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SpectralShape", "KEV_TO_ERG", "MCRAB_20_40_ERG", "energy_flux", "photon_flux"]

KEV_TO_ERG = 1.602176634e-9
MCRAB_20_40_ERG = 7.6e-12  # erg/cm²/s in 20–40 keV for 1 mCrab

_GRID = np.geomspace(1.0, 2000.0, 4001)  # keV, fine log grid for band integrals


@dataclass(frozen=True)
class SpectralShape:
    """Shape of N(E) up to normalisation (value 1 at 1 keV before the cutoff terms).

    ``model`` is one of ``powerlaw``, ``cutoffpl`` (E^-Γ exp(-E/Ec)), ``bknpower`` (Γ below
    ``e_break``, Γ2 above, continuous) or ``comptt``: thermal Comptonisation, the Sunyaev &
    Titarchuk (1980) solution :func:`core.fitting.models.st80_shape` with index α = Γ − 1
    (photon index Γ below kTe, Wien hump above), the very function the fitter's ``comptt``
    evaluates (its τ follows from kTe and α; see :meth:`tau`).
    """

    model: str
    gamma: float
    gamma2: float = math.nan
    e_break: float = math.nan
    e_cut: float = math.nan
    kte: float = math.nan

    def __post_init__(self):
        if self.model not in ("powerlaw", "cutoffpl", "bknpower", "comptt"):
            raise ValueError(f"unknown spectral model {self.model!r}")
        need = {"cutoffpl": ("e_cut",), "bknpower": ("gamma2", "e_break"), "comptt": ("kte",)}.get(self.model, ())
        for name in need:
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"{self.model} needs {name}")

    def shape(self, energy_keV) -> np.ndarray:
        e = np.asarray(energy_keV, dtype=float)
        if self.model == "powerlaw":
            return e ** -self.gamma
        if self.model == "cutoffpl":
            return e ** -self.gamma * np.exp(-e / self.e_cut)
        if self.model == "comptt":
            from ..fitting.models import st80_shape

            # Scaled to E^-Γ at 1 keV (≪ kTe), like the other shapes.
            return st80_shape(e, self.kte, self.gamma - 1.0) / st80_shape(np.array([1.0]), self.kte, self.gamma - 1.0)[0]
        eb = self.e_break
        return np.where(e < eb, e ** -self.gamma, eb ** (self.gamma2 - self.gamma) * e ** -self.gamma2)


    def tau(self) -> float:
        """``comptt``: optical depth of a sphere that gives index Γ at kTe (Sunyaev & Titarchuk 1980)."""
        if self.model != "comptt":
            return math.nan
        a = self.gamma - 1.0
        gam = a * a + 3.0 * a   # α = √(9/4 + γ) − 3/2 inverted
        return math.sqrt(math.pi ** 2 * 510.99895 / (3.0 * self.kte * gam)) - 2.0 / 3.0


def _band_integral(f, e1, e2, weight_energy: bool) -> float:
    sel = (_GRID > e1) & (_GRID < e2)
    e = np.concatenate([[e1], _GRID[sel], [e2]])
    y = f(e) * (e if weight_energy else 1.0)
    return float(np.trapezoid(y, e))


def energy_flux(f, e1: float, e2: float) -> float:
    """∫ E N(E) dE over [e1, e2] keV, in erg/cm²/s, for a callable N(E)."""
    return _band_integral(f, e1, e2, True) * KEV_TO_ERG


def photon_flux(f, e1: float, e2: float) -> float:
    """∫ N(E) dE over [e1, e2] keV, in ph/cm²/s."""
    return _band_integral(f, e1, e2, False)
