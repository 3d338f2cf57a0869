"""SPI-ACS light curve view: pure functions of the product's arrays and summary.

* :func:`spi_acs_figure` — count rate against time from T0 (steps), the fitted background,
  the trigger time T0 marked, the best excess window and the T90 interval shaded;
* :func:`spi_acs_stats` — the analysis beside it: background, noise, peak S/N and time,
  T90, fluence or upper limits.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import html

__all__ = ["spi_acs_figure", "spi_acs_stats"]

from core.instruments.spi_acs.analysis import background_model

_FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13)


def spi_acs_figure(lc: dict, summary: dict) -> go.Figure:
    """``lc``: ``time`` (s from T0, bin starts), ``rate``, ``error``, ``timedel``; ``summary``: the product's."""
    t, r = np.asarray(lc["time"], float), np.asarray(lc["rate"], float)
    dt = float(lc["timedel"])
    ana = summary.get("analysis") or {}
    fig = go.Figure(layout=dict(
        margin=dict(l=70, r=20, t=40, b=50), font=_FONT, paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(127,127,127,0.06)", hovermode="x", uirevision="spi_acs",
        title=dict(text=f"SPI-ACS · {dt:g} s bins · T0 = {summary.get('T0_isot', '')[:23]} UTC", x=0.01,
                   font=dict(size=14)),
        legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
        xaxis=dict(title="time since T0 (s)", zeroline=False), yaxis=dict(title="rate (counts/s)")))
    fig.add_trace(go.Scatter(x=t + dt / 2, y=r, mode="lines", line=dict(shape="hvh", width=1, color="#1f2937"),
                             name="SPI-ACS", hovertemplate="T0%{x:+.2f} s: %{y:.5g} counts/s<extra></extra>"))
    if ana.get("background") and len(t):
        tt = np.linspace(t[0], t[-1] + dt, 200)
        fig.add_trace(go.Scatter(x=tt, y=background_model(tt, ana["background"]), mode="lines", name="background fit",
                                 line=dict(color="#2563eb", width=2), hoverinfo="skip"))
    t90 = ana.get("t90")
    if t90:
        fig.add_vrect(x0=t90["t05_s"], x1=t90["t95_s"], fillcolor="#f59e0b", opacity=0.18, line_width=0,
                      annotation_text="T90", annotation_position="top left")
    fig.add_vline(x=0.0, line=dict(color="#dc2626", dash="dash", width=1.5), annotation_text="T0 (trigger)",
                  annotation_position="top right", annotation_font_color="#dc2626")
    pk = ana.get("peak")
    if pk:
        fig.add_trace(go.Scatter(x=[pk["t_s"]], y=[float(np.max(r)) if len(r) else 0.0], mode="markers",
                                 marker=dict(symbol="triangle-down", size=11, color="#dc2626" if ana.get("detected") else "#9ca3af"),
                                 name=f"peak S/N {pk['snr']:.1f} ({pk['timescale_s']:g} s)",
                                 hovertemplate=f"best excess: S/N {pk['snr']:.2f} at T0{pk['t_s']:+.2f} s<extra></extra>"))
    return fig


def _fmt(v, f="{:.3g}"):
    return "—" if v is None else f.format(v)


def spi_acs_stats(summary: dict) -> html.Div:
    a = summary.get("analysis") or {}
    bk = a.get("background") or {}
    spec = (summary.get("spectrum") or {}).get("name", "")
    band = "–".join(f"{e:g}" for e in summary.get("band_keV", []))
    theta = summary.get("theta_deg")
    rows = []
    pk = a.get("peak")
    if pk:
        rows.append(("Best excess", f"S/N {pk['snr']:.2f} at T0{pk['t_s']:+.2f} s on {pk['timescale_s']:g} s "
                                    f"({'detected' if a.get('detected') else 'below'} the {a.get('threshold', 0):g}σ threshold)"))
    if a.get("t90"):
        rows.append(("T90", f"{a['t90']['T90_s']:.2f} s (T0{a['t90']['t05_s']:+.2f} … T0{a['t90']['t95_s']:+.2f} s)"))
    fl = a.get("fluence")
    if fl:
        txt = f"{fl['net_counts']:.4g} ± {fl['net_counts_err']:.2g} counts"
        if fl.get("fluence_erg_cm2") is not None:
            txt += f" = {fl['fluence_erg_cm2']:.3g} ± {fl['fluence_err']:.2g} erg/cm² ({band} keV, {spec})"
        rows.append(("Fluence", txt))
    for u in a.get("upper_limits") or []:
        txt = f"{u['ul_counts_95']:.4g} counts"
        if u.get("ul_fluence_erg_cm2_95") is not None:
            txt += f" = {u['ul_fluence_erg_cm2_95']:.3g} erg/cm² ({band} keV, {spec})"
        rows.append((f"95% upper limit, {u['duration_s']:g} s at T0", txt))
    rows.append(("Background", f"degree-{bk.get('degree')} polynomial, {_fmt(bk.get('rate_at_T0'), '{:.0f}')} counts/s "
                               f"at T0; χ²/dof {_fmt(bk.get('chi2'), '{:.1f}')}/{bk.get('dof')}"))
    rows.append(("Noise", f"{_fmt(a.get('noise_factor_measured'), '{:.3f}')} × Poisson (measured; nominal "
                          f"{_fmt(a.get('noise_factor_nominal'), '{:.2f}')})"))
    rows.append(("Response", f"{theta:.1f}° from the pointing axis" if theta is not None
                 else "direction not given: sky-averaged response"))
    return html.Div([html.Table([html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows])],
                                className="table spi-acs-stats")], className="stats")
