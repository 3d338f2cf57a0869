"""The sky model: the brightest hard X-ray sources with spectra and time behaviour.

The table lives in ``core/sky/data/sources.ecsv`` (one row per source, each citing where
its numbers come from). :class:`SkyModel` turns rows into :class:`SkySource` objects that
give the photon spectrum at any time.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .spectra import MCRAB_20_40_ERG, SpectralShape, energy_flux
from .variability import Variability, parse_variability

__all__ = ["SkySource", "SkyModel", "sky_model", "normalise_name", "CATALOGUE_PATH", "SKY_MODEL_VERSION"]

CATALOGUE_PATH = Path(__file__).with_name("data") / "sources.ecsv"


def normalise_name(name: str) -> str:
    """Key for name look-up: case, spaces, underscores and 'J2000'-style prefixes ignored."""
    s = str(name).strip().lower()
    s = re.sub(r"[\s_]+", "", s)
    return s


@dataclass
class SkySource:
    name: str
    ra: float
    dec: float
    shape: SpectralShape
    flux_mcrab: float
    variability: Variability
    src_class: str = ""
    aliases: tuple[str, ...] = ()
    reference: str = ""
    index: int = 0
    _norm: float = field(default=math.nan, repr=False)

    @property
    def norm_per_mcrab(self) -> float:
        """N(E) normalisation giving 1 mCrab (7.6e-12 erg/cm²/s) in 20–40 keV."""
        if not np.isfinite(self._norm):
            self._norm = MCRAB_20_40_ERG / energy_flux(self.shape.shape, 20.0, 40.0)
        return self._norm

    def flux_mcrab_at(self, ijd) -> np.ndarray:
        return self.variability(ijd)

    def photon_spectrum(self, energy_keV, ijd=None) -> np.ndarray:
        """N(E) in ph/cm²/s/keV at time ``ijd`` (the catalogue mean when ``ijd`` is None)."""
        level = self.flux_mcrab if ijd is None else float(np.mean(self.flux_mcrab_at(ijd)))
        return level * self.norm_per_mcrab * self.shape.shape(energy_keV)

    def energy_flux(self, e1: float, e2: float, ijd=None) -> float:
        """Mean energy flux in [e1, e2] keV, erg/cm²/s."""
        return energy_flux(lambda e: self.photon_spectrum(e, ijd), e1, e2)


class SkyModel:
    """All catalogue sources, with vectorised positions for cone searches and name look-up."""

    def __init__(self, path: Path = CATALOGUE_PATH):
        from astropy.table import Table

        table = Table.read(path, format="ascii.ecsv")
        self.path = Path(path)
        self.sources: list[SkySource] = []
        self._by_name: dict[str, SkySource] = {}
        for i, row in enumerate(table):
            def num(col):
                v = row[col] if col in table.colnames else math.nan
                return float(v) if v is not None and not np.ma.is_masked(v) else math.nan

            shape = SpectralShape(str(row["spec_model"]), num("gamma"), num("gamma2"), num("e_break_keV"),
                                  num("e_cut_keV"), num("kte_keV"))
            aliases = tuple(a.strip() for a in str(row["aliases"] or "").split("|") if a.strip()) \
                if not np.ma.is_masked(row["aliases"]) else ()
            flux = float(row["flux_mcrab"])
            src = SkySource(str(row["name"]), float(row["ra"]), float(row["dec"]), shape, flux,
                            parse_variability(str(row["variability"]), flux, str(row["name"])),
                            str(row["src_class"]), aliases, str(row["reference"]), i)
            self.sources.append(src)
            for key in (src.name, *aliases):
                self._by_name.setdefault(normalise_name(key), src)
        self.ra = np.array([s.ra for s in self.sources])
        self.dec = np.array([s.dec for s in self.sources])
        self.version = hashlib.sha256(self.path.read_bytes()).hexdigest()[:12]

    def __len__(self) -> int:
        return len(self.sources)

    def __iter__(self):
        return iter(self.sources)

    def get(self, name: str) -> SkySource | None:
        return self._by_name.get(normalise_name(name))

    def __getitem__(self, name: str) -> SkySource:
        src = self.get(name)
        if src is None:
            raise KeyError(name)
        return src

    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def within(self, ra: float, dec: float, radius_deg: float) -> list[SkySource]:
        """Sources within ``radius_deg`` of (ra, dec)."""
        r1, d1 = np.radians(ra), np.radians(dec)
        r2, d2 = np.radians(self.ra), np.radians(self.dec)
        cosd = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(r2 - r1)
        sel = np.degrees(np.arccos(np.clip(cosd, -1, 1))) <= radius_deg
        return [self.sources[i] for i in np.flatnonzero(sel)]


@functools.lru_cache(maxsize=1)
def sky_model() -> SkyModel:
    """The packaged sky model (loaded once per process)."""
    return SkyModel()


def SKY_MODEL_VERSION() -> str:  # noqa: N802 - reads like a constant at call sites
    return sky_model().version
