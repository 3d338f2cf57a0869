"""Plotly figures of the products: pure functions of product data (no Dash, no browser).

* :func:`image_figure` — significance map (RA/Dec on hover), colour range / log scale,
  catalogue markers with labels (click one to select it);
* :func:`spectrum_figure` — count-rate spectrum, the fitted model and residuals, or E²F;
* :func:`lightcurve_figure` — rate with error bars, Bayesian blocks, constant and linear fits,
  time axis in ISOT / MJD / IJD;
* :func:`lc_fit_stats`, :func:`fit_rows` — the numbers shown beside them.

The figures carry the arrays they draw (base64 typed arrays inside the figure JSON); they
are never put in a ``dcc.Store``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import plotly.graph_objects as go

__all__ = ["image_figure", "display_grid", "spectrum_figure", "lightcurve_figure", "lc_fit_stats", "fit_rows", "fit_source", "fit_stat_text", "flux_rows",
           "empty_figure", "IJD_MJDREF"]

IJD_MJDREF = 51544.0
#: Longest side of the displayed map (pixels are max-pooled down to it: point sources stay).
MAX_DISPLAY_PIXELS = 260
_FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13)


def _base_layout(**kw) -> dict:
    return dict(margin=dict(l=60, r=20, t=30, b=50), font=_FONT, paper_bgcolor="rgba(0,0,0,0)",
                plot_bgcolor="rgba(127,127,127,0.06)", hovermode="closest", **kw)


def empty_figure(message: str = "") -> go.Figure:
    fig = go.Figure(layout=_base_layout())
    fig.update_xaxes(visible=False), fig.update_yaxes(visible=False)
    if message:
        fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


# -- sky image ---------------------------------------------------------------------------------
def display_grid(significance: np.ndarray, wcs, max_pixels: int = MAX_DISPLAY_PIXELS):
    """Max-pooled map, the pixel coordinates of its cells and their RA/Dec.

    Returns ``(z, x, y, radec)``: ``z`` (ny, nx) float32, ``x``/``y`` the cells' centres in
    the original pixel frame (0-based), ``radec`` (ny, nx, 2) float32 in degrees.
    """
    sig = np.asarray(significance, dtype=np.float32)
    f = max(1, int(math.ceil(max(sig.shape) / max_pixels)))
    ny, nx = sig.shape[0] // f, sig.shape[1] // f
    blocks = sig[: ny * f, : nx * f].reshape(ny, f, nx, f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z = np.nanmax(blocks, axis=(1, 3)).astype(np.float32) if f > 1 else sig[:ny, :nx].copy()
    x = np.arange(nx) * f + (f - 1) / 2.0
    y = np.arange(ny) * f + (f - 1) / 2.0
    xx, yy = np.meshgrid(x, y)
    ra, dec = wcs.pixel_to_world_values(xx, yy)
    radec = np.stack([np.round(np.mod(ra, 360.0), 4), np.round(dec, 4)], axis=-1).astype(np.float32)
    return z, x, y, radec


def image_figure(significance: np.ndarray, wcs, catalog: list[dict] | None = None, *, zmin=None, zmax=None,
                 log: bool = False, selected: list[str] | None = None, labels: bool = True,
                 title: str = "") -> go.Figure:
    """Significance map with the catalogue's sources.

    Parameters
    ----------
    significance : ndarray
        Mosaic significance (NaN outside the coverage).
    wcs : astropy.wcs.WCS
        Celestial WCS of the mosaic.
    catalog : list of dict
        Rows with ``name``, ``ra``, ``dec`` and optionally ``significance`` (the image summary's
        ``catalog``, or the edited sources table).
    zmin, zmax : float, optional
        Colour range in σ (default −3 and the 99.9th percentile, at least 10).
    log : bool
        Logarithmic colour scale (log10 of the significance, floored at 0.1 σ).
    selected : list of str
        Names drawn highlighted (the sources chosen for spectra and light curves).
    """
    z, x, y, radec = display_grid(significance, wcs)
    finite = z[np.isfinite(z)]
    if zmin is None or not np.isfinite(zmin):
        zmin = -3.0
    if zmax is None or not np.isfinite(zmax):
        zmax = float(max(10.0, np.percentile(finite, 99.9))) if finite.size else 10.0
    if zmax <= zmin:
        zmax = zmin + 1.0
    zshow = z
    cbar = dict(title=dict(text="σ", side="right"), thickness=12)
    if log:
        lo = max(float(zmin), 0.1)
        with np.errstate(invalid="ignore", divide="ignore"):
            zshow = np.log10(np.clip(z, lo, None)).astype(np.float32)
        zmin_s, zmax_s = math.log10(lo), math.log10(max(float(zmax), lo * 1.01))
        ticks = [v for v in (0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000) if lo <= v <= max(zmax, lo)]
        cbar.update(tickvals=[math.log10(v) for v in ticks], ticktext=[f"{v:g}" for v in ticks])
    else:
        zmin_s, zmax_s = float(zmin), float(zmax)
    heat = go.Heatmap(z=zshow, x=x, y=y, customdata=radec, zmin=zmin_s, zmax=zmax_s, colorscale="Inferno",
                      colorbar=cbar, zsmooth=False, hoverongaps=False, name="significance",
                      text=None, meta=["significance"],
                      hovertemplate="RA %{customdata[0]:.3f}°, Dec %{customdata[1]:.3f}°<extra></extra>")
    fig = go.Figure(heat, layout=_base_layout(title=dict(text=title, x=0.01, font=dict(size=14))))
    # Hover text with the significance itself (untransformed) when the scale is logarithmic.
    if log:
        fig.data[0].hovertemplate = "RA %{customdata[0]:.3f}°, Dec %{customdata[1]:.3f}°, log₁₀σ %{z:.2f}<extra></extra>"
    else:
        fig.data[0].hovertemplate = "RA %{customdata[0]:.3f}°, Dec %{customdata[1]:.3f}°, %{z:.1f}σ<extra></extra>"
    rows = [r for r in (catalog or []) if r.get("ra") is not None and r.get("dec") is not None]
    if rows:
        ra = np.array([float(r["ra"]) for r in rows])
        dec = np.array([float(r["dec"]) for r in rows])
        px, py = wcs.world_to_pixel_values(ra, dec)
        names = [str(r.get("name", "")) for r in rows]
        sel = set(selected or [])
        sig = ["" if r.get("significance") is None else f"{float(r['significance']):.1f}σ" for r in rows]
        colours = ["#22d3ee" if n in sel else "#f8fafc" for n in names]
        fig.add_trace(go.Scatter(
            x=px, y=py, mode="markers+text" if labels else "markers", text=names, textposition="top right",
            textfont=dict(color=colours, size=12), customdata=np.array([names, ra.round(4), dec.round(4), sig], dtype=object).T,
            marker=dict(symbol="circle-open", size=[20 if n in sel else 16 for n in names], color=colours,
                        line=dict(width=[3 if n in sel else 2 for n in names])),
            hovertemplate="<b>%{customdata[0]}</b><br>RA %{customdata[1]}°, Dec %{customdata[2]}°<br>%{customdata[3]}"
                          "<br>click to select<extra></extra>",
            name="sources", meta=["sources"], showlegend=False))
    ny, nx = np.shape(significance)
    fig.update_xaxes(range=[-0.5, nx - 0.5], showgrid=False, zeroline=False, showticklabels=False, title="← East   RA")
    fig.update_yaxes(range=[-0.5, ny - 0.5], showgrid=False, zeroline=False, showticklabels=False, title="Dec",
                     scaleanchor="x", scaleratio=1)
    fig.update_layout(clickmode="event", uirevision="image", dragmode="pan")
    return fig


# -- spectra -----------------------------------------------------------------------------------
def _arr(d: dict, *keys):
    for k in keys:
        if k in d and d[k] is not None:
            return np.asarray(d[k], dtype=float)
    return None


def spectrum_figure(src: dict, *, e2f: bool = False, model_name: str = "") -> go.Figure:
    """Count-rate spectrum of one source (``summary["sources"][i]``, or :func:`fit_source`).

    With ``model_rate`` in ``src`` the folded model and residuals (data − model)/σ are
    drawn. ``e2f`` shows E² × rate density (keV² cts s⁻¹ keV⁻¹), or the unfolded E²F when
    ``src`` carries ``e2f``.
    """
    from plotly.subplots import make_subplots

    emin, emax = _arr(src, "e_min"), _arr(src, "e_max")
    rate, err = _arr(src, "rate"), _arr(src, "rate_err", "error")
    if emin is None or rate is None:
        return empty_figure("no spectrum")
    fspec = src
    model = _arr(src, "model_rate")
    if model is not None and len(model) != len(rate):
        model = None
    e = np.sqrt(emin * emax)
    de = emax - emin
    ex = [e - emin, emax - e]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.04)
    if e2f:
        unf = _arr(fspec, "e2f", "unfolded_e2f") if fspec else None
        if unf is not None and len(unf) == len(rate):
            scale = unf / np.where(rate != 0, rate, np.nan)
            y, ye, ytitle = unf, np.abs(err * scale), "E²F (keV² ph cm⁻² s⁻¹ keV⁻¹)"
        else:
            scale = e ** 2 / de
            y, ye, ytitle = rate * scale, err * scale, "E² × rate (keV² cts s⁻¹ keV⁻¹)"
        ym = model * scale if model is not None else None
    else:
        y, ye, ytitle = rate / de, err / de, "rate (cts s⁻¹ keV⁻¹)"
        ym = model / de if model is not None else None
    fig.add_trace(go.Scatter(x=e, y=y, mode="markers", name="data", marker=dict(size=5, color="#2563eb"),
                             error_x=dict(type="data", symmetric=False, array=ex[1], arrayminus=ex[0], thickness=1),
                             error_y=dict(type="data", array=ye, thickness=1),
                             hovertemplate="%{x:.1f} keV: %{y:.3g}<extra>data</extra>"), row=1, col=1)
    if ym is not None:
        fig.add_trace(go.Scatter(x=e, y=ym, mode="lines", name=f"model {model_name}".strip(),
                                 line=dict(shape="hvh", color="#dc2626", width=2)), row=1, col=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            resid = (rate - model) / err
        fig.add_trace(go.Scatter(x=e, y=resid, mode="markers", name="(data − model)/σ", marker=dict(size=5, color="#2563eb"),
                                 error_y=dict(type="data", array=np.ones_like(resid), thickness=1), showlegend=False),
                      row=2, col=1)
        fig.add_hline(y=0, line=dict(color="#dc2626", width=1), row=2, col=1)
        fig.update_yaxes(title_text="χ", row=2, col=1)
    else:
        fig.add_annotation(text="fit a model (product: spectral fit) to see it with residuals", showarrow=False,
                           x=0.5, y=0.5, xref="x2 domain", yref="y2 domain", font=dict(size=11))
        fig.update_yaxes(visible=False, row=2, col=1)
    pos = y[np.isfinite(y) & (y > 0)]
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_xaxes(type="log", title_text="energy (keV)", row=2, col=1)
    fig.update_yaxes(type="log" if pos.size > 1 else "linear", title_text=ytitle, row=1, col=1)
    fig.update_layout(**_base_layout(title=dict(text=str(src.get("name", "")), x=0.01, font=dict(size=14)),
                                     legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
                                     uirevision="spectrum"))
    return fig


def fit_source(fit_summary: dict | None) -> dict | None:
    """The fitted channel groups of a spectral_fit summary as a spectrum-source dict (with
    ``model_rate``), for :func:`spectrum_figure`."""
    fit = (fit_summary or {}).get("fit") or {}
    ch = fit.get("channels") or {}
    if not ch.get("e_min_keV"):
        return None
    return {"name": (fit_summary or {}).get("source", ""), "e_min": ch["e_min_keV"], "e_max": ch["e_max_keV"],
            "rate": ch["rate"], "rate_err": ch["rate_err"], "model_rate": ch.get("model_rate")}


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, (int, float)):
        return f"{v:.4g}"
    return str(v)


def _offsets(pair) -> str:
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        return ""
    m, p = pair
    if m is None and p is None:
        return ""
    return f"{_fmt(m)} / +{_fmt(p)}" if p is not None else f"{_fmt(m)} / (at limit)"


def fit_rows(fit_summary: dict | None) -> list[dict]:
    """Parameter rows of a spectral_fit summary: name, value, unit, 1σ and 90% (minus / plus)."""
    fit = (fit_summary or {}).get("fit") or {}
    rows = []
    for p in fit.get("parameters") or []:
        rows.append({"parameter": str(p.get("name", "")), "value": _fmt(p.get("value")), "unit": str(p.get("unit") or ""),
                     "1σ": "frozen" if p.get("frozen") else _offsets(p.get("err_1sigma")),
                     "90%": "" if p.get("frozen") else _offsets(p.get("err_90"))})
    return rows


def fit_stat_text(fit_summary: dict | None) -> str:
    fit = (fit_summary or {}).get("fit") or {}
    if not fit:
        return ""
    stat = fit.get("stat", "chi2")
    name = "χ²" if stat == "chi2" else stat
    parts = [f"{name} = {_fmt(fit.get('statistic'))} for {fit.get('dof')} dof"]
    if fit.get("p_value") is not None:
        parts.append(f"p = {_fmt(fit.get('p_value'))}")
    if fit.get("emin_keV") is not None:
        parts.append(f"{_fmt(fit.get('emin_keV'))}–{_fmt(fit.get('emax_keV'))} keV")
    return ", ".join(parts)


def flux_rows(fit_summary: dict | None) -> list[dict]:
    """Band fluxes (energy and photon) with 1σ offsets."""
    rows = []
    for band, f in ((fit_summary or {}).get("fluxes") or {}).items():
        if not isinstance(f, dict) or "error" in f:
            rows.append({"band (keV)": band, "energy flux (erg/cm²/s)": (f or {}).get("error", ""), "photon flux (ph/cm²/s)": ""})
            continue
        rows.append({"band (keV)": band,
                     "energy flux (erg/cm²/s)": f"{_fmt(f.get('energy_flux_erg_cm2_s'))} {_offsets(f.get('energy_flux_err_1sigma'))}".strip(),
                     "photon flux (ph/cm²/s)": f"{_fmt(f.get('photon_flux_ph_cm2_s'))} {_offsets(f.get('photon_flux_err_1sigma'))}".strip()})
    return rows


# -- light curves ------------------------------------------------------------------------------
def _time_axis(ijd: np.ndarray, fmt: str):
    if fmt == "mjd":
        return ijd + IJD_MJDREF, "time (MJD)"
    if fmt == "isot":
        from astropy.time import Time

        t = Time(ijd + IJD_MJDREF, format="mjd", scale="tt").utc.datetime64
        return np.datetime_as_string(t, unit="ms"), "time (UTC)"
    return ijd, "time (IJD)"


def lc_fit_stats(src: dict) -> dict:
    """Constant and linear weighted fits of a light curve: χ², dof, p-values, slope.

    Uses the summary's own ``chi2_const``/``dof``/``p_const``/``fvar`` when given.
    """
    from scipy import stats

    t, r, e = _arr(src, "time"), _arr(src, "rate"), _arr(src, "error", "rate_err")
    out = {"n": 0}
    if t is None or r is None or e is None:
        return out
    ok = np.isfinite(t) & np.isfinite(r) & np.isfinite(e) & (e > 0)
    t, r, e = t[ok], r[ok], e[ok]
    out["n"] = int(t.size)
    if t.size < 2:
        return out
    w = 1.0 / e ** 2
    mean = float(np.sum(w * r) / np.sum(w))
    chi2c = float(np.sum(w * (r - mean) ** 2))
    out.update(mean=mean, mean_err=float(np.sqrt(1 / np.sum(w))), chi2_const=chi2c, dof_const=int(t.size - 1))
    for k_src, k in (("chi2_const", "chi2_const"), ("dof", "dof_const"), ("p_const", "p_const"), ("fvar", "fvar"),
                     ("fvar_err", "fvar_err")):
        if src.get(k_src) is not None:
            out[k] = src[k_src]
    if "p_const" not in out:
        out["p_const"] = float(stats.chi2.sf(out["chi2_const"], out["dof_const"]))
    if t.size >= 3:
        t0 = float(np.mean(t))
        A = np.vstack([np.ones_like(t), t - t0]).T * np.sqrt(w)[:, None]
        coef, *_ = np.linalg.lstsq(A, r * np.sqrt(w), rcond=None)
        cov = np.linalg.inv(A.T @ A)
        model = coef[0] + coef[1] * (t - t0)
        chi2l = float(np.sum(w * (r - model) ** 2))
        out.update(slope=float(coef[1]), slope_err=float(np.sqrt(cov[1, 1])), intercept=float(coef[0]), t0=t0,
                   chi2_lin=chi2l, dof_lin=int(t.size - 2), p_lin=float(stats.chi2.sf(chi2l, t.size - 2)))
    return out


def lightcurve_figure(src: dict, *, time_format: str = "isot", show_blocks: bool = True,
                      show_fits: bool = True) -> go.Figure:
    """Light curve of one source (``summary["sources"][i]`` of an lc product)."""
    t, r, e = _arr(src, "time"), _arr(src, "rate"), _arr(src, "error", "rate_err")
    if t is None or r is None or not len(t):
        return empty_figure("no light-curve points")
    if e is None:
        e = np.full_like(r, np.nan)
    tdel = _arr(src, "timedel")
    ok = np.isfinite(r) & np.isfinite(t)
    tx, xtitle = _time_axis(t[ok], time_format)
    half = (np.broadcast_to(tdel, t.shape)[ok] / 86400.0 / 2.0) if tdel is not None else None
    fig = go.Figure(layout=_base_layout(title=dict(text=str(src.get("name", "")), x=0.01, font=dict(size=14)),
                                        legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
                                        uirevision="lc"))
    ex = None
    if half is not None and time_format != "isot":
        ex = dict(type="data", array=half, thickness=1)
    fig.add_trace(go.Scatter(x=tx, y=r[ok], mode="markers", name="rate", marker=dict(size=5, color="#2563eb"),
                             error_y=dict(type="data", array=e[ok], thickness=1), error_x=ex,
                             hovertemplate="%{x}: %{y:.3g} cts/s<extra></extra>"))
    stats_ = lc_fit_stats(src)
    if show_fits and stats_.get("n", 0) >= 2:
        tt = t[ok]
        ends = np.array([tt.min(), tt.max()])
        ends_x, _ = _time_axis(ends, time_format)
        fig.add_trace(go.Scatter(x=ends_x, y=[stats_["mean"]] * 2, mode="lines", name="constant",
                                 line=dict(color="#6b7280", dash="dash", width=1.5)))
        if "slope" in stats_:
            yl = stats_["intercept"] + stats_["slope"] * (ends - stats_["t0"])
            fig.add_trace(go.Scatter(x=ends_x, y=yl, mode="lines", name="linear",
                                     line=dict(color="#16a34a", dash="dot", width=1.5)))
    blocks = _arr(src, "blocks")
    if show_blocks and blocks is not None and blocks.size >= 2:
        tt, rr, ee = t[ok], r[ok], e[ok]
        bx, by = [], []
        for a, b in zip(blocks[:-1], blocks[1:]):
            m = (tt >= a) & (tt <= b) & np.isfinite(ee) & (ee > 0)
            if not m.any():
                continue
            w = 1 / ee[m] ** 2
            level = float(np.sum(w * rr[m]) / np.sum(w))
            xa, _ = _time_axis(np.array([a, b]), time_format)
            bx += [xa[0], xa[1], None]
            by += [level, level, None]
        fig.add_trace(go.Scatter(x=bx, y=by, mode="lines", name="Bayesian blocks", line=dict(color="#dc2626", width=2)))
    fig.update_xaxes(title_text=xtitle)
    fig.update_yaxes(title_text="rate (cts/s)")
    return fig
