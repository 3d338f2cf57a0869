"""JEM-X through the real ``oda_api`` client against the real server on loopback: the
products of the ODA JEM-X plugin (``jemx_image``, ``jemx_spectrum``, ``jemx_lc``) for both
units, decoded as existing scripts read them (the benchmark notebooks' attributes)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.test_api_support import api_url, wait_job  # noqa: F401  (fixture)

oda_api = pytest.importorskip("oda_api.api")
logging.getLogger("oda_api").setLevel(logging.ERROR)

SCWS = "003900190010.001,003900140010.001"


def _disp(url):
    d = oda_api.DispatcherAPI(url=url)
    d.n_max_tries = 1
    return d


@pytest.mark.parametrize("unit", [1, 2])
def test_jemx_image_and_spectrum_through_oda_api(api_url, unit):  # noqa: F811
    from core.products.run import run_product
    from core.query import Query

    disp = _disp(api_url)
    dc = disp.get_product(instrument="jemx", product="jemx_image", jemx_num=unit, scw_list=SCWS, E1_keV=3,
                          E2_keV=20, osa_version="OSA10.2", RA=83.63308, DEC=22.0145, detection_threshold=7,
                          product_type="Real", silent=True)
    ref = run_product(Query.from_params(instrument="jemx", product_type="image", jemx_num=unit, scw_list=SCWS,
                                        E1_keV=3, E2_keV=20, RA=83.63308, DEC=22.0145, detection_threshold=7))
    assert disp.job_id == ref.product_id
    hdul = dc.mosaic_image_0_mosaic.to_fits_hdu_list()
    assert [h.header.get("IMATYPE") for h in hdul[2:]] == ["RECONSTRUCTED", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"]
    assert hdul[2].name == f"JMX{unit}-MOSA-IMA"
    np.testing.assert_array_equal(hdul[4].data, ref.data.images.significance.astype(np.float32))
    cat = dc.dispatcher_catalog_1.table
    assert list(cat.colnames) == ["meta_ID", "src_names", "significance", "ra", "dec", "FLAG", "ERR_RAD"]
    assert cat["src_names"][0] == "Crab" and float(cat["significance"][0]) > 100
    api_cat = dc.dispatcher_catalog_1.get_api_dictionary()

    sp = disp.get_product(instrument="jemx", product="jemx_spectrum", jemx_num=unit, scw_list=SCWS,
                          osa_version="OSA10.2", RA=83.63308, DEC=22.0145, product_type="Real",
                          selected_catalog=api_cat, silent=True)
    kinds = {s.meta_data["product"]: s for s in sp._p_list if s.meta_data["src_name"] == "Crab"}
    assert set(kinds) == {"jemx_spectrum", "jemx_arf", "jemx_rmf"}
    assert hasattr(sp, "jemx_spectrum_0_Crab_jemx_spectrum")
    spec = kinds["jemx_spectrum"].data_unit[1]
    assert spec.name == f"JMX{unit}-PHA1-SPE" and spec.header["EXPOSURE"] > 1000
    assert len(spec.data["RATE"]) == 16 and float(np.nansum(spec.data["RATE"])) > 50
    assert "SPECRESP" in kinds["jemx_arf"].data_unit[1].data.dtype.names
    rmf = kinds["jemx_rmf"].data_unit[2].data          # as the notebooks read it
    assert np.asarray(rmf["MATRIX"]).shape[1] == 16


def test_jemx_lc_through_oda_api(api_url):  # noqa: F811
    disp = _disp(api_url)
    lc = disp.get_product(instrument="jemx", product="jemx_lc", jemx_num=1, scw_list=SCWS, E1_keV=3, E2_keV=13,
                          RA=83.63308, DEC=22.0145, time_bin=1000, product_type="Real",
                          selected_catalog='[{"name": "Crab", "ra": 83.63308, "dec": 22.0145}]', silent=True)
    (s,) = [p for p in lc._p_list if p.meta_data["src_name"] == "Crab"]
    d = s.data_unit[2].data                            # the LCR is the third HDU (V404 Cyg notebook)
    assert len(d["TIME"]) >= 4 and np.all(d["BRATE"] > 0) and np.all(d["RATE"] > 50)


def test_jemx_through_api_v1(api_url):  # noqa: F811
    import requests

    body = {"instrument": "jemx", "jemx_num": 1, "product_type": "image", "src_name": "Crab",
            "scw_list": SCWS, "E1_keV": 3, "E2_keV": 20}
    r = requests.post(f"{api_url}/api/v1/jobs", json=body, timeout=60)
    assert r.status_code in (200, 202), r.text
    jid = r.json()["job_id"]
    rec = wait_job(api_url, jid, timeout=120)
    assert rec["status"] == "done", rec
    cat = requests.get(f"{api_url}/api/v1/products/{jid}/catalog", timeout=60).json()
    assert cat["catalog"][0]["name"] == "Crab"
    assert cat["oda_catalog"]["cat_column_names"] == ["meta_ID", "src_names", "significance", "ra", "dec", "FLAG",
                                                      "ERR_RAD"]
    inst = requests.get(f"{api_url}/api/v1/instruments/jemx", timeout=30).json()
    assert inst["available"] and "jemx_num" in inst["products"][0]["parameters"]
