"""SPI-ACS as the registry knows it (limits of the real ODA plugin ``spi_acs``).

The real plugin (oda-hub/dispatcher-plugin-integral-all-sky) has one product,
``spi_acs_lc``: T1/T2 give the centre ``T_ref`` and half-width of the request, the light
curve's TIME is in seconds from ``TIMEZERO = T_ref``, ``time_bin`` is rounded down to a
multiple of the 50 ms instrument bin (we refuse other values instead of changing them
silently), and its backend refuses requests that are too long. Our limits: 5 s ≤ T2 − T1
≤ 20 000 s (the backend's exact bound is not published), time_bin 0.05–1000 s, default
2 s (``time_bin`` 0 or absent).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..base import FitsNaming, Instrument, TimeBinning, register

__all__ = ["SPI_ACS", "SpiAcsInstrument"]


@dataclass(frozen=True)
class SpiAcsInstrument(Instrument):
    """The whole sky's rate: no science windows, no images."""

    def fits_naming(self, query=None) -> FitsNaming:
        return FitsNaming(instrume="SPI-ACS", detnam="ACS", label="SPI-ACS", extnames={"lc": "RATE"})

    def product_version(self, product_type: str) -> str:
        from .product import PRODUCT_VERSION

        return PRODUCT_VERSION

    def make(self, query, *, progress=None, cancel=None, workers=None, archive=None, store=None):
        from .product import make_lightcurve

        return make_lightcurve(query, progress=progress, store=store)

    def load(self, pid, query, *, store=None):
        from .product import load_lightcurve

        return load_lightcurve(pid, query, store=store)

    def png(self, result, name=None):
        from .product import lightcurve_png

        return lightcurve_png(result)

    def select(self, query, archive=None):
        return None


SPI_ACS = register(SpiAcsInstrument(
    name="spi_acs", label="SPI-ACS", summary="all-sky light curve", products={"spi_acs_lc": "lc"},
    energy_range_keV=(75.0, 100000.0), default_band_keV=(75.0, 2000.0),
    time_binning=TimeBinning(lo=0.05, hi=1000.0, default=2.0, step=0.05),
    needs_position=False, max_span_s=20000.0, min_span_s=5.0, default_threshold=4.0,
    fits_names={"lc": ("spi_acs_lc.fits", "RATE")}, oda_names={"lc": "spi_acs_lc"},
))
