""""Was anything there?": background, excess, peak, duration, fluence or its upper limit.

Works on the raw 50 ms counts around a trigger time ``T0`` (times in s from T0):

1. **Background**: a polynomial in time (degree 2 by default) fitted to the count rate in
   1 s bins of the intervals before and after T0 (outside the search window), weighted by
   the non-Poisson variance; bins more than 3σ above the fit (other bursts, spikes) are
   dropped and the fit repeated.
2. **Noise**: the variance of the counts over the background is ``F · B`` with the excess
   factor ``F`` measured on the background intervals' 50 ms residuals (instruments.md:
   F ≈ 1.57² — :data:`~.background.NOISE_FACTOR`); the background model's own
   uncertainty (its covariance) is added to every sum.
3. **Excess**: S/N = (C − B) / √(F·B) of sums over 0.1–16 s windows sliding
   through the search window; the best one gives the peak time and time scale.
4. **Duration and fluence**: T90 from the cumulative net counts of the search window
   (5% and 95%, near the peak); net counts over T05 − T90/2 … T95 + T90 (for S/N < 10,
   where the cumulative is noise-dominated: from 2 best windows before the peak to 4
   after), converted to erg/cm² in
   E1–E2 keV through the shield's response for the chosen spectrum and direction.
5. **Upper limit**: for fixed intervals centred on T0 (1 s and 8 s by default), the
   one-sided 95% limit ``max(n, 0) + 1.645 σ`` on the net counts (it covers the truth in
   at least 95% of cases), in counts and erg/cm².
"""

from __future__ import annotations

import math

import numpy as np

from .archive import BIN_S
from .background import NOISE_FACTOR

__all__ = ["analyse", "background_model", "TIMESCALES_S", "UL_DURATIONS_S", "Z95"]

#: Search time scales. 50 ms is left out, as in the INTEGRAL team's pipeline (GCN 24571): single
#: bins are the most polluted by cosmic-ray showers.
TIMESCALES_S = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
UL_DURATIONS_S = (1.0, 8.0)
Z95 = 1.6449  # one-sided 95%


def _rebin(x: np.ndarray, k: int) -> np.ndarray:
    n = len(x) // k
    return x[:n * k].reshape(n, k).sum(axis=1)


def _fit_background(t, counts, good, mask, degree, nominal_f):
    """Weighted polynomial of the rate (counts/s) on 1 s bins of ``mask``; clipped at +3σ."""
    k = int(round(1.0 / BIN_S))
    n = len(counts) // k
    tc = t[:n * k].reshape(n, k).mean(axis=1) + BIN_S / 2
    ok = _rebin((good & mask).astype(int), k) == k
    c = _rebin(counts.astype(float), k)
    scale = max(float(np.ptp(t)), 1.0) / 2.0
    use = ok.copy()
    coef = None
    for _ in range(10):
        if use.sum() < degree + 3:
            raise ValueError("too few background bins (the data gap or the search window leaves no background)")
        x = tc[use] / scale
        level = np.median(c[use])
        w = 1.0 / (nominal_f * np.maximum(level, 1.0))
        V = np.vander(x, degree + 1)
        A = V * w ** 0.5
        coef, *_ = np.linalg.lstsq(A, c[use] * w ** 0.5, rcond=None)
        model = np.vander(tc / scale, degree + 1) @ coef
        resid = (c - model) / np.sqrt(nominal_f * np.maximum(model, 1.0))
        new = ok & (resid < 3.0)
        # A burst's wings: drop the neighbours of clipped bins too.
        bad = ok & ~new
        if bad.any():
            new &= ~np.convolve(bad, np.ones(5), mode="same").astype(bool)
        if np.array_equal(new, use):
            break
        use = new
    x = tc[use] / scale
    V = np.vander(x, degree + 1)
    cov_counts = np.linalg.inv(V.T @ (V / (nominal_f * np.maximum(np.vander(x, degree + 1) @ coef, 1.0))[:, None]))
    # coef is for counts per 1 s bin; per-50 ms-bin expectation = poly(t)/k.
    fitted = np.zeros(len(counts), dtype=bool)
    fitted[:n * k] = np.repeat(use, k)
    return coef, cov_counts, scale, k, use.sum(), fitted


def analyse(t_rel: np.ndarray, counts: np.ndarray, good: np.ndarray, *, search=None, degree: int = 2,
            threshold: float = 4.0, noise_factor: float | None = None, counts_per_fluence: float | None = None,
            interval=None, ul_durations=UL_DURATIONS_S) -> dict:
    """Analyse 50 ms counts at times ``t_rel`` (bin starts, s from T0).

    Parameters
    ----------
    search : (float, float), optional
        Where to look for the excess (s from T0); default ``[−0.05 H, +0.2 H]`` for a
        half-width H of the data, at least [−5, +10] s. The background is fitted outside.
    threshold : float
        S/N above which the excess counts as a detection.
    noise_factor : float, optional
        Variance over Poisson; measured on the background intervals when not given.
    counts_per_fluence : float, optional
        Counts per erg/cm² (response × spectrum); fluences in erg/cm² need it.
    interval : (float, float), optional
        Integrate the fluence over this interval instead of the T90-based one.
    """
    t = np.asarray(t_rel, dtype=float)
    counts = np.asarray(counts)
    good = np.asarray(good, dtype=bool)
    if len(t) < 200 or good.sum() < 200:
        raise ValueError("less than 10 s of data: nothing to analyse")
    half = 0.5 * (t[-1] + BIN_S - t[0])
    if search is None:
        search = (max(-0.05 * half, t[0] + 0.25 * half), min(0.2 * half, t[-1] - 0.25 * half))
        search = (min(search[0], -5.0), max(search[1], 10.0))
    s0, s1 = float(search[0]), float(search[1])
    in_search = (t >= s0) & (t + BIN_S <= s1)
    f_nom = NOISE_FACTOR ** 2
    coef, cov, scale, k, n_bkg, fitted = _fit_background(t, counts, good, ~in_search, degree, f_nom)
    bkg = (np.vander((t + BIN_S / 2) / scale, degree + 1) @ coef) / k     # expected counts per 50 ms bin
    V = np.vander((t + BIN_S / 2) / scale, degree + 1) / k

    off = good & fitted
    resid = counts[off] - bkg[off]
    clip = resid < 5.0 * np.sqrt(f_nom * np.maximum(bkg[off], 1.0))
    f_meas = float(np.sum(resid[clip] ** 2) / np.sum(bkg[off][clip])) if clip.sum() > 100 else f_nom
    F = float(noise_factor) ** 2 if noise_factor is not None else f_meas

    def sums(a, b):
        """Net counts, their σ (noise + background model) and the background over bins [a, b)."""
        sel = good[a:b]
        B = float(bkg[a:b][sel].sum())
        J = V[a:b][sel].sum(axis=0)
        var = F * B + float(J @ cov @ J)
        return float(counts[a:b][sel].sum()) - B, var, B

    # -- excess search over time scales
    cs = np.concatenate([[0.0], np.cumsum(np.where(good, counts, 0))])
    cb = np.concatenate([[0.0], np.cumsum(np.where(good, bkg, 0.0))])
    cg = np.concatenate([[0], np.cumsum(good)])
    idx = np.flatnonzero(in_search)
    best = {"snr": -np.inf}
    per_scale = []
    if len(idx):
        i_lo, i_hi = idx[0], idx[-1] + 1
        for ts in TIMESCALES_S:
            w = int(round(ts / BIN_S))
            if w > i_hi - i_lo:
                continue
            a = np.arange(i_lo, i_hi - w + 1)
            full = (cg[a + w] - cg[a]) == w
            if not full.any():
                continue
            a = a[full]
            net = (cs[a + w] - cs[a]) - (cb[a + w] - cb[a])
            snr = net / np.sqrt(F * (cb[a + w] - cb[a]))
            j = int(np.argmax(snr))
            row = {"timescale_s": ts, "snr": float(snr[j]), "t_s": float(t[a[j]] + ts / 2),
                   "net_rate": float(net[j] / ts)}
            per_scale.append(row)
            if row["snr"] > best["snr"]:
                best = dict(row, start=int(a[j]), width=w)
    detected = bool(best["snr"] >= threshold)

    out = {"T0_offset_s": 0.0, "search_s": [s0, s1], "background": {
        "degree": degree, "n_bins_1s": int(n_bkg), "coefficients": [float(c) for c in coef], "scale_s": scale,
        "rate_at_T0": float((np.vander(np.array([0.0]), degree + 1) @ coef)[0])},
        "noise_factor_measured": math.sqrt(f_meas), "noise_factor_used": math.sqrt(F),
        "noise_factor_nominal": NOISE_FACTOR, "threshold": threshold, "detected": detected,
        "timescales": per_scale}
    # χ² of the background intervals against the model, 1 s bins, nominal non-Poisson noise.
    kk = int(round(1.0 / BIN_S))
    c1, b1 = _rebin(np.where(off, counts, 0).astype(float), kk), _rebin(np.where(off, bkg, 0.0), kk)
    full1 = _rebin(off.astype(int), kk) == kk
    chi2 = float(np.sum((c1[full1] - b1[full1]) ** 2 / (f_nom * b1[full1])))
    out["background"].update(chi2=chi2, dof=int(full1.sum() - (degree + 1)))
    if best["snr"] > -np.inf:
        out["peak"] = {"snr": best["snr"], "t_s": best["t_s"], "timescale_s": best["timescale_s"],
                       "net_rate": best["net_rate"]}

    # -- duration (T90) and fluence
    if detected and len(idx):
        # The cumulative is taken near the peak (10 windows before, 20 after): over the whole
        # search window its random walk would move T05/T95 of a short burst by seconds.
        w = best["timescale_s"]
        a = max(idx[0], int(np.searchsorted(t, best["t_s"] - 10 * w)))
        b = min(idx[-1] + 1, int(np.searchsorted(t, best["t_s"] + 20 * w)))
        net = np.where(good[a:b], counts[a:b] - bkg[a:b], 0.0)
        cum = np.cumsum(net)
        total = cum.max()
        t5 = float(t[a + int(np.searchsorted(cum, 0.05 * total))])
        t95 = float(t[a + min(int(np.searchsorted(cum, 0.95 * total)), b - a - 1)] + BIN_S)
        t90 = t95 - t5
        out["t90"] = {"t05_s": t5, "t95_s": t95, "T90_s": t90}
        if interval is None and best["snr"] >= 10.0:
            # Padded so that the 5% tails are in: a FRED's decay beyond T95 + T90 is < 0.5%.
            interval = (max(t5 - max(0.5 * t90, w), s0), min(t95 + max(t90, 2 * w), s1))
        elif interval is None:
            # A weak excess: the cumulative is noise-dominated; integrate around the best window,
            # longer after it (bursts decay more slowly than they rise).
            interval = (max(best["t_s"] - 2 * w, s0), min(best["t_s"] + 4 * w, s1))
    if interval is not None:
        i0 = int(np.searchsorted(t, interval[0]))
        i1 = int(np.searchsorted(t, interval[1]))
        n, var, B = sums(i0, i1)
        err = math.sqrt(var + max(n, 0.0))
        fl = {"interval_s": [float(interval[0]), float(interval[1])], "net_counts": n, "net_counts_err": err,
              "background_counts": B}
        if counts_per_fluence:
            fl.update(fluence_erg_cm2=n / counts_per_fluence, fluence_err=err / counts_per_fluence)
        out["fluence"] = fl
    # -- upper limits for fixed intervals centred on T0
    uls = []
    for d in ul_durations:
        i0 = int(np.searchsorted(t, -d / 2))
        i1 = int(np.searchsorted(t, d / 2))
        if i1 - i0 < 1 or not good[i0:i1].all():
            continue
        n, var, B = sums(i0, i1)
        ul = max(n, 0.0) + Z95 * math.sqrt(var)
        row = {"duration_s": d, "interval_s": [-d / 2, d / 2], "net_counts": n, "sigma_counts": math.sqrt(var),
               "ul_counts_95": ul}
        if counts_per_fluence:
            row["ul_fluence_erg_cm2_95"] = ul / counts_per_fluence
        uls.append(row)
    out["upper_limits"] = uls
    out["counts_per_fluence"] = counts_per_fluence
    return out


def background_model(t_rel: np.ndarray, background: dict) -> np.ndarray:
    """The fitted background rate (counts/s) at ``t_rel`` s from T0."""
    coef = np.asarray(background["coefficients"])
    return np.vander(np.asarray(t_rel, dtype=float) / background["scale_s"], len(coef)) @ coef
