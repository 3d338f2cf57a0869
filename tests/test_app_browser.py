"""The page in a real browser (headless Chromium + chromedriver from /usr/bin), app served by
``python app.py`` over loopback: the astronomer's flow, share URLs, embedding and refusal,
and a bad field blocking Submit."""

from __future__ import annotations

import functools
import http.server
import io
import threading
import time
import urllib.request

import pytest

from tests._browser import ROOT, app_server, chrome, needs_browser, wait

pytestmark = needs_browser

QUERY = "src_name=Crab&T1=2003-03-01&T2=2003-04-30&max_pointings=3"


@pytest.fixture(scope="module")
def hosts():
    """Two static servers of assets/ on other loopback origins: one allowed to frame the app, one not."""
    servers = []
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ROOT / "assets"))
    handler.log_message = lambda *a: None
    for _ in range(2):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    yield [f"http://localhost:{s.server_address[1]}" for s in servers]
    for s in servers:
        s.shutdown()


@pytest.fixture(scope="module")
def base(hosts, tmp_path_factory):
    with app_server(tmp_path_factory.mktemp("app"), ODA_FRAME_ANCESTORS=hosts[0]) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chrome() as drv:
        yield drv


def _wait(fn, timeout=60, poll=0.2, what="condition"):
    return wait(fn, timeout=timeout, poll=poll, what=what)


def _css(d, sel):
    from selenium.webdriver.common.by import By

    return d.find_elements(By.CSS_SELECTOR, sel)


def _type(d, field, text):
    from selenium.webdriver.common.keys import Keys

    el = _css(d, f"#q-{field}")[0]
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.BACKSPACE)
    el.send_keys(text)


def _submit_enabled(d):
    b = _css(d, "#submit")
    return b and b[0].is_enabled()


def _choose_product(d, label):
    from selenium.webdriver.common.by import By

    d.find_element(By.XPATH, f"//div[@id='q-product_type']//label[normalize-space()='{label}']").click()


def test_crab_image_select_spectrum_lc_download_and_share(base, browser):
    from astropy.io import fits
    from selenium.webdriver.common.action_chains import ActionChains

    d = browser
    d.get(base + "/")
    _wait(lambda: _submit_enabled(d), what="a valid default query")
    _type(d, "src_name", "Crab")
    _css(d, "details.fieldset-details summary")[0].click()  # the science-window fields
    _type(d, "max_pointings", "3")
    _wait(lambda: "Crab: RA 83.6331" in _css(d, "#resolve-note")[0].text, what="name resolution")
    _wait(lambda: "3 science windows" in _css(d, "#form-status")[0].text and _submit_enabled(d), what="3 ScWs")
    _css(d, "#submit")[0].click()
    # live progress, then the image and its source list
    _wait(lambda: _css(d, "#job-status")[0].text, what="job status")
    _wait(lambda: _css(d, "#img-graph .hm, #img-graph .heatmaplayer image"), timeout=120, what="the sky image")
    _wait(lambda: any(c.text == "Crab" for c in _css(d, "#cat-table td[data-dash-column=name]")), what="Crab listed")
    # (the map shows the mosaic as it grows: wait for the finished product)
    _wait(lambda: "ready" in _css(d, "#job-status")[0].text, timeout=120, what="the finished image")
    _wait(lambda: _css(d, "#meta-image a.file-link") and "progress" not in d.execute_script(
        "return document.querySelector('#img-graph .js-plotly-plot').layout.title.text"), what="the final mosaic drawn")
    time.sleep(0.5)  # its source list too
    # click the Crab's marker on the map: it becomes selected in the table
    point = _wait(lambda: _css(d, "#img-graph .scatterlayer .point"), what="source markers")[0]
    ActionChains(d).move_to_element(point).click().perform()
    _wait(lambda: _css(d, "#cat-table input[type=checkbox]:checked"), what="Crab selected")
    image_links = {a.get_attribute("data-file"): a.get_attribute("href") for a in _css(d, "#meta-image a.file-link")}
    assert "mosaic.fits" in image_links
    # spectrum of the selected source
    _choose_product(d, "Spectrum")
    _wait(lambda: "Sources (ticked): Crab" in _css(d, "#cat-selected-note")[0].text and _submit_enabled(d),
          what="spectrum query with the selected source")
    _css(d, "#submit")[0].click()
    _wait(lambda: _css(d, "#spec-graph .scatterlayer .point"), timeout=120, what="the spectrum")
    # light curve
    _choose_product(d, "Light curve")
    _wait(lambda: _submit_enabled(d), what="lc query")
    _css(d, "#submit")[0].click()
    _wait(lambda: _css(d, "#lc-graph .scatterlayer .point"), timeout=120, what="the light curve")
    assert "Bayesian" in _css(d, "#lc-stats")[0].text
    lc_links = {a.get_attribute("data-file"): a.get_attribute("href") for a in _css(d, "#meta-lc a.file-link")}
    assert "lc_Crab.fits" in lc_links
    # the downloads open with astropy
    for href, ext in ((image_links["mosaic.fits"], "ISGR-MOSA-IMA"), (lc_links["lc_Crab.fits"], "ISGR-SRC.-LCR")):
        with fits.open(io.BytesIO(urllib.request.urlopen(href, timeout=60).read())) as hdul:
            assert ext in [h.name for h in hdul]
    # the share URL replays the query (already computed: shown at once)
    share = _css(d, "#share-lc")[0].get_attribute("value")
    assert share.startswith(base) and "product_type=lc" in share and "selected_catalog" in share
    d.get("about:blank")
    t0 = time.time()
    d.get(share)
    _wait(lambda: _css(d, "#lc-graph .scatterlayer .point"), timeout=30, what="the replayed light curve")
    assert time.time() - t0 < 15
    checked = _css(d, "#q-product_type input:checked")[0].get_attribute("value")
    assert checked == "lc" and _css(d, "#q-src_name")[0].get_attribute("value") == "Crab"
    # a bad field shows its message and allowed range, and blocks Submit
    _css(d, "details.fieldset-details summary")[0].click()
    _type(d, "radius", "99")
    _wait(lambda: "out of range" in _css(d, "#q-radius-error")[0].text, what="the radius error")
    assert "allowed: > 0.0 and ≤ 30.0" in _css(d, "#q-radius-error")[0].text
    _wait(lambda: not _submit_enabled(d), what="Submit disabled")


def test_embed_allowed_origin_renders_and_other_origin_is_refused(base, hosts, browser):
    allowed, refused = hosts
    resp = urllib.request.urlopen(f"{base}/embed?{QUERY}&product=image", timeout=30)
    csp = resp.headers["Content-Security-Policy"]
    assert csp == f"frame-ancestors 'self' {allowed}" and refused not in csp
    d = browser
    q = urllib.request.quote(QUERY + "&product=image", safe="")
    d.get(f"{allowed}/embed-demo.html?oda={base}&q={q}")
    frame = _wait(lambda: _css(d, "iframe#oda"), what="the iframe")[0]
    d.switch_to.frame(frame)
    try:
        _wait(lambda: _css(d, "#img-graph .hm, #img-graph .heatmaplayer image"), timeout=120, what="the embedded image")
        assert "embed" in _css(d, "#app")[0].get_attribute("class")
        assert not _css(d, "#query-panel")[0].is_displayed()  # minimal chrome
    finally:
        d.switch_to.default_content()
    height = _wait(lambda: d.execute_script("return window.odaEmbedHeight"), what="postMessage height")
    assert height > 200
    # another origin: the browser refuses to render the frame
    d.get(f"{refused}/embed-demo.html?oda={base}&q={q}")
    frame = _wait(lambda: _css(d, "iframe#oda"), what="the iframe")[0]
    time.sleep(3)
    d.switch_to.frame(frame)
    try:
        assert not _css(d, "#app") and not _css(d, "#img-graph")
    finally:
        d.switch_to.default_content()
    assert d.execute_script("return window.odaEmbedHeight") is None
