"""Publication PNGs of spectra and light curves (matplotlib, Agg; no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["spectrum_png", "lightcurve_png", "fit_png"]


def _label(query) -> str:
    """What the figure calls the instrument of ``query`` (``ISGRI``, ``JEM-X1``)."""
    from ..instruments.base import get_instrument

    return get_instrument(query.instrument).unit_label(query)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def spectrum_png(src: dict, query, out: Path) -> Path:
    """Count-rate spectrum per keV with errors, log–log, good channels only."""
    plt = _plt()
    lo, hi = _arr(src["e_min"]), _arr(src["e_max"])
    rate, err = _arr(src["rate"]), _arr(src["rate_err"])
    good = (np.asarray(src["quality"]) == 0) & np.isfinite(rate)
    w = hi - lo
    e = np.sqrt(lo * hi)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=150)
    pos = good & (rate > 0)
    ax.errorbar(e[pos], rate[pos] / w[pos], xerr=[(e - lo)[pos], (hi - e)[pos]], yerr=err[pos] / w[pos],
                fmt="o", ms=2.5, lw=0.8, color="C0", label="rate > 0")
    up = good & (rate <= 0)
    if up.any():  # 2σ upper limits where the fitted rate is not positive
        ax.errorbar(e[up], (np.maximum(rate, 0) + 2 * err)[up] / w[up], yerr=0.3 * (2 * err[up] / w[up]),
                    uplims=True, fmt="none", color="C0", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Energy [keV]")
    ax.set_ylabel("Count rate [cts s$^{-1}$ keV$^{-1}$]")
    ax.set_title(f"{_label(query)} spectrum of {src['name']} — {src['n_scw']} ScWs, {src['exposure'] / 1e3:.1f} ks")
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def lightcurve_png(src: dict, query, out: Path) -> Path:
    """Light curve with errors, the weighted mean and the Bayesian blocks."""
    plt = _plt()
    t, dt = _arr(src["time"]), _arr(src["timedel"]) / 86400.0
    rate, err = _arr(src["rate"]), _arr(src["error"])
    fig, ax = plt.subplots(figsize=(7.2, 4.0), dpi=150)
    t0 = float(np.floor(np.nanmin(t)))
    x = t - t0
    ax.errorbar(x, rate, xerr=dt / 2, yerr=err, fmt="o", ms=2.0, lw=0.7, color="C0", label=_label(query))
    if src.get("mean") is not None:
        ax.axhline(src["mean"], color="0.4", lw=0.8, ls="--",
                   label=f"constant: χ²/dof = {src['chi2_const']:.1f}/{src['dof']}" if src.get("dof") else "mean")
    blocks = _arr(src.get("blocks") or [])
    if blocks.size >= 2:
        w = 1.0 / err**2
        levels = []
        for a, b in zip(blocks[:-1], blocks[1:]):
            m = (t >= a) & (t <= b) & np.isfinite(rate)
            levels.append(np.sum(w[m] * rate[m]) / np.sum(w[m]) if m.any() else np.nan)
        ax.step(np.append(blocks[:-1], blocks[-1]) - t0, np.append(levels, levels[-1]), where="post",
                color="C3", lw=1.0, label=f"Bayesian blocks ({len(levels)})")
    ax.set_xlabel(f"Time − {t0:.0f} [IJD days] (IJD = MJD − 51544)")
    ax.set_ylabel(f"Rate {query.E1_keV:g}–{query.E2_keV:g} keV [cts/s]")
    ax.set_title(f"{_label(query)} light curve of {src['name']}")
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, alpha=0.25)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def fit_png(result, out: Path) -> Path:
    """Spectrum, folded model, residuals and unfolded E²F of a spectral_fit product."""
    from ..fitting.ogip import read_spectrum

    files = result.files
    pha = next(p for n, p in files.items() if n.endswith(".pha"))
    arf = next(p for n, p in files.items() if n.endswith(".arf"))
    rmf = next(p for n, p in files.items() if n.endswith(".rmf"))
    data = read_spectrum(pha, arf, rmf)
    fit = result.data
    if fit is None:  # restored from the store: refit (fast) rather than keep a pickled object
        from ..fitting.fit import fit_spectrum

        q = result.query
        fit = fit_spectrum(data, model=q.spectral_model, emin=q.E1_keV, emax=q.E2_keV, stat="chi2")
    from ..fitting.plot import spectrum_png as plot_fit

    q = result.query
    plot_fit(fit, out, title=f"{_label(q)} {result.summary.get('source', '')}: {q.spectral_model}, "
                             f"{q.E1_keV:g}–{q.E2_keV:g} keV")
    return out
