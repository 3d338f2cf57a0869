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


def _joint_spectra(query, src: dict, *, progress, cancel, workers, archive, store) -> list[tuple]:
    """The spectra of the query's source by the other instruments of ``joint_instruments``.

    Each is the instrument's own spectrum product over its spectral band, on the same ScWs
    (or the same time range, selected with the instrument's own field of view and good time),
    with the source found by name or position as for the query's instrument.
    """
    from ..fitting.ogip import read_spectrum
    from ..instruments.base import get_instrument
    from ..params import param

    out = []
    for name in tuple(getattr(query, "joint_instruments", ()) or ())[1:]:
        other = get_instrument(name)
        lo, hi = other.spectral_band_keV or other.energy_range_keV
        radius = param("radius").at(name).default if not query.scw_list else query.radius
        oq = query.with_(instrument=name, product_type="spectrum", E1_keV=lo, E2_keV=hi, radius=radius,
                         joint_instruments=[name], src_name=src["name"], RA=src["ra"], DEC=src["dec"])
        ospec = other.make(oq, progress=progress, cancel=cancel, workers=workers, archive=archive, store=store)
        try:
            osrc = pick_source(oq, ospec.summary)
        except QueryError as exc:
            raise QueryError("joint_instruments", f"no {other.label} spectrum of {src['name']}: {exc.message}") from exc
        data = read_spectrum(ospec.files[osrc["pha"]], ospec.files[osrc["arf"]], ospec.files[osrc["rmf"]])
        out.append((other, ospec, osrc, data, lo, hi))
    return out


def _prefixed_set(prefix: str, paths: dict) -> dict[str, bytes]:
    """A PHA/ARF/RMF set under ``<prefix>_<name>`` (instruments name their files alike), the
    PHA's ANCRFILE/RESPFILE pointing at the renamed responses so that XSPEC finds them."""
    import io

    from astropy.io import fits

    names = {k: f"{prefix}_{p.name}" for k, p in paths.items()}
    with fits.open(paths["pha"]) as hdul:
        for h in hdul[1:]:
            if "ANCRFILE" in h.header:
                h.header["ANCRFILE"] = names["arf"]
            if "RESPFILE" in h.header:
                h.header["RESPFILE"] = names["rmf"]
        buf = io.BytesIO()
        hdul.writeto(buf)
    out = {names["pha"]: buf.getvalue()}
    out.update({names[k]: paths[k].read_bytes() for k in ("arf", "rmf")})
    return out


def make_fit(query, pid: str, *, progress, cancel, workers, archive, store):
    """Build a ``spectral_fit`` product (the middle step of :func:`.maker.make_product`).

    With several ``joint_instruments`` the source's spectra by each are fitted together
    (:func:`core.fitting.fit.fit_joint`, XSPEC's ``constant*model``): shared parameters, the
    query's instrument the reference (constant 1), a free cross-normalisation per other one.
    """
    from ..fitting.fit import DEFAULT_BANDS, fit_joint, fit_spectrum
    from ..fitting.ogip import read_spectrum
    from ..instruments.base import get_instrument

    inst = get_instrument(query.instrument)
    spec = inst.make(query.with_(product_type="spectrum"), progress=progress,
                                                 cancel=cancel, workers=workers, archive=archive, store=store)
    src = pick_source(query, spec.summary)
    data = read_spectrum(spec.files[src["pha"]], spec.files[src["arf"]], spec.files[src["rmf"]])
    bands = list(dict.fromkeys(tuple(inst.flux_bands_keV or DEFAULT_BANDS) + ((query.E1_keV, query.E2_keV),)))
    joint = _joint_spectra(query, src, progress=progress, cancel=cancel, workers=workers, archive=archive,
                           store=store)
    if joint:
        for other, *_ in joint:
            bands = list(dict.fromkeys(bands + list(other.flux_bands_keV or ())))
        sets = [(data, query.E1_keV, query.E2_keV)] + [(d, lo, hi) for _, _, _, d, lo, hi in joint]
        result = fit_joint(sets, model=query.spectral_model, stat="chi2", bands=bands)
    else:
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
    if joint:
        summary["joint"] = []
        for other, ospec, osrc, _, lo, hi in joint:
            named = _prefixed_set(other.unit_label(ospec.query), {k: ospec.files[osrc[k]] for k in ("pha", "arf", "rmf")})
            files.update(named)
            summary["joint"].append({"instrument": other.name, "label": other.label, "emin_keV": lo, "emax_keV": hi,
                                     "spectrum_product_id": ospec.product_id, "files": list(named)})
    files["fit.json"] = json.dumps(clean(summary), indent=1).encode()
    return store_product(store, pid, query, list(spec.scws), summary, files, data=result)
