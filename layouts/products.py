"""Product panels (image, spectrum, light curve, fit), the job panel and each product's
downloads / share / API code / parameters / log. Pure layout functions."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from dash import dash_table, dcc, html

from . import ids
from .ids import PRODUCT_LABELS

__all__ = ["job_panel", "progress_table", "image_panel", "spectrum_panel", "lc_panel", "fit_panel",
           "product_meta", "download_href", "graph_holder", "history_list"]

#: No Plotly logo, no "Share chart / upload to Plotly Cloud" or "Edit in Chart Studio": the
#: data stay here. The PNG button stays (a client-side export).
_GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "showSendToCloud": False, "showEditInChartStudio": False,
                 "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio", "lasso2d", "select2d"],
                 "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "integral-oda"}}
#: The sky map also zooms with the mouse wheel.
_IMAGE_CONFIG = {**_GRAPH_CONFIG, "scrollZoom": True}


# -- job ---------------------------------------------------------------------------------------
def job_panel() -> html.Section:
    return html.Section([
        html.Div([
            html.Span(id=ids.JOB_STATUS, className="job-status", role="status", **{"aria-live": "polite"}),
            html.Span(id=ids.ELAPSED, className="job-elapsed"),
        ], className="job-head"),
        html.Div(html.Div(id=ids.JOB_BAR, className="bar-fill", style={"width": "0%"}), className="bar",
                 role="progressbar", **{"aria-label": "science windows done"}),
        html.Details([html.Summary("Science windows"), html.Div(id=ids.JOB_TABLE, className="job-table")],
                     className="job-details"),
        dcc.Interval(id=ids.TICK, interval=1000, disabled=True),
    ], id=ids.JOB_PANEL, className="job-panel", **{"aria-label": "job progress"})


_STATUS_CLASS = {"preparing": "st-prep", "restored from cache": "st-cache", "calculated": "st-done"}


def progress_table(record: dict | None) -> html.Table | str:
    """Per-ScW rows of a job record: ScW, status (preparing / restored / calculated / failed: why), time."""
    rows = (record or {}).get("scws") or []
    if not rows:
        return html.P("No science windows yet.", className="hint")
    body = []
    for r in rows:
        st = str(r.get("status", ""))
        cls = _STATUS_CLASS.get(st, "st-fail" if st.startswith("failed") else "")
        secs = r.get("seconds") or 0
        body.append(html.Tr([html.Td(html.Code(r.get("scw_id", ""))), html.Td(st, className=cls),
                             html.Td(f"{secs:.1f} s" if secs else "")]))
    return html.Table([html.Thead(html.Tr([html.Th("ScW"), html.Th("status"), html.Th("time")])), html.Tbody(body)],
                      className="table compact")


def job_status_text(record: dict | None) -> str:
    if not record:
        return ""
    st = record.get("status", "")
    n, tot = record.get("n_done", 0), record.get("n_total", 0)
    label = PRODUCT_LABELS.get(record.get("product_type", ""), "product")
    if st in ("submitted", "progress"):
        return f"{label}: {n}/{tot} science windows…" if tot else f"{label}: preparing…"
    if st == "done":
        return f"{label} ready ({record.get('message') or 'done'}, {tot} science windows)"
    if st == "cancelled":
        return f"{label}: cancelled"
    err = record.get("error") or {}
    if err:
        return f"{label} failed — {err.get('field')}: {err.get('message')}" + (f" (allowed: {err['allowed']})" if err.get("allowed") else "")
    return f"{label} failed — {record.get('message', '')}"


def elapsed_text(record: dict | None, now: float | None = None) -> str:
    if not record or not record.get("started_at"):
        return ""
    end = record.get("finished_at") or (now or time.time())
    return f"{max(0.0, end - record['started_at']):.0f} s"


# -- products ----------------------------------------------------------------------------------
def _placeholder(product: str) -> html.P:
    return html.P(f"Submit a query with product “{PRODUCT_LABELS[product]}” to see it here.", className="hint empty")


def graph_holder(product: str, graph) -> html.Div:
    """The graph, hidden behind a placeholder until a product is shown (no empty grey axes)."""
    return html.Div([_placeholder(product), graph], id=ids.holder(product), className="holder")


def image_panel(rows: list | None = None, embed: bool = False) -> html.Div:
    """The sky map, its display controls and the sources table (editable unless ``embed``)."""
    editable = not embed
    return html.Div([
        html.Div(id=ids.meta("image"), className="product-meta"),
        html.Div(id=ids.PARTIAL_NOTE, className="hint partial-note", role="status", **{"aria-live": "polite"}),
        html.Div([
            html.Div([html.Label("σ min", htmlFor=ids.IMG_ZMIN),
                      dcc.Input(id=ids.IMG_ZMIN, type="number", placeholder="-3", debounce=True, className="input num")]),
            html.Div([html.Label("σ max", htmlFor=ids.IMG_ZMAX),
                      dcc.Input(id=ids.IMG_ZMAX, type="number", placeholder="auto", debounce=True, className="input num")]),
            dcc.Checklist(id=ids.IMG_LOG, options=[{"label": "log scale", "value": "log"}], value=[], className="check"),
            dcc.Checklist(id=ids.IMG_LABELS, options=[{"label": "labels", "value": "labels"}], value=["labels"],
                          className="check"),
        ], className="controls"),
        graph_holder("image", dcc.Graph(id=ids.IMG_GRAPH, config=_IMAGE_CONFIG, className="graph graph-image",
                                        style={"height": "min(70vh, 620px)"},
                                        figure={"data": [], "layout": {"xaxis": {"visible": False}, "yaxis": {"visible": False}}})),
        html.H3("Sources", className="sub-title"),
        html.P("Click a source on the map (or tick it) to select it for spectra and light curves; "
               "none ticked = all rows. Drag a box or use the wheel to zoom, double-click to reset.", className="hint")
        if editable else None,
        dash_table.DataTable(
            id=ids.CAT_TABLE, data=list(rows or []), row_deletable=editable, row_selectable="multi" if editable else False,
            selected_rows=[], editable=editable,
            columns=[{"name": "name", "id": "name"},
                     {"name": "RA (°)", "id": "ra", "type": "numeric", "format": {"specifier": ".4f"}},
                     {"name": "Dec (°)", "id": "dec", "type": "numeric", "format": {"specifier": ".4f"}},
                     {"name": "σ", "id": "significance", "type": "numeric", "format": {"specifier": ".1f"}, "editable": False},
                     {"name": "new", "id": "new", "editable": False}],
            style_as_list_view=True, page_size=15, sort_action="native", css=[{"selector": ".dash-spreadsheet", "rule": "font-size: 0.9rem"}],
            style_table={"overflowX": "auto"}, style_cell={"textAlign": "left", "padding": "4px 8px",
                                                             "backgroundColor": "transparent", "color": "inherit"},
            style_header={"fontWeight": "600", "backgroundColor": "transparent"}),
        html.Div([
            html.Div([html.Label("Add by name or position", htmlFor=ids.CAT_ADD_NAME),
                      html.Div([dcc.Input(id=ids.CAT_ADD_NAME, placeholder="name", className="input"),
                                html.Label("RA of the source to add", htmlFor=ids.CAT_ADD_RA, className="sr-only"),
                                dcc.Input(id=ids.CAT_ADD_RA, placeholder="RA", className="input num"),
                                html.Label("Dec of the source to add", htmlFor=ids.CAT_ADD_DEC, className="sr-only"),
                                dcc.Input(id=ids.CAT_ADD_DEC, placeholder="Dec", className="input num"),
                                html.Button("Add", id=ids.CAT_ADD, type="button", className="btn-small")], className="inline")]),
            html.Button("Add the query object", id=ids.CAT_ADD_TARGET, type="button", className="btn-small"),
            dcc.Upload(html.Button("Upload ECSV / FITS", type="button", className="btn-small"), id=ids.CAT_UPLOAD,
                       accept=".ecsv,.fits,.fit,.fits.gz,.csv,.txt", max_size=5_000_000),
        ], className="cat-actions", hidden=embed),
        html.Div(id=ids.CAT_MSG, className="hint", role="status", **{"aria-live": "polite"}),
    ], id=ids.panel("image"), className="product-panel")


def spectrum_panel() -> html.Div:
    return html.Div([
        html.Div(id=ids.meta("spectrum"), className="product-meta"),
        html.Div([
            html.Div([html.Label("Source", htmlFor=ids.SPEC_SOURCE),
                      dcc.Dropdown(id=ids.SPEC_SOURCE, options=[], clearable=False, className="select")], className="grow"),
            html.Span("E²F needs a model: choose the product “Spectral fit” to see the unfolded spectrum.",
                      className="hint"),
        ], className="controls"),
        graph_holder("spectrum", dcc.Graph(id=ids.SPEC_GRAPH, config=_GRAPH_CONFIG, className="graph",
                                           style={"height": "min(60vh, 520px)"})),
        html.Div(id=ids.SPEC_TABLE, className="stats"),
    ], id=ids.panel("spectrum"), className="product-panel")


def lc_panel() -> html.Div:
    return html.Div([
        html.Div(id=ids.meta("lc"), className="product-meta"),
        html.Div([
            html.Div([html.Label("Source", htmlFor=ids.LC_SOURCE),
                      dcc.Dropdown(id=ids.LC_SOURCE, options=[], clearable=False, className="select")], className="grow"),
            html.Div([html.Span("Time axis ", className="hint"),
                      dcc.RadioItems(id=ids.LC_TIMEFMT, value="isot", inline=True, className="radio",
                                     options=[{"label": "ISOT", "value": "isot"}, {"label": "MJD", "value": "mjd"},
                                              {"label": "IJD", "value": "ijd"}])]),
            dcc.Checklist(id=ids.LC_OPTIONS, value=["blocks", "fits"], className="check",
                          options=[{"label": "Bayesian blocks", "value": "blocks"}, {"label": "fits", "value": "fits"}]),
        ], className="controls"),
        graph_holder("lc", dcc.Graph(id=ids.LC_GRAPH, config=_GRAPH_CONFIG, className="graph",
                                     style={"height": "min(60vh, 520px)"})),
        html.Div(id=ids.LC_STATS, className="stats"),
    ], id=ids.panel("lc"), className="product-panel")


def fit_panel(embed: bool = False) -> html.Div:
    return html.Div([
        html.Div(id=ids.meta("spectral_fit"), className="product-meta"),
        html.Div([
            html.Div([html.Span("View ", className="hint"),
                      dcc.RadioItems(id=ids.FIT_VIEW, value="counts", inline=True, className="radio",
                                     options=[{"label": "counts + residuals", "value": "counts"},
                                              {"label": "E²F (keV² ph/cm²/s/keV)", "value": "keV"},
                                              {"label": "E²F (erg/cm²/s)", "value": "erg"}])]),
            html.Div([html.Label("Fit another source", htmlFor=ids.FIT_SOURCE),
                      html.Div([dcc.Dropdown(id=ids.FIT_SOURCE, options=[], clearable=False, className="select"),
                                html.Button("Fit it", id=ids.FIT_GO, type="button", className="btn-small")],
                               className="inline")], className="grow", hidden=embed),
        ], className="controls"),
        html.Div(id=ids.FIT_NOTE, className="hint", role="status", **{"aria-live": "polite"}),
        graph_holder("spectral_fit", dcc.Graph(id=ids.FIT_GRAPH, config=_GRAPH_CONFIG, className="graph",
                                               style={"height": "min(60vh, 520px)"})),
        html.Div(id=ids.FIT_STATS, className="stats"),
        html.Div(id=ids.FIT_TABLE, className="stats"),
    ], id=ids.panel("spectral_fit"), className="product-panel")


# -- product history ----------------------------------------------------------------------------
def history_list(entries: list[dict] | None, prefix: str = "/") -> html.Div | str:
    """Recent products of this browser session, newest first, with thumbnails (figure PNGs)."""
    entries = list(entries or [])
    if not entries:
        return ""
    cards = []
    for e in entries:
        jid = str(e.get("job_id", ""))
        cards.append(html.Button([
            html.Img(src=f"{prefix}products/{jid}/figure.png", alt=f"{e.get('label', '')} thumbnail",
                     className="thumb"),
            html.Span(PRODUCT_LABELS.get(e.get("product_type", ""), ""), className="history-kind"),
            html.Span(e.get("label", jid), className="history-label"),
        ], id=ids.history_item(jid), type="button", className="history-item", title="reopen " + str(e.get("label", ""))))
    return html.Div([html.H2("Recent products", className="panel-title"), html.Div(cards, className="history-cards")],
                    className="history")


# -- per product: downloads, share, API code, parameters, log ----------------------------------
def download_href(job_id: str, name: str, prefix: str = "/") -> str:
    return f"{prefix}products/{job_id}/{name}"


def product_meta(*, job_id: str, product_type: str, files: list[str], params: dict, share_url: str,
                 snippets: dict[str, str], log_rows: list[dict], message: str = "", png_sources: list[str] | None = None,
                 prefix: str = "/", embed: bool = False) -> html.Div:
    """Actions and details of one product (pure: everything is passed in)."""
    fits_like = [f for f in files if not f.endswith((".json", ".png"))]
    links = [html.A(f, href=download_href(job_id, f, prefix), download=f, className="file-link",
                    **{"data-file": f}) for f in fits_like]
    pngs = [html.A("PNG", href=f"{prefix}products/{job_id}/figure.png", className="btn-link", target="_blank",
                   rel="noopener")]
    if png_sources:
        pngs = [html.A(f"PNG {s}", href=f"{prefix}products/{job_id}/figure.png?{urlencode({'source': s})}", className="btn-link",
                       target="_blank", rel="noopener") for s in png_sources]
    actions = html.Div([
        html.Span("Download:", className="hint"), *links, *pngs,
        html.A("all (zip)", href=f"{prefix}products/{job_id}/all.zip", className="btn-link", download=f"{job_id}.zip"),
    ], className="downloads")
    if embed:
        return html.Div([actions, html.A("Open in INTEGRAL ODA ↗", href=share_url, target="_blank", rel="noopener",
                                         className="btn-link open-full")], className="meta-embed")
    share = html.Div([
        html.Label("Share", htmlFor=f"share-{product_type}"),
        dcc.Input(id=f"share-{product_type}", value=share_url, readOnly=True, className="input share-input"),
        dcc.Clipboard(target_id=f"share-{product_type}", title="copy the share URL", className="clip"),
    ], className="share")
    n_fail = sum(1 for r in log_rows if str(r.get("status", "")).startswith("failed"))
    return html.Div([
        actions, share,
        html.Details([html.Summary("API code"),
                      *[html.Div([html.H4(title), dcc.Markdown(f"```python\n{code}\n```", className="code")])
                        for title, code in snippets.items()]], className="meta-details api-code"),
        html.Details([html.Summary("Query parameters"),
                      html.Pre(json.dumps(params, indent=1, default=str), className="code")], className="meta-details"),
        html.Details([html.Summary(f"Log ({len(log_rows)} ScW{'s' if len(log_rows) != 1 else ''}"
                                   f"{f', {n_fail} failed' if n_fail else ''})"),
                      html.P(message, className="hint") if message else None,
                      progress_table({"scws": log_rows})], className="meta-details"),
    ], className="meta", **{"data-job-id": job_id})
