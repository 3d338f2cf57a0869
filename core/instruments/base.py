"""What every instrument declares, and the registry that finds it by name.

An instrument package (``core/instruments/<name>/``) defines one :class:`Instrument`
subclass and registers an instance with :func:`register`; front ends and the query look
instruments up with :func:`get_instrument` instead of ``if instrument == ...`` chains
(the model is gammapy's registry of makers: a name → class table filled by the packages
themselves). This module imports nothing of the packages at import time, so any module
may import it without a cycle; the built-in packages are imported on the first lookup.

Only SPI-ACS is behind this interface today; IBIS/ISGRI (and JEM-X) are to follow
(issue 13), which is why the base describes products, energy range, time binning, position
needs and FITS naming generically rather than anything light-curve specific.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field

__all__ = ["Instrument", "TimeBinning", "register", "get_instrument", "instruments", "BUILTIN_PACKAGES"]

#: Packages under ``core.instruments`` imported (and so registered) on the first lookup.
BUILTIN_PACKAGES = ("spi_acs",)


@dataclass(frozen=True)
class TimeBinning:
    """Allowed light-curve bins: ``lo ≤ time_bin ≤ hi`` seconds, a multiple of ``step`` (0: any)."""

    lo: float
    hi: float
    default: float
    step: float = 0.0

    def allowed(self) -> str:
        mult = f", a multiple of {self.step:g} s" if self.step else ""
        return f"{self.lo:g} .. {self.hi:g} s{mult}"


@dataclass(frozen=True)
class Instrument:
    """Static description of an instrument (subclasses add their physics and products).

    Attributes
    ----------
    name : str
        Registry key and ODA ``instrument`` value (``spi_acs``).
    label : str
        Human name (``SPI-ACS``), also the FITS ``INSTRUME`` keyword.
    products : dict
        ODA product name → our product type (``{"spi_acs_lc": "lc"}``).
    energy_range_keV : (float, float)
        Band users may ask for (``E1_keV``/``E2_keV`` limits).
    default_band_keV : (float, float)
        ``E1_keV``/``E2_keV`` when not given.
    time_binning : TimeBinning or None
        Light-curve bin limits (None: the product has no time bins).
    needs_position : bool
        False when the instrument sees the whole sky (a position is then optional).
    max_span_s, min_span_s : float
        Longest (None: no limit) and shortest T2 − T1 one request may ask for, s.
    default_threshold : float
        ``detection_threshold`` (σ) when not given.
    fits_names : dict
        Product kind → (file name, EXTNAME) of the FITS files it writes.
    """

    name: str
    label: str
    products: dict = field(default_factory=dict)
    energy_range_keV: tuple = (0.0, float("inf"))
    default_band_keV: tuple = (0.0, float("inf"))
    time_binning: TimeBinning | None = None
    needs_position: bool = True
    max_span_s: float | None = None
    min_span_s: float = 0.0
    default_threshold: float = 7.0
    fits_names: dict = field(default_factory=dict)

    def product_type(self, oda_name: str) -> str | None:
        return self.products.get(oda_name)


_REGISTRY: dict[str, Instrument] = {}
_LOCK = threading.Lock()
_LOADED = False


def register(instrument: Instrument) -> Instrument:
    """Add an instrument (a second registration under the same name replaces the first)."""
    if not isinstance(instrument, Instrument):
        raise TypeError(f"{instrument!r} is not an Instrument")
    with _LOCK:
        _REGISTRY[instrument.name] = instrument
    return instrument


def _load_builtins() -> None:
    global _LOADED
    if _LOADED:
        return
    for pkg in BUILTIN_PACKAGES:
        importlib.import_module(f"{__package__}.{pkg}")
    _LOADED = True


def get_instrument(name: str, default=KeyError):
    """The registered instrument ``name``; ``default`` if given and there is none, else KeyError."""
    _load_builtins()
    inst = _REGISTRY.get(str(name).strip().lower())
    if inst is None:
        if default is KeyError:
            raise KeyError(f"no instrument {name!r} registered (have: {', '.join(sorted(_REGISTRY))})")
        return default
    return inst


def instruments() -> list[Instrument]:
    """Every registered instrument, by name."""
    _load_builtins()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
