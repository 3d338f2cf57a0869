"""spi_acs_lc through the real oda_api client and our /api/v1, against the app on loopback."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import requests

from tests.test_api_support import api_url  # noqa: F401  (fixture)

oda_api = pytest.importorskip("oda_api.api")
logging.getLogger("oda_api").setLevel(logging.ERROR)

#: The real plugin's test request shape (T1/T2, time_bin), around GRB 170817A.
GW = dict(T1="2017-08-17T12:39:24.4", T2="2017-08-17T12:42:44.4")


def _core(**params):
    from core.products.run import run_product
    from core.query import Query

    return run_product(Query.from_params({"instrument": "spi_acs", **params}))


def test_oda_api_spi_acs_lc_matches_core(api_url):  # noqa: F811
    disp = oda_api.DispatcherAPI(url=api_url)
    disp.n_max_tries = 1
    assert "spi_acs" in disp.get_instruments_list()
    desc = disp.get_instrument_description("spi_acs")
    assert "spi_acs_lc" in desc[0][1]["prod_dict"]
    dc = disp.get_product(instrument="spi_acs", product="spi_acs_lc", product_type="Real", silent=True,
                          time_bin=0.05, RA=197.4503, DEC=-23.3839, **GW)
    lc = dc.spi_acs_lc_0_query
    rate = lc.data_unit[1]
    assert rate.name == "RATE" and rate.header["INSTRUME"] == "SPI-ACS"
    assert rate.header["MJDREF"] == 51544 and rate.header["TIMEDEL"] == pytest.approx(0.05)
    data = np.array(rate.data)
    res = _core(time_bin=0.05, RA=197.4503, DEC=-23.3839, **GW)
    assert disp.job_id == res.product_id
    from core.instruments.spi_acs.product import read_lc_fits

    ref = read_lc_fits(res.files["spi_acs_lc.fits"])
    np.testing.assert_array_equal(data["RATE"], ref["rate"])
    np.testing.assert_array_equal(data["TIME"], ref["time"])
    # TIME is in s from TIMEZERO = the middle of T1..T2 (the GW time here), IJD seconds.
    from astropy.time import Time

    from core.timeutil import time_to_ijd

    t0 = float(time_to_ijd(Time("2017-08-17T12:41:04.4", scale="utc"))) * 86400.0
    assert rate.header["TIMEZERO"] == pytest.approx(t0, abs=2e-3)
    assert data["TIME"][0] == pytest.approx(-100.0, abs=0.06) and len(data) == pytest.approx(4000, abs=2)
    # As in the plugin's own test: the scatter is close to the quoted errors (here 1.57x: non-Poisson).
    pull = (data["RATE"] - np.mean(data["RATE"])) / data["ERROR"]
    assert 1.3 < np.std(pull) < 1.9
    # The burst is in the data oda_api returns: the second after T0+1.4 s is above the mean.
    sel = (data["TIME"] >= 1.4) & (data["TIME"] < 2.4)
    assert data["RATE"][sel].mean() > data["RATE"].mean() + 2 * data["RATE"].std() / np.sqrt(sel.sum())


def test_oda_api_bad_time_bin_is_refused(api_url):  # noqa: F811
    disp = oda_api.DispatcherAPI(url=api_url)
    disp.n_max_tries = 1
    with pytest.raises(oda_api.RequestNotUnderstood) as info:
        disp.get_product(instrument="spi_acs", product="spi_acs_lc", product_type="Real", silent=True,
                         time_bin=0.07, **GW)
    assert "time_bin" in str(info.value) and "0.05" in str(info.value)


def test_api_v1_submit_product_files_png(api_url):  # noqa: F811
    body = {"instrument": "spi_acs", "product_type": "lc", "T0": "2017-08-17T12:41:04.4", "window": 60,
            "time_bin": 1, "acs_spectrum": "short_grb"}
    r = requests.post(f"{api_url}/api/v1/jobs", json=body, timeout=120)
    assert r.status_code in (200, 202), r.text
    jid = r.json()["job_id"]
    for _ in range(120):
        rec = requests.get(f"{api_url}/api/v1/jobs/{jid}", timeout=30).json()
        if rec["status"] == "done":
            break
        import time

        time.sleep(0.5)
    assert rec["status"] == "done", rec
    p = requests.get(f"{api_url}/api/v1/products/{jid}", timeout=30).json()
    s = p["summary"]
    assert s["instrument"] == "spi_acs" and s["time_bin"] == pytest.approx(1.0)
    assert s["T0_isot"].startswith("2017-08-17T12:41:04.4")
    assert "upper_limits" in s["analysis"] and s["analysis"]["background"]["dof"] > 50
    fits_url = p["files"]["spi_acs_lc.fits"]
    raw = requests.get(fits_url, timeout=30).content
    import io

    from astropy.io import fits

    with fits.open(io.BytesIO(raw)) as h:
        assert h["RATE"].columns.names == ["TIME", "RATE", "ERROR"]
        assert len(h["RATE"].data) == 120 and h["RATE"].header["TIMEDEL"] == pytest.approx(1.0)
    png = requests.get(p["links"]["figure"], timeout=60)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    inst = requests.get(f"{api_url}/api/v1/instruments/spi_acs", timeout=30).json()
    assert inst["available"] and inst["products"][0]["name"] == "spi_acs_lc"
    tb = inst["products"][0]["parameters"]["time_bin"]
    assert tb["minimum"] == 0.05 and tb["multipleOf"] == 0.05 and tb["default"] == 2.0
    bad = requests.post(f"{api_url}/api/v1/jobs", json={**body, "window": 20000}, timeout=30)
    assert bad.status_code == 400 and bad.json()["field"] == "T2" and "20000" in bad.json()["allowed"]


def test_api_code_snippet_replays_through_oda_api_and_zip(api_url):  # noqa: F811
    import io
    import zipfile

    disp = oda_api.DispatcherAPI(url=api_url)
    disp.n_max_tries = 1
    disp.get_product(instrument="spi_acs", product="spi_acs_lc", product_type="Real", silent=True,
                     time_bin=0.5, acs_spectrum="long_grb", **GW)
    code = disp.response_json["products"]["api_code"]
    assert "instrument='spi_acs'" in code and "product='spi_acs_lc'" in code and "acs_spectrum='long_grb'" in code
    ns: dict = {}
    exec(compile(code.replace("data_collection.show()", ""), "<api_code>", "exec"), ns)  # the user's copy-paste
    assert ns["disp"].job_id == disp.job_id
    data = np.array(ns["data_collection"].spi_acs_lc_0_query.data_unit[1].data)
    assert len(data) == 400
    z = zipfile.ZipFile(io.BytesIO(requests.get(f"{api_url}/products/{disp.job_id}/all.zip", timeout=60).content))
    names = {n.split("/", 1)[1] for n in z.namelist()}
    assert {"spi_acs_lc.fits", "result.json"} <= names
