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

from ..base import Instrument, TimeBinning, register

__all__ = ["SPI_ACS"]

SPI_ACS = register(Instrument(
    name="spi_acs", label="SPI-ACS", products={"spi_acs_lc": "lc"},
    energy_range_keV=(75.0, 100000.0), default_band_keV=(75.0, 2000.0),
    time_binning=TimeBinning(lo=0.05, hi=1000.0, default=2.0, step=0.05),
    needs_position=False, max_span_s=20000.0, min_span_s=5.0, default_threshold=4.0,
    fits_names={"lc": ("spi_acs_lc.fits", "RATE")},
))
