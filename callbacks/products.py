"""Product controllers: product id → load from the store → figure / tables / meta.

Callbacks take a ``ref-<product>`` store ({job_id, product_type}) and the display controls;
arrays are loaded server-side by id and only the figure goes to the browser.
"""

from __future__ import annotations

import base64
import math

from dash import Input, Output, State, callback, get_relative_path, html, no_update

from core.errors import QueryError
from layouts import figures, ids
from layouts.products import product_meta

from .form_state import share_search

__all__ = ["load", "meta_for", "render_image", "catalog_from_image", "toggle_source", "add_source",
           "add_target", "upload_catalog", "render_spectrum", "render_lc", "render_fit", "table_rows"]


def load(ref: dict | None):
    """The ProductResult a ref points to, or None.

    Through the server's in-memory cache of finished products (shared with the API):
    one image update fires several callbacks, each of which would otherwise read and
    verify the product files again.
    """
    from server.common import ApiError, product_cache

    if not ref or not ref.get("job_id"):
        return None
    try:
        res = product_cache.get(ref["job_id"])
    except (ApiError, QueryError):
        return None
    # The page has no token: a private product's id sent to it shows nothing.
    return res if res.query.integral_data_rights == "public" else None


def _base_url() -> str:
    """Where users reach the service: ``ODA_PUBLIC_URL`` (as the API's snippets say), else
    this request's host and the app's path prefix."""
    import os

    if os.environ.get("ODA_PUBLIC_URL", "").strip():
        from server.common import public_base_url

        return public_base_url()
    try:
        import flask

        return flask.request.host_url.rstrip("/") + get_relative_path("/").rstrip("/")
    except RuntimeError:  # outside a request (unit tests)
        return "http://127.0.0.1:8050"


def _snippets(query, base_url: str) -> dict[str, str]:
    from server.snippets import client_snippet, oda_api_snippet

    return {"INTEGRAL ODA client": client_snippet(query, base_url),
            "oda_api (ODA's client)": oda_api_snippet(query, base_url)}


def meta_for(res, *, embed: bool = False, base_url: str | None = None, png_sources=None):
    """Downloads, share URL, API code, parameters and log of a ProductResult."""
    base = base_url or _base_url()
    search = share_search(res.query)
    share = f"{base}/{search}"
    return product_meta(job_id=res.product_id, product_type=res.product_type, files=sorted(res.files),
                        params=res.query.to_params(), share_url=share, snippets=_snippets(res.query, base),
                        log_rows=[s.to_dict() for s in res.scws],
                        message="restored from cache" if res.from_cache else "calculated",
                        png_sources=png_sources, prefix=get_relative_path("/") if _in_request() else "/", embed=embed)


def _in_request() -> bool:
    try:
        import flask

        return flask.has_request_context()
    except ImportError:
        return False


def table_rows(rows: list[dict], columns: list[str] | None = None, caption: str = ""):
    if not rows:
        return ""
    cols = columns or list(rows[0])
    return html.Table([html.Caption(caption) if caption else None,
                       html.Thead(html.Tr([html.Th(c) for c in cols])),
                       html.Tbody([html.Tr([html.Td(str(r.get(c, ""))) for c in cols]) for r in rows])],
                      className="table")


# -- image -------------------------------------------------------------------------------------
def _selected_names(rows, selected) -> list[str]:
    rows = rows or []
    return [str(rows[i].get("name")) for i in (selected or []) if 0 <= i < len(rows)]


@callback(Output(ids.IMG_GRAPH, "figure"),
          Input(ids.ref("image"), "data"), Input(ids.IMG_ZMIN, "value"), Input(ids.IMG_ZMAX, "value"),
          Input(ids.IMG_LOG, "value"), Input(ids.IMG_LABELS, "value"),
          Input(ids.CAT_TABLE, "data"), Input(ids.CAT_TABLE, "selected_rows"))
def render_image(ref, zmin, zmax, log, labels, rows, selected):
    res = load(ref)
    if res is None or res.product_type != "image":
        return figures.empty_figure("")
    img = res.data.images
    q = res.query
    title = f"{q.src_name or 'field'} · {q.E1_keV:g}–{q.E2_keV:g} keV · {len(res.scws)} ScW"
    return figures.image_figure(img.significance, img.wcs, rows if rows is not None else res.summary["catalog"],
                                zmin=_num(zmin), zmax=_num(zmax), log=bool(log), labels=bool(labels),
                                selected=_selected_names(rows, selected), title=title)


def _num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


@callback(Output(ids.meta("image"), "children"), Input(ids.ref("image"), "data"), State("embed-flag", "data"))
def image_meta(ref, embed):
    res = load(ref)
    return meta_for(res, embed=bool(embed)) if res is not None else ""


def catalog_table_rows(summary_catalog: list[dict]) -> list[dict]:
    return [{"name": r.get("name"), "ra": r.get("ra"), "dec": r.get("dec"), "significance": r.get("significance"),
             "new": "new" if r.get("new") else ""} for r in summary_catalog or []]


@callback(Output(ids.CAT_TABLE, "data", allow_duplicate=True), Output(ids.CAT_TABLE, "selected_rows", allow_duplicate=True),
          Input(ids.ref("image"), "data"), prevent_initial_call=True)
def catalog_from_image(ref):
    """A new image lists its detected sources (the target first when it is among them)."""
    res = load(ref)
    if res is None:
        return no_update, no_update
    return catalog_table_rows(res.summary.get("catalog")), []


@callback(Output(ids.CAT_TABLE, "selected_rows", allow_duplicate=True), Input(ids.IMG_GRAPH, "clickData"),
          State(ids.CAT_TABLE, "data"), State(ids.CAT_TABLE, "selected_rows"), prevent_initial_call=True)
def toggle_source(click, rows, selected):
    """Clicking a source marker selects it (a second click deselects it)."""
    if not click or not click.get("points"):
        return no_update
    pt = click["points"][0]
    cd = pt.get("customdata")
    if not isinstance(cd, list) or not cd or not isinstance(cd[0], str):
        return no_update
    name = cd[0]
    idx = [i for i, r in enumerate(rows or []) if str(r.get("name")) == name]
    if not idx:
        return no_update
    sel = list(selected or [])
    i = idx[0]
    return [s for s in sel if s != i] if i in sel else sel + [i]


def _add_row(rows, name, ra, dec):
    rows = list(rows or [])
    name = str(name or "").strip() or f"SRC_{len(rows) + 1}"
    rows = [r for r in rows if str(r.get("name")) != name]
    rows.append({"name": name, "ra": round(float(ra), 6), "dec": round(float(dec), 6), "significance": None, "new": "added"})
    return rows


@callback(Output(ids.CAT_TABLE, "data", allow_duplicate=True), Output(ids.CAT_MSG, "children", allow_duplicate=True),
          Input(ids.CAT_ADD, "n_clicks"), State(ids.CAT_ADD_NAME, "value"), State(ids.CAT_ADD_RA, "value"),
          State(ids.CAT_ADD_DEC, "value"), State(ids.CAT_TABLE, "data"), prevent_initial_call=True)
def add_source(_n, name, ra, dec, rows):
    """Add a source by position (RA/Dec, degrees or sexagesimal) or, without one, by name."""
    from core.query import parse_catalog

    try:
        if str(ra or "").strip() or str(dec or "").strip():
            (n, r, d), = parse_catalog([(name or f"SRC_{len(rows or []) + 1}", ra, dec)])
        else:
            from core.sky.resolve import resolve_name

            if not str(name or "").strip():
                return no_update, "Give a name or a position."
            res = resolve_name(str(name))
            n, r, d = res.name, res.ra, res.dec
    except QueryError as exc:
        return no_update, f"{exc.message}" + (f" (allowed: {exc.allowed})" if exc.allowed else "")
    return _add_row(rows, n, r, d), f"Added {n}."


@callback(Output(ids.CAT_TABLE, "data", allow_duplicate=True), Output(ids.CAT_MSG, "children", allow_duplicate=True),
          Input(ids.CAT_ADD_TARGET, "n_clicks"), State(ids.QUERY, "data"), State(ids.CAT_TABLE, "data"),
          prevent_initial_call=True)
def add_target(_n, params, rows):
    if not params or params.get("RA") is None:
        return no_update, "The query has no target position."
    name = params.get("src_name") or "target"
    return _add_row(rows, name, params["RA"], params["DEC"]), f"Added {name}."


@callback(Output(ids.CAT_TABLE, "data", allow_duplicate=True), Output(ids.CAT_MSG, "children", allow_duplicate=True),
          Input(ids.CAT_UPLOAD, "contents"), State(ids.CAT_UPLOAD, "filename"), prevent_initial_call=True)
def upload_catalog(contents, filename):
    """Replace the list by an uploaded ECSV / FITS / ODA JSON catalogue."""
    if not contents:
        return no_update, no_update
    too_large = upload_too_large(contents, filename)
    if too_large:
        return no_update, too_large
    try:
        raw = base64.b64decode(contents.split(",", 1)[1])
        rows = read_catalog_bytes(raw, filename or "")
    except QueryError as exc:
        return no_update, f"{filename}: {exc.message}" + (f" (allowed: {exc.allowed})" if exc.allowed else "")
    except Exception as exc:
        return no_update, f"{filename}: cannot read it as ECSV, FITS or ODA JSON ({type(exc).__name__})"
    return [{"name": n, "ra": r, "dec": d, "significance": None, "new": "uploaded"} for n, r, d in rows], \
        f"Loaded {len(rows)} sources from {filename}."


def upload_too_large(contents: str, filename: str | None) -> str | None:
    """The message refusing an upload above ``ODA_MAX_UPLOAD_BYTES`` (judged by its length,
    before decoding or parsing anything), or None."""
    from core.config import get_limits

    limit = get_limits().max_upload_bytes
    size = (len(contents) - contents.find(",") - 1) * 3 // 4
    if size <= limit:
        return None
    return (f"{filename or 'the file'}: {size / 1e6:.1f} MB is too large for a catalogue "
            f"(at most {limit / 1e6:g} MB)")


def read_catalog_bytes(raw: bytes, filename: str) -> list[tuple]:
    """(name, ra, dec) rows of an uploaded catalogue file."""
    from core.query import parse_catalog

    from core.spectral.catalog import read_catalog_file

    rows = read_catalog_file(bytes(raw), filename)
    return list(parse_catalog([tuple(r) for r in rows]))


# -- spectrum ----------------------------------------------------------------------------------
def _sources_options(summary: dict, key: str) -> tuple[list, str | None]:
    srcs = [s for s in summary.get("sources", []) if s.get(key)]
    opts = [{"label": s["name"], "value": s["name"]} for s in srcs]
    return opts, (srcs[0]["name"] if srcs else None)


def _source_panel(ref, embed, key: str):
    """Source choices (the query target first when present) and the product's meta panel."""
    res = load(ref)
    if res is None:
        return [], None, ""
    opts, first = _sources_options(res.summary, key)
    target = (res.query.src_name or "").lower()
    first = next((o["value"] for o in opts if o["value"].lower() == target), first)
    return opts, first, meta_for(res, embed=bool(embed), png_sources=[o["value"] for o in opts][:6])


@callback(Output(ids.SPEC_SOURCE, "options"), Output(ids.SPEC_SOURCE, "value"), Output(ids.meta("spectrum"), "children"),
          Input(ids.ref("spectrum"), "data"), State("embed-flag", "data"))
def spectrum_sources(ref, embed):
    return _source_panel(ref, embed, "n_scw")


@callback(Output(ids.SPEC_GRAPH, "figure"), Output(ids.SPEC_TABLE, "children"),
          Input(ids.SPEC_SOURCE, "value"), Input(ids.SPEC_E2F, "value"), State(ids.ref("spectrum"), "data"))
def render_spectrum(name, e2f, ref):
    res = load(ref)
    if res is None or not name:
        return figures.empty_figure(""), ""
    src = next((s for s in res.summary.get("sources", []) if s.get("name") == name), None)
    if src is None:
        return figures.empty_figure("no such source"), ""
    info = [{"source": name, "ScWs": src.get("n_scw"), "exposure (ks)": f"{(src.get('exposure') or 0) / 1e3:.1f}",
             "files": ", ".join(src.get(k, "") for k in ("pha", "arf", "rmf"))}]
    return figures.spectrum_figure(src, e2f=bool(e2f)), table_rows(info)


# -- light curve -------------------------------------------------------------------------------
@callback(Output(ids.LC_SOURCE, "options"), Output(ids.LC_SOURCE, "value"), Output(ids.meta("lc"), "children"),
          Input(ids.ref("lc"), "data"), State("embed-flag", "data"))
def lc_sources(ref, embed):
    return _source_panel(ref, embed, "n")


@callback(Output(ids.LC_GRAPH, "figure"), Output(ids.LC_STATS, "children"),
          Input(ids.LC_SOURCE, "value"), Input(ids.LC_TIMEFMT, "value"), Input(ids.LC_OPTIONS, "value"),
          State(ids.ref("lc"), "data"))
def render_lc(name, time_format, options, ref):
    res = load(ref)
    if res is None or not name:
        return figures.empty_figure(""), ""
    src = next((s for s in res.summary.get("sources", []) if s.get("name") == name), None)
    if src is None:
        return figures.empty_figure("no such source"), ""
    options = options or []
    fig = figures.lightcurve_figure(src, time_format=time_format or "isot", show_blocks="blocks" in options,
                                    show_fits="fits" in options)
    return fig, lc_stats_table(src)


def lc_stats_table(src: dict):
    st = figures.lc_fit_stats(src)
    if st.get("n", 0) < 2:
        return html.P(f"{st.get('n', 0)} point(s): no fit.", className="hint")

    def g(k, fmt="{:.4g}"):
        v = st.get(k)
        return "—" if v is None else fmt.format(v)

    rows = [{"model": "constant", "value": f"{g('mean')} ± {g('mean_err')} cts/s",
             "χ² / dof": f"{g('chi2_const', '{:.1f}')} / {st.get('dof_const')}", "p": g("p_const")}]
    if "slope" in st:
        rows.append({"model": "linear", "value": f"slope {g('slope')} ± {g('slope_err')} cts/s/d",
                     "χ² / dof": f"{g('chi2_lin', '{:.1f}')} / {st.get('dof_lin')}", "p": g("p_lin")})
    fv = "" if st.get("fvar") is None else f"Fractional variability Fvar = {g('fvar', '{:.3f}')} ± {g('fvar_err', '{:.3f}')}; "
    nb = max(0, len(src.get("blocks") or []) - 1)
    return html.Div([table_rows(rows), html.P(f"{fv}{nb} Bayesian block{'s' if nb != 1 else ''}; {st['n']} points.",
                                              className="hint")])


# -- spectral fit ------------------------------------------------------------------------------
@callback(Output(ids.FIT_GRAPH, "figure"), Output(ids.FIT_STATS, "children"), Output(ids.FIT_TABLE, "children"),
          Output(ids.meta("spectral_fit"), "children"),
          Input(ids.ref("spectral_fit"), "data"), State("embed-flag", "data"))
def render_fit(ref, embed):
    res = load(ref)
    if res is None:
        return figures.empty_figure(""), "", "", ""
    s = res.summary
    src = figures.fit_source(s)
    fig = figures.spectrum_figure(src, model_name=s.get("model", "")) if src else figures.empty_figure("no fitted channels")
    stats = html.Div([html.P([html.Strong(f"{s.get('source', '')}: {s.get('model', '')}"), " — ",
                              figures.fit_stat_text(s)]),
                      table_rows(figures.fit_rows(s), caption="Parameters (errors: minus / plus)")])
    fluxes = table_rows(figures.flux_rows(s), caption="Model fluxes (1σ)")
    return fig, stats, fluxes, meta_for(res, embed=bool(embed))
