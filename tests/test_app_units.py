"""The app's model, figures and callbacks called as plain functions (no browser)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from astropy.wcs import WCS

from callbacks import form_state as fs
from layouts import figures


# -- form state ------------------------------------------------------------------------------------
def test_defaults_validate_and_share_url_round_trips():
    q, errors = fs.validate(fs.form_params(fs.DEFAULTS))
    assert errors == {} and q.src_name == "Crab"
    search = fs.share_search(q)
    assert "time_bin" not in search  # image queries carry only what determines them
    q2, errors2 = fs.validate(fs.form_params({**{k: "" for k in fs.FIELDS}, **fs.params_from_search(search)}))
    assert errors2 == {} and q2.product_id() == q.product_id()


def test_every_bad_field_is_reported_with_its_allowed_range():
    values = dict(fs.DEFAULTS, src_name="Crabx", T1="2001-01-01", radius="50", E1_keV="5", max_pointings="1.5")
    q, errors = fs.validate(fs.form_params(values))
    assert q is None
    assert set(errors) >= {"src_name", "T1", "radius", "E1_keV", "max_pointings"}
    assert "did you mean Crab" in errors["src_name"]["message"]
    assert errors["radius"]["allowed"] == "> 0.0 and ≤ 30.0"
    assert errors["T1"]["allowed"].startswith("2002-10-17")


def test_selected_catalog_goes_only_to_source_products():
    rows = [{"name": "Crab", "ra": 83.63, "dec": 22.01}, {"name": "bad", "ra": None, "dec": 1}]
    assert "selected_catalog" not in fs.form_params(fs.DEFAULTS, rows)
    p = fs.form_params(dict(fs.DEFAULTS, product_type="lc", time_bin=1000), rows)
    assert p["selected_catalog"] == [["Crab", 83.63, 22.01]] and p["time_bin"] == 1000
    q, errors = fs.validate(p)
    assert errors == {} and q.selected_catalog == (("Crab", 83.63, 22.01),)
    assert "selected_catalog" in fs.share_search(q)


def test_presets():
    v = fs.preset("v404")
    assert v["src_name"] == "V404 Cyg" and v["T1"].startswith("2015-06-20")
    rev = fs.preset("revolution", "1555")
    assert rev["T1"].startswith("2015-06-20")  # rev 1555 as the real ScWs place it
    last = fs.preset("last_year")
    assert last["T2"].startswith("2025-02-28")
    with pytest.raises(Exception) as exc:
        fs.preset("revolution", "99999")
    assert exc.value.field == "revolution" and "0 .." in exc.value.allowed


# -- figures ---------------------------------------------------------------------------------------
def _wcs(n=200, ra0=83.63, dec0=22.01):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra0, dec0]
    w.wcs.crpix = [n / 2 + 0.5, n / 2 + 0.5]
    w.wcs.cdelt = [-0.082, 0.082]
    return w


def test_image_figure_hover_radec_markers_and_log():
    n = 520
    sig = np.random.default_rng(1).normal(size=(n, n)).astype(np.float32)
    sig[:20] = np.nan
    sig[260, 260] = 400.0
    w = _wcs(n)
    cat = [{"name": "Crab", "ra": 83.63, "dec": 22.01, "significance": 400.0}]
    fig = figures.image_figure(sig, w, cat, selected=["Crab"])
    heat, grid, pts = fig.data
    assert grid.meta[0] == "grid" and grid.hoverinfo == "skip"
    z = np.asarray(heat.z)
    assert max(z.shape) <= figures.MAX_DISPLAY_PIXELS and np.nanmax(z) == pytest.approx(400.0)  # max-pooled
    cd = np.asarray(heat.customdata)
    iy, ix = np.unravel_index(np.nanargmax(z), z.shape)
    assert cd[iy, ix, 0] == pytest.approx(83.63, abs=0.1) and cd[iy, ix, 1] == pytest.approx(22.01, abs=0.1)
    assert "RA" in heat.hovertemplate and "Dec" in heat.hovertemplate
    assert list(pts.text) == ["Crab"] and abs(pts.x[0] - 260) < 1.5 and abs(pts.y[0] - 260) < 1.5
    assert pts.marker.size[0] == 20  # the selected source is highlighted
    # the figure's arrays travel as compact typed arrays
    assert "bdata" in str(fig.to_plotly_json()["data"][0]["z"])
    logfig = figures.image_figure(sig, w, cat, log=True, zmax=500)
    assert logfig.data[0].zmax == pytest.approx(np.log10(500))


def test_spectrum_figure_model_residuals_and_e2f():
    e = np.geomspace(20, 200, 11)
    rate = 10 * (e[:-1] / 20) ** -1.1
    src = {"name": "Crab", "e_min": e[:-1].tolist(), "e_max": e[1:].tolist(), "rate": rate.tolist(),
           "rate_err": (0.05 * rate).tolist()}
    fig = figures.spectrum_figure(src)
    assert fig.data[0].name == "data" and len(fig.data) == 1
    assert list(fig.layout.xaxis.ticktext) == ["20", "50", "100", "200"]  # plain numbers on the energy axis
    assert 10 ** fig.layout.xaxis.range[0] > 19 and 10 ** fig.layout.xaxis.range[1] < 211  # the data's range
    fig = figures.spectrum_figure(dict(src, model_rate=(rate * 1.01).tolist()), model_name="powerlaw")
    names = [t.name for t in fig.data]
    assert "model powerlaw" in names and len(fig.data) == 3
    resid = np.asarray(fig.data[2].y)
    assert np.allclose(resid, -0.01 / 0.05, atol=1e-6)
    assert fig.layout.xaxis.showticklabels is False and list(fig.layout.xaxis2.ticktext)  # ticks on the shared axis
    # bad-quality channels are not drawn
    q = np.zeros(10)
    q[:2] = 1
    fig = figures.spectrum_figure(dict(src, quality=q.tolist()))
    assert len(fig.data[0].x) == 8


def test_unfolded_e2f_is_the_fit_model_times_data_over_model():
    from core.fitting.models import make_model

    e = np.geomspace(20, 300, 13)
    model = make_model("powerlaw", pivot=50.0)
    values = np.array([2.1, 2.6e-3])
    ec = np.sqrt(e[:-1] * e[1:])
    mrate = 5 * (ec / 50) ** -1.1
    rate = mrate * 1.1  # data 10% above the folded model
    summary = {"source": "Crab", "model": "powerlaw",
               "fit": {"model": "powerlaw", "pivot_keV": 50.0, "emin_keV": 20, "emax_keV": 300,
                       "parameters": [{"name": "gamma", "value": 2.1}, {"name": "norm", "value": 2.6e-3, "unit": "ph/cm2/s/keV"}],
                       "channels": {"e_min_keV": e[:-1].tolist(), "e_max_keV": e[1:].tolist(), "rate": rate.tolist(),
                                    "rate_err": (0.05 * rate).tolist(), "model_rate": mrate.tolist()}},
               "fluxes": {"20-40": {"e1_keV": 20, "e2_keV": 40, "energy_flux_erg_cm2_s": 1e-8},
                          "100-500": {"e1_keV": 100, "e2_keV": 500, "energy_flux_erg_cm2_s": 1e-9}}}
    unf = figures.unfolded_source(summary, "erg")
    expect = 1.1 * ec ** 2 * model(ec, values) * 1.602176634e-9
    assert np.allclose(unf["e2f"], expect, rtol=1e-9)
    fig = figures.spectrum_figure(unf, e2f=True, model_name="powerlaw")
    assert "erg" in fig.layout.yaxis.title.text and fig.data[1].name == "model powerlaw"
    rows = {r["band (keV)"]: r for r in figures.flux_rows(summary)}
    assert rows["20-40"]["note"] == "" and "extrapolated" in rows["100-500"]["note"]
    assert "at 50 keV (pivot)" in figures.fit_rows(summary)[1]["unit"]


def test_sky_grid_ticks_are_where_the_wcs_puts_them():
    n = 400
    w = _wcs(n)
    g = figures.sky_grid(w, (-0.5, n - 0.5), (-0.5, n - 0.5))
    assert len(g["xticks"][0]) >= 3 and len(g["yticks"][0]) >= 3
    for x, text in zip(*g["xticks"]):
        ra, _ = w.pixel_to_world_values(x, -0.5)
        assert abs(float(ra) - float(text.rstrip("°"))) < 1e-3
    for y, text in zip(*g["yticks"]):
        _, dec = w.pixel_to_world_values(-0.5, y)
        assert abs(float(dec) - float(text.rstrip("°").replace("−", "-"))) < 1e-3
    zoom = figures.sky_grid(w, (180, 220), (180, 220))
    assert zoom["ra_step"] < g["ra_step"] and zoom["dec_step"] < g["dec_step"]


def test_time_conversion_share_coordinates_and_public_limit():
    assert fs.convert_time("2003-03-01", "isot", "mjd") == "52699.000743"  # MJD in TT, as core.timeutil
    assert fs.convert_time("52699.000743", "mjd", "ijd") == "1155.000743"
    assert fs.convert_time("1155.000743", "ijd", "isot") == "2003-03-01T00:00:00"
    assert fs.convert_time("2003-03-01", "mjd", "isot") is None
    q, errors = fs.validate({"src_name": "Crab", "T1": "40000", "T2": "52759", "T_format": "mjd"})
    assert errors["T1"]["allowed"] == fs.time_limits("mjd") and errors["T1"]["allowed"].startswith("52564")
    q, _ = fs.validate({"src_name": "Crab", "RA": "05:34:31.9", "DEC": "+22:00:52", "T1": "2003-03-01", "T2": "2003-04-30"})
    assert q.to_params()["RA"] == pytest.approx(83.6329, abs=1e-4)
    q, _ = fs.validate({"src_name": "Crab", "RA": "85", "DEC": "20", "T1": "2003-03-01", "T2": "2003-04-30"})
    assert "RA=85" in fs.share_search(q) and "DEC=20" in fs.share_search(q)
    q, _ = fs.validate({"src_name": "Crab", "T1": "2003-03-01", "T2": "2003-04-30"})
    assert "RA=" not in fs.share_search(q)
    q, _ = fs.validate({"src_name": "Crab", "T1": "2003-01-01", "T2": "2004-01-01", "max_pointings": "500"})
    err = fs.public_limit_error(q)
    assert err["field"] == "max_pointings" and "public requests may use at most" in err["message"]
    assert err["allowed"] == fs.max_pointings_hint()


def test_resolver_knows_common_and_benchmark_names():
    from core.sky.resolve import resolve_name

    expect = {"Sgr A*": (266.4168, -29.0078), "M87": (187.7059, 12.3911), "Virgo A": (187.7059, 12.3911),
              "Cyg A": (299.8682, 40.7339), "1A 0535+262": (84.7274, 26.3158), "A 0535+26": (84.7274, 26.3158),
              "GX 5-1": (270.2841, -25.0811), "GX 349+2": (256.4207, -36.4152), "NGC 2110": (88.0474, -7.4562),
              "3C 279": (194.0465, -5.7893), "V404 Cyg": (306.0159, 33.8672), "Cyg X-1": (299.5903, 35.2016),
              "GRS 1915+105": (288.7981, 10.9458), "Crab": (83.6331, 22.0145), "EXO 2030+375": (308.0637, 37.6374)}
    for name, (ra, dec) in expect.items():
        r = resolve_name(name, allow_online=False)
        assert (round(r.ra, 4), round(r.dec, 4)) == pytest.approx((ra, dec), abs=2e-4), name


def test_resolver_knows_every_catalogue_name_of_the_benchmark_notebooks():
    """Every source name of the notebooks' catalogues (cells and saved outputs) resolves."""
    import json
    import re

    from tests._shared import shared_path

    names = set()
    for nb in shared_path("reference", "benchmark-notebooks").glob("*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            texts = ["".join(cell.get("source", []))]
            for out in cell.get("outputs", []):
                texts.append("".join(out.get("text", [])))
                texts += ["".join(v) if isinstance(v, list) else str(v) for v in (out.get("data") or {}).values()]
            for text in texts:
                for m in re.finditer(r'\{"cat_frame".*?\}', text):
                    try:
                        cat = json.loads(m.group(0))
                    except ValueError:
                        continue
                    names |= set(dict(zip(cat["cat_column_names"], cat["cat_column_list"]))["src_names"])
    assert {"Cyg A", "NGC 5100", "IGR J20155+3827", "V2306 Cyg", "GX 5-1"} <= names
    from core.sky.resolve import resolve_name

    for name in names:
        resolve_name(name, allow_online=False)


def test_fit_summary_rows():
    summary = {"source": "Crab", "model": "powerlaw",
               "fit": {"stat": "chi2", "statistic": 12.3, "dof": 10, "p_value": 0.27, "emin_keV": 20, "emax_keV": 200,
                       "parameters": [{"name": "PhoIndex", "value": 2.1, "unit": "", "err_1sigma": [-0.02, 0.03],
                                       "err_90": [-0.04, 0.05], "frozen": False}],
                       "channels": {"e_min_keV": [20, 30], "e_max_keV": [30, 40], "rate": [1, 0.5],
                                    "rate_err": [0.1, 0.1], "model_rate": [1.02, 0.49]}},
               "fluxes": {"20-40": {"energy_flux_erg_cm2_s": 1e-8, "energy_flux_err_1sigma": [-1e-10, 1e-10],
                                    "photon_flux_ph_cm2_s": 0.2, "photon_flux_err_1sigma": [None, None]}}}
    rows = figures.fit_rows(summary)
    assert rows[0]["parameter"] == "PhoIndex" and rows[0]["value"] == "2.1" and "+0.03" in rows[0]["1σ"]
    assert "χ² = 12.3 for 10 dof" in figures.fit_stat_text(summary)
    assert figures.flux_rows(summary)[0]["band (keV)"] == "20-40"
    assert figures.fit_source(summary)["model_rate"] == [1.02, 0.49]


def test_lightcurve_figure_time_axes_blocks_and_fits():
    t = 1155.2 + np.arange(20) * 0.05
    r = np.where(np.arange(20) < 10, 100.0, 120.0) + np.random.default_rng(2).normal(0, 1, 20)
    src = {"name": "Crab", "time": t.tolist(), "timedel": [3000.0] * 20, "rate": r.tolist(), "error": [1.0] * 20,
           "blocks": [t[0], t[9] + 0.025, t[-1]]}
    st = figures.lc_fit_stats(src)
    assert st["n"] == 20 and st["chi2_const"] > 100 and st["p_const"] < 1e-6 and st["slope"] > 0
    for fmt, first in (("ijd", t[0]), ("mjd", t[0] + 51544.0)):
        fig = figures.lightcurve_figure(src, time_format=fmt)
        assert fig.data[0].x[0] == pytest.approx(first)
    fig = figures.lightcurve_figure(src, time_format="isot")
    assert str(fig.data[0].x[0]).startswith("2003-03-01")
    names = [d.name for d in fig.data]
    assert {"rate", "constant", "linear", "Bayesian blocks"} <= set(names)
    blocks = fig.data[names.index("Bayesian blocks")]
    assert [y for y in blocks.y if y is not None][0] == pytest.approx(100, abs=1.5)
    assert len(figures.lightcurve_figure(src, show_blocks=False, show_fits=False).data) == 1


# -- callbacks as plain functions ------------------------------------------------------------------
def test_validate_form_callback_blocks_submit_on_a_bad_field():
    from callbacks.query import validate_form

    values = dict(fs.DEFAULTS, radius="99")
    out = validate_form(*[values[f] for f in fs.FIELDS], [], [], True)
    errs = dict(zip(fs.FIELDS, out[: len(fs.FIELDS)]))
    submit_disabled, query = out[len(fs.FIELDS)], out[len(fs.FIELDS) + 1]
    assert submit_disabled is True and query is None
    assert "out of range" in errs["radius"][0] and "30" in str(errs["radius"][1])
    out = validate_form(*[fs.DEFAULTS[f] for f in fs.FIELDS], [], [], True)
    assert out[len(fs.FIELDS)] is False and out[len(fs.FIELDS) + 1]["src_name"] == "Crab"
    assert "science window" in out[len(fs.FIELDS) + 2]
    # a running job keeps Submit disabled
    assert validate_form(*[fs.DEFAULTS[f] for f in fs.FIELDS], [], [], False)[len(fs.FIELDS)] is True


def test_catalogue_editing_callbacks():
    from callbacks.products import add_source, read_catalog_bytes, toggle_source

    rows, msg = add_source(1, "Cyg X-1", None, None, [])
    assert rows[0]["name"] == "Cyg X-1" and rows[0]["ra"] == pytest.approx(299.59, abs=0.01)
    rows, _ = add_source(1, "mine", "05:34:31.9", "+22:00:52", rows)
    assert rows[-1]["ra"] == pytest.approx(83.633, abs=1e-3)
    same, msg = add_source(1, "x", "400", "0", rows)
    assert "out of range" in msg
    click = {"points": [{"customdata": ["mine", 83.6, 22.0, ""]}]}
    assert toggle_source(click, rows, []) == [1]
    assert toggle_source(click, rows, [1]) == []
    from astropy.table import Table

    buf = io.StringIO()
    Table({"name": ["A", "B"], "ra": [10.0, 20.0], "dec": [1.0, -2.0]}).write(buf, format="ascii.ecsv")
    assert [r[0] for r in read_catalog_bytes(buf.getvalue().encode(), "cat.ecsv")] == ["A", "B"]


def test_upload_callback_reports_unreadable_files():
    from callbacks.products import upload_catalog

    rows, msg = upload_catalog("data:text/plain;base64," + base64.b64encode(b"not a catalogue").decode(), "x.ecsv")
    assert "x.ecsv" in msg


def test_frame_ancestors_header(monkeypatch):
    import app as app_module

    monkeypatch.setenv("ODA_FRAME_ANCESTORS", "https://archive.example.org, http://localhost:9999")
    client = app_module.server.test_client()
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["Content-Security-Policy"] == \
        "frame-ancestors 'self' https://archive.example.org http://localhost:9999"
    monkeypatch.delenv("ODA_FRAME_ANCESTORS")
    assert client.get("/embed").headers["Content-Security-Policy"] == "frame-ancestors 'self'"


def test_router_embed_and_autorun():
    from callbacks.router import route

    page = route("/embed", "?src_name=Crab&T1=2003-03-01&T2=2003-04-30&product=lc")
    assert "embed" in page.className and "product-lc" in page.className
    stores = {c.id: c for c in page.children if getattr(c, "id", None)}
    assert stores["autorun"].data["params"]["product_type"] == "lc"
    page = route("/", "")
    assert "embed" not in page.className
    assert {c.id: c for c in page.children if getattr(c, "id", None)}["autorun"].data is None
    bad = route("/", "?src_name=Crab&T1=2003-03-01&T2=2003-04-30&radius=99")
    assert {c.id: c for c in bad.children if getattr(c, "id", None)}["autorun"].data is None


def test_job_callbacks_compute_then_restore_instantly():
    """Submit → background work (as a plain function) → refs; then the same query is instant."""
    from callbacks.jobs import run_request, start_outputs
    from callbacks.products import meta_for, render_image

    params = fs.validate(fs.form_params(dict(fs.DEFAULTS, max_pointings=2)))[0].to_params()
    refs_and_more = start_outputs(params)
    request = refs_and_more[4]
    if request is not None and not isinstance(request, dict):  # already computed by another test
        request = None
    records = []
    if request:
        out = run_request(request, records.append)
        assert out[0]["job_id"] == request["job_id"] and out[4]["status"] == "done"
        assert records and records[0]["scws"] and records[-1]["status"] == "done"
        assert all(set(r) <= {"job_id", "product_type", "status", "message", "error", "scws", "n_done", "n_total",
                              "started_at", "finished_at", "updated_at"} for r in records)
    out = start_outputs(params)
    ref = out[0]
    assert isinstance(ref, dict) and ref["product_type"] == "image" and out[5]["status"] == "done"
    assert out[7].startswith("?src_name=Crab")
    fig, holder, _note = render_image(ref, None, None, [], ["labels"], None, [])
    assert holder == "holder has-product"
    assert fig.data[0].type == "heatmap" and "Crab" in list(fig.data[2].text)
    from core.products.run import load_product

    meta = str(meta_for(load_product(ref["job_id"])))
    assert f"/products/{ref['job_id']}/mosaic.fits" in meta and "all.zip" in meta


def test_progressive_mosaic_from_finished_scws_converges_to_the_product():
    """The frames of a running job: the stored per-ScW parts of the finished ScWs, co-added on
    the product's grid; with every ScW the frame is the product's mosaic."""
    from core.imaging.progressive import partial_mosaic
    from core.products.run import run_product

    q = fs.validate(fs.form_params(dict(fs.DEFAULTS, max_pointings=2)))[0]
    res = run_product(q)
    ids = [s.scw_id for s in res.scws]
    assert partial_mosaic(q, []) is None
    one = partial_mosaic(q, ids[:1])
    full = partial_mosaic(q, ids)
    assert one.n_scw == 1 and full.n_scw == len(ids) == 2
    final = res.data.images.significance
    assert np.allclose(full.images.significance, final, equal_nan=True, atol=1e-4)
    assert np.nanmax(one.images.significance) < np.nanmax(final)
    assert "Crab" in [str(n).strip() for n in full.catalog["NAME"]]
