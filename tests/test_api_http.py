"""/api/v1, product downloads and error handling over real HTTP; property-based tests from the
OpenAPI document (schemathesis) and of /run_analysis (hypothesis) find no 5xx."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_api_support import CRAB, api_url, wait_job  # noqa: F401  (fixture)

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def image_id(api_url):  # noqa: F811
    r = requests.post(f"{api_url}/api/v1/jobs", json={**CRAB, "product_type": "image"}, timeout=60)
    assert r.status_code in (200, 202), r.text
    jid = r.json()["job_id"]
    rec = wait_job(api_url, jid, timeout=60)
    assert rec["status"] == "done", rec
    assert rec["n_total"] == 2 and len(rec["scws"]) == 2
    return jid


def test_submit_status_product(api_url, image_id):  # noqa: F811
    r = requests.post(f"{api_url}/api/v1/jobs", json={**CRAB, "product_type": "image"}, timeout=60)
    assert r.status_code == 200 and r.json()["job_id"] == image_id  # identical request aliases
    prod = requests.get(f"{api_url}/api/v1/products/{image_id}", timeout=60).json()
    assert prod["product_type"] == "image" and prod["summary"]["n_sources"] >= 1
    assert set(prod["files"]) >= {"mosaic.fits", "catalog.fits", "catalog.ecsv"}
    assert prod["files"]["mosaic.fits"].endswith(f"/products/{image_id}/mosaic.fits")
    assert "integral_client" in prod["snippets"]["client"] and "DispatcherAPI" in prod["snippets"]["oda_api"]
    cat = requests.get(f"{api_url}/api/v1/products/{image_id}/catalog", timeout=60).json()
    assert "Crab" in [row["name"] for row in cat["catalog"]]
    assert cat["oda_catalog"]["cat_lon_name"] == "ra"
    r = requests.get(f"{api_url}/api/v1/products/{image_id}/catalog?format=ecsv", timeout=60)
    assert r.status_code == 200 and "Crab" in r.text
    inst = requests.get(f"{api_url}/api/v1/instruments", timeout=30).json()
    isgri = [i for i in inst["instruments"] if i["name"] == "isgri"][0]
    assert isgri["available"] and isgri["parameters"]["E1_keV"]["minimum"] == 15.0


def test_downloads(api_url, image_id):  # noqa: F811
    from astropy.io import fits

    r = requests.get(f"{api_url}/products/{image_id}/mosaic.fits", timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/fits"
    assert r.headers["Cache-Control"] == IMMUTABLE and r.headers["ETag"]
    assert r.headers["Content-Disposition"] == 'attachment; filename="mosaic.fits"'
    with fits.open(io.BytesIO(r.content)) as h:
        assert h[2].header["IMATYPE"] == "INTENSITY"
    again = requests.get(f"{api_url}/products/{image_id}/mosaic.fits", headers={"If-None-Match": r.headers["ETag"]},
                         timeout=60)
    assert again.status_code == 304 and not again.content
    png = requests.get(f"{api_url}/products/{image_id}/figure.png", timeout=120)
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png" and png.content[:4] == b"\x89PNG"
    z = requests.get(f"{api_url}/products/{image_id}/all.zip", timeout=120)
    assert z.status_code == 200 and z.headers["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert any(n.endswith("/mosaic.fits") for n in names) and any(n.endswith("/result.json") for n in names)
    result = json.loads(zipfile.ZipFile(io.BytesIO(z.content)).read([n for n in names if n.endswith("result.json")][0]))
    assert result["product_id"] == image_id and result["query"]["src_name"] == "Crab"
    ecsv = requests.get(f"{api_url}/products/{image_id}/catalog.ecsv", timeout=60)
    assert ecsv.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("path", [
    "/products/{id}/..%2F..%2Fmeta.json", "/products/{id}/meta.json", "/products/{id}/arrays.npz",
    "/products/{id}/%2Fetc%2Fpasswd", "/products/{id}/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/products/ZZZ/mosaic.fits",
    "/products/0123456789abcdef0123/mosaic.fits", "/api/v1/jobs/0123456789abcdef0123", "/api/v1/jobs/xyz",
    "/api/v1/products/0123456789abcdef0123", "/api/v1/nothing", "/api/v1/instruments/foo",
])
def test_unknown_or_forbidden_paths_are_json_404(api_url, image_id, path):  # noqa: F811
    r = requests.get(api_url + path.format(id=image_id), timeout=30)
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    if r.headers.get("Content-Type", "").startswith("application/json"):
        assert "error" in r.json()
        assert "/tmp" not in r.text and "Traceback" not in r.text


def test_dot_dot_never_reaches_files(api_url):  # noqa: F811
    r = requests.get(f"{api_url}/products/../../etc/passwd", timeout=30)  # normalised by the client: the page
    assert "root:" not in r.text


def test_errors_name_the_field(api_url):  # noqa: F811
    r = requests.post(f"{api_url}/api/v1/jobs", json={**CRAB, "E1_keV": 5}, timeout=30)
    assert r.status_code == 400 and r.json()["field"] == "E1_keV" and "15" in r.json()["allowed"]
    r = requests.post(f"{api_url}/api/v1/jobs", json={**CRAB, "instrument": "picsit"}, timeout=30)
    assert r.status_code == 400 and r.json()["field"] == "instrument" and "isgri" in r.json()["allowed"]
    r = requests.post(f"{api_url}/api/v1/jobs", json={**CRAB, "instrument": "jemx", "jemx_num": 3}, timeout=30)
    assert r.status_code == 400 and r.json()["field"] == "jemx_num" and "1, 2" in r.json()["allowed"]
    r = requests.post(f"{api_url}/api/v1/jobs", json={**CRAB, "product_type": "movie"}, timeout=30)
    assert r.status_code == 400 and r.json()["field"] == "product_type" and "spectrum" in r.json()["allowed"]
    r = requests.post(f"{api_url}/api/v1/jobs", data=b"{not json", headers={"Content-Type": "application/json"},
                      timeout=30)
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = requests.post(f"{api_url}/api/v1/jobs", json={**CRAB, "colour": "red"}, timeout=30)
    assert r.status_code == 400 and r.json()["field"] == "colour"


def test_bearer_token_and_rights(api_url, monkeypatch):  # noqa: F811
    from server.auth import make_token

    secret = "s3cret-0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("ODA_JWT_SECRET", secret)
    body = {**CRAB, "integral_data_rights": "all-private"}
    r = requests.post(f"{api_url}/api/v1/validate", json=body, timeout=30)
    assert r.status_code == 403 and "token" in r.json()["error"]
    ok = requests.post(f"{api_url}/api/v1/validate", json=body, timeout=30,
                       headers={"Authorization": f"Bearer {make_token(secret)}"})
    assert ok.status_code == 200 and ok.json()["valid"]
    r = requests.post(f"{api_url}/api/v1/validate", json={**body, "integral_data_rights": "secret"}, timeout=30)
    assert r.status_code == 400 and r.json()["field"] == "integral_data_rights"


def test_cancel(api_url):  # noqa: F811
    r = requests.post(f"{api_url}/api/v1/jobs", json={**CRAB, "max_pointings": 4, "E1_keV": 30, "E2_keV": 60},
                      timeout=60)
    jid = r.json()["job_id"]
    c = requests.delete(f"{api_url}/api/v1/jobs/{jid}", timeout=30)
    assert c.status_code in (200, 202)
    rec = wait_job(api_url, jid, timeout=40)
    assert rec["status"] in ("cancelled", "done")


# -- property-based: no 5xx -------------------------------------------------------------------------
@pytest.fixture()
def no_execution(monkeypatch):
    """Jobs are recorded but not computed (the fuzzers test the HTTP layer, not the pipeline)."""
    from server.jobs import JobRunner

    monkeypatch.setattr(JobRunner, "_run_quietly", lambda self, query, jid: None)


_schemathesis = pytest.importorskip("schemathesis")


def _schema():
    from server.openapi import openapi_document

    return _schemathesis.openapi.from_dict(openapi_document(""))


schema = _schema()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_no_server_errors(case, api_url, no_execution):  # noqa: F811
    response = case.call(base_url=api_url, timeout=30)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    if response.headers.get("Content-Type", "").startswith("application/json") and response.status_code >= 400:
        body = response.json()
        assert "error" in body and "Traceback" not in response.text


_ODA_KEYS = ["src_name", "RA", "DEC", "T1", "T2", "T_format", "radius", "max_pointings", "scw_list", "E1_keV",
             "E2_keV", "detection_threshold", "time_bin", "selected_catalog", "product_type", "instrument",
             "query_status", "job_id", "session_id", "integral_data_rights", "token", "catalog_selected_objects",
             "spectral_model", "rebin", "channel_grid", "osa_version", "bogus"]
_values = st.one_of(st.text(max_size=30), st.integers(-10**6, 10**6).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(str),
                    st.sampled_from(["isgri", "isgri_image", "isgri_spectrum", "isgri_lc", "spectral_fit", "jemx",
                                     "Crab", "2003-03-15", "2004-03-15", "new", "submitted", "all-private",
                                     "005600620010.001", '{"cat_column_names": ["src_names"]}', "\x00", "1,2"]))


@given(st.dictionaries(st.sampled_from(_ODA_KEYS), _values, max_size=8), st.sampled_from(["GET", "POST"]))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_run_analysis_fuzz_no_server_errors(api_url, no_execution, params, method):  # noqa: F811
    if method == "GET":
        r = requests.get(f"{api_url}/run_analysis", params=params, timeout=30)
    else:
        r = requests.post(f"{api_url}/run_analysis", data=params, timeout=30)
    assert r.status_code in (200, 400, 403, 404), (params, r.status_code, r.text[:300])
    body = r.json()
    assert "Traceback" not in r.text
    if r.status_code == 200:
        assert body["query_status"] in ("submitted", "progress", "done", "failed") and "job_monitor" in body
    else:
        assert body["error"] and body["exit_status"]["status"] == 1


# -- the page's routes and deep JSON: no 5xx either --------------------------------------------------
_json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12),
                            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                            max_leaves=16)
_deep = st.integers(90, 120_000).map(lambda n: "[" * n) | st.integers(90, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n)


def _callback_bodies(deps):
    outputs = st.sampled_from([d["output"] for d in deps] + ["nope.children", ""])
    dep_list = st.lists(st.fixed_dictionaries({"id": st.text(max_size=10) | _json_values,
                                               "property": st.text(max_size=10) | _json_values,
                                               "value": _json_values}), max_size=3)
    return st.one_of(
        _json_values, _deep,
        st.fixed_dictionaries({"output": outputs | _json_values, "outputs": _json_values | dep_list,
                               "inputs": dep_list | _json_values, "state": dep_list | _json_values,
                               "changedPropIds": st.lists(st.text(max_size=20), max_size=3) | _json_values}))


@pytest.fixture(scope="module")
def dash_deps(api_url):  # noqa: F811
    return requests.get(f"{api_url}/_dash-dependencies", timeout=30).json()


@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_dash_callback_route_fuzz_no_server_errors(api_url, dash_deps, data):  # noqa: F811
    body = data.draw(_callback_bodies(dash_deps))
    raw = body if isinstance(body, str) else json.dumps(body)
    r = requests.post(f"{api_url}/_dash-update-component", data=raw, headers={"Content-Type": "application/json"},
                      timeout=60)
    assert r.status_code < 500, (raw[:200], r.status_code, r.text[:300])
    assert "Traceback" not in r.text


@given(package=st.sampled_from(["dash", "os", "sys", "plotly", "dash_table", "flask", "x"]) | st.text(max_size=12),
       path=st.text(max_size=40) | st.sampled_from(["path.py", "../../etc/passwd", "dash-renderer/build/x.js",
                                                    "deps/polyfill@7.v1.js", "dcc/async-graph.js", "__init__.py"]))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_dash_static_route_fuzz_no_server_errors(api_url, package, path):  # noqa: F811
    from urllib.parse import quote

    r = requests.get(f"{api_url}/_dash-component-suites/{quote(package, safe='')}/{quote(path, safe='/')}", timeout=30)
    assert r.status_code < 500, (package, path, r.status_code, r.text[:200])


@given(deep=_deep, where=st.sampled_from(["/api/v1/jobs", "/api/v1/validate", "/run_analysis"]))
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_deep_json_never_5xx(api_url, no_execution, deep, where):  # noqa: F811
    r = requests.post(api_url + where, data=deep, headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code in (400, 413), (where, len(deep), r.status_code, r.text[:200])
    cat = {**CRAB, "product_type": "spectrum", "selected_catalog": deep}
    r = requests.post(f"{api_url}/api/v1/jobs", json=cat, timeout=60)
    assert r.status_code == 400, r.text[:200]
