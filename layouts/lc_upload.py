"""Upload of a light-curve FITS file (OSA, ODA or ours) and its plot: pure layout functions."""

from __future__ import annotations

from dash import dcc, html

__all__ = ["UPLOAD", "GRAPH", "MESSAGE", "lc_upload_panel", "uploaded_source"]

UPLOAD = "lc-upload"
GRAPH = "lc-upload-graph"
MESSAGE = "lc-upload-message"

#: MJD of IJD 0 (the product figures take IJD times).
_IJD_MJDREF = 51544.0


def lc_upload_panel() -> html.Div:
    """A drop zone for a light-curve file, a message line (notes or the error) and its plot."""
    return html.Div([
        html.H3("Plot a light-curve file"),
        html.P("An OSA/ODA light curve (ISGR-SRC.-LCR, JMXn-SRC.-LCR or any OGIP table with TIME, RATE, "
               "ERROR; gzip allowed). Bad rows (negative TIMEDEL, repeated times) are left out and listed.",
               className="hint"),
        dcc.Upload(id=UPLOAD, children=html.Div(["Drop a FITS light curve here or ", html.A("choose a file")]),
                   className="upload", multiple=False, max_size=64 * 1024 * 1024,
                   style={"border": "1px dashed #9ca3af", "borderRadius": "6px", "padding": "10px",
                          "textAlign": "center"}),
        html.Div(id=MESSAGE, className="stats", role="status"),
        dcc.Graph(id=GRAPH, className="graph", style={"height": "min(50vh, 420px)", "display": "none"}),
    ], className="lc-upload")


def uploaded_source(lc: dict) -> dict:
    """A :func:`layouts.figures.lightcurve_figure` source from ``LightCurve.to_dict()`` + variability."""
    var = lc.get("variability") or {}
    t = [None if x is None else x - _IJD_MJDREF for x in lc["time_mjd"]]
    blocks = [b - _IJD_MJDREF for b in (var.get("blocks") or [])]
    name = lc.get("name") or "uploaded light curve"
    if lc.get("instrument"):
        name += f" ({lc['instrument']})"
    return {"name": name, "time": t, "rate": lc["rate"], "error": lc["error"], "timedel": lc["timedel_s"],
            "blocks": blocks, **{k: var.get(k) for k in ("chi2_const", "dof", "p_const", "fvar", "fvar_err")}}
