"""The query form: pure layout from field values (no callbacks, no I/O)."""

from __future__ import annotations

from dash import dcc, html

from core.query import CHANNEL_GRIDS, INSTRUMENTS, LIMITS, SPECTRAL_MODELS

from . import ids
from .ids import PRODUCT_LABELS

__all__ = ["query_panel"]


def _field(name: str, label: str, control, hint: str = "", extra_class: str = "") -> html.Div:
    return html.Div([
        html.Label(label, htmlFor=ids.field(name)),
        control,
        html.Small(hint, className="hint") if hint else None,
        html.Div(id=ids.field_error(name), className="field-error", role="alert", **{"aria-live": "polite"}),
    ], className=f"field field-{name} {extra_class}".strip())


def _input(name: str, value, *, type_="text", placeholder="", **kw):
    return dcc.Input(id=ids.field(name), value=value, type=type_, placeholder=placeholder, debounce=0.25,
                     autoComplete="off", spellCheck=False, className="input", **kw)


def _select(name: str, value, options):
    return dcc.Dropdown(id=ids.field(name), value=value, options=options, clearable=False, searchable=False,
                        className="select")


def _radio(name: str, value, options):
    return dcc.RadioItems(id=ids.field(name), value=value, options=options, inline=True, className="radio")


def query_panel(values: dict) -> html.Form:
    """The query form filled with ``values`` (form field name → value)."""
    v = values
    r_lo, r_hi = LIMITS["radius"]
    from callbacks.form_state import max_pointings_hint  # the API's public limit: one source of truth

    d_lo, d_hi = LIMITS["detection_threshold"]
    t_lo, t_hi = LIMITS["time_bin_sec"]
    g_lo, g_hi = LIMITS["min_good_time"]
    rb_lo, rb_hi = LIMITS["rebin"]
    return html.Div([
        html.H2("Query", className="panel-title"),
        html.Fieldset([
            html.Legend("Target"),
            _field("src_name", "Source name", _input("src_name", v.get("src_name"), placeholder="e.g. Crab, Cyg X-1"),
                   ""),
            html.Div(id=ids.RESOLVE_NOTE, className="hint resolve-note", **{"aria-live": "polite"}),
            html.Div([
                _field("RA", "RA", _input("RA", v.get("RA"), placeholder="deg or 05:34:31.9"), "0–360° or h:m:s"),
                _field("DEC", "Dec", _input("DEC", v.get("DEC"), placeholder="deg or +22:00:52"), "−90–90° or d:m:s"),
            ], className="row2"),
        ]),
        html.Fieldset([
            html.Legend("Time"),
            html.Div([
                _field("T1", "Start (T1)", _input("T1", v.get("T1"))),
                _field("T2", "End (T2)", _input("T2", v.get("T2"))),
            ], className="row2"),
            _field("T_format", "Time format", _radio("T_format", v.get("T_format", "isot"),
                                                     [{"label": "ISOT", "value": "isot"}, {"label": "MJD", "value": "mjd"},
                                                      {"label": "IJD", "value": "ijd"}])),
            html.Div([
                html.Span("Presets:", className="hint"),
                html.Label("Revolution number", htmlFor=ids.PRESET_REV, className="sr-only"),
                dcc.Input(id=ids.PRESET_REV, type="number", placeholder="rev", min=0, className="input rev-input"),
                html.Button("Revolution", id=ids.PRESET_REV_GO, type="button", className="btn-small"),
                html.Button("V404 Cyg outburst", id=ids.PRESET_V404, type="button", className="btn-small"),
                html.Button("Last year of the mission", id=ids.PRESET_LAST, type="button", className="btn-small"),
                html.Div(id=ids.PRESET_ERR, className="field-error", role="alert"),
            ], className="presets"),
        ]),
        html.Fieldset([
            html.Legend("Product"),
            html.Div([
                _field("instrument", "Instrument", _select("instrument", v.get("instrument", "isgri"),
                                                           [{"label": {"isgri": "IBIS/ISGRI", "jemx": "JEM-X (not yet)",
                                                                       "spi_acs": "SPI-ACS (all-sky light curve)"}[i], "value": i}
                                                            for i in INSTRUMENTS])),
            ]),
            _field("product_type", "Product", _radio("product_type", v.get("product_type", "image"),
                                                     [{"label": lab, "value": k} for k, lab in PRODUCT_LABELS.items()])),
            html.Div([
                _field("E1_keV", "E min (keV)", _input("E1_keV", v.get("E1_keV"), type_="text", inputMode="decimal")),
                _field("E2_keV", "E max (keV)", _input("E2_keV", v.get("E2_keV"), type_="text", inputMode="decimal")),
            ], className="row2"),
            html.Small(id=ids.E_RANGE, className="hint"),
            html.Div(id=ids.FIT_BAND_NOTE, className="hint warn only-fit", role="status", **{"aria-live": "polite"}),
            _field("detection_threshold", "Detection threshold (σ)",
                   _input("detection_threshold", v.get("detection_threshold"), inputMode="decimal"),
                   f"{d_lo:g}–{d_hi:g}", extra_class="only-image"),
            html.Div([
                _field("time_bin", "Time bin", _input("time_bin", v.get("time_bin"), inputMode="decimal"),
                       f"0 = one point per ScW; {t_lo:g}–{t_hi:g} s (SPI-ACS: steps of 0.05 s, 0 = 2 s)"),
                _field("time_bin_format", "Bin unit", _radio("time_bin_format", v.get("time_bin_format", "sec"),
                                                             [{"label": "s", "value": "sec"}, {"label": "days", "value": "jd"}])),
            ], className="row2 only-lc"),
            html.Div([
                _field("channel_grid", "Channels", _select("channel_grid", v.get("channel_grid", "osa11"),
                                                           [{"label": g, "value": g} for g in CHANNEL_GRIDS])),
                _field("rebin", "Rebin", _input("rebin", v.get("rebin"), inputMode="numeric"), f"{rb_lo}–{rb_hi}"),
            ], className="row2 only-spectrum"),
            _field("spectral_model", "Spectral model", _input("spectral_model", v.get("spectral_model")),
                   " | ".join(SPECTRAL_MODELS) + "; sums with +", extra_class="only-fit"),
            html.Div(id=ids.CAT_SELECTED_NOTE, className="hint only-sources", **{"aria-live": "polite"}),
        ]),
        html.Details([
            html.Summary("Science windows"),
            html.Div([
                _field("radius", "Radius (°)", _input("radius", v.get("radius"), inputMode="decimal"), f"{r_lo:g} < r ≤ {r_hi:g}"),
                _field("max_pointings", "Max pointings", _input("max_pointings", v.get("max_pointings"), inputMode="numeric"),
                       max_pointings_hint()),
            ], className="row2"),
            _field("min_good_time", "Min good time (s)", _input("min_good_time", v.get("min_good_time"), inputMode="decimal"),
                   f"{g_lo:g}–{g_hi:g}"),
            _field("scw_list", "ScW list", dcc.Textarea(id=ids.field("scw_list"), value=v.get("scw_list") or "",
                                                        placeholder="005600620010.001, … (overrides the cone and times)",
                                                        className="input textarea", rows=2),
                   "comma-separated ScW ids"),
        ], className="fieldset-details", open=bool(v.get("scw_list"))),
        html.Div([
            html.Button("Submit", id=ids.SUBMIT, type="button", className="btn-primary", disabled=True),
            html.Button("Cancel", id=ids.CANCEL, type="button", className="btn", disabled=True),
        ], className="actions"),
        html.Div(id=ids.FORM_STATUS, className="form-status", role="status", **{"aria-live": "polite"}),
    ], className="query-panel", id="query-panel")
