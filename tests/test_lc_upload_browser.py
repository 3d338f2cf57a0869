"""The light-curve upload of the page in headless Chromium: real OSA/ODA files load and plot."""

from __future__ import annotations


import pytest

from tests._shared import shared_path

from tests._browser import app_server, chrome, needs_browser, wait

pytestmark = needs_browser


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with app_server(tmp_path_factory.mktemp("app")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chrome() as drv:
        yield drv


def _wait(fn, timeout=60, what="condition"):
    return wait(fn, timeout=timeout, what=what)


def test_real_light_curves_upload_and_plot(base, browser, tmp_path):
    from selenium.webdriver.common.by import By

    d = browser
    d.get(base + "/?product_type=lc")
    upload = _wait(lambda: d.find_elements(By.CSS_SELECTOR, "#lc-upload input[type=file]"), what="the upload")[0]
    upload.send_keys(str(shared_path("reference-data", "isgri_lc_example.fits")))
    msg = _wait(lambda: (lambda t: t if "rows" in t else None)(d.find_element(By.ID, "lc-upload-message").text),
                what="the upload message")
    assert "197 of 198 rows" in msg and "TIMEDEL" in msg and "4.12–29.66 keV" in msg
    graph = d.find_element(By.ID, "lc-upload-graph")
    assert graph.is_displayed()
    # Plotly draws one marker path per point of the rate trace.
    n_points = _wait(lambda: len(graph.find_elements(By.CSS_SELECTOR, ".scatterlayer .trace:first-child .points path")),
                     what="plotted points")
    assert n_points == 197
    assert "GRB221009A" in graph.text

    upload = d.find_element(By.CSS_SELECTOR, "#lc-upload input[type=file]")
    upload.send_keys(str(shared_path("reference-data", "jemx_lc_example.fits.gz")))
    _wait(lambda: "96 of 96 rows" in d.find_element(By.ID, "lc-upload-message").text, what="the JEM-X file")

    bad = tmp_path / "notes.txt"
    bad.write_text("TIME RATE\n1 2\n")
    d.find_element(By.CSS_SELECTOR, "#lc-upload input[type=file]").send_keys(str(bad))
    _wait(lambda: "not a FITS file" in d.find_element(By.ID, "lc-upload-message").text, what="the refusal")
    assert not d.find_element(By.ID, "lc-upload-graph").is_displayed()
