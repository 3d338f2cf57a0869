"""SPI-ACS, the anticoincidence shield of SPI: the whole sky's count rate in 50 ms bins.

================================  ====================================================
module                            what it holds
================================  ====================================================
:mod:`.instrument`                the registered :class:`~core.instruments.base.Instrument`
:mod:`.response`                  effective area against energy and direction, spectra
:mod:`.catalogue`                 the shipped transients and solar particle events
:mod:`.background`                background level, orbit, belts, solar cycle, noise
:mod:`.archive`                   lazily simulated 50 ms counts in one-hour chunks
:mod:`.analysis`                  background fit, excess, T90, fluence, upper limits
:mod:`.product`                   the ``spi_acs_lc`` product (FITS, summary, PNG, store)
:mod:`.params`                    its parameter descriptions for the APIs
:mod:`.cli`                       ``python -m core lc --instrument spi_acs``
================================  ====================================================
"""

from .instrument import SPI_ACS

__all__ = ["SPI_ACS"]
