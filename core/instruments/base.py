"""What every instrument declares and does, and the registry that finds it by name.

An instrument package (``core/instruments/<name>/``) defines one :class:`Instrument`
subclass and registers an instance with :func:`register`; the products entry point
(:mod:`core.products.run`), the query, the servers and the page look instruments up with
:func:`get_instrument` instead of ``if instrument == ...`` chains (the model is gammapy's
registry of makers: a name → class table filled by the packages themselves). Adding an
instrument is one package plus one line in :data:`BUILTIN_PACKAGES`.

An instrument has two halves:

* a static description (dataclass fields): name, label, ODA products, energy range and
  default band, channel grids, time binning, default cone radius, FITS naming, the ODA
  product names of its files, the product versions that enter product ids;
* behaviour (methods): :meth:`Instrument.make` computes a product (shared skeleton in
  :mod:`core.products.maker`), :meth:`Instrument.load` restores one from the store,
  :meth:`Instrument.png` draws it, :meth:`Instrument.good_time_s` is the good time of
  pointing-history rows the ScW selection applies ``min_good_time`` to,
  :meth:`Instrument.error_radius_deg` the 90 % position error of a detection and
  :meth:`Instrument.mosaic_plan` the grid, stored per-ScW parts and detection of a mosaic.

This module imports nothing of the packages at import time, so any module may import it
without a cycle; the built-in packages are imported on the first lookup.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from .. import forksafe

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from ..products.result import ProductResult
    from ..query import Query

__all__ = ["Instrument", "TimeBinning", "FitsNaming", "register", "get_instrument", "instruments",
           "BUILTIN_PACKAGES", "ProgressFn"]

#: Packages under ``core.instruments`` imported (and so registered) on the first lookup.
BUILTIN_PACKAGES = ("isgri", "jemx", "spi_acs")

#: ``progress(i, n, ScwStatus)`` after each ScW.
ProgressFn = Callable[[int, int, object], None]


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
class FitsNaming:
    """FITS identity of one instrument (unit): TELESCOP/INSTRUME/DETNAM and EXTNAMEs per kind.

    ``extnames`` keys: ``mosaic``, ``catalog``, ``spectrum``, ``arf``, ``rmf``, ``ebounds``,
    ``lc``, ``gti`` (only those the instrument writes). ``imatypes`` are the IMATYPE values of
    the four mosaic planes (intensity, variance, significance, exposure).
    """

    instrume: str
    detnam: str
    extnames: dict = field(default_factory=dict)
    telescop: str = "INTEGRAL"
    imatypes: tuple = ("INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE")
    label: str = ""

    def cards(self) -> dict:
        return {"TELESCOP": self.telescop, "INSTRUME": self.instrume, "DETNAM": self.detnam}


@dataclass(frozen=True)
class Instrument:
    """An instrument: its description (fields) and its products (methods).

    Attributes
    ----------
    name : str
        Registry key and ODA ``instrument`` value (``isgri``, ``jemx``, ``spi_acs``).
    label : str
        Human name (``IBIS/ISGRI``, ``JEM-X``, ``SPI-ACS``).
    summary : str
        What its products are, when the label does not say (``all-sky light curve``).
    products : dict
        ODA product name → our product type (``{"isgri_image": "image", ...}``), the first
        one being the default product.
    energy_range_keV : (float, float)
        Band users may ask for (``E1_keV``/``E2_keV`` limits).
    default_band_keV : (float, float)
        ``E1_keV``/``E2_keV`` when not given.
    spectral_band_keV : (float, float)
        Band a spectral fit defaults to (where the response is trusted).
    channel_grids : tuple
        ``channel_grid`` values its spectra accept (empty: its own fixed grid).
    time_binning : TimeBinning or None
        Light-curve bin limits (None: the generic limits of the query).
    needs_position : bool
        False when the instrument sees the whole sky (a position is then optional).
    max_span_s, min_span_s : float
        Longest (None: no limit) and shortest T2 − T1 one request may ask for, s.
    default_threshold : float
        ``detection_threshold`` (σ) when not given.
    default_radius_deg : float or None
        ``radius`` when not given (None: no cone selection).
    fits_names : dict
        Product kind → (file name, EXTNAME) of single-file products (SPI-ACS).
    oda_names : dict
        File kind → ODA product name in the dispatcher's answer (``spectrum`` →
        ``isgri_spectrum``, ``arf`` → ``isgri_arf``, ``rmf`` → ``isgri_rmf``, ``lc`` →
        ``isgri_lc``, ``image`` → ``mosaic_image``).
    product_versions : dict
        Product type → version string that enters product ids (bump when numbers change).
    flux_bands_keV : tuple
        Bands a spectral fit reports fluxes in (empty: :data:`core.fitting.fit.DEFAULT_BANDS`).
    """

    name: str
    label: str
    summary: str = ""
    products: dict = field(default_factory=dict)
    energy_range_keV: tuple = (0.0, float("inf"))
    default_band_keV: tuple = (0.0, float("inf"))
    spectral_band_keV: tuple | None = None
    channel_grids: tuple = ()
    time_binning: TimeBinning | None = None
    needs_position: bool = True
    max_span_s: float | None = None
    min_span_s: float = 0.0
    default_threshold: float = 7.0
    default_radius_deg: float | None = None
    fits_names: dict = field(default_factory=dict)
    oda_names: dict = field(default_factory=dict)
    product_versions: dict = field(default_factory=dict)
    flux_bands_keV: tuple = ()

    # -- description ------------------------------------------------------------------------
    def product_type(self, oda_name: str) -> str | None:
        return self.products.get(oda_name)

    def oda_product(self, product_type: str) -> str:
        """ODA product name of one of our product types (``image`` → ``isgri_image``)."""
        for oda, ptype in self.products.items():
            if ptype == product_type:
                return oda
        raise KeyError(f"{self.name} has no {product_type} product")

    def fits_naming(self, query: "Query | None" = None) -> FitsNaming:
        """FITS identity of the data a query uses (per unit for instruments with several)."""
        return FitsNaming(instrume=self.label, detnam=self.label)

    def unit_label(self, query: "Query | None" = None) -> str:
        """What figures and logs call the instrument of this query (``ISGRI``, ``JEM-X1``)."""
        return self.fits_naming(query).label or self.label

    # -- behaviour --------------------------------------------------------------------------
    def product_version(self, product_type: str) -> str:
        try:
            return self.product_versions[product_type]
        except KeyError:
            raise KeyError(f"{self.name} has no {product_type} product") from None

    def data_tag(self, archive=None) -> str:
        """What, besides the query and versions, the products depend on (the data source)."""
        return "simulated"

    def product_id(self, query: "Query", *, archive=None) -> str:
        """The id :meth:`make` stores a query's product under (nothing is computed)."""
        return query.product_id(query.product_type, self.product_version(query.product_type), self.data_tag(archive))

    def make(self, query: "Query", *, progress: ProgressFn | None = None, cancel: Callable[[], bool] | None = None,
             workers: int | None = None, archive=None, store=None) -> "ProductResult":
        """Compute (or restore) the product a validated query asks for."""
        from ..errors import QueryError

        raise QueryError("instrument", f"{self.label} products are not available", ", ".join(
            i.name for i in instruments() if type(i).make is not Instrument.make))

    def load(self, pid: str, query: "Query", *, store=None) -> "ProductResult | None":
        """A finished product from the store (None when it is not there or unreadable)."""
        from ..products.maker import load_stored

        return load_stored(pid, query, store=store)

    def png(self, result: "ProductResult", name: str | None = None):
        """Path of the publication PNG of a product (``name``: a source of a spectrum or lc)."""
        raise NotImplementedError(f"{self.label} draws no figure")

    def select(self, query: "Query", archive=None):
        """The science windows of a query (:class:`core.archive.selection.Selection`), with
        ``min_good_time`` applied to this instrument's good time; None for an instrument
        without science windows."""
        from ..archive.store import get_archive

        return (archive or get_archive()).select(query, good_time=self.good_time_s)

    def good_time_s(self, rows) -> np.ndarray:
        """Good time [s] of pointing-history rows (``min_good_time`` is compared with it)."""
        return np.asarray(rows["ontime"], float) * np.asarray(rows["deadc"], float)

    def oda_catalog(self, table) -> dict:
        """The ODA catalogue dict (``cat_column_names``...) of an image's source list."""
        raise NotImplementedError(f"{self.label} has no source lists")

    def channel_edges(self, query: "Query") -> np.ndarray:
        """Edges [keV] of the spectral channels a query's spectra have."""
        raise NotImplementedError(f"{self.label} has no spectra")

    def error_radius_deg(self, snr) -> np.ndarray:
        """90 % error radius [deg] of a position detected at significance ``snr``."""
        raise NotImplementedError(f"{self.label} does not locate sources")

    def mosaic_plan(self, query: "Query", *, archive=None):
        """How an image query's mosaic is co-added from stored per-ScW parts and searched for
        sources (:class:`core.imaging.parts.MosaicPlan`); None for an instrument without
        mosaics. The progressive mosaic of a running job reads it."""
        return None


_REGISTRY: dict[str, Instrument] = {}
_LOCK = forksafe.Lock()
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
    _LOADED = True  # before the imports: a package may look the registry up while importing
    for pkg in BUILTIN_PACKAGES:
        importlib.import_module(f"{__package__}.{pkg}")


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
