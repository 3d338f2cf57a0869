"""The query form: pure layout from field values (no callbacks, no I/O).

Hints, choices and the fields an instrument does not use (hidden by its ``not-<instrument>``
class) come from the parameter table (:mod:`core.params`) through :mod:`callbacks.form_state`.
"""

from __future__ import annotations

from dash import dcc, html

from core import params as table
from core.params import INSTRUMENTS, param

from . import ids
from .ids import PRODUCT_LABELS

__all__ = ["query_panel"]


def _not_classes(*names: str) -> str:
    """``not-<instrument>`` for every instrument none of these parameters is used by."""
    return " ".join(f"not-{i}" for i in INSTRUMENTS if not any(param(n).uses(None, i) for n in names))


def _field(name: str, label: str, control, hint: str | None = None, extra_class: str = "",
           instrument: str = "isgri") -> html.Div:
    from callbacks.form_state import field_hint

    text = field_hint(name, instrument) if hint is None else hint
    return html.Div([
        html.Label(label, htmlFor=ids.field(name)),
        control,
        html.Small(text, id=ids.field_hint(name), className="hint"),
        html.Div(id=ids.field_error(name), className="field-error", role="alert", **{"aria-live": "polite"}),
    ], className=" ".join(f"field field-{name} {extra_class} {_not_classes(name)}".split()))


def _input(name: str, value, *, type_="text", placeholder="", **kw):
    return dcc.Input(id=ids.field(name), value=value, type=type_, placeholder=placeholder, debounce=0.25,
                     autoComplete="off", spellCheck=False, className="input", **kw)


def _select(name: str, value, options):
    return dcc.Dropdown(id=ids.field(name), value=value, options=options, clearable=False, searchable=False,
                        className="select")


def _radio(name: str, value, options):
    return dcc.RadioItems(id=ids.field(name), value=value, options=options, inline=True, className="radio")


def _choices(name: str, instrument: str = "isgri") -> list[dict]:
    return [{"label": str(c), "value": c} for c in param(name).at(instrument).choices]


def _unit(value):
    """A ``jemx_num`` as the radio's values (URLs give text)."""
    try:
        return int(str(value).strip())
    except ValueError:
        return param("jemx_num").default


#: Short names in the joint-fit checklist.
def _short_label(name: str) -> str:
    """``ISGRI`` of ``IBIS/ISGRI``: the detector, as a joint fit's checklist names it."""
    from core.instruments.base import get_instrument

    inst = get_instrument(name, None)
    return inst.label.rsplit("/", 1)[-1] if inst is not None else name


def _list_value(value) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value or [])


def query_panel(values: dict) -> html.Form:
    """The query form filled with ``values`` (form field name → value)."""
    from callbacks.form_state import instrument_options

    v = values
    inst = v.get("instrument") or "isgri"
    inst = inst if inst in INSTRUMENTS else "isgri"

    def field(name, label, control, hint=None, extra_class=""):
        return _field(name, label, control, hint, extra_class, inst)

    joint = [c for c in param("joint_instruments").choices if c in table.served_instruments()]
    return html.Div([
        html.H2("Query", className="panel-title"),
        html.Fieldset([
            html.Legend("Target"),
            field("src_name", "Source name", _input("src_name", v.get("src_name"), placeholder="e.g. Crab, Cyg X-1")),
            html.Div(id=ids.RESOLVE_NOTE, className="hint resolve-note", **{"aria-live": "polite"}),
            html.Div([
                field("RA", "RA", _input("RA", v.get("RA"), placeholder="deg or 05:34:31.9")),
                field("DEC", "Dec", _input("DEC", v.get("DEC"), placeholder="deg or +22:00:52")),
            ], className="row2"),
        ]),
        html.Fieldset([
            html.Legend("Time"),
            html.Div([
                field("T1", "Start (T1)", _input("T1", v.get("T1"))),
                field("T2", "End (T2)", _input("T2", v.get("T2"))),
            ], className="row2"),
            field("T_format", "Time format", _radio("T_format", v.get("T_format", "isot"),
                                                    [{"label": c.upper(), "value": c} for c in param("T_format").choices])),
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
                field("instrument", "Instrument", _select("instrument", v.get("instrument", "isgri"), instrument_options())),
                field("jemx_num", "JEM-X unit", _radio("jemx_num", _unit(v.get("jemx_num")),
                                                       [{"label": f"JEM-X{c}", "value": c}
                                                        for c in param("jemx_num").choices])),
            ], className="row2"),
            field("product_type", "Product", _radio("product_type", v.get("product_type", "image"),
                                                    [{"label": lab, "value": k} for k, lab in PRODUCT_LABELS.items()])),
            html.Div([
                field("E1_keV", "E min (keV)", _input("E1_keV", v.get("E1_keV"), type_="text", inputMode="decimal")),
                field("E2_keV", "E max (keV)", _input("E2_keV", v.get("E2_keV"), type_="text", inputMode="decimal")),
            ], className="row2"),
            html.Small(id=ids.E_RANGE, className="hint"),
            html.Div(id=ids.FIT_BAND_NOTE, className="hint warn only-fit", role="status", **{"aria-live": "polite"}),
            field("detection_threshold", "Detection threshold (σ)",
                  _input("detection_threshold", v.get("detection_threshold"), inputMode="decimal"),
                  extra_class="only-image"),
            html.Div([
                field("time_bin", "Time bin", _input("time_bin", v.get("time_bin"), inputMode="decimal")),
                field("time_bin_format", "Bin unit", _radio("time_bin_format", v.get("time_bin_format", "sec"),
                                                            [{"label": {"sec": "s", "jd": "days"}.get(c, c), "value": c}
                                                             for c in param("time_bin_format").choices])),
            ], className="row2 only-lc"),
            field("acs_spectrum", "Fluence spectrum", _select("acs_spectrum", v.get("acs_spectrum", "short_grb"),
                                                              _choices("acs_spectrum", "spi_acs")),
                  extra_class="only-lc"),
            html.Div([
                field("channel_grid", "Channels", _select("channel_grid", v.get("channel_grid", "osa11"),
                                                          _choices("channel_grid"))),
                field("rebin", "Rebin", _input("rebin", v.get("rebin"), inputMode="numeric")),
            ], className="row2 only-spectrum"),
            field("systematic_fraction", "Systematic fraction",
                  _input("systematic_fraction", v.get("systematic_fraction"), inputMode="decimal"),
                  extra_class="only-spectrum"),
            field("spectral_model", "Spectral model", _input("spectral_model", v.get("spectral_model")),
                  extra_class="only-fit"),
            field("joint_instruments", "Fit jointly",
                  dcc.Checklist(id=ids.field("joint_instruments"), value=_list_value(v.get("joint_instruments")),
                                options=[{"label": _short_label(c), "value": c} for c in joint],
                                inline=True, className="radio"),
                  extra_class="only-fit"),
            html.Div(id=ids.CAT_SELECTED_NOTE, className="hint only-sources", **{"aria-live": "polite"}),
        ]),
        html.Details([
            html.Summary("Science windows"),
            html.Div([
                field("radius", "Radius (°)", _input("radius", v.get("radius"), inputMode="decimal")),
                field("max_pointings", "Max pointings", _input("max_pointings", v.get("max_pointings"),
                                                               inputMode="numeric")),
            ], className="row2"),
            field("min_good_time", "Min good time (s)", _input("min_good_time", v.get("min_good_time"),
                                                               inputMode="decimal")),
            field("scw_list", "ScW list", dcc.Textarea(id=ids.field("scw_list"), value=v.get("scw_list") or "",
                                                       placeholder="005600620010.001, … (overrides the cone and times)",
                                                       className="input textarea", rows=2)),
        ], className=f"fieldset-details {_not_classes('radius', 'max_pointings', 'min_good_time', 'scw_list')}".strip(),
            open=bool(v.get("scw_list"))),
        html.Div([
            html.Button("Submit", id=ids.SUBMIT, type="button", className="btn-primary", disabled=True),
            html.Button("Cancel", id=ids.CANCEL, type="button", className="btn", disabled=True),
        ], className="actions"),
        html.Div(id=ids.FORM_STATUS, className="form-status", role="status", **{"aria-live": "polite"}),
    ], className="query-panel", id="query-panel")
