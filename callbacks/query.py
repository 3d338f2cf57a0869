"""Query form controllers: name resolution, presets, validation as you type."""

from __future__ import annotations

from dash import Input, Output, State, callback, html, no_update

from core.errors import QueryError
from layouts import ids

from .form_state import (DEFAULTS, FIELDS, HINT_FIELDS, INSTRUMENT_FIELDS, convert_time, energy_range_text, field_hint,
                         fit_band, fit_band_note, form_params, instrument_defaults, preset, public_limit_error, validate)

__all__ = ["resolve", "apply_preset", "validate_form", "product_class", "selected_sources", "convert_times",
           "fit_band_default", "instrument_changed", "instrument_hints"]


@callback(Output(ids.field("RA"), "value"), Output(ids.field("DEC"), "value"), Output(ids.RESOLVED, "data"),
          Output(ids.RESOLVE_NOTE, "children"),
          Input(ids.field("src_name"), "value"),
          State(ids.field("RA"), "value"), State(ids.field("DEC"), "value"), State(ids.RESOLVED, "data"))
def resolve(name, ra, dec, resolved):
    """Fill RA/Dec from the name (offline catalogue); a failed name clears only what it had filled."""
    from core.sky.resolve import resolve_name

    filled_by_us = bool(resolved) and [str(ra), str(dec)] == [str(resolved.get("RA")), str(resolved.get("DEC"))]
    if not name or not str(name).strip():
        return (("", "", None, "") if filled_by_us else (no_update, no_update, no_update, ""))
    typed = resolved is None and str(ra or "").strip() and str(dec or "").strip()
    if typed:
        # Coordinates typed by the user (or in a share URL) win: the name is then a label.
        return no_update, no_update, no_update, "RA/Dec as given (the name is a label)"
    try:
        r = resolve_name(str(name))
    except QueryError:
        clear = ("", "") if filled_by_us else (no_update, no_update)
        return (*clear, None if filled_by_us else no_update, "")
    ra_s, dec_s = f"{r.ra:.4f}", f"{r.dec:.4f}"
    note = f"{r.name}: RA {ra_s}°, Dec {dec_s}° ({r.origin})"
    return ra_s, dec_s, {"RA": ra_s, "DEC": dec_s}, note


@callback(Output(ids.field("T1"), "value"), Output(ids.field("T2"), "value"), Output(ids.field("T_format"), "value"),
          Output(ids.field("src_name"), "value"), Output(ids.PRESET_ERR, "children"),
          Input(ids.PRESET_REV_GO, "n_clicks"), Input(ids.PRESET_V404, "n_clicks"), Input(ids.PRESET_LAST, "n_clicks"),
          State(ids.PRESET_REV, "value"), prevent_initial_call=True)
def apply_preset(_rev, _v404, _last, rev_number):
    from dash import ctx

    kind = {ids.PRESET_REV_GO: "revolution", ids.PRESET_V404: "v404", ids.PRESET_LAST: "last_year"}[ctx.triggered_id]
    try:
        v = preset(kind, rev_number)
    except QueryError as exc:
        return no_update, no_update, no_update, no_update, f"{exc.field}: {exc.message} (allowed: {exc.allowed})"
    return v["T1"], v["T2"], v["T_format"], v.get("src_name", no_update), ""


def _error_child(err: dict | None):
    if not err:
        return ""
    return [err["message"], html.Span(f" — allowed: {err['allowed']}", className="allowed") if err.get("allowed") else None]


@callback([Output(ids.field_error(f), "children") for f in FIELDS]
          + [Output(ids.SUBMIT, "disabled"), Output(ids.QUERY, "data"), Output(ids.FORM_STATUS, "children"),
             Output(ids.E_RANGE, "children"), Output(ids.FIT_BAND_NOTE, "children")],
          [Input(ids.field(f), "value") for f in FIELDS]
          + [Input(ids.CAT_TABLE, "data"), Input(ids.CAT_TABLE, "selected_rows"), Input(ids.TICK, "disabled")])
def validate_form(*args):
    """Every bad field with its message and allowed range; Submit only for a valid query."""
    values = dict(zip(FIELDS, args[: len(FIELDS)]))
    rows, selected, tick_disabled = args[len(FIELDS):]
    running = tick_disabled is False
    q, errors = validate(form_params(values, selected_sources(rows, selected)))
    status = ""
    if q is not None:
        status = public_limit_error(q) or _selection_note(q)
        if isinstance(status, dict):
            errors = {status["field"]: status}
            q, status = None, ""
    elif errors:
        status = f"{len(errors)} field{'s' if len(errors) > 1 else ''} to fix"
    outs = [_error_child(errors.get(f)) for f in FIELDS]
    # Errors on parameters without a form field (selected_catalog, ...) show in the status line.
    extra = [f"{k}: {e['message']}" + (f" (allowed: {e['allowed']})" if e.get("allowed") else "")
             for k, e in errors.items() if k not in FIELDS]
    if extra:
        status = "; ".join(extra)
    instrument = values.get("instrument") or "isgri"
    return outs + [q is None or running, q.to_params() if q is not None else None, status,
                   "Energy range: " + energy_range_text(instrument), fit_band_note(values)]


@callback(Output(ids.field("T1"), "value", allow_duplicate=True), Output(ids.field("T2"), "value", allow_duplicate=True),
          Output(ids.T_FORMAT_PREV, "data"),
          Input(ids.field("T_format"), "value"), State(ids.field("T1"), "value"), State(ids.field("T2"), "value"),
          State(ids.T_FORMAT_PREV, "data"), prevent_initial_call=True)
def convert_times(t_format, t1, t2, previous):
    """Switching the time format re-writes the dates already typed (a value that does not
    read in the previous format, e.g. a preset's ISOT, is left as it is)."""
    previous = previous or "isot"
    if not t_format or t_format == previous:
        return no_update, no_update, t_format or previous
    out = []
    for v in (t1, t2):
        c = convert_time(v, previous, t_format)
        out.append(no_update if c is None else c)
    return out[0], out[1], t_format


@callback(Output(ids.field("E1_keV"), "value"), Output(ids.field("E2_keV"), "value"),
          Input(ids.field("product_type"), "value"), State(ids.field("E1_keV"), "value"),
          State(ids.field("E2_keV"), "value"), State(ids.field("instrument"), "value"), prevent_initial_call=True)
def fit_band_default(product, e1, e2, instrument):
    """A spectral fit does not silently inherit the image's band: the image default becomes
    the instrument's spectral range (a band the user typed is kept, with a warning)."""
    try:
        band = (float(e1), float(e2))
    except (TypeError, ValueError):
        return no_update, no_update
    start = {**DEFAULTS, **instrument_defaults(instrument)}
    image_band = (float(start["E1_keV"]), float(start["E2_keV"]))
    fit = fit_band(instrument)
    if product == "spectral_fit" and band == image_band:
        return f"{fit[0]:g}", f"{fit[1]:g}"
    if product == "image" and band == fit:
        return f"{image_band[0]:g}", f"{image_band[1]:g}"
    return no_update, no_update


@callback([Output(ids.field(f), "value", allow_duplicate=True) for f in INSTRUMENT_FIELDS],
          Input(ids.field("instrument"), "value"), prevent_initial_call=True)
def instrument_changed(instrument):
    """Choosing another instrument puts its own defaults (band, time bin, threshold, radius...)
    in the form, as the parameter table gives them."""
    d = {k: DEFAULTS[k] for k in INSTRUMENT_FIELDS}
    d.update(instrument_defaults(instrument))
    return [d[k] for k in INSTRUMENT_FIELDS]


@callback([Output(ids.field_hint(f), "children") for f in HINT_FIELDS], Input(ids.field("instrument"), "value"))
def instrument_hints(instrument):
    """The hints of the fields whose range or default depends on the instrument."""
    return [field_hint(f, instrument) for f in HINT_FIELDS]


def _selection_note(q):
    """How many ScWs the query selects (cheap: the pointing history only), or an error dict."""
    from core.archive.store import get_archive
    from core.config import get_settings

    if q.instrument == "spi_acs":  # no science windows: the whole sky's rate in T1..T2
        from core.instruments.spi_acs.product import query_note

        return query_note(q)
    try:
        from core.archive.selection import check_limits

        sel = get_archive().select(q)
        check_limits(q, get_settings().max_scw)
    except QueryError as exc:
        return {"field": exc.field, "message": exc.message, "allowed": exc.allowed or ""}
    except Exception:  # the note is a courtesy: never block the form on it
        return ""
    n = len(sel)
    more = f" of {sel.n_matched} matching" if sel.n_matched > n else ""
    return f"{n} science window{'s' if n != 1 else ''}{more} will be used."


def selected_sources(rows, selected) -> list[dict]:
    """Sources for spectra and light curves: the ticked rows, or all rows when none is ticked."""
    rows = rows or []
    if selected:
        return [rows[i] for i in selected if 0 <= i < len(rows)]
    return list(rows)


@callback(Output("app", "className"), Input(ids.field("product_type"), "value"), Input(ids.field("instrument"), "value"),
          State("embed-flag", "data"))
def product_class(product, instrument, embed):
    """The page's classes: the product's fields and the instrument's (``not-<instrument>`` hidden)."""
    return ("app embed" if embed else "app") + f" product-{product or 'image'} instrument-{instrument or 'isgri'}"


@callback(Output(ids.CAT_SELECTED_NOTE, "children"), Input(ids.CAT_TABLE, "data"), Input(ids.CAT_TABLE, "selected_rows"))
def sources_note(rows, selected):
    src = selected_sources(rows, selected)
    if not src:
        return "Sources: none listed — they will be found in an image of the field."
    names = ", ".join(str(r.get("name")) for r in src[:8]) + (" …" if len(src) > 8 else "")
    return f"Sources ({'ticked' if selected else 'all listed'}): {names}"
