"""Instruments behind one interface (:mod:`core.instruments.base`): SPI-ACS today."""

from .base import Instrument, TimeBinning, get_instrument, instruments, register

__all__ = ["Instrument", "TimeBinning", "get_instrument", "instruments", "register"]
