"""The page (query, job, products) and its embed variant. Pure functions of URL parameters."""

from __future__ import annotations

from dash import dcc, html

from . import ids
from .ids import PRODUCT_LABELS
from .lc_upload import lc_upload_panel
from .products import fit_panel, image_panel, job_panel, lc_panel, spectrum_panel
from .query_panel import query_panel

__all__ = ["shell", "page_layout", "form_values"]


def shell() -> html.Div:
    """The app's fixed layout: the URL and the page the router fills in."""
    return html.Div([dcc.Location(id=ids.URL, refresh=False), html.Div(id=ids.PAGE, className="page-root")])


def form_values(url_params: dict) -> dict:
    """Form values from URL parameters (defaults for the rest; ``product`` aliases ``product_type``)."""
    from callbacks.form_state import DEFAULTS, FIELDS

    p = dict(url_params)
    if "product" in p and "product_type" not in p:
        p["product_type"] = p.pop("product")
    p.pop("product", None)
    if not any(k in p for k in FIELDS):
        return dict(DEFAULTS)
    out = {k: "" for k in FIELDS}
    # Fields the URL leaves out take their defaults, except the target and the times.
    for k in FIELDS:
        if k not in ("src_name", "RA", "DEC", "T1", "T2", "scw_list"):
            out[k] = DEFAULTS[k]
    out.update({k: v for k, v in p.items() if k in FIELDS})
    from callbacks.form_state import instrument_defaults

    out.update({k: v for k, v in instrument_defaults(out.get("instrument")).items() if k not in p})
    return out


def page_layout(url_params: dict | None = None, *, embed: bool = False, autorun: dict | None = None,
                catalog_rows: list | None = None) -> html.Div:
    """The whole page, or its embed variant (one product, minimal chrome).

    ``autorun`` (validated parameters) starts the query as soon as the page is shown: share
    URLs replay their query and a reloaded page reattaches to its running job.
    """
    values = form_values(url_params or {})
    product = values.get("product_type") or "image"
    tabs = dcc.Tabs(id=ids.TABS, value=product if product in PRODUCT_LABELS else "image", className="tabs",
                    children=[dcc.Tab(label=lab, value=k, className="tab", selected_className="tab-selected",
                                      children=[image_panel(catalog_rows, embed=embed) if k == "image" else
                                                fit_panel(embed=embed) if k == "spectral_fit" else
                                                {"spectrum": spectrum_panel,
                                                 "lc": lambda: html.Div([lc_panel(), lc_upload_panel()])}[k]()])
                              for k, lab in PRODUCT_LABELS.items()])
    stores = [dcc.Store(id=ids.AUTORUN, data=autorun), dcc.Store(id=ids.QUERY), dcc.Store(id=ids.JOB_REQUEST),
              dcc.Store(id=ids.JOB_RECORD), dcc.Store(id="job-done"), dcc.Store(id=ids.RESOLVED),
              dcc.Store(id="embed-flag", data=bool(embed)),
              dcc.Store(id=ids.T_FORMAT_PREV, data=values.get("T_format") or "isot"),
              dcc.Store(id=ids.PARTIAL), dcc.Store(id=ids.FINISHED),
              # Recent products of this browser tab (ids and labels only; survives reloads).
              dcc.Store(id=ids.HISTORY, storage_type="session"),
              *[dcc.Store(id=ids.ref(k)) for k in PRODUCT_LABELS]]
    header = html.Header([
        html.Div([html.H1("INTEGRAL ODA"), html.P("Online analysis of the INTEGRAL archive (IBIS/ISGRI, JEM-X, "
                                                  "SPI-ACS): sky images, spectra, light curves and fits.",
                                                  className="tagline")]),
        html.Nav([html.A("API", href="/api/v1/openapi.json", className="nav-link", title="OpenAPI description of /api/v1"),
                  html.A("Embed demo", href="/assets/embed-demo.html", className="nav-link")], **{"aria-label": "links"}),
    ], className="app-header")
    main = html.Div([
        html.Aside(query_panel(values), className="sidebar", **{"aria-label": "query"}),
        html.Main([job_panel(), tabs, html.Div(id=ids.HISTORY_LIST, className="history-wrap", hidden=embed)],
                  className="content"),
    ], className="layout")
    classes = "app embed" if embed else "app"
    classes += f" product-{product}"
    return html.Div([*stores, header if not embed else None, main], className=classes, id="app")
