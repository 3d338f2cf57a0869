"""JEM-X 1 and 2 (3–35 keV) as an instrument of the simulated archive.

Served through the instrument registry (:mod:`.instrument`, products in :mod:`.products`).
Modules, from the sky to the products:

==============  ======================================================================
``mask``        HURA of 22 501 hexagonal elements (biquadratic residues mod 22 501)
``detector``    circular Xe microstrip chambers of JMX1 and JMX2 (dead strips, gain)
``pif``         mask shadow (PIF), collimator, coding fraction, N_ideal
``response``    ARF (Be window, Xe L/K edges), RMF (resolution, K escape), channels
``background``  CXB and particle components, spatial templates
``simulate``    events of one unit for a pointing ScW, seeded by id + unit + version
``files``       ``jmx{1,2}_events.fits.gz`` beside the ISGRI files; lazy archive side
``decode``      per-ScW sky images (balanced correlation by FFT), background fit
``iros``        iterative removal of sources in detector space
``catalog``     detection, r90, ``JMXn-SRCL-RES`` and the ODA JEM-X catalogue JSON
``extract``     spectra / light curves by PIF fits; PHA/ARF/RMF and LCR writers
``products``    the ``jemx_image``, ``jemx_spectrum``, ``jemx_lc`` makers
``instrument``  the registered :class:`~core.instruments.base.Instrument`
==============  ======================================================================

Submodules are imported explicitly (``from core.instruments.jemx import decode``); this
file imports only the (light) registration.
"""

from .instrument import JEMX

__all__ = ["JEMX"]
