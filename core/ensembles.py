"""Monte-Carlo ensembles of the estimators, at the level of one science window.

One realisation per validation case says nothing about bias or error coverage. These
ensembles draw many Poisson realisations (one seed each) of the expected detector counts of
one ScW — cheap, no archive — and run the analysis' own estimators on them:

* :func:`spectrum_ensemble`: a faint power-law source; per-channel PIF fits
  (:func:`core.spectral.extract.fit_rates`), then a forward-folded power-law fit
  (:func:`core.fitting.fit.fit_spectrum`) of each realisation: Γ and F(20–100 keV);
* :func:`lightcurve_ensemble`: a flaring source observed in time bins that two ScWs
  (different pointings) share; per-piece fits stacked by :func:`core.spectral.products.stack_rates`;
* :func:`position_ensemble`: a faint source at a sub-pixel position; decoding, background fit and
  :func:`core.imaging.decode.locate_peak`; pulls per axis against the catalogue's own error
  (σ = r90 / 2.146, :func:`core.imaging.detect.error_radius_deg`), the fraction inside r90;
* :func:`blank_field_ensemble`: background-only ScWs (with the per-module level jitter of
  :mod:`core.instrument.truth`) decoded with IROS and searched at 7σ: false detections.

Each returns an :class:`Ensemble` (values, truths, errors → pulls, bias, their mean and rms).
The expected counts use the nominal instrument (PIF, efficiency map, background templates):
these ensembles test the estimators and their errors; the systematic offsets of the nominal
analysis against the detailed simulator are measured on full simulations
(``benchmarks/validate.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Ensemble", "spectrum_ensemble", "lightcurve_ensemble", "position_ensemble", "blank_field_ensemble"]

#: Revolution of the synthetic ScWs (2003, early threshold).
REV = 60


@dataclass
class Ensemble:
    """Estimates, truths and 1σ errors of one quantity over many realisations."""

    name: str
    values: np.ndarray
    truths: np.ndarray
    errors: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def pulls(self) -> np.ndarray:
        ok = np.isfinite(self.values) & np.isfinite(self.errors) & (self.errors > 0)
        return (self.values[ok] - self.truths[ok]) / self.errors[ok]

    @property
    def bias(self) -> float:
        """Mean of (value − truth) / truth."""
        ok = np.isfinite(self.values) & (self.truths != 0)
        if not ok.any():
            return math.nan  # a truth of 0 (position offsets): no fractional bias
        return float(np.mean((self.values[ok] - self.truths[ok]) / self.truths[ok]))

    def summary(self) -> dict:
        p = self.pulls
        return {"name": self.name, "n": int(self.values.size), "n_pulls": int(p.size),
                "pull_mean": float(np.mean(p)) if p.size else math.nan,
                "pull_std": float(np.std(p, ddof=1)) if p.size > 1 else math.nan,
                "bias_frac": self.bias, **self.extra}


# -- the synthetic detector ------------------------------------------------------------------
def _detector():
    from .imaging.shadowgram import pixel_weights
    from .instrument import detector as det

    status = det.dead_pixels(REV).astype(np.uint8)
    return pixel_weights(status, REV)


def _source_map(weights, tz: float, ty: float) -> np.ndarray:
    """Counts per pixel per (cts/s of on-axis-equivalent rate) per second of live time."""
    from .imaging.decode import N_IDEAL
    from .instrument.pif import pif

    cos = 1.0 / math.sqrt(1.0 + tz * tz + ty * ty)
    return pif(tz, ty) * weights * (cos / N_IDEAL)


def _background_rate(e1: float, e2: float) -> float:
    """Background count rate over the detector in [e1, e2] keV (the simulator's spectrum)."""
    from .instrument import background as bkg

    e = np.geomspace(10.0, 1000.0, 4000)
    shape = bkg.background_spectrum_shape(e)
    ref = np.trapezoid(np.where((e >= 20) & (e < 40), shape, 0.0), e)
    return float(bkg.RATE_20_40 * np.trapezoid(np.where((e >= e1) & (e < e2), shape, 0.0), e) / ref)


def _background_map(weights, e1: float, e2: float, rng=None) -> np.ndarray:
    """Expected background counts per pixel per second in a band (templates, optional jitter)."""
    from .imaging.shadowgram import background_model
    from .instrument import truth

    t = background_model(REV, e1, e2)
    pattern = t[0] if len(t) == 2 and e2 <= 50.0 else t[-1]
    if rng is not None:
        pattern = pattern * truth.module_jitter_map(rng)
    pattern = np.where(weights > 0, pattern, 0.0)
    return pattern / pattern.sum() * _background_rate(e1, e2)


def _design(weights, src_maps, e1, e2, live):
    """Design columns on good pixels: sources (per cts/s), flat × efficiency, templates."""
    from .imaging.shadowgram import background_model

    good = weights > 0
    cols = [m[good] * live for m in src_maps] + [weights[good]] + [t[good] for t in background_model(REV, e1, e2)]
    return np.column_stack(cols), good


def _powerlaw_norm(gamma: float, mcrab: float) -> float:
    """K [ph/cm²/s/keV at 1 keV] of a power law with ``mcrab`` in 20–40 keV."""
    from .sky.spectra import KEV_TO_ERG, MCRAB_20_40_ERG

    e = np.geomspace(20.0, 40.0, 400)
    return mcrab * MCRAB_20_40_ERG / (np.trapezoid(e * e ** -gamma, e) * KEV_TO_ERG)


# -- spectrum -------------------------------------------------------------------------------------
def spectrum_ensemble(n_seeds: int = 100, *, mcrab: float = 60.0, gamma: float = 2.0, live: float = 2500.0,
                      offaxis_deg: tuple = (2.0, 1.0), seed0: int = 0) -> dict[str, Ensemble]:
    """Faint power law in one ScW: channel rates, Γ and F(20–100 keV) of a forward-folded fit."""
    import tempfile
    from pathlib import Path

    from .fitting.fit import fit_spectrum
    from .fitting.ogip import read_spectrum, write_arf, write_pha, write_rmf
    from .spectral.extract import fit_rates
    from .spectral.products import channel_edges, response_for

    edges = channel_edges("catalogue")
    nch = len(edges) - 1
    tedges, arf, matrix = response_for({REV: 1.0}, edges)
    centres = np.sqrt(tedges[1:] * tedges[:-1])
    k1 = _powerlaw_norm(gamma, mcrab)
    photons = k1 * centres ** -gamma * np.diff(tedges)
    true_rate = (photons * arf) @ matrix                     # cts/s per channel (on-axis equivalent)
    e = np.geomspace(20.0, 100.0, 800)
    true_flux = float(np.trapezoid(k1 * e ** (1 - gamma), e) * 1.602176634e-9)

    weights = _detector()
    tz, ty = (math.tan(math.radians(a)) for a in offaxis_deg)
    smap = _source_map(weights, tz, ty)
    expected, xs = [], []
    for c in range(nch):
        bmap = _background_map(weights, edges[c], edges[c + 1])
        expected.append((true_rate[c] * smap + bmap) * live)
    expected = np.array(expected)
    x_lo, good = _design(weights, [smap], 17.0, 40.0, live)
    x_hi, _ = _design(weights, [smap], 60.0, 300.0, live)
    low = edges[:-1] < 60.0
    rates, errs, gam, gam_err, flux, flux_err = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_arf(tmp / "s.arf", tedges[:-1], tedges[1:], arf)
        write_rmf(tmp / "s.rmf", tedges[:-1], tedges[1:], matrix, edges[:-1], edges[1:])
        for k in range(n_seeds):
            rng = np.random.default_rng(seed0 + k)
            d = rng.poisson(expected[:, good]).astype(float)
            r = np.full(nch, np.nan)
            s = np.full(nch, np.nan)
            for sel, x in ((low, x_lo), (~low, x_hi)):
                th, sg = fit_rates(x, d[sel])
                r[sel], s[sel] = th[:, 0], sg[:, 0]
            rates.append(r)
            errs.append(s)
            write_pha(tmp / "s.pha", np.arange(nch), r, s, live, sys_err=np.zeros(nch),
                      quality=np.zeros(nch, np.int16), grouping=np.ones(nch, np.int16),
                      respfile="s.rmf", ancrfile="s.arf")
            fit = fit_spectrum(read_spectrum(tmp / "s.pha", tmp / "s.arf", tmp / "s.rmf"), "powerlaw",
                               emin=20.0, emax=200.0, bands=((20.0, 100.0),))
            g = fit["gamma"]
            lo, hi = g.err_1sigma
            # Pull against the error on the side of the truth (asymmetric profile errors).
            side = hi if gamma > g.value else lo
            gam.append(g.value)
            gam_err.append(abs(side) if side is not None else math.nan)
            f = fit.fluxes[0]
            fs = f.energy_err_1sigma[1] if true_flux > f.energy else f.energy_err_1sigma[0]
            flux.append(f.energy)
            flux_err.append(abs(fs) if fs is not None else math.nan)
    rates, errs = np.array(rates), np.array(errs)
    sel = (edges[:-1] >= 20.0) & (edges[1:] <= 200.0)
    n = len(rates)
    return {
        "channel_rate": Ensemble("spectrum: channel rates 20-200 keV", rates[:, sel].ravel(),
                                 np.tile(true_rate[sel], n), errs[:, sel].ravel()),
        "gamma": Ensemble("spectrum: photon index", np.array(gam), np.full(n, gamma), np.array(gam_err),
                          {"mcrab": mcrab, "live_s": live}),
        "flux": Ensemble("spectrum: F(20-100 keV)", np.array(flux), np.full(n, true_flux), np.array(flux_err)),
    }


# -- light curve ----------------------------------------------------------------------------------
def lightcurve_ensemble(n_seeds: int = 100, *, mcrab: float = 30.0, bin_s: float = 300.0, n_bins: int = 6,
                        seed0: int = 1000) -> Ensemble:
    """A flare in time bins that two ScWs share (the first 60 % of each bin in ScW A at 1° off
    axis, the rest in ScW B at 8°); per-piece PIF fits stacked with :func:`stack_rates`.

    Truth of a bin: its exposure-weighted mean rate (the quantity a bin's RATE is).
    """
    from .spectral.extract import fit_rates
    from .spectral.products import stack_rates

    e1, e2 = 20.0, 40.0
    weights = _detector()
    crab_rate = 165.0  # ISGRI cts/s of the Crab in 20–40 keV (instruments.md)
    base = mcrab * 1e-3 * crab_rate
    maps = [_source_map(weights, math.tan(math.radians(1.0)), 0.0),
            _source_map(weights, math.tan(math.radians(8.0)), math.tan(math.radians(2.0)))]
    bmap = _background_map(weights, e1, e2)
    t = (np.arange(n_bins) + 0.5) / n_bins
    flare = base * (1.0 + 5.0 * np.exp(-0.5 * ((t - 0.5) / 0.15) ** 2))
    # Within a bin the rate differs between the two pieces (a rising or falling flare).
    slope = np.gradient(flare) * 0.5
    piece_rate = [flare - slope * 0.4, flare + slope * 0.6]
    frac = (0.6, 0.4)
    vals, errs, truths = [], [], []
    for k in range(n_seeds):
        rng = np.random.default_rng(seed0 + k)
        pieces = []
        for p in range(2):
            live = frac[p] * bin_s
            x, good = _design(weights, [maps[p]], e1, e2, live)
            expected = (np.outer(piece_rate[p], maps[p][good]) + bmap[good][None]) * live
            d = rng.poisson(expected).astype(float)
            th, sg = fit_rates(x, d)
            pieces.append((th[:, 0], sg[:, 0], np.full(n_bins, live)))
        for i in range(n_bins):
            r, s = stack_rates(np.array([pieces[0][0][i], pieces[1][0][i]]),
                               np.array([pieces[0][1][i], pieces[1][1][i]]),
                               np.array([pieces[0][2][i], pieces[1][2][i]]))
            vals.append(float(r))
            errs.append(float(s))
            truths.append(frac[0] * piece_rate[0][i] + frac[1] * piece_rate[1][i])
    return Ensemble("light curve: flare bins shared by two ScWs", np.array(vals), np.array(truths), np.array(errs),
                    {"mcrab": mcrab, "bin_s": bin_s})


# -- position -------------------------------------------------------------------------------------
def position_ensemble(n_seeds: int = 100, *, mcrab: float = 40.0, live: float = 2500.0,
                      seed0: int = 2000) -> dict[str, Ensemble]:
    """A faint source at a fractional lag, decoded; per-axis pulls and the r90 coverage.

    Positions and significances are measured as the catalogue measures them
    (:func:`core.imaging.detect.detect_sources`): the PSF fit of :func:`~core.imaging.detect.fit_peak`
    on the significance map and DETSIG = FLUX / FLUX_ERR of
    :func:`~core.imaging.photometry.point_source_flux`, so that the pulls test the catalogue's
    ERR_RAD on the estimator it belongs to. (The decoder's own :func:`~core.imaging.decode.locate_peak`,
    an exact main-lobe fit, is ≈ 10 % more precise: 7.5′/SNR per axis against 8.1–8.4′/SNR.)
    """
    from .imaging.decode import Decoder, fit_background, lag_to_tan
    from .imaging.detect import error_radius_deg, fit_peak
    from .imaging.mosaic import ISGRI_PIXEL_DEG
    from .imaging.photometry import point_source_flux
    from .imaging.shadowgram import Shadowgram, background_model

    e1, e2 = 20.0, 40.0
    weights = _detector()
    # A lag 0.37 / 0.61 pixel off the grid, ~2° off axis.
    iz0, iy0 = 182.0 + 0.37 + 24, 180.0 + 0.61 - 10
    tz, ty = (float(v) for v in lag_to_tan(iz0, iy0))
    rate = mcrab * 1e-3 * 165.0
    expected = (rate * _source_map(weights, tz, ty) + _background_map(weights, e1, e2)) * live
    templates = background_model(REV, e1, e2)
    dz, dy, sig_ax, inside, snr_list = [], [], [], [], []
    for k in range(n_seeds):
        rng = np.random.default_rng(seed0 + k)
        counts = np.where(weights > 0, rng.poisson(expected), 0).astype(float)
        shd = Shadowgram(counts, weights, live, REV, e1, e2, int(counts.sum()))
        model, _ = fit_background(shd, templates)
        dec = Decoder(shd)
        inten, var = dec.decode(counts - model)
        snr_map = inten / np.sqrt(np.where(var > 0, var, np.nan))
        iz, iy = int(round(iz0)), int(round(iy0))
        box = snr_map[iz - 2:iz + 3, iy - 2:iy + 3]
        bz, by = np.unravel_index(np.nanargmax(box), box.shape)
        # Rows of the maps are Z lags, columns Y lags (fit_peak returns x = column, y = row).
        py, pz, _ = fit_peak(snr_map, iz - 2 + int(bz), iy - 2 + int(by))
        f, fe = point_source_flux(inten, var, py, pz)
        snr = float(f / fe) if np.isfinite(f) and np.isfinite(fe) and fe > 0 else float(np.nanmax(box))
        r90_pix = float(error_radius_deg(snr)) / ISGRI_PIXEL_DEG
        snr_list.append(snr)
        dz.append(pz - iz0)
        dy.append(py - iy0)
        sig_ax.append(r90_pix / 2.146)  # the catalogue's own error, per axis (P(r < 2.146 σ) = 0.9)
        inside.append(math.hypot(pz - iz0, py - iy0) < r90_pix)
    dz, dy, sig_ax = np.array(dz), np.array(dy), np.array(sig_ax)
    snrs = np.array(snr_list)
    extra = {"fraction_within_r90": float(np.mean(inside)), "mcrab": mcrab, "median_snr": float(np.median(snrs)),
             # measured statistical error per axis, as arcmin × SNR (the catalogue assumes R90_STAT/2.146)
             "sigma_axis_arcmin_x_snr": float(np.std(np.r_[dz * snrs, dy * snrs], ddof=1) * ISGRI_PIXEL_DEG * 60.0)}
    return {"z": Ensemble("position: Z offset", dz, np.zeros_like(dz), sig_ax, extra),
            "y": Ensemble("position: Y offset", dy, np.zeros_like(dy), sig_ax, extra)}


# -- blank fields ---------------------------------------------------------------------------------
def blank_field_ensemble(n_scw: int = 100, *, live: float = 2500.0, threshold: float = 7.0,
                         seed0: int = 3000) -> dict:
    """Background-only ScWs (module levels jittering around the templates) decoded with IROS
    and searched above ``threshold``: the number of false detections and the map statistics."""
    from .imaging.scw_image import decode_shadowgram
    from .imaging.detect import find_peaks
    from .imaging.shadowgram import Shadowgram

    e1, e2 = 20.0, 40.0
    weights = _detector()
    header = {"RA_SCX": 83.63, "DEC_SCX": 22.01, "RA_SCZ": 83.63 + 90.0, "DEC_SCZ": 0.0, "POSANGLE": 0.0}
    n_false, means, rmss, peaks = 0, [], [], []
    for k in range(n_scw):
        rng = np.random.default_rng(seed0 + k)
        expected = _background_map(weights, e1, e2, rng=rng) * live
        counts = np.where(weights > 0, rng.poisson(expected), 0).astype(float)
        shd = Shadowgram(counts, weights, live, REV, e1, e2, int(counts.sum()))
        img = decode_shadowgram(shd, header, catalog=None, iros=True, iros_threshold=threshold)
        s = np.asarray(img.significance, float)
        fine = np.isfinite(s)
        means.append(float(np.mean(s[fine])))
        rmss.append(float(np.std(s[fine])))
        peaks.append(float(np.nanmax(s)))
        n_false += len(find_peaks(s, threshold)) + sum(1 for src in img.meta.get("iros_sources", []))
    return {"n_scw": n_scw, "threshold": threshold, "false_detections": int(n_false),
            "sig_mean": float(np.mean(means)), "sig_rms": float(np.mean(rmss)), "max_peak": float(np.max(peaks))}
