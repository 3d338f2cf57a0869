"""ODA compatibility: the real ``oda_api`` client against the real server over loopback.

Products decoded by ``oda_api`` must equal what ``core`` computes for the same query (same
product id, same numbers).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from tests.test_api_support import CRAB, api_url  # noqa: F401  (fixture)

oda_api = pytest.importorskip("oda_api.api")
logging.getLogger("oda_api").setLevel(logging.ERROR)


def _disp(url):
    d = oda_api.DispatcherAPI(url=url)
    d.n_max_tries = 1
    return d


def _core(**params):
    from core.products.run import run_product
    from core.query import Query

    return run_product(Query.from_params(params))


@pytest.fixture(scope="module")
def image(api_url):  # noqa: F811
    disp = _disp(api_url)
    dc = disp.get_product(instrument="isgri", product="isgri_image", product_type="Real", silent=True,
                          E1_keV=20, E2_keV=40, **CRAB)
    return disp, dc


def test_image_decodes_and_matches_core(image):
    disp, dc = image
    from astropy.io import fits

    res = _core(product_type="image", E1_keV=20, E2_keV=40, **CRAB)
    assert disp.job_id == res.product_id  # job id = product id: identical requests alias
    hdul = dc.mosaic_image_0_mosaic.to_fits_hdu_list()
    with fits.open(res.files["mosaic.fits"]) as ref:
        assert [h.header.get("IMATYPE") for h in hdul] == [h.header.get("IMATYPE") for h in ref]
        for mine, theirs in zip(hdul[2:], ref[2:]):
            np.testing.assert_array_equal(mine.data, theirs.data)
        assert hdul[2].header["CTYPE1"] == "RA---TAN"
    cat = dc.dispatcher_catalog_1.table
    assert "Crab" in list(cat["src_names"])
    row = cat[list(cat["src_names"]).index("Crab")]
    ref_row = res.data.catalog[list(res.data.catalog["NAME"]).index("Crab")]
    assert float(row["significance"]) == pytest.approx(float(ref_row["DETSIG"]))
    assert float(row["ra"]) == pytest.approx(float(ref_row["RA_FIN"]))
    resp = disp.response_json
    assert resp["query_status"] == "done" and resp["exit_status"]["status"] == 0
    assert "DispatcherAPI(url=" in resp["products"]["api_code"] and "isgri_image" in resp["products"]["api_code"]
    reports = resp["job_monitor"]["full_report_dict_list"]
    assert len(reports) == 2 and all(r["scwid"].endswith(".001") for r in reports)


def test_api_code_reproduces_the_product(image, api_url):  # noqa: F811
    disp, _ = image
    code = disp.response_json["products"]["api_code"]
    ns: dict = {}
    exec(compile(code.replace("data_collection.show()", ""), "<api_code>", "exec"), ns)  # the snippet, as is
    assert ns["disp"].job_id == disp.job_id


def test_spectrum_with_edited_catalogue_round_trip(image, api_url):  # noqa: F811
    _, dc = image
    api_cat = dc.dispatcher_catalog_1.get_api_dictionary(dump_string=False)
    names = api_cat["cat_column_names"]
    keep = [i for i, n in enumerate(api_cat["cat_column_list"][names.index("src_names")]) if n == "Crab"]
    edited = dict(api_cat)
    edited["cat_column_list"] = [[col[i] for i in keep] for col in api_cat["cat_column_list"]]
    # Add a source by position (as the page's "add" does): a blank-sky point 3° from the Crab.
    for name, col in zip(names, edited["cat_column_list"]):
        col.append({"src_names": "TEST_SRC", "ra": 86.5, "dec": 22.0, "meta_ID": 99}.get(name, 0))
    disp = _disp(api_url)
    sp = disp.get_product(instrument="isgri", product="isgri_spectrum", product_type="Real", silent=True,
                          selected_catalog=json.dumps(edited), **CRAB)
    assert hasattr(sp, "isgri_spectrum_0_Crab_isgri_spectrum")
    pha = sp.isgri_spectrum_0_Crab_isgri_spectrum.to_fits_hdu_list()
    arf = sp.isgri_spectrum_1_Crab_isgri_arf.to_fits_hdu_list()
    rmf = sp.isgri_spectrum_2_Crab_isgri_rmf.to_fits_hdu_list()
    assert "SPECRESP" in [h.name for h in arf] and "EBOUNDS" in [h.name for h in rmf]
    assert any("TEST_SRC" in n for n in sp._n_list)  # the added source came back

    res = _core(product_type="spectrum", selected_catalog=[("Crab", float(edited["cat_column_list"][names.index("ra")][0]),
                                                            float(edited["cat_column_list"][names.index("dec")][0])),
                                                           ("TEST_SRC", 86.5, 22.0)], **CRAB)
    assert disp.job_id == res.product_id
    from astropy.io import fits

    crab = [s for s in res.summary["sources"] if s["name"] == "Crab"][0]
    with fits.open(res.files[crab["pha"]]) as ref:
        spec = [h for h in ref if h.name == "SPECTRUM"][0]
        mine = [h for h in pha if h.name == "SPECTRUM"][0]
        col = "RATE" if "RATE" in spec.columns.names else "COUNTS"
        np.testing.assert_array_equal(np.asarray(mine.data[col]), np.asarray(spec.data[col]))
        assert mine.header.get("EXPOSURE") == spec.header.get("EXPOSURE")


def test_light_curve_matches_core(image, api_url):  # noqa: F811
    disp = _disp(api_url)
    cat = [("Crab", 83.6331, 22.0145)]
    lc = disp.get_product(instrument="isgri", product="isgri_lc", product_type="Real", silent=True,
                          selected_catalog=json.dumps([{"name": n, "ra": r, "dec": d} for n, r, d in cat]),
                          time_bin=0, **CRAB)
    hdul = lc.isgri_lc_0_Crab.to_fits_hdu_list()
    res = _core(product_type="lc", selected_catalog=cat, time_bin=0, **CRAB)
    assert disp.job_id == res.product_id
    src = res.summary["sources"][0]
    table = [h for h in hdul if h.header.get("XTENSION") == "BINTABLE"][0]
    np.testing.assert_allclose(np.asarray(table.data["RATE"], float), np.asarray(src["rate"], float))
    np.testing.assert_allclose(np.asarray(table.data["TIME"], float), np.asarray(src["time"], float))


def test_spectral_fit_matches_core(image, api_url):  # noqa: F811
    disp = _disp(api_url)
    cat = [("Crab", 83.6331, 22.0145)]
    fit = disp.get_product(instrument="isgri", product="spectral_fit", product_type="Real", silent=True,
                           selected_catalog=json.dumps([{"name": "Crab", "ra": 83.6331, "dec": 22.0145}]),
                           spectral_model="powerlaw", E1_keV=20, E2_keV=100, **CRAB)
    hdul = fit.spectral_fit_0_Crab_spectral_fit.to_fits_hdu_list()
    params = hdul["FIT_PARAMS"].data
    res = _core(product_type="spectral_fit", selected_catalog=cat, spectral_model="powerlaw", E1_keV=20,
                E2_keV=100, **CRAB)
    assert disp.job_id == res.product_id
    ref = {p["name"]: p["value"] for p in res.summary["fit"]["parameters"]}
    got = {str(n).strip(): float(v) for n, v in zip(params["NAME"], params["VALUE"])}
    assert set(ref) == set(got)
    for name, value in ref.items():
        assert got[name] == pytest.approx(value, rel=1e-12)
    text = [p for p in fit._p_list if getattr(p, "name", "") == "spectral_fit" and hasattr(p, "value")]
    assert text and json.loads(text[0].value)["source"] == "Crab"


def test_par_names_meta_data_instr_list(api_url):  # noqa: F811
    disp = _disp(api_url)
    assert disp.get_instruments_list() == ["isgri", "jemx", "spi_acs"]
    desc = disp.get_product_description("isgri", "isgri_image")
    names = [e.get("name") for group in desc for e in group if isinstance(e, dict)]
    assert {"E1_keV", "detection_threshold", "scw_list"} <= set(names)
    import requests

    r = requests.get(f"{api_url}/api/par-names", params={"instrument": "isgri", "product_type": "isgri_lc"}, timeout=30)
    assert r.status_code == 200 and "time_bin" in r.json()


def test_bad_parameter_is_400_naming_field(api_url):  # noqa: F811
    disp = _disp(api_url)
    with pytest.raises(oda_api.RequestNotUnderstood) as info:
        disp.get_product(instrument="isgri", product="isgri_image", product_type="Real", silent=True,
                         **{**CRAB, "radius": 99})
    assert info.value.details_json["field"] == "radius"
    assert "30" in info.value.details_json["allowed"]
    with pytest.raises(oda_api.RequestNotUnderstood) as info:
        disp.get_product(instrument="picsit", product="picsit_image", product_type="Real", silent=True, **CRAB)
    assert info.value.details_json["field"] == "instrument" and "jemx" in info.value.details_json["allowed"]
    with pytest.raises(oda_api.RequestNotUnderstood) as info:
        disp.get_product(instrument="isgri", product="isgri_movie", product_type="Real", silent=True, **CRAB)
    assert info.value.details_json["field"] == "product_type"
    assert "isgri_spectrum" in info.value.details_json["allowed"]


def test_failed_job_says_why(api_url):  # noqa: F811
    disp = _disp(api_url)
    with pytest.raises(oda_api.RemoteException) as info:
        disp.get_product(instrument="isgri", product="isgri_image", product_type="Real", silent=True,
                         src_name="Crab", T1="2003-03-15T00:00:00", T2="2003-03-15T00:20:00", radius=0.05)
    msg = disp.response_json["exit_status"]["message"]
    assert disp.response_json["query_status"] == "failed" and msg
    assert "Traceback" not in msg and "/tmp" not in msg
    assert "Traceback" not in str(info.value)


def test_internal_error_leaks_no_path(api_url, monkeypatch):  # noqa: F811
    import server.jobs

    def boom(*a, **k):
        raise FileNotFoundError(2, "No such file", "/tmp/secret/archive/scw/0001/x.fits")

    monkeypatch.setattr(server.jobs, "run_product", boom)
    disp = _disp(api_url)
    with pytest.raises(oda_api.RemoteException):
        disp.get_product(instrument="isgri", product="isgri_image", product_type="Real", silent=True,
                         **{**CRAB, "E1_keV": 23.5})
    text = json.dumps(disp.response_json)
    assert "secret" not in text and "Traceback" not in text
    assert "internal error" in disp.response_json["exit_status"]["message"]


def test_data_rights(api_url, monkeypatch):  # noqa: F811
    from server.auth import make_token

    monkeypatch.setenv("ODA_JWT_SECRET", "test-secret-0123456789abcdef0123456789")
    disp = _disp(api_url)
    params = dict(instrument="isgri", product="isgri_image", product_type="Real", silent=True,
                  E1_keV=20, E2_keV=40, **CRAB)
    with pytest.raises(oda_api.Unauthorized) as info:
        disp.get_product(integral_data_rights="all-private", **params)
    assert "token" in str(info.value)
    with pytest.raises(oda_api.Unauthorized):
        disp.get_product(integral_data_rights="all-private", token=make_token("wrong-secret-0123456789abcdef0123456789"), **params)
    with pytest.raises(oda_api.Unauthorized) as info:
        disp.get_product(integral_data_rights="all-private", token=make_token("test-secret-0123456789abcdef0123456789", lifetime_s=-10), **params)
    assert "expired" in str(info.value)
    dc = disp.get_product(integral_data_rights="all-private", token=make_token("test-secret-0123456789abcdef0123456789"), **params)
    assert hasattr(dc, "mosaic_image_0_mosaic")
    # Above the public ScW limit a token is needed too.
    monkeypatch.setenv("ODA_PUBLIC_MAX_SCW", "1")
    with pytest.raises(oda_api.Unauthorized) as info:
        _disp(api_url).get_product(**params)
    assert "at most 1" in str(info.value)
    dc = _disp(api_url).get_product(token=make_token("test-secret-0123456789abcdef0123456789"), **params)
    assert hasattr(dc, "dispatcher_catalog_1")
