"""The ``spectral_fit`` product of any instrument: its spectrum product, fitted.

The spectrum of the query's instrument (same selection, sources and channels) is made or
restored through the registry; the query's source is fitted with :mod:`core.fitting`
(``spectral_model`` over E1_keV–E2_keV, χ²). Instrument-free.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import QueryError
from .maker import clean, store_product

__all__ = ["make_fit", "pick_source"]


def pick_source(query, spec_summary: dict) -> dict:
    """The source of a spectrum product a fit query means (name, else nearest within 0.5°)."""
    srcs = [s for s in spec_summary["sources"] if s.get("n_scw")]
    if not srcs:
        raise QueryError("selected_catalog", "no source of the catalogue was in the field of the selected ScWs")
    if query.src_name:
        for s in srcs:
            if s["name"].lower() == query.src_name.lower():
                return s
    if np.isfinite(query.RA):
        from astropy.coordinates import SkyCoord
        import astropy.units as u

        c = SkyCoord([s["ra"] for s in srcs] * u.deg, [s["dec"] for s in srcs] * u.deg)
        sep = c.separation(SkyCoord(query.RA * u.deg, query.DEC * u.deg)).deg
        k = int(np.argmin(sep))
        if sep[k] < 0.5:
            return srcs[k]
    if len(srcs) == 1:
        return srcs[0]
    raise QueryError("src_name", "the spectrum has several sources and none is the query target",
                     ", ".join(s["name"] for s in srcs[:20]))


def make_fit(query, pid: str, *, progress, cancel, workers, archive, store):
    """Build a ``spectral_fit`` product (the middle step of :func:`.maker.make_product`)."""
    from ..fitting.fit import DEFAULT_BANDS, fit_spectrum
    from ..fitting.ogip import read_spectrum
    from ..instruments.base import get_instrument

    inst = get_instrument(query.instrument)
    spec = inst.make(query.with_(product_type="spectrum"), progress=progress,
                                                 cancel=cancel, workers=workers, archive=archive, store=store)
    src = pick_source(query, spec.summary)
    data = read_spectrum(spec.files[src["pha"]], spec.files[src["arf"]], spec.files[src["rmf"]])
    bands = list(dict.fromkeys(tuple(inst.flux_bands_keV or DEFAULT_BANDS) + ((query.E1_keV, query.E2_keV),)))
    result = fit_spectrum(data, model=query.spectral_model, emin=query.E1_keV, emax=query.E2_keV, stat="chi2",
                          bands=bands)
    fit = result.to_dict()
    fluxes = {f"{f['e1_keV']:g}-{f['e2_keV']:g}": f for f in fit["fluxes"]}
    summary = {"source": src["name"], "ra": src["ra"], "dec": src["dec"], "model": query.spectral_model,
               "fit": clean(fit), "fluxes": clean(fluxes), "spectrum_product_id": spec.product_id,
               "spectrum": {k: src[k] for k in ("e_min", "e_max", "rate", "rate_err", "quality", "exposure")},
               "scws": [s.to_dict() for s in spec.scws]}
    files = {name: spec.files[src[k]].read_bytes() for k, name in
             (("pha", src["pha"]), ("arf", src["arf"]), ("rmf", src["rmf"]))}
    files["fit.json"] = json.dumps(clean(summary), indent=1).encode()
    return store_product(store, pid, query, list(spec.scws), summary, files, data=result)
