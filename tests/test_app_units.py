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
    heat, pts = fig.data
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
    fig = figures.spectrum_figure(dict(src, model_rate=(rate * 1.01).tolist()), e2f=True, model_name="powerlaw")
    names = [t.name for t in fig.data]
    assert "model powerlaw" in names and len(fig.data) == 3
    resid = np.asarray(fig.data[2].y)
    assert np.allclose(resid, -0.01 / 0.05, atol=1e-6)
    assert "E²" in fig.layout.yaxis.title.text


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
    fig = render_image(ref, None, None, [], ["labels"], None, [])
    assert fig.data[0].type == "heatmap" and "Crab" in list(fig.data[1].text)
    from core.products.run import load_product

    meta = str(meta_for(load_product(ref["job_id"])))
    assert f"/products/{ref['job_id']}/mosaic.fits" in meta and "all.zip" in meta
