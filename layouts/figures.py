"""Plotly figures of the products: pure functions of product data (no Dash, no browser).

* :func:`image_figure` — significance map with an RA/Dec grid and tick labels computed from
  the mosaic's WCS (:func:`sky_grid`, redone for the visible window on zoom), colour bar in
  σ, colour range / log scale, catalogue markers with labels (click one to select it);
* :func:`spectrum_figure` — count-rate spectrum, the fitted model and residuals, or the
  unfolded E²F of a fit (:func:`unfolded_source`), on plain-number energy ticks;
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

__all__ = ["image_figure", "display_grid", "sky_grid", "unfolded_source", "energy_ticks", "E2F_UNITS", "spectrum_figure", "lightcurve_figure", "lc_fit_stats", "fit_rows", "fit_source", "fit_stat_text", "flux_rows",
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
def display_grid(significance: np.ndarray, wcs, max_pixels: int = MAX_DISPLAY_PIXELS, *, with_radec: bool = True):
    """Max-pooled map, the pixel coordinates of its cells and their RA/Dec.

    Returns ``(z, x, y, radec)``: ``z`` (ny, nx) float32, ``x``/``y`` the cells' centres in
    the original pixel frame (0-based), ``radec`` (ny, nx, 2) float32 in degrees (None
    without ``with_radec``).
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
    if not with_radec:
        return z, x, y, None
    xx, yy = np.meshgrid(x, y)
    ra, dec = wcs.pixel_to_world_values(xx, yy)
    radec = np.stack([np.round(np.mod(ra, 360.0), 4), np.round(dec, 4)], axis=-1).astype(np.float32)
    return z, x, y, radec


_NICE_DEG = (1 / 60, 2 / 60, 5 / 60, 10 / 60, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 90.0)


def _nice_step(span: float, target: int = 5) -> float:
    """The grid step (degrees) giving about ``target`` lines over ``span`` degrees."""
    for st in _NICE_DEG:
        if span / st <= target + 1:
            return st
    return _NICE_DEG[-1]


def _deg_label(v: float, step: float, ra: bool) -> str:
    if ra:
        v = v % 360.0
    decimals = 0 if step >= 1 else (1 if step >= 0.25 - 1e-9 else 2)
    return f"{v:.{decimals}f}°".replace("-", "−")


def _crossings(values: np.ndarray, coords: np.ndarray, levels: np.ndarray, wrap: bool) -> list[tuple[float, float]]:
    """Where the sampled ``values`` (along ``coords``) cross each level: [(coord, level)]."""
    out = []
    for lev in levels:
        d = values - lev
        if wrap:
            d = (d + 180.0) % 360.0 - 180.0
        ok = np.isfinite(d)
        for i in np.nonzero(ok[:-1] & ok[1:] & (np.sign(d[:-1]) != np.sign(d[1:])) & (np.abs(d[:-1] - d[1:]) < 90))[0]:
            f = d[i] / (d[i] - d[i + 1])
            out.append((float(coords[i] + f * (coords[i + 1] - coords[i])), float(lev)))
    return out


def sky_grid(wcs, x_range, y_range, n_lines: int = 6) -> dict:
    """RA/Dec graticule of the pixel window ``x_range`` × ``y_range`` (0-based pixels).

    Lines of constant RA and Dec are traced through the WCS (so they curve as the TAN
    projection does) and cut at the window; the tick labels sit where they cross the
    window's bottom (RA) and left (Dec) edges.

    Returns
    -------
    dict
        ``x``, ``y`` (line vertices, NaN between lines), ``xticks`` / ``yticks``
        (``(positions, labels)``), ``ra_step`` / ``dec_step`` in degrees.
    """
    x0, x1 = sorted(map(float, x_range))
    y0, y1 = sorted(map(float, y_range))
    gx, gy = np.meshgrid(np.linspace(x0, x1, 25), np.linspace(y0, y1, 25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ra, dec = wcs.pixel_to_world_values(gx, gy)
        ra_c, _ = wcs.pixel_to_world_values((x0 + x1) / 2, (y0 + y1) / 2)
    ok = np.isfinite(ra) & np.isfinite(dec)
    empty = {"x": [], "y": [], "xticks": ([], []), "yticks": ([], []), "ra_step": None, "dec_step": None}
    if not ok.any():
        return empty
    dra = ((ra[ok] - ra_c + 180.0) % 360.0) - 180.0
    dmin, dmax = float(np.min(dec[ok])), float(np.max(dec[ok]))
    amin, amax = float(np.min(dra)), float(np.max(dra))
    dec_step = _nice_step(dmax - dmin, n_lines)
    ra_step = _nice_step((amax - amin), n_lines)
    dec_levels = np.arange(math.ceil(dmin / dec_step), math.floor(dmax / dec_step) + 1) * dec_step
    ra_levels = (np.arange(math.ceil((ra_c + amin) / ra_step), math.floor((ra_c + amax) / ra_step) + 1) * ra_step)
    lx: list = []
    ly: list = []
    pad_x, pad_y = 0.02 * (x1 - x0), 0.02 * (y1 - y0)

    def add(px, py):
        inside = (px >= x0 - pad_x) & (px <= x1 + pad_x) & (py >= y0 - pad_y) & (py <= y1 + pad_y) & np.isfinite(px)
        # NaN breaks a line (and keeps the arrays numeric: compact and quick to validate)
        lx.append(np.append(np.where(inside, px, np.nan), np.nan).astype(np.float32))
        ly.append(np.append(np.where(inside, py, np.nan), np.nan).astype(np.float32))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ras = np.linspace(ra_c + amin - ra_step, ra_c + amax + ra_step, 160)
        decs = np.clip(np.linspace(dmin - dec_step, dmax + dec_step, 160), -90, 90)
        for d in dec_levels:
            add(*wcs.world_to_pixel_values(ras % 360.0, np.full_like(ras, d)))
        for a in ra_levels:
            add(*wcs.world_to_pixel_values(np.full_like(decs, a % 360.0), decs))
        bx = np.linspace(x0, x1, 400)
        bra, _ = wcs.pixel_to_world_values(bx, np.full_like(bx, y0))
        ly_ = np.linspace(y0, y1, 400)
        _, ldec = wcs.pixel_to_world_values(np.full_like(ly_, x0), ly_)
    xt = _crossings(np.asarray(bra, float), bx, ra_levels % 360.0, wrap=True)
    yt = _crossings(np.asarray(ldec, float), ly_, dec_levels, wrap=False)
    lx = np.concatenate(lx) if lx else np.zeros(0, np.float32)
    ly = np.concatenate(ly) if ly else np.zeros(0, np.float32)
    return {"x": lx, "y": ly,
            "xticks": ([round(p, 2) for p, _ in xt], [_deg_label(v, ra_step, True) for _, v in xt]),
            "yticks": ([round(p, 2) for p, _ in yt], [_deg_label(v, dec_step, False) for _, v in yt]),
            "ra_step": ra_step, "dec_step": dec_step}


def grid_axes(grid: dict) -> dict:
    """Layout updates putting a :func:`sky_grid`'s tick labels on the axes."""
    return {"xaxis.tickmode": "array", "xaxis.tickvals": grid["xticks"][0], "xaxis.ticktext": grid["xticks"][1],
            "yaxis.tickmode": "array", "yaxis.tickvals": grid["yticks"][0], "yaxis.ticktext": grid["yticks"][1]}


def image_figure(significance: np.ndarray, wcs, catalog: list[dict] | None = None, *, zmin=None, zmax=None,
                 log: bool = False, selected: list[str] | None = None, labels: bool = True,
                 title: str = "", hover_radec: bool = True) -> go.Figure:
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
    hover_radec : bool
        Per-pixel RA/Dec in the hover text. Two thirds of the figure's bytes: a progressive
        frame, replaced within seconds, goes without.
    """
    z, x, y, radec = display_grid(significance, wcs, with_radec=hover_radec)
    finite = z[np.isfinite(z)]
    if zmin is None or not np.isfinite(zmin):
        zmin = -3.0
    if zmax is None or not np.isfinite(zmax):
        zmax = float(max(10.0, np.percentile(finite, 99.9))) if finite.size else 10.0
    if zmax <= zmin:
        zmax = zmin + 1.0
    zshow = z
    cbar = dict(title=dict(text="significance (σ)", side="right"), thickness=12, ticksuffix="σ")
    if log:
        lo = max(float(zmin), 0.1)
        with np.errstate(invalid="ignore", divide="ignore"):
            zshow = np.log10(np.clip(z, lo, None)).astype(np.float32)
        zmin_s, zmax_s = math.log10(lo), math.log10(max(float(zmax), lo * 1.01))
        ticks = [v for v in (0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000) if lo <= v <= max(zmax, lo)]
        cbar.update(tickvals=[math.log10(v) for v in ticks], ticktext=[f"{v:g}" for v in ticks])
    else:
        zmin_s, zmax_s = float(zmin), float(zmax)
    heat = go.Heatmap(z=zshow, x=x, y=y, customdata=radec, zmin=zmin_s, zmax=zmax_s,
                      colorscale="Inferno",
                      colorbar=cbar, zsmooth=False, hoverongaps=False, name="significance",
                      text=None, meta=["significance"],
                      hovertemplate="RA %{customdata[0]:.3f}°, Dec %{customdata[1]:.3f}°<extra></extra>")
    fig = go.Figure(heat, layout=_base_layout(title=dict(text=title, x=0.01, font=dict(size=14))))
    # Hover text with the significance itself (untransformed) when the scale is logarithmic.
    where = "RA %{customdata[0]:.3f}°, Dec %{customdata[1]:.3f}°, " if hover_radec else ""
    if log:
        fig.data[0].hovertemplate = where + "log₁₀σ %{z:.2f}<extra></extra>"
    else:
        fig.data[0].hovertemplate = where + "%{z:.1f}σ<extra></extra>"
    ny, nx = np.shape(significance)
    grid = sky_grid(wcs, (-0.5, nx - 0.5), (-0.5, ny - 0.5))
    fig.add_trace(go.Scatter(x=grid["x"], y=grid["y"], mode="lines", name="RA/Dec grid", meta=["grid"],
                             line=dict(color="rgba(255,255,255,0.35)", width=1), hoverinfo="skip", showlegend=False))
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
    fig.update_xaxes(range=[-0.5, nx - 0.5], showgrid=False, zeroline=False, showticklabels=True, ticks="outside",
                     title="RA (J2000) ← East", constrain="domain")
    fig.update_yaxes(range=[-0.5, ny - 0.5], showgrid=False, zeroline=False, showticklabels=True, ticks="outside",
                     title="Dec (J2000)", scaleanchor="x", scaleratio=1, constrain="domain")
    fig.update_layout(grid_axes(grid))
    # Drag draws a zoom box (the wheel zooms too: scrollZoom in the graph's config).
    fig.update_layout(clickmode="event", uirevision="image", dragmode="zoom", margin=dict(l=70, r=90, t=30, b=50))
    return fig


# -- spectra -----------------------------------------------------------------------------------
def _arr(d: dict, *keys):
    for k in keys:
        if k in d and d[k] is not None:
            return np.asarray(d[k], dtype=float)
    return None


#: Units of the unfolded E²F view: label and factor from keV²·ph/cm²/s/keV.
E2F_UNITS = {"keV": ("E²F (keV² ph cm⁻² s⁻¹ keV⁻¹)", 1.0), "erg": ("E²F (erg cm⁻² s⁻¹)", 1.602176634e-9)}


def energy_ticks(e_lo: float, e_hi: float) -> tuple[list[float], list[str]]:
    """Plain-number energy ticks (20, 30, 50, 100, 200 …) inside [e_lo, e_hi] keV, at most ~8."""
    t = []
    for mantissas in ((1, 2, 5), (1, 2, 3, 5, 7), (1, 1.5, 2, 3, 4, 5, 7)):
        t = [m * 10.0 ** k for k in range(-1, 6) for m in mantissas if e_lo <= m * 10.0 ** k <= e_hi]
        if len(t) >= 3:
            break
    if len(t) > 8:
        t = [v for v in t if f"{v:g}"[0] in "125"][:8]
    if len(t) < 2:
        t = sorted({float(f"{e_lo:.2g}"), float(f"{e_hi:.2g}")})
    return t, [f"{v:g}" for v in t]


def unfolded_source(fit_summary: dict | None, unit: str = "keV") -> dict | None:
    """The unfolded spectrum of a fit (XSPEC's ``eeufspec``), as a :func:`spectrum_figure` source.

    Each channel's data/model ratio times the best-fit model E²N(E) at its centre, in
    keV²·ph/cm²/s/keV (``unit="keV"``) or erg/cm²/s (``"erg"``), with the model curve on a
    fine grid. Model-dependent, like any unfolded spectrum.
    """
    from core.fitting.models import make_model

    src = fit_source(fit_summary)
    fit = (fit_summary or {}).get("fit") or {}
    if src is None or not fit.get("parameters"):
        return None
    model = make_model(fit.get("model") or fit_summary.get("model"), pivot=float(fit.get("pivot_keV") or 50.0))
    values = np.array([float(p["value"]) for p in fit["parameters"]])
    lo, hi = np.asarray(src["e_min"], float), np.asarray(src["e_max"], float)
    ec = np.sqrt(lo * hi)
    rate, err = np.asarray(src["rate"], float), np.asarray(src["rate_err"], float)
    mrate = np.asarray(src["model_rate"], float)
    factor = E2F_UNITS[unit][1]
    e2n = ec ** 2 * model(ec, values) * factor
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(mrate > 0, rate / mrate, np.nan)
        ratio_err = np.where(mrate > 0, err / mrate, np.nan)
    grid = np.geomspace(lo.min(), hi.max(), 200)
    return dict(src, e2f=(ratio * e2n).tolist(), e2f_err=(ratio_err * e2n).tolist(), model_e=grid.tolist(),
                model_e2f=(grid ** 2 * model(grid, values) * factor).tolist(), e2f_unit=unit)


def spectrum_figure(src: dict, *, e2f: bool = False, model_name: str = "") -> go.Figure:
    """Count-rate spectrum of one source (``summary["sources"][i]``, or :func:`fit_source`).

    With ``model_rate`` in ``src`` the folded model and residuals (data − model)/σ are drawn
    in a second panel on the same energy axis. ``e2f`` (for a source from
    :func:`unfolded_source`) shows the unfolded E²F with the model curve instead of count
    rates. The energy axis is logarithmic with plain-number ticks over the data's range.
    """
    from plotly.subplots import make_subplots

    emin, emax = _arr(src, "e_min"), _arr(src, "e_max")
    rate, err = _arr(src, "rate"), _arr(src, "rate_err", "error")
    if emin is None or rate is None:
        return empty_figure("no spectrum")
    model = _arr(src, "model_rate")
    if model is not None and len(model) != len(rate):
        model = None
    unf = _arr(src, "e2f") if e2f else None
    # Channels flagged bad (OGIP QUALITY ≠ 0: below the threshold, beyond the response) or
    # without an error are not data: left out, and the energy range follows the rest.
    quality = _arr(src, "quality")
    keep = np.isfinite(rate) & (emax > emin)
    if err is not None:
        keep &= np.isfinite(err) & (err > 0)
    if quality is not None and len(quality) == len(rate):
        keep &= quality == 0
    if keep.any() and not keep.all():
        emin, emax, rate = emin[keep], emax[keep], rate[keep]
        err = err[keep] if err is not None else None
        model = model[keep] if model is not None else None
        if unf is not None and len(unf) == len(keep):
            src = dict(src, e2f_err=_arr(src, "e2f_err")[keep].tolist())
            unf = unf[keep]
    e = np.sqrt(emin * emax)
    de = emax - emin
    ex = [e - emin, emax - e]
    with_resid = model is not None
    if with_resid:
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.04)
    else:
        fig = make_subplots(rows=1, cols=1)
    if unf is not None and len(unf) == len(rate):
        y, ye = unf, np.abs(_arr(src, "e2f_err"))
        ytitle = E2F_UNITS[src.get("e2f_unit", "keV")][0]
        ym = None
    else:
        y, ye, ytitle = rate / de, err / de, "count rate (cts s⁻¹ keV⁻¹)"
        ym = model / de if model is not None else None
    fig.add_trace(go.Scatter(x=e, y=y, mode="markers", name="data" if unf is None else "data (unfolded)",
                             marker=dict(size=5, color="#2563eb"),
                             error_x=dict(type="data", symmetric=False, array=ex[1], arrayminus=ex[0], thickness=1),
                             error_y=dict(type="data", array=ye, thickness=1),
                             hovertemplate="%{x:.1f} keV: %{y:.3g}<extra>data</extra>"), row=1, col=1)
    if unf is not None and src.get("model_e2f"):
        fig.add_trace(go.Scatter(x=src["model_e"], y=src["model_e2f"], mode="lines", name=f"model {model_name}".strip(),
                                 line=dict(color="#dc2626", width=2)), row=1, col=1)
    elif ym is not None:
        fig.add_trace(go.Scatter(x=e, y=ym, mode="lines", name=f"model {model_name}".strip(),
                                 line=dict(shape="hvh", color="#dc2626", width=2)), row=1, col=1)
    if with_resid:
        with np.errstate(invalid="ignore", divide="ignore"):
            resid = (rate - model) / err
        fig.add_trace(go.Scatter(x=e, y=resid, mode="markers", name="(data − model)/σ", marker=dict(size=5, color="#2563eb"),
                                 error_y=dict(type="data", array=np.ones_like(resid), thickness=1), showlegend=False),
                      row=2, col=1)
        fig.add_hline(y=0, line=dict(color="#dc2626", width=1), row=2, col=1)
        fig.update_yaxes(title_text="(data − model)/σ", row=2, col=1)
    good = np.isfinite(rate) & (emax > emin)
    lo_e, hi_e = (float(emin[good].min()), float(emax[good].max())) if good.any() else (15.0, 1000.0)
    tv, tt = energy_ticks(lo_e, hi_e)
    xr = [math.log10(lo_e / 1.05), math.log10(hi_e * 1.05)]
    bottom = 2 if with_resid else 1
    for row in range(1, bottom + 1):
        fig.update_xaxes(type="log", range=xr, tickmode="array", tickvals=tv, ticktext=tt, ticks="outside",
                         showticklabels=row == bottom, row=row, col=1)
    fig.update_xaxes(title_text="energy (keV)", row=bottom, col=1)
    pos = y[np.isfinite(y) & (y > 0)]
    fig.update_yaxes(type="log" if pos.size > 1 else "linear", title_text=ytitle, exponentformat="power", row=1, col=1)
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
    pivot = fit.get("pivot_keV")
    rows = []
    for p in fit.get("parameters") or []:
        unit = str(p.get("unit") or "")
        if unit == "ph/cm2/s/keV" and pivot:
            unit = f"ph cm⁻² s⁻¹ keV⁻¹ at {float(pivot):g} keV (pivot)"
        rows.append({"parameter": str(p.get("name", "")), "value": _fmt(p.get("value")), "unit": unit,
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
    """Band fluxes (energy and photon) with 1σ offsets; a band reaching outside the fitted
    range is marked as an extrapolation of the model."""
    fit = (fit_summary or {}).get("fit") or {}
    fe1, fe2 = fit.get("emin_keV"), fit.get("emax_keV")
    ch = fit.get("channels") or {}
    if ch.get("e_min_keV"):  # the channels actually fitted
        fe1, fe2 = min(ch["e_min_keV"]), max(ch["e_max_keV"])
    rows = []
    for band, f in ((fit_summary or {}).get("fluxes") or {}).items():
        if not isinstance(f, dict) or "error" in f:
            rows.append({"band (keV)": band, "energy flux (erg/cm²/s)": (f or {}).get("error", ""), "photon flux (ph/cm²/s)": "",
                         "note": ""})
            continue
        note = ""
        b1, b2 = f.get("e1_keV"), f.get("e2_keV")
        if None not in (fe1, fe2, b1, b2) and (b1 < fe1 * 0.999 or b2 > fe2 * 1.001):
            note = f"extrapolated: the fit used {fe1:g}–{fe2:g} keV"
        rows.append({"band (keV)": band,
                     "energy flux (erg/cm²/s)": f"{_fmt(f.get('energy_flux_erg_cm2_s'))} {_offsets(f.get('energy_flux_err_1sigma'))}".strip(),
                     "photon flux (ph/cm²/s)": f"{_fmt(f.get('photon_flux_ph_cm2_s'))} {_offsets(f.get('photon_flux_err_1sigma'))}".strip(),
                     "note": note})
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
