"""Light-curve file upload → reader (core) → plot. Thin: the work is in core.spectral.lc_read."""

from __future__ import annotations

import base64
import binascii

import numpy as np
from dash import Input, Output, State, callback, no_update

from layouts.lc_upload import GRAPH, MESSAGE, UPLOAD, uploaded_source

__all__ = ["show_upload"]


def read_contents(contents: str) -> dict:
    """``dcc.Upload`` contents (data URL) → light curve dict with variability (ValueError if unreadable)."""
    from core.spectral.lc_read import read_lightcurve
    from core.spectral.products import variability

    try:
        data = base64.b64decode(contents.split(",", 1)[1], validate=False)
    except (IndexError, binascii.Error, ValueError):
        raise ValueError("the upload could not be decoded") from None
    lc = read_lightcurve(data)
    out = lc.to_dict()
    out["variability"] = variability(np.asarray(lc.time_mjd), lc.rate, lc.error)
    return out


@callback(Output(GRAPH, "figure"), Output(GRAPH, "style"), Output(MESSAGE, "children"),
          Input(UPLOAD, "contents"), State(UPLOAD, "filename"), State(GRAPH, "style"), prevent_initial_call=True)
def show_upload(contents, filename, style):
    from layouts.figures import lightcurve_figure

    if not contents:
        return no_update, no_update, no_update
    style = dict(style or {})
    try:
        lc = read_contents(contents)
    except ValueError as exc:
        style["display"] = "none"
        return no_update, style, f"{filename or 'file'}: {exc}. Allowed: an OGIP/OSA light-curve FITS file."
    style["display"] = "block"
    fig = lightcurve_figure(uploaded_source(lc), time_format="mjd")
    band = ""
    if lc.get("e_min_keV") is not None and lc.get("e_max_keV") is not None:
        band = f", {lc['e_min_keV']:g}–{lc['e_max_keV']:g} keV"
    notes = "; ".join(lc["notes"]) or "no bad rows"
    return fig, style, f"{filename or 'file'}: {lc['n']} of {lc['n_input']} rows{band} ({notes})."
