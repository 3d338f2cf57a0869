"""Our Python client (``integral_client``) against the real server over loopback."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from integral_client import Client, JobFailed, NotFound, RequestError, ServerError
from tests.test_api_support import CRAB, api_url  # noqa: F401  (fixture)


def test_get_product_image(api_url, tmp_path):  # noqa: F811
    from astropy.io import fits
    from core.products.run import run_product
    from core.query import Query

    out = io.StringIO()
    client = Client(api_url, timeout=60)
    rec = client.submit(product_type="image", **CRAB)
    rec = client.wait(rec, progress=True, poll=0.2, stream=out)
    assert "2/2 ScWs" in out.getvalue()
    product = client.product(rec["job_id"])
    ref = run_product(Query.from_params(product_type="image", **CRAB))
    assert product.product_id == ref.product_id
    table = product.table()
    assert "Crab" in list(table["NAME"]) and table["RA_FIN"].unit == "deg"
    with product.hdulist() as h, fits.open(ref.files["mosaic.fits"]) as r:
        np.testing.assert_array_equal(h[4].data, r[4].data)
    q = product.quantities
    assert q["e1"].unit == "keV" and q["e1"].value == 20.0
    paths = product.save(tmp_path / "img")
    assert {p.name for p in paths} >= {"mosaic.fits", "catalog.ecsv", "product.json"}
    assert product.png()[:4] == b"\x89PNG"


def test_get_product_lc_quantities(api_url):  # noqa: F811
    client = Client(api_url, timeout=60)
    product = client.get_product(product_type="lc", selected_catalog=[["Crab", 83.6331, 22.0145]], time_bin=0,
                                 progress=False, **CRAB)
    lc = product.table()
    assert lc["RATE"].unit == "ct / s" and len(lc) >= 1
    q = product.quantities["Crab"]
    assert q["rate"].unit == "ct / s" and np.all(np.isfinite(q["rate"].value))


def test_bad_parameter_raises_with_field(api_url):  # noqa: F811
    client = Client(api_url)
    with pytest.raises(RequestError) as info:
        client.submit(**{**CRAB, "max_pointings": 0})
    assert info.value.field == "max_pointings" and "1" in info.value.allowed
    with pytest.raises(NotFound):
        client.status("0123456789abcdef0123")


def test_failed_job_raises(api_url):  # noqa: F811
    client = Client(api_url)
    rec = client.submit(src_name="Crab", T1="2003-03-15T00:00:00", T2="2003-03-15T00:20:00", radius=0.05)
    with pytest.raises(JobFailed) as info:
        client.wait(rec, progress=False, poll=0.2, timeout=60)
    assert info.value.record["status"] == "failed" and "/tmp" not in str(info.value)


class _Flaky(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self):  # noqa: N802
        type(self).calls += 1
        if type(self).calls < 3:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"busy")
            return
        body = json.dumps({"instruments": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_retries_with_backoff_on_5xx_and_connection_errors():
    srv = HTTPServer(("127.0.0.1", 0), _Flaky)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        client = Client(f"http://127.0.0.1:{srv.server_port}", retries=3, backoff=0.01)
        assert client.instruments() == {"instruments": []}
        assert _Flaky.calls == 3
    finally:
        srv.shutdown()
        srv.server_close()
    with pytest.raises(ServerError):
        Client(f"http://127.0.0.1:{srv.server_port}", retries=1, backoff=0.01, timeout=2).instruments()
