"""IBIS/ISGRI (15 keV – 1 MeV) behind the instrument seam.

The physics lives where it always has: the mask, detector, PIF and response in
:mod:`core.instrument`, decoding and mosaics in :mod:`core.imaging`, spectral extraction in
:mod:`core.spectral`, the ScW files in :mod:`core.archive`. :mod:`.instrument` registers the
:class:`~core.instruments.base.Instrument` that serves them.
"""

from .instrument import ISGRI

__all__ = ["ISGRI"]
