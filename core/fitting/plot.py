"""Publication-quality spectrum figure of a fit (PNG).

Left: the count-rate spectrum per keV with the folded best-fit model (top) and the residuals
in σ (bottom); a joint fit draws each dataset in its own colour, each with its folded model
(its cross-normalisation included). Right: the unfolded spectrum E²F(E) with the model curve. The unfolded points
are XSPEC's ``eeufspec``: each channel's data/model ratio times the model E²N(E) at the
channel's centre — model-dependent, as any unfolded spectrum.

Uses matplotlib's object API on the Agg canvas (no pyplot, so no global figure state).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .models import KEV_TO_ERG

__all__ = ["spectrum_figure", "spectrum_png"]


def _param_text(result) -> str:
    lines = []
    for p in result.parameters:
        m, pl = p.err_1sigma
        if p.frozen:
            err = " (frozen)"
        elif m is None or pl is None:
            err = f" ({'−' if m is None else f'{m:+.3g}'}/{'peg' if pl is None else f'{pl:+.3g}'})"
        else:
            err = f" ({m:+.2g}/{pl:+.2g})"
        unit = f" {p.unit}" if p.unit and p.unit not in ("ph/cm2/s/keV",) else ""
        lines.append(f"{p.name} = {p.value:.4g}{err}{unit}")
    lines.append(f"{'χ²' if result.stat_type == 'chi2' else 'C'}/dof = {result.statistic:.1f}/{result.dof}")
    return "\n".join(lines)


def _energy_ticks(axis, e1, e2):
    """Plain-number energy ticks (20, 50, 100 … keV) instead of 2×10¹ on log axes."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    nice = np.array([1, 2, 3, 5, 10, 15, 20, 30, 50, 100, 150, 200, 300, 500, 1000, 2000, 5000])
    ticks = nice[(nice >= e1 * 0.95) & (nice <= e2 * 1.05)]
    if ticks.size >= 2:
        axis.xaxis.set_major_locator(FixedLocator(ticks))
        fmt = ScalarFormatter()
        fmt.set_scientific(False)
        axis.xaxis.set_major_formatter(fmt)
        axis.xaxis.set_minor_formatter(NullFormatter())


def spectrum_figure(result, title: str | None = None, e2f_unit: str = "keV"):
    """Build the figure of a :class:`~core.fitting.fit.FitResult`.

    Parameters
    ----------
    result : FitResult
    title : str, optional
        Default: the PHA file name, model and statistic.
    e2f_unit : {"keV", "erg"}, optional
        E²F(E) in keV²·ph/cm²/s/keV (= keV/cm²/s) or erg/cm²/s.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if e2f_unit not in ("keV", "erg"):
        raise ValueError("e2f_unit must be 'keV' or 'erg'")
    lo, hi = np.asarray(result.e_min), np.asarray(result.e_max)
    # One colour per dataset of a joint fit (data and its folded model, constant included).
    joint = bool(getattr(result, "datasets", None))
    sets = ([(d.label, np.asarray(d.e_min), np.asarray(d.e_max), d.rate, d.rate_err, d.model_rate)
             for d in result.datasets] if joint
            else [("data", lo, hi, result.rate, result.rate_err, result.model_rate)])

    fig = Figure(figsize=(11.0, 5.2), dpi=120)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(2, 2, height_ratios=(3, 1), width_ratios=(1, 1), hspace=0.0, wspace=0.28,
                          left=0.07, right=0.98, top=0.9, bottom=0.11)
    ax = fig.add_subplot(gs[0, 0])
    axr = fig.add_subplot(gs[1, 0], sharex=ax)
    axu = fig.add_subplot(gs[:, 1])
    scale = 1.0 if e2f_unit == "keV" else KEV_TO_ERG
    lim, all_pos, all_model_pos, good_u = 3.0, 0, True, 0
    for k, (label, dlo, dhi, rate, err, model) in enumerate(sets):
        color = "k" if not joint else ("k", "C0", "C2", "C4", "C1")[k % 5]
        width = dhi - dlo
        ec = np.sqrt(dlo * dhi)
        xerr = np.vstack([ec - dlo, dhi - ec])
        # Folded: rate density so that wide channels do not look brighter.
        ax.errorbar(ec, rate / width, xerr=xerr, yerr=err / width, fmt="o", ms=3.5, color=color, lw=1.0,
                    label=label, zorder=3)
        # One horizontal segment per channel: groups need not be contiguous (ignored channels).
        ax.hlines(model / width, dlo, dhi, color="C3", lw=1.8,
                  label=f"{result.model.expression} (folded)" if k == 0 else None)
        all_pos += int((rate > 0).sum())
        all_model_pos &= bool(np.all(model > 0))
        resid = np.where(err > 0, (rate - model) / np.where(err > 0, err, 1), 0.0)
        axr.errorbar(ec, resid, xerr=xerr, yerr=np.ones_like(resid), fmt="o", ms=3.0, color=color, lw=1.0)
        if resid.size:
            lim = max(lim, float(np.nanmax(np.abs(resid))) + 1.2)
        # Unfolded E²F (XSPEC's eeufspec: data/model ratio times the model).
        n_model = result.photon_spectrum(ec)
        ratio = np.where(model > 0, rate / np.where(model > 0, model, 1), np.nan)
        ratio_err = np.where(model > 0, err / np.where(model > 0, model, 1), np.nan)
        e2f = ec ** 2 * n_model * scale
        axu.errorbar(ec, ratio * e2f, xerr=xerr, yerr=ratio_err * e2f, fmt="o", ms=3.5, color=color, lw=1.0,
                     label=f"{label} (unfolded)" if joint else "data (unfolded)", zorder=3)
        good_u += int((np.isfinite(ratio * e2f) & (ratio * e2f > 0)).sum())
    ax.set_xscale("log")
    ax.set_yscale("log" if all_pos >= 2 and all_model_pos else "linear")
    ax.set_ylabel("count rate [counts s$^{-1}$ keV$^{-1}$]")
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.tick_params(labelbottom=False, which="both", direction="in", top=True, right=True)
    ax.text(0.98, 0.97, _param_text(result), transform=ax.transAxes, ha="right", va="top", fontsize=7.5,
            family="monospace", bbox={"fc": "white", "ec": "0.8", "alpha": 0.85})

    axr.axhline(0, color="C3", lw=1.2)
    axr.set_ylim(-lim, lim)
    axr.set_xscale("log")
    axr.set_xlabel("energy [keV]")
    axr.set_ylabel("(data − model)/σ")
    axr.tick_params(which="both", direction="in", top=True, right=True)

    grid = np.geomspace(lo.min(), hi.max(), 400)
    axu.plot(grid, grid ** 2 * result.photon_spectrum(grid) * scale, color="C3", lw=1.6, label=result.model.expression)
    axu.set_xscale("log")
    axu.set_yscale("log" if good_u >= 2 else "linear")
    axu.set_xlabel("energy [keV]")
    axu.set_ylabel(r"$E^2F(E)$ [keV$^2$ ph cm$^{-2}$ s$^{-1}$ keV$^{-1}$]" if e2f_unit == "keV"
                   else r"$E^2F(E)$ [erg cm$^{-2}$ s$^{-1}$]")
    axu.tick_params(which="both", direction="in", top=True, right=True)
    axu.legend(loc="lower left", fontsize=8, frameon=False)
    flux_lines = [f"F({f.e1:g}–{f.e2:g} keV) = {f.energy:.3g} erg cm⁻² s⁻¹" for f in result.fluxes[:3]]
    axu.text(0.98, 0.97, "\n".join(flux_lines), transform=axu.transAxes, ha="right", va="top", fontsize=7.5,
             bbox={"fc": "white", "ec": "0.8", "alpha": 0.85})

    _energy_ticks(axr, lo.min(), hi.max())
    _energy_ticks(axu, lo.min(), hi.max())
    ax.margins(y=0.08)
    if title is None:
        title = f"{result.source or 'spectrum'} — {result.model.expression}, {result.stat_type}"
    fig.suptitle(title, fontsize=11)
    return fig


def spectrum_png(result, path, title: str | None = None, e2f_unit: str = "keV", dpi: int = 150) -> Path:
    """Write :func:`spectrum_figure` as a PNG.

    Parameters
    ----------
    result : FitResult
    path : str or pathlib.Path
    title : str, optional
    e2f_unit : {"keV", "erg"}, optional
    dpi : int, optional

    Returns
    -------
    pathlib.Path
    """
    fig = spectrum_figure(result, title=title, e2f_unit=e2f_unit)
    path = Path(path)
    fig.savefig(path, dpi=dpi, format="png")
    return path
