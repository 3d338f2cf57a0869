"""Spectral fitting: OGIP file I/O, forward-folded models, fits, figures.

Plain Python (no web framework). The modules, from the file to the figure:

====================  ==============================================================
:mod:`.ogip`          read any OGIP PHA + ARF + RMF (OGIP or OSA extension names,
                      variable-length matrices) into :class:`~.ogip.SpectrumData`;
                      write PHA type I, ARF and RMF files.
:mod:`.models`        photon models N(E) [ph/cm²/s/keV] with parameters, defaults,
                      bounds; sums such as ``"powerlaw+bbody"``.
:mod:`.fit`           forward folding through ARF × RMF, χ² / Cash fits, profile
                      errors (1σ, 90 %), band fluxes with errors; joint fits of several
                      instruments' spectra (:func:`~.fit.fit_joint`, ``constant*model``).
:mod:`.plot`          publication PNG: data, folded model, residuals, unfolded E²F.
:mod:`.cli`           ``python -m core fit``.
====================  ==============================================================

Names are imported lazily so that ``import core.fitting.cli`` (done by every
``python -m core`` call to build its parser) does not pull in scipy or matplotlib.
"""

from __future__ import annotations

import importlib

__all__ = [
    "ARF",
    "COMPONENTS",
    "RMF",
    "BandFlux",
    "DatasetResult",
    "FitResult",
    "JointModel",
    "Model",
    "SpectrumData",
    "fit_joint",
    "fit_spectrum",
    "joint_fit_summary",
    "make_model",
    "read_arf",
    "read_rmf",
    "read_spectrum",
    "spectrum_figure",
    "spectrum_png",
    "write_arf",
    "write_pha",
    "write_rmf",
]

_WHERE = {
    "SpectrumData": "ogip", "ARF": "ogip", "RMF": "ogip", "read_spectrum": "ogip", "read_arf": "ogip",
    "read_rmf": "ogip", "write_pha": "ogip", "write_arf": "ogip", "write_rmf": "ogip",
    "Model": "models", "make_model": "models", "COMPONENTS": "models",
    "fit_spectrum": "fit", "FitResult": "fit", "BandFlux": "fit",
    "fit_joint": "fit", "joint_fit_summary": "fit", "DatasetResult": "fit", "JointModel": "models",
    "spectrum_figure": "plot", "spectrum_png": "plot",
}


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
