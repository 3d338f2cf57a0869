"""spi_acs_lc in a real browser: the page (share URL replay, a bad time_bin refused) and the embed."""

from __future__ import annotations

import urllib.parse

from tests.test_app_browser import _css, _submit_enabled, _type, _wait, base, browser, hosts  # noqa: F401  (fixtures)

GW = {"instrument": "spi_acs", "product_type": "lc", "T1": "2017-08-17T12:39:24.4", "T2": "2017-08-17T12:42:44.4",
      "time_bin": "0.1", "src_name": "", "RA": "197.4503", "DEC": "-23.3839"}


def _lc_drawn(d):
    lines = _css(d, "#lc-graph .scatterlayer .js-line")
    notes = [a.text for a in _css(d, "#lc-graph .annotation-text")]
    return lines and any("T0 (trigger)" in n for n in notes)


def test_page_shows_the_acs_light_curve_with_t0(base, browser):  # noqa: F811
    d = browser
    d.get(f"{base}/?{urllib.parse.urlencode(GW)}")
    _wait(lambda: _lc_drawn(d), timeout=120, what="the SPI-ACS light curve with T0 marked")
    stats = _css(d, "#lc-stats")[0].text
    assert "S/N" in stats and "upper limit" in stats and "from the pointing axis" in stats
    assert "SPI-ACS" in _css(d, "#lc-graph .gtitle")[0].text
    links = {a.get_attribute("data-file") for a in _css(d, "#meta-lc a.file-link")}
    assert "spi_acs_lc.fits" in links
    assert "instrument=spi_acs" in _css(d, "#share-lc")[0].get_attribute("value")
    assert "SPI-ACS all-sky light curve" in _css(d, "#form-status")[0].text
    # a time bin that is not a multiple of 50 ms is refused with the allowed values, Submit blocked
    _type(d, "time_bin", "0.07")
    _wait(lambda: "multiple of 0.05" in _css(d, "#q-time_bin-error")[0].text, what="the time_bin error")
    _wait(lambda: not _submit_enabled(d), what="Submit disabled")


def test_embed_shows_the_acs_light_curve(base, browser):  # noqa: F811
    d = browser
    # An archive page links T0 and a window (GCN-style) rather than T1/T2.
    link = {k: v for k, v in GW.items() if k not in ("T1", "T2", "product_type")}
    link.update(T0="2017-08-17T12:41:04.4", window="100", product="lc")
    d.get(f"{base}/embed?{urllib.parse.urlencode(link)}")
    _wait(lambda: _lc_drawn(d), timeout=120, what="the embedded SPI-ACS light curve")
    assert "embed" in _css(d, "#app")[0].get_attribute("class")
    assert not _css(d, "#query-panel")[0].is_displayed()
    assert "S/N" in _css(d, "#lc-stats")[0].text
    assert "T0 = 2017-08-17T12:41:04.400" in _css(d, "#lc-graph .gtitle")[0].text
