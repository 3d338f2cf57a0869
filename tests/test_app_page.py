"""The page as an astronomer expects it (issue 16), in a real browser: headless Chromium +
chromedriver from Debian, the app served by ``python app.py`` over loopback.

One server and one browser for the module; the checks are grouped in a few sessions and use
the 3 Crab ScWs of March 2003 (shared with ``test_app_browser``'s cache when run together).
Each numbered point of the issue is named where it is checked: (1) … (12), plus the sky map
grid, the progressive mosaic and the product history.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest

from tests._browser import app_server, chrome, needs_browser, wait

pytestmark = needs_browser

CRAB = "src_name=Crab&T1=2003-03-01&T2=2003-04-30&max_pointings=3"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with app_server(tmp_path_factory.mktemp("app"), drop_env=("ODA_JWT_SECRET",), ODA_PUBLIC_MAX_SCW="50",
                    ODA_WORKERS="1") as url:
        yield url


@pytest.fixture(scope="module")
def d():
    with chrome() as drv:
        yield drv


# -- helpers -------------------------------------------------------------------------------------
def _wait(fn, timeout=60, poll=0.15, what="condition"):
    return wait(fn, timeout=timeout, poll=poll, what=what)


def _css(d, sel):
    from selenium.webdriver.common.by import By

    return d.find_elements(By.CSS_SELECTOR, sel)


def _text(d, sel) -> str:
    el = _css(d, sel)
    return el[0].text if el else ""


def _value(d, field) -> str:
    return _css(d, f"#q-{field}")[0].get_attribute("value")


def _type(d, field, text, enter=False):
    from selenium.webdriver.common.keys import Keys

    el = _css(d, f"#q-{field}")[0]
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(text or Keys.BACKSPACE)  # typing replaces the selection: no intermediate empty value
    if enter:
        el.send_keys(Keys.ENTER)
    time.sleep(0.4)  # the inputs' debounce (0.25 s): the value reaches the server before the next action


def _radio(d, field, label, element_id=None):
    from selenium.webdriver.common.by import By

    d.find_element(By.XPATH, f"//div[@id='{element_id or 'q-' + field}']//label[normalize-space()='{label}']").click()


def _enabled(d):
    b = _css(d, "#submit")
    return b and b[0].is_enabled()


def _open_scw_fields(d):
    det = _css(d, "details.fieldset-details")[0]
    if det.get_attribute("open") is None:
        _css(d, "details.fieldset-details summary")[0].click()


def _gd(d, graph_id, expr):
    """Evaluate ``expr`` on the Plotly graph div ``gd`` of a dcc.Graph."""
    return d.execute_script(f"var gd = document.querySelector('#{graph_id} .js-plotly-plot'); return {expr};")


def _ticks(d, graph_id, axis="x"):
    """Tick labels drawn on the graph's axes (read at once: the graph may be redrawn)."""
    return d.execute_script(f"return Array.from(document.querySelectorAll('#{graph_id} .{axis}tick text'))"
                            ".map(t => t.textContent).filter(t => t);")


def _get(url):
    return urllib.request.urlopen(url, timeout=60)


# -- 1: the page before any query ------------------------------------------------------------------
def test_form_before_a_query(base, d):
    html = _get(base + "/").read().decode()
    assert '<html lang="en">' in html  # (12) <html lang>
    d.get(base + "/")
    _wait(lambda: _enabled(d), what="a valid default query")
    # (6) the header's API link answers with the OpenAPI description of /api/v1
    api = [a for a in _css(d, ".app-header a") if a.text == "API"][0].get_attribute("href")
    doc = json.loads(_get(api).read())
    assert doc["openapi"].startswith("3") and any(p.startswith("/api/v1/jobs") for p in doc["paths"])
    # (12) no empty grey axes: a placeholder until a product exists
    assert _css(d, "#holder-image .empty")[0].is_displayed()
    assert not _css(d, "#img-graph")[0].is_displayed()
    # (11) common names resolve offline
    for name, note in (("Sgr A*", "Sgr A*: RA 266.4168°, Dec -29.0078°"), ("M87", "M87: RA 187.7059°, Dec 12.3911°"),
                       ("A 0535+26", "1A 0535+262: RA 84.7274°"), ("Cyg A", "Cyg A: RA 299.8682°")):
        _type(d, "src_name", name)
        _wait(lambda: note in _text(d, "#resolve-note"), what=f"{name} resolved")
    # (1) sexagesimal RA/Dec without a name: valid, Submit enabled, ScWs counted
    _type(d, "src_name", "")
    _wait(lambda: _value(d, "RA") == "", what="RA cleared with the name")
    _type(d, "RA", "05:34:31.9")
    _type(d, "DEC", "+22:00:52")
    _wait(lambda: "science window" in _text(d, "#form-status") and _enabled(d), what="sexagesimal query valid")
    assert _text(d, "#q-RA-error") == "" and _text(d, "#q-DEC-error") == ""
    # (10) switching the time format converts the dates typed; errors quote the chosen format
    _type(d, "T1", "2003-03-01")
    _type(d, "T2", "2003-04-30")
    _wait(lambda: _enabled(d), what="dates valid")
    _radio(d, "T_format", "MJD")
    _wait(lambda: _value(d, "T1") == "52699.000743" and _value(d, "T2") == "52759.000743", what="dates in MJD")
    _wait(lambda: _enabled(d), what="MJD dates valid")
    _type(d, "T1", "40000")
    _wait(lambda: "52564.000743 .. 60735.000789" in _text(d, "#q-T1-error"), what="the T1 error in MJD")
    _radio(d, "T_format", "IJD")
    _wait(lambda: _value(d, "T2") == "1215.000743", what="dates in IJD")
    _wait(lambda: "1020.000743 .. 9191.000789" in _text(d, "#q-T1-error"), what="the T1 error in IJD")
    _radio(d, "T_format", "ISOT")
    _wait(lambda: _value(d, "T2") == "2003-04-30T00:00:00", what="dates back in ISOT")
    # (7) the page refuses what the API refuses, with the API's message and one range
    _type(d, "src_name", "Crab")
    _type(d, "T1", "2003-01-01")
    _type(d, "T2", "2004-01-01")
    _open_scw_fields(d)
    _type(d, "max_pointings", "500")
    err = _wait(lambda: "token" in _text(d, "#q-max_pointings-error") and _text(d, "#q-max_pointings-error"),
                what="the public limit")
    hint = _text(d, ".field-max_pointings .hint")
    assert hint == "1–50 without a token" and f"allowed: {hint}" in err
    _wait(lambda: not _enabled(d), what="Submit disabled")
    body = json.dumps({"src_name": "Crab", "T1": "2003-01-01", "T2": "2004-01-01", "max_pointings": 500}).encode()
    req = urllib.request.Request(base + "/api/v1/jobs", data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=60)
    assert exc.value.code == 403
    api_msg = json.loads(exc.value.read())["message"]
    page_msg = err.split(" — allowed")[0]
    assert api_msg.startswith(page_msg) and "public requests may use at most 50" in page_msg
    _type(d, "max_pointings", "20000")
    _wait(lambda: "allowed: 1–50 without a token" in _text(d, "#q-max_pointings-error"), what="same range when out of range")


def test_fields_and_hints_follow_the_parameter_table(base, d):
    """Hints, refusals and the fields shown per instrument are the parameter table's (issue 13)."""
    from callbacks.form_state import field_hint
    from core.params import param

    d.get(base + "/")
    _wait(lambda: _enabled(d), what="a valid ISGRI query")
    assert "not yet" not in _text(d, ".field-instrument") and "IBIS/ISGRI" in _text(d, ".field-instrument")
    assert not _css(d, ".field-jemx_num")[0].is_displayed()  # JEM-X only
    assert _text(d, "#q-E1_keV-hint") == field_hint("E1_keV", "isgri")
    _type(d, "E1_keV", "5")
    _wait(lambda: param("E1_keV").at("isgri").allowed() in _text(d, "#q-E1_keV-error"), what="the table's range")
    _wait(lambda: not _enabled(d), what="Submit disabled")
    _type(d, "E1_keV", "20")
    d.get(base + "/?instrument=spi_acs&product_type=lc")  # no times: nothing runs (no job to reattach to later)
    _wait(lambda: _text(d, "#q-E1_keV-hint") == field_hint("E1_keV", "spi_acs"), what="the SPI-ACS band's hint")
    _wait(lambda: not _css(d, "details.fieldset-details")[0].is_displayed(), what="no ScW fields for SPI-ACS")
    assert _css(d, ".field-acs_spectrum")[0].is_displayed() and not _css(d, ".field-radius")[0].is_displayed()


# -- 2: a fresh image: Enter, progressive mosaic, log, WCS grid and zoom, downloads, history ----------
def test_fresh_image_progressive_grid_zoom_log_downloads_history(base, d):
    from astropy.io import fits
    from astropy.wcs import WCS
    from selenium.webdriver.common.action_chains import ActionChains

    d.get(base + "/")
    _wait(lambda: _enabled(d), what="the default query")
    _open_scw_fields(d)
    _type(d, "max_pointings", "3")
    _type(d, "E1_keV", "25")
    _type(d, "E2_keV", "45")  # a band never decoded in this session: a fresh calculation
    _wait(lambda: "3 science windows" in _text(d, "#form-status") and _enabled(d), what="3 ScWs")
    # Every state of the map's title, the source list and the note, recorded in the page as it
    # changes (a poll from here can miss a frame that the final product replaces quickly).
    d.execute_script("""
        window.__states = [];
        var rec = function() {
            var t = document.querySelector('#img-graph .gtitle'), n = document.querySelector('#partial-note');
            var s = [t ? t.textContent : '', document.querySelectorAll('#cat-table td[data-dash-column=name]').length,
                     n ? n.textContent : ''];
            var last = window.__states[window.__states.length - 1];
            if (!last || last[0] !== s[0] || last[1] !== s[1] || last[2] !== s[2]) { window.__states.push(s); }
        };
        new MutationObserver(rec).observe(document.body, {subtree: true, childList: true, characterData: true});
    """)
    _type(d, "E2_keV", "45", enter=True)  # (12) Enter submits
    _wait(lambda: "ready" in _text(d, "#job-status"), timeout=150, what="the image job")
    frames = [tuple(s) for s in d.execute_script("return window.__states;") if "in progress" in s[0]]
    # progressive mosaic: frames drawn while the job ran, each with its source list and note
    assert frames, "no progressive frame was shown"
    assert any("of 3 ScW (in progress)" in t for t, _, _ in frames) and all(n >= 1 for _, n, _ in frames), frames
    # The final product replaces the last frame and clears the note in one update, but Plotly
    # redraws the title a moment after the note changes: a frame's title may be seen with the
    # cleared note; some state of every frame carries it.
    assert any("finished so far of 3" in note for _, _, note in frames), frames
    _wait(lambda: "3 ScW" in _gd(d, "img-graph", "gd.layout.title.text") and "progress" not in
          _gd(d, "img-graph", "gd.layout.title.text"), what="the final mosaic")
    assert _text(d, "#partial-note") == ""
    # (9) the log says what the job did, like the progress table
    log = _css(d, "#meta-image details")[-1]
    log.find_element("css selector", "summary").click()
    progress_rows = [r.get_attribute("textContent") for r in _css(d, "#job-table td:nth-child(2)")]
    log_rows = [td.get_attribute("textContent") for td in log.find_elements("css selector", "td:nth-child(2)")]
    assert "calculated" in log.text and "restored from cache" not in log.text
    assert log_rows == progress_rows and set(log_rows) == {"calculated"}
    # (4) the sky map: RA/Dec tick labels from the mosaic's WCS, grid lines, colour bar in σ, zoom by drag/wheel
    assert _gd(d, "img-graph", "gd.layout.dragmode") == "zoom" and _gd(d, "img-graph", "gd._context.scrollZoom")
    assert "σ" in _gd(d, "img-graph", "gd.data[0].colorbar.title.text")
    grid = _gd(d, "img-graph", "gd.data.filter(t => t.meta && t.meta[0] == 'grid').length")
    assert grid == 1
    mosaic = {a.get_attribute("data-file"): a.get_attribute("href") for a in _css(d, "#meta-image a.file-link")}["mosaic.fits"]
    with fits.open(io.BytesIO(_get(mosaic).read())) as hdul:
        wcs = WCS(next(h for h in hdul if h.header.get("IMATYPE") == "SIGNIFICANCE").header).celestial

    def check_ticks():
        lay = _gd(d, "img-graph", "{x: gd.layout.xaxis, y: gd.layout.yaxis}")
        xs, ys = lay["x"], lay["y"]
        assert len(xs["tickvals"]) >= 2 and len(ys["tickvals"]) >= 2
        for v, t in zip(xs["tickvals"], xs["ticktext"]):
            ra, _ = wcs.pixel_to_world_values(v, min(ys["range"]))
            assert abs(((float(ra) - float(t.rstrip("°"))) + 180) % 360 - 180) < 0.02, (v, t)
        for v, t in zip(ys["tickvals"], ys["ticktext"]):
            _, dec = wcs.pixel_to_world_values(min(xs["range"]), v)
            assert abs(float(dec) - float(t.rstrip("°").replace("−", "-"))) < 0.02, (v, t)
        shown = _ticks(d, "img-graph", "x")
        assert shown and all(s.endswith("°") for s in shown)
        return xs["ticktext"]

    before = check_ticks()
    assert len(_ticks(d, "img-graph", "y")) >= 2
    # the modebar offers no cloud upload, no Chart Studio, no Plotly logo (5)
    ActionChains(d).move_to_element(_css(d, "#img-graph .nsewdrag")[0]).perform()
    titles = [b.get_attribute("data-title") or "" for b in _css(d, "#img-graph .modebar-btn")]
    assert titles and not any("Cloud" in t or "Chart Studio" in t for t in titles)
    assert not _css(d, "#img-graph .modebar-btn--logo")
    assert _gd(d, "img-graph", "gd._context.showSendToCloud") is False
    drag = _css(d, "#img-graph .nsewdrag")[0]
    ActionChains(d).move_to_element_with_offset(drag, -60, -60).click_and_hold().move_by_offset(90, 90).release().perform()
    _wait(lambda: _gd(d, "img-graph", "gd.layout.xaxis.ticktext").__ne__(before), what="ticks of the zoomed window")
    time.sleep(0.3)
    after = check_ticks()
    assert after != before
    # (12) all.zip holds the PNG; text downloads have one charset
    zurl = [a.get_attribute("href") for a in _css(d, "#meta-image a") if a.text == "all (zip)"][0]
    with zipfile.ZipFile(io.BytesIO(_get(zurl).read())) as z:
        png = [n for n in z.namelist() if n.endswith("mosaic.png")]
        assert png and z.read(png[0])[:8] == b"\x89PNG\r\n\x1a\n"
    ecsv = mosaic.replace("mosaic.fits", "catalog.ecsv")
    assert _get(ecsv).headers["Content-Type"] == "text/plain; charset=utf-8"
    # product history: the image is listed with a thumbnail that loads
    item = _wait(lambda: _css(d, "#history-list .history-item"), what="the history entry")[0]
    label = item.get_attribute("textContent")
    assert "Sky image" in label and "25–45 keV" in label
    _wait(lambda: d.execute_script("var i = document.querySelector('#history-list img'); return i && i.complete && i.naturalWidth > 100"),
          what="the thumbnail")


# -- 3: spectrum and fit ---------------------------------------------------------------------------
def test_spectrum_ticks_fit_band_pivot_unfolded_refit_and_history(base, d):
    d.get(base + f"/?{CRAB}")
    _wait(lambda: _css(d, "#img-graph .heatmaplayer image, #img-graph .hm"), timeout=150, what="the Crab image")
    _wait(lambda: any(c.text == "Crab" for c in _css(d, "#cat-table td[data-dash-column=name]")), what="Crab listed")
    image_id = _wait(lambda: _css(d, "#meta-image .meta"), what="the image's downloads")[0].get_attribute("data-job-id")
    # a second catalogue source, so that another source can be fitted
    add = _css(d, "#cat-add-name")[0]
    add.send_keys("1A 0535+262")
    _css(d, "#cat-add")[0].click()
    _wait(lambda: any(c.text == "1A 0535+262" for c in _css(d, "#cat-table td[data-dash-column=name]")), what="source added")
    # (3) the spectrum: plain-number energy ticks on its axis, x range following the data
    _radio(d, "product_type", "Spectrum")
    _wait(lambda: "1A 0535+262" in _text(d, "#cat-selected-note") and _enabled(d), what="spectrum query")
    _css(d, "#submit")[0].click()
    _wait(lambda: _css(d, "#spec-graph .scatterlayer .point"), timeout=150, what="the spectrum")
    ticks = _ticks(d, "spec-graph", "x")
    assert len(ticks) >= 3 and all(t.isdigit() for t in ticks), ticks
    lo, hi = _gd(d, "spec-graph", "gd.layout.xaxis.range")
    assert 10 ** lo > 12 and 10 ** hi < 1100  # not 0.8–1500 keV
    assert not _css(d, "#spec-e2f")
    # (8) the fit band: not the image's band silently
    _radio(d, "product_type", "Sky image")
    _type(d, "E1_keV", "20")
    _type(d, "E2_keV", "40")
    _radio(d, "product_type", "Spectral fit")
    _wait(lambda: _value(d, "E1_keV") == "20" and _value(d, "E2_keV") == "300", what="the fit band defaults to 20–300 keV")
    _type(d, "E2_keV", "40")
    _wait(lambda: "extrapolated" in _text(d, "#fit-band-note"), what="a narrow-band warning")
    _type(d, "E2_keV", "300")
    _wait(lambda: "The fit uses 20–300 keV" in _text(d, "#fit-band-note") and _enabled(d), what="the fit query")
    _css(d, "#submit")[0].click()
    _wait(lambda: "Crab: powerlaw" in _text(d, "#fit-stats"), timeout=150, what="the Crab fit")
    stats = _text(d, "#fit-stats")
    assert "pivot energy 50 keV" in stats and "at 50 keV (pivot)" in stats
    ticks = _ticks(d, "fit-graph", "x2")  # the residual panel carries the shared energy axis
    assert ticks and all(t.isdigit() for t in ticks) and "20" in ticks and "100" in ticks
    # the unfolded E²F: the Crab's νFν ≈ 1e-8 erg/cm²/s at 30 keV
    _radio(d, None, "E²F (erg/cm²/s)", element_id="fit-view")
    _wait(lambda: "erg" in _gd(d, "fit-graph", "gd.layout.yaxis.title.text"), what="the E²F view")
    x, y = _gd(d, "fit-graph", "[Array.from(gd._fullData[0].x), Array.from(gd._fullData[0].y)]")
    k = int(np.argmin(np.abs(np.log(np.asarray(x, float) / 30.0))))
    assert 5e-9 < float(y[k]) < 2e-8, (x[k], y[k])
    model = _gd(d, "fit-graph", "gd.data[1].name")
    assert model.startswith("model")
    # fit another catalogue source of the same spectrum
    _css(d, "#fit-source")[0].click()
    _wait(lambda: [o for o in _css(d, ".dash-dropdown-option") if o.text == "1A 0535+262"], what="the option")[0].click()
    _wait(lambda: "1A 0535+262" in _text(d, "#fit-source"), what="1A 0535+262 chosen")
    _css(d, "#fit-go")[0].click()
    _wait(lambda: "1A 0535+262: powerlaw" in _text(d, "#fit-stats"), timeout=150, what="the fit of A 0535+26")
    # product history: reopening the image is instant and shows that very product
    items = _css(d, "#history-list .history-item")
    assert len(items) >= 4
    target = [i for i in items if "Sky image" in i.get_attribute("textContent") and "20–40 keV" in i.get_attribute("textContent")][0]
    t0 = time.time()
    target.click()
    _wait(lambda: _css(d, "#meta-image .meta")[0].get_attribute("data-job-id") == image_id and
          _css(d, "#img-graph")[0].is_displayed(), timeout=20, what="the reopened image")
    assert time.time() - t0 < 10
    assert _css(d, "#product-tabs .tab-selected, .tab--selected")[0].text == "Sky image"
    # the history survives a reload of the tab (session storage)
    d.refresh()
    _wait(lambda: len(_css(d, "#history-list .history-item")) == len(items), what="the history after a reload")


# -- 4: share URL and embed ------------------------------------------------------------------------
def test_share_url_keeps_coordinates_and_embed_has_no_editing(base, d):
    # (2) a named query at other coordinates keeps them in its share URL
    d.get(base + "/?src_name=Crab&RA=85&DEC=20&T1=2003-03-01&T2=2003-04-30&max_pointings=1")
    _wait(lambda: _css(d, "#share-image"), timeout=150, what="the image at RA 85, Dec 20")
    share = _css(d, "#share-image")[0].get_attribute("value")
    assert "RA=85" in share and "DEC=20" in share and "src_name=Crab" in share
    assert "RA=85" in d.current_url
    d.get(share)
    _wait(lambda: _css(d, "#share-image"), timeout=60, what="the replayed image")
    assert _value(d, "RA") == "85" and _value(d, "DEC") == "20"
    pre = d.find_element("xpath", "//div[@id='meta-image']//details[summary[normalize-space()='Query parameters']]/pre")
    params = json.loads(pre.get_attribute("textContent"))
    assert params["RA"] == 85 and params["DEC"] == 20
    # (12) the embed hides the catalogue's editing controls and the history
    d.get(base + f"/embed?{CRAB}&product=image")
    _wait(lambda: _css(d, "#img-graph .heatmaplayer image, #img-graph .hm"), timeout=150, what="the embedded image")
    _wait(lambda: _css(d, "#cat-table td[data-dash-column=name]"), what="the embedded source list")
    assert not _css(d, "#cat-table .dash-delete-cell") and not _css(d, "#cat-table input[type=checkbox]")
    assert not any(e.is_displayed() for e in _css(d, ".cat-actions, #cat-upload, #cat-add"))
    assert not _css(d, "#history-list .history-item")
