"""JEM-X source fluxes per ScW (spectra, light curves) and their OGIP / OSA files.

Per ScW and per channel (or time bin) ``c`` the counts of the good pixels are modelled as
(OSA's ``j_src_spectra`` / ``j_src_lc`` do the same with JEM-X's PIFs)::

    E[d_c,k] = Σ_j R_j,c · L_c · cosθ_j · C(θ_j) · PIF_j,k · eff_k / N_ideal  +  Σ_l b_l,c · Bkg_l,k

and fitted by iteratively reweighted least squares with the model variance — the Poisson
maximum likelihood — all channels at once, with :func:`core.spectral.extract.fit_rates` (the
instrument-free solver of the ISGRI extraction). ``R_j,c`` is the on-axis-equivalent count
rate that the ARF × RMF of :mod:`.response` predict; errors come from the covariance.

Files (the names OSA gives JEM-X products): spectrum ``JMXn-PHA1-SPE`` with its ARF
``JMXn-AXIS-ARF`` and RMF ``JMXn-RMF.-RSP`` + ``JMXn-FBDS-MOD`` (written by
:mod:`core.fitting.ogip`'s writers, extensions then renamed; :func:`core.fitting.ogip.read_spectrum`
reads them back under these names), and light curves ``JMXn-SRC.-LCR`` (TIME [IJD], TIMEDEL,
RATE, ERROR, BRATE, BERROR, FRACEXP; MJDREF 51544).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from ...fitting.ogip import write_arf, write_pha, write_rmf
from ...imaging.decode import scw_attitude
from ...spectral.extract import fit_rates
from . import detector as det
from . import response as resp
from .decode import N_IDEAL, background_templates, good_weights, pi_range
from .pif import pif as compute_pif, response_factor

__all__ = ["JemxFluxes", "source_columns", "extract_spectrum", "extract_lightcurve", "stack_spectra",
           "write_spectrum", "write_lightcurve", "spectrum_extnames", "N_ITER"]

N_ITER = 3
#: Sources whose PIF covers less than this mean fraction of the good pixels are not fitted.
MIN_PIF_MEAN = 0.01
_NPIX = det.N_PIX * det.N_PIX


@dataclass
class JemxFluxes:
    """Fitted rates of the sources of one ScW (rows: channels or time bins)."""

    scw_id: str
    unit: int
    names: list
    rate: np.ndarray        # (n_bins, n_src) cts/s on-axis equivalent; NaN out of the field
    rate_err: np.ndarray
    bkg_rate: np.ndarray    # (n_bins,) background cts/s over the good pixels
    bkg_err: np.ndarray
    livetime: np.ndarray    # (n_bins,) s
    ontime: np.ndarray
    offaxis: np.ndarray     # (n_src,) deg
    meta: dict = field(default_factory=dict)


def source_columns(header, weights: np.ndarray, sources):
    """Counts per unit rate and unit live time of each source on the good pixels.

    Returns ``(columns (n_good, n_in_field), index of those sources, off-axis angles)``.
    """
    att = scw_attitude(header)
    good = weights > 0
    cols, keep, off = [], [], []
    for j, (name, ra, dec) in enumerate(sources):
        tz, ty = (float(v) for v in att.to_instrument(float(ra), float(dec)))
        ok = math.isfinite(tz) and math.isfinite(ty)
        off.append(math.degrees(math.atan(math.hypot(tz, ty))) if ok else 180.0)
        f = float(response_factor(tz, ty)) if ok else 0.0
        if f <= 0:
            continue
        p = compute_pif(tz, ty).astype(np.float64)[good]
        if p.mean() < MIN_PIF_MEAN:
            continue
        cols.append(p * weights[good] * (f / N_IDEAL))
        keep.append(j)
    x = np.column_stack(cols) if cols else np.zeros((int(good.sum()), 0))
    return x, np.asarray(keep, int), np.asarray(off)


def _solve(scw, sources, counts, live, ontime) -> JemxFluxes:
    w = good_weights(scw)
    good = (w > 0).ravel()
    d = counts[:, good].astype(np.float64)
    xs, keep, off = source_columns(scw.header, w, sources)
    tpl = background_templates(scw.unit, scw.revolution)
    xb = np.column_stack([w[w > 0]] + [t[w > 0] for t in tpl])
    nb, ns = d.shape[0], len(sources)
    rate = np.full((nb, ns), np.nan)
    err = np.full((nb, ns), np.nan)
    theta, sigma = fit_rates(np.column_stack([xs, xb]), d, n_iter=N_ITER)
    lt = np.maximum(live, 1e-9)[:, None]
    k = xs.shape[1]
    rate[:, keep] = theta[:, :k] / lt
    err[:, keep] = sigma[:, :k] / lt
    # Background counts over the good pixels: amplitudes × template sums.
    sums = xb.sum(axis=0)
    bkg = (theta[:, k:] * sums).sum(axis=1) / lt[:, 0]
    bkg_err = np.sqrt(np.maximum((sigma[:, k:] * sums) ** 2, 0).sum(axis=1)) / lt[:, 0]
    empty = live <= 0
    rate[empty] = np.nan
    err[empty] = np.nan
    return JemxFluxes(str(scw.scw_id), int(scw.unit), [s[0] for s in sources], rate, err, bkg, bkg_err,
                      np.asarray(live, float), np.asarray(ontime, float), off)


def _pixel_index(scw):
    _, pix = scw.pixel_columns()
    return pix.astype(np.int64), pix < _NPIX


def extract_spectrum(scw, sources, edges=None) -> JemxFluxes:
    """Count-rate spectra of the sources in one JEM-X ScW.

    ``sources``: sequence of (name, ra, dec); ``edges``: channel edges on the PI grid
    (default :func:`.response.spectral_channel_edges`, 16 channels 3–35 keV).
    """
    edges = resp.spectral_channel_edges() if edges is None else np.asarray(edges, float)
    idx = np.rint(edges / resp.PI_STEP_KEV).astype(np.int64)
    nch = len(edges) - 1
    lut = np.full(resp.N_PI + 1, nch, np.int64)
    for c in range(nch):
        lut[idx[c]:idx[c + 1]] = c
    pix, ok = _pixel_index(scw)
    ch = lut[np.clip(scw.events["PI"].astype(np.int64), 0, resp.N_PI)]
    ok &= ch < nch
    counts = np.bincount(ch[ok] * _NPIX + pix[ok], minlength=nch * _NPIX).reshape(nch, _NPIX)
    out = _solve(scw, sources, counts, np.full(nch, scw.livetime), np.full(nch, scw.ontime))
    out.meta.update(kind="spectrum", e_min=edges[:-1].tolist(), e_max=edges[1:].tolist())
    return out


def extract_lightcurve(scw, sources, e1: float, e2: float, time_edges) -> tuple[JemxFluxes, np.ndarray]:
    """Light curves of the sources in one JEM-X ScW on the bins ``time_edges`` [IJD].

    Returns ``(fluxes, index)``: the bins overlapping the ScW's good time, and their
    positions in ``time_edges``.
    """
    edges = np.asarray(time_edges, float)
    gti = np.asarray(scw.gti, float)
    lo = np.maximum(edges[:-1, None], gti[None, :, 0])
    hi = np.minimum(edges[1:, None], gti[None, :, 1])
    ontime = np.clip(hi - lo, 0, None).sum(axis=1) * 86400.0
    index = np.flatnonzero(ontime > 0.5)
    nb = index.size
    plo, phi = pi_range(e1, e2)
    pix, ok = _pixel_index(scw)
    t = scw.events["TIME"]
    ok &= (scw.events["PI"] >= plo) & (scw.events["PI"] < phi)
    k = np.searchsorted(edges, t, side="right") - 1
    pos = np.full(len(edges) + 1, nb, np.int64)
    pos[index] = np.arange(nb)
    b = pos[np.clip(k, -1, len(edges) - 1)]
    in_gti = np.zeros(t.size, bool)
    for a, z in gti:
        in_gti |= (t >= a) & (t < z)
    ok &= in_gti & (k >= 0) & (k < len(edges) - 1) & (b < nb)
    counts = np.bincount(b[ok] * _NPIX + pix[ok], minlength=max(nb, 1) * _NPIX)[:nb * _NPIX].reshape(nb, _NPIX)
    on = ontime[index]
    out = _solve(scw, sources, counts, on * float(scw.header.get("DEADC", 1.0)), on)
    out.meta.update(kind="lc", e1=float(plo * resp.PI_STEP_KEV), e2=float(phi * resp.PI_STEP_KEV))
    return out, index


def stack_spectra(fluxes, source: str):
    """Inverse-variance mean spectrum of one source over ScWs: (rate, error, exposure)."""
    num = den = None
    expo = 0.0
    for f in fluxes:
        j = f.names.index(source)
        r, e = f.rate[:, j], f.rate_err[:, j]
        ok = np.isfinite(r) & np.isfinite(e) & (e > 0)
        if not ok.any():
            continue
        w = np.where(ok, 1.0 / np.where(ok, e, 1.0) ** 2, 0.0)
        num = w * np.where(ok, r, 0.0) if num is None else num + w * np.where(ok, r, 0.0)
        den = w if den is None else den + w
        expo += float(np.max(f.livetime))
    if den is None:
        raise ValueError(f"{source} is in the field of none of the ScWs")
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den, 1.0 / np.sqrt(den), expo


def spectrum_extnames(unit: int) -> dict:
    """OSA extension names of a JEM-X unit's spectrum and responses."""
    u = det.check_unit(unit)
    return {"SPECTRUM": f"JMX{u}-PHA1-SPE", "SPECRESP": f"JMX{u}-AXIS-ARF", "MATRIX": f"JMX{u}-RMF.-RSP",
            "EBOUNDS": f"JMX{u}-FBDS-MOD"}


def _rename(path: Path, names: dict) -> None:
    with fits.open(path, mode="update") as hdul:
        for hdu in hdul[1:]:
            new = names.get(hdu.name)
            if new:
                hdu.header["EXTNAME"] = new


def write_spectrum(directory, source: str, unit: int, rate, error, exposure: float, edges=None, *,
                   sys_err: float = 0.0, header: dict | None = None) -> dict:
    """Write ``spectrum_<src>.pha`` with its ``.arf`` and ``.rmf`` (JEM-X extension names).

    Returns the three paths. The ARF is the on-axis area of :func:`.response.effective_area`
    on :data:`.response.TRUE_ENERGY_EDGES`, the RMF :func:`.response.channel_matrix`.
    """
    u = det.check_unit(unit)
    edges = resp.spectral_channel_edges() if edges is None else np.asarray(edges, float)
    directory = Path(directory)
    stem = "spectrum_" + "".join(ch if ch.isalnum() or ch in "+-." else "_" for ch in source)
    keys = {"TELESCOP": "INTEGRAL", "INSTRUME": f"JMX{u}", "DETNAM": f"JMX{u}", "OBJECT": source, **(header or {})}
    te = resp.TRUE_ENERGY_EDGES
    arf = write_arf(directory / f"{stem}.arf", te[:-1], te[1:], resp.effective_area(np.sqrt(te[1:] * te[:-1])),
                    header=keys)
    rmf = write_rmf(directory / f"{stem}.rmf", te[:-1], te[1:], resp.channel_matrix(edges), edges[:-1], edges[1:],
                    header=keys)
    n = len(edges) - 1
    rate = np.asarray(rate, float)
    error = np.asarray(error, float)
    bad = ~(np.isfinite(rate) & np.isfinite(error) & (error > 0))
    pha = write_pha(directory / f"{stem}.pha", np.arange(n), np.where(bad, 0.0, rate), np.where(bad, 0.0, error),
                    exposure, sys_err=sys_err, quality=np.where(bad, 5, 0), respfile=rmf.name, ancrfile=arf.name,
                    header=keys)
    names = spectrum_extnames(u)
    for p in (pha, arf, rmf):
        _rename(p, names)
    return {"pha": pha, "arf": arf, "rmf": rmf}


def write_lightcurve(path, source: str, unit: int, time_ijd, timedel_s, rate, error, brate, berror,
                     fracexp=None, *, e1: float | None = None, e2: float | None = None) -> Path:
    """Write a JEM-X light curve ``JMXn-SRC.-LCR`` (TIME IJD, TIMEDEL s, RATE, ERROR, BRATE, BERROR, FRACEXP)."""
    u = det.check_unit(unit)
    n = len(time_ijd)
    fracexp = np.ones(n) if fracexp is None else np.asarray(fracexp, float)
    cols = [fits.Column("TIME", "D", unit="d", array=np.asarray(time_ijd, float)),
            fits.Column("TIMEDEL", "D", unit="s", array=np.broadcast_to(np.asarray(timedel_s, float), n)),
            fits.Column("RATE", "E", unit="count/s", array=np.asarray(rate, float)),
            fits.Column("ERROR", "E", unit="count/s", array=np.asarray(error, float)),
            fits.Column("BRATE", "E", unit="count/s", array=np.asarray(brate, float)),
            fits.Column("BERROR", "E", unit="count/s", array=np.asarray(berror, float)),
            fits.Column("FRACEXP", "E", array=fracexp)]
    hdu = fits.BinTableHDU.from_columns(cols, name=f"JMX{u}-SRC.-LCR")
    h = hdu.header
    h["TELESCOP"], h["INSTRUME"], h["DETNAM"] = "INTEGRAL", f"JMX{u}", f"JMX{u}"
    h["NAME"] = source
    h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS2"] = "OGIP", "LIGHTCURVE", "NET"
    h["TIMESYS"], h["TIMEUNIT"], h["TIMEREF"] = "TT", "d", "LOCAL"
    h["MJDREF"] = (51544.0, "IJD 0")
    h["TIMEPIXR"] = (0.5, "TIME is the bin centre")
    if e1 is not None and e2 is not None:
        h["E_MIN"], h["E_MAX"] = float(e1), float(e2)
    path = Path(path)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path
