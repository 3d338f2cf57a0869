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
    log_rows, message = job_log(res)
    return product_meta(job_id=res.product_id, product_type=res.product_type, files=sorted(res.files),
                        params=res.query.to_params(), share_url=share, snippets=_snippets(res.query, base),
                        log_rows=log_rows, message=message,
                        png_sources=png_sources, prefix=get_relative_path("/") if _in_request() else "/", embed=embed)


def job_log(res) -> tuple[list[dict], str]:
    """Per-ScW log and summary of a product: what its job did (``calculated`` when it was
    computed, even though the page then reads it back from the store), else the store's."""
    from server.jobs import get_runner

    try:
        rec = get_runner().jobs.read(res.product_id)
    except Exception:  # no registry entry readable: the product's own record
        rec = None
    if rec and rec.get("status") == "done" and rec.get("scws"):
        return list(rec["scws"]), rec.get("message") or ""
    return [s.to_dict() for s in res.scws], "restored from cache" if res.from_cache else "calculated"


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


def holder_class(shown: bool) -> str:
    return "holder has-product" if shown else "holder"


@callback(Output(ids.IMG_GRAPH, "figure"), Output(ids.holder("image"), "className"),
          Output(ids.PARTIAL_NOTE, "children", allow_duplicate=True),
          Input(ids.ref("image"), "data"), Input(ids.IMG_ZMIN, "value"), Input(ids.IMG_ZMAX, "value"),
          Input(ids.IMG_LOG, "value"), Input(ids.IMG_LABELS, "value"),
          Input(ids.CAT_TABLE, "data"), Input(ids.CAT_TABLE, "selected_rows"), State(ids.PARTIAL, "data"),
          prevent_initial_call="initial_duplicate")
def render_image(ref, zmin, zmax, log, labels, rows, selected, partial=None):
    # The progressive note goes in the same update as the figure that replaces its frame.
    res = load(ref)
    if res is None or res.product_type != "image":
        if partial and partial.get("scws"):  # a progressive frame is on screen: keep it
            return no_update, no_update, no_update
        return figures.empty_figure(""), holder_class(False), no_update
    from core.instruments.base import get_instrument

    img = res.data.images
    q = res.query
    title = (f"{q.src_name or 'field'} · {get_instrument(q.instrument).unit_label(q)} {q.E1_keV:g}–{q.E2_keV:g} keV · "
             f"{len(res.scws)} ScW")
    return figures.image_figure(img.significance, img.wcs, rows if rows is not None else res.summary["catalog"],
                                zmin=_num(zmin), zmax=_num(zmax), log=bool(log), labels=bool(labels),
                                selected=_selected_names(rows, selected), title=title), holder_class(True), ""


def _relayout_window(relayout: dict | None):
    """The visible pixel window of a zoom ((x0, x1), (y0, y1)); "reset" for autorange; None otherwise."""
    if not relayout:
        return None
    if relayout.get("xaxis.autorange") or relayout.get("autosize"):
        return "reset"
    try:
        xr = (float(relayout["xaxis.range[0]"]), float(relayout["xaxis.range[1]"]))
        yr = (float(relayout["yaxis.range[0]"]), float(relayout["yaxis.range[1]"]))
    except (KeyError, TypeError, ValueError):
        if isinstance(relayout.get("xaxis.range"), list) and isinstance(relayout.get("yaxis.range"), list):
            xr, yr = tuple(map(float, relayout["xaxis.range"])), tuple(map(float, relayout["yaxis.range"]))
        else:
            return None
    return xr, yr


@callback(Output(ids.IMG_GRAPH, "figure", allow_duplicate=True), Input(ids.IMG_GRAPH, "relayoutData"),
          State(ids.ref("image"), "data"), State(ids.IMG_GRAPH, "figure"), prevent_initial_call=True)
def regrid(relayout, ref, fig):
    """After a zoom, the RA/Dec grid and tick labels of the visible window (from the WCS)."""
    from dash import Patch

    window = _relayout_window(relayout)
    res = load(ref)
    if window is None or res is None or res.product_type != "image" or not fig:
        return no_update
    img = res.data.images
    ny, nx = img.significance.shape
    if window == "reset":
        window = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    grid = figures.sky_grid(img.wcs, *window)
    k = next((i for i, t in enumerate(fig.get("data", [])) if (t.get("meta") or [None])[0] == "grid"), None)
    if k is None:
        return no_update
    patch = Patch()
    for axis in ("x", "y"):  # None breaks a line in JSON (NaN is not JSON)
        patch["data"][k][axis] = [None if v != v else round(float(v), 2) for v in grid[axis]]
    for key, value in figures.grid_axes(grid).items():
        axis, prop = key.split(".")
        patch["layout"][axis][prop] = value
    return patch


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


@callback(Output(ids.SPEC_GRAPH, "figure"), Output(ids.SPEC_TABLE, "children"), Output(ids.holder("spectrum"), "className"),
          Input(ids.SPEC_SOURCE, "value"), State(ids.ref("spectrum"), "data"))
def render_spectrum(name, ref):
    res = load(ref)
    if res is None or not name:
        return figures.empty_figure(""), "", holder_class(False)
    src = next((s for s in res.summary.get("sources", []) if s.get("name") == name), None)
    if src is None:
        return figures.empty_figure("no such source"), "", holder_class(False)
    info = [{"source": name, "ScWs": src.get("n_scw"), "exposure (ks)": f"{(src.get('exposure') or 0) / 1e3:.1f}",
             "files": ", ".join(src.get(k, "") for k in ("pha", "arf", "rmf"))}]
    return figures.spectrum_figure(src), table_rows(info), holder_class(True)


# -- light curve -------------------------------------------------------------------------------
@callback(Output(ids.LC_SOURCE, "options"), Output(ids.LC_SOURCE, "value"), Output(ids.meta("lc"), "children"),
          Input(ids.ref("lc"), "data"), State("embed-flag", "data"))
def lc_sources(ref, embed):
    return _source_panel(ref, embed, "n")


@callback(Output(ids.LC_GRAPH, "figure"), Output(ids.LC_STATS, "children"), Output(ids.holder("lc"), "className"),
          Input(ids.LC_SOURCE, "value"), Input(ids.LC_TIMEFMT, "value"), Input(ids.LC_OPTIONS, "value"),
          State(ids.ref("lc"), "data"))
def render_lc(name, time_format, options, ref):
    res = load(ref)
    if res is None or not name:
        return figures.empty_figure(""), "", holder_class(False)
    from core.instruments.base import get_instrument

    if not get_instrument(res.query.instrument).needs_position:  # the whole sky's rate (SPI-ACS)
        return (*spi_acs_view(res), holder_class(True))
    src = next((s for s in res.summary.get("sources", []) if s.get("name") == name), None)
    if src is None:
        return figures.empty_figure("no such source"), "", holder_class(False)
    options = options or []
    fig = figures.lightcurve_figure(src, time_format=time_format or "isot", show_blocks="blocks" in options,
                                    show_fits="fits" in options)
    return fig, lc_stats_table(src), holder_class(True)


def spi_acs_view(res):
    """SPI-ACS light curve (trigger time marked) and its analysis (layouts/spi_acs.py)."""
    from core.instruments.spi_acs.product import LC_FILE, read_lc_fits
    from layouts.spi_acs import spi_acs_figure, spi_acs_stats

    return spi_acs_figure(read_lc_fits(res.files[LC_FILE]), res.summary), spi_acs_stats(res.summary)


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
          Output(ids.meta("spectral_fit"), "children"), Output(ids.holder("spectral_fit"), "className"),
          Output(ids.FIT_SOURCE, "options"), Output(ids.FIT_SOURCE, "value"),
          Input(ids.ref("spectral_fit"), "data"), Input(ids.FIT_VIEW, "value"), State("embed-flag", "data"))
def render_fit(ref, view, embed):
    res = load(ref)
    if res is None:
        return figures.empty_figure(""), "", "", "", holder_class(False), [], None
    s = res.summary
    view = view if view in figures.E2F_UNITS else "counts"
    src = figures.unfolded_source(s, view) if view != "counts" else figures.fit_source(s)
    fig = (figures.spectrum_figure(src, e2f=view != "counts", model_name=s.get("model", "")) if src
           else figures.empty_figure("no fitted channels"))
    fit = s.get("fit") or {}
    pivot = fit.get("pivot_keV")
    stats = html.Div([html.P([html.Strong(f"{s.get('source', '')}: {s.get('model', '')}"), " — ",
                              figures.fit_stat_text(s),
                              f"; normalisations at the pivot energy {float(pivot):g} keV" if pivot else ""]),
                      table_rows(figures.fit_rows(s), caption="Parameters (errors: minus / plus)"),
                      html.Ul([html.Li(n) for n in fit.get("notes") or []], className="hint") if fit.get("notes") else None])
    fluxes = table_rows(figures.flux_rows(s), caption="Model fluxes (1σ)")
    options, value = fit_source_options(res)
    return fig, stats, fluxes, meta_for(res, embed=bool(embed)), holder_class(True), options, value


def fit_source_options(res) -> tuple[list, str | None]:
    """The sources of the fitted spectrum product (any of them can be fitted), the fitted one first."""
    s = res.summary
    names = [s.get("source")]
    spec_id = s.get("spectrum_product_id")
    spec = load({"job_id": spec_id}) if spec_id else None
    if spec is not None:
        names += [x["name"] for x in spec.summary.get("sources", []) if x.get("n_scw")]
    names = [n for n in dict.fromkeys(names) if n]
    return [{"label": n, "value": n} for n in names], (names[0] if names else None)


def refit_params(res, name: str) -> dict | None:
    """Query parameters fitting source ``name`` of the same spectrum: the same ScWs, band,
    model and source list, with that source as the target."""
    spec_id = res.summary.get("spectrum_product_id")
    spec = load({"job_id": spec_id}) if spec_id else None
    if spec is None:
        return None
    src = next((x for x in spec.summary.get("sources", []) if x.get("name") == name), None)
    if src is None:
        return None
    p = res.query.to_params()
    p.update(src_name=name, RA=round(float(src["ra"]), 6), DEC=round(float(src["dec"]), 6),
             scw_list=[r.scw_id for r in spec.scws if not str(r.status).startswith("failed")])
    if not p.get("selected_catalog"):
        p["selected_catalog"] = [[x["name"], x["ra"], x["dec"]] for x in spec.summary.get("sources", [])]
    return p


@callback(Output(ids.AUTORUN, "data", allow_duplicate=True), Output(ids.FIT_NOTE, "children"),
          Output(ids.field("src_name"), "value", allow_duplicate=True),
          Output(ids.field("RA"), "value", allow_duplicate=True), Output(ids.field("DEC"), "value", allow_duplicate=True),
          Output(ids.RESOLVED, "data", allow_duplicate=True),
          Input(ids.FIT_GO, "n_clicks"), State(ids.FIT_SOURCE, "value"), State(ids.ref("spectral_fit"), "data"),
          prevent_initial_call=True)
def refit(n_clicks, name, ref):
    """Fit another source of the spectrum: a spectral_fit query with that source as target."""
    import time

    from core.query import Query

    res = load(ref)
    if not n_clicks or res is None or not name:
        return no_update, no_update, no_update, no_update, no_update, no_update
    if name == res.summary.get("source"):
        return no_update, f"{name} is the source fitted here.", no_update, no_update, no_update, no_update
    p = refit_params(res, name)
    if p is None:
        return no_update, f"{name} is not in the spectrum's source list.", no_update, no_update, no_update, no_update
    try:
        q = Query.from_params(p)
    except QueryError as exc:
        return no_update, f"{exc.field}: {exc.message}", no_update, no_update, no_update, no_update
    return ({"params": q.to_params(), "nonce": time.time()}, f"Fitting {name} (same ScWs and sources)…",
            name, f"{q.RA:.4f}", f"{q.DEC:.4f}", None)
