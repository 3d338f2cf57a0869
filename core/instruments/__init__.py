"""Instruments behind one interface (:mod:`core.instruments.base`).

Registered: SPI-ACS (:mod:`.spi_acs`). The JEM-X package (:mod:`.jemx`) is here but not yet
registered or served (issue 13); ISGRI still lives in ``core/instrument`` and ``core/imaging``.
"""

from .base import Instrument, TimeBinning, get_instrument, instruments, register

__all__ = ["Instrument", "TimeBinning", "get_instrument", "instruments", "register"]
