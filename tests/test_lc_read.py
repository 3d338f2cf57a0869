"""Real OSA/ODA light curves: read, survive bad rows, served by /api/v1/lightcurves/read, plotted."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
import requests
from astropy.io import fits

from core.spectral.lc_read import read_lightcurve
from tests._shared import shared_path
from tests.test_api_support import api_url  # noqa: F401  (fixture)


def test_jemx_grb_light_curve_bad_rows():
    """ODA's JEM-X1 light curve of GRB 221009A: the row with TIMEDEL = −1000 s (which also
    repeats the previous time) is left out and said so; the peak is 8.18 ± 0.09 cts/s at MJD 59864.83."""
    path = shared_path("reference-data", "isgri_lc_example.fits")
    lc = read_lightcurve(path)
    assert lc.n_input == 198 and len(lc) == 197
    assert lc.extname == "JMX1-SRC.-LCR" and lc.instrument == "JMX1" and lc.name == "GRB221009A"
    assert any("TIMEDEL" in n and "row 103" in n for n in lc.notes)
    assert np.all(np.diff(lc.time_mjd) > 0) and np.all(lc.timedel_s > 0)
    k = int(np.argmax(lc.rate))
    assert lc.rate[k] == pytest.approx(8.18, abs=0.01) and lc.error[k] == pytest.approx(0.09, abs=0.005)
    assert lc.time_mjd[k] == pytest.approx(59864.83, abs=0.005)
    assert lc.timedel_s[0] == pytest.approx(1000.0, rel=1e-5)
    assert (lc.e_min, lc.e_max) == pytest.approx((4.12, 29.66))


def test_jemx_product_round_trip(tmp_path):
    """The gzipped ODA JEM-X product (no TIMEDEL column: the keyword gives the width) reads the
    same from a path, bytes and after writing it back uncompressed."""
    path = shared_path("reference-data", "jemx_lc_example.fits.gz")
    a = read_lightcurve(path)
    with fits.open(path) as h:
        raw = h[2].data
        n = len(raw)
        h.writeto(tmp_path / "copy.fits")
    b = read_lightcurve((tmp_path / "copy.fits").read_bytes())
    assert len(a) == n and not a.notes
    assert np.array_equal(a.rate, b.rate) and np.allclose(a.time_mjd, b.time_mjd, rtol=0, atol=1e-9)
    # TIME is the bin centre (TIMEPIXR 0.5 by default): IJD + 51544.
    assert a.time_mjd[0] == pytest.approx(float(raw["TIME"][0]) + 51544.0, abs=1e-9)
    assert a.timedel_s[0] > 0


def _lc_bytes(time, rate, err, timedel, *, timepixr=None, unit="d") -> bytes:
    cols = [fits.Column("TIME", "D", unit=unit, array=time), fits.Column("RATE", "E", array=rate),
            fits.Column("ERROR", "E", array=err), fits.Column("TIMEDEL", "D", unit=unit, array=timedel)]
    hdu = fits.BinTableHDU.from_columns(cols, name="ISGR-SRC.-LCR")
    hdu.header["MJDREF"] = 51544.0
    hdu.header["TIMEUNIT"] = unit
    if timepixr is not None:
        hdu.header["TIMEPIXR"] = timepixr
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    return buf.getvalue()


def test_bad_rows_and_timing_keywords():
    day = 1000.0 / 86400
    t = np.array([10.0, 10.0 + day, 10.0 + day, 10.0 + 3 * day, 10.0 + 2 * day, np.nan])
    rate = np.array([1.0, 2.0, 2.0, 4.0, 3.0, 5.0])
    err = np.array([0.1, 0.1, 0.1, 0.1, -1.0, 0.1])
    dt = np.array([day, day, day, -day, day, day])
    lc = read_lightcurve(gzip.compress(_lc_bytes(t, rate, err, dt, timepixr=0.0)))
    # Kept: rows 1, 2 (3 repeats 2), 4 has negative TIMEDEL, 5 a negative error, 6 no time.
    assert list(lc.rate) == [1.0, 2.0]
    assert len(lc.notes) == 3
    # TIMEPIXR = 0: TIME is the bin start, the centre is half a bin later.
    assert lc.time_mjd[0] == pytest.approx(51554.0 + 0.5 * day, abs=1e-9)
    with pytest.raises(ValueError, match="no usable row"):
        read_lightcurve(_lc_bytes(t[:1], rate[:1], err[:1], -dt[:1]))
    with pytest.raises(ValueError, match="not a FITS file"):
        read_lightcurve(b"TIME RATE ERROR\n1 2 3\n")


def test_api_reads_and_rejects(api_url):  # noqa: F811
    path = shared_path("reference-data", "isgri_lc_example.fits")
    r = requests.post(f"{api_url}/api/v1/lightcurves/read", files={"file": ("lc.fits", path.read_bytes())}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n"] == 197 and body["n_input"] == 198 and body["notes"]
    assert max(body["rate"]) == pytest.approx(8.18, abs=0.01)
    assert body["variability"]["n"] == 197 and body["variability"]["p_const"] < 1e-6  # a GRB is variable
    r = requests.post(f"{api_url}/api/v1/lightcurves/read",
                      data=shared_path("reference-data", "jemx_lc_example.fits.gz").read_bytes(),
                      headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 200 and r.json()["n"] == 96
    for payload in (b"", b"not fits at all", b"SIMPLE  =" + b"x" * 100):
        r = requests.post(f"{api_url}/api/v1/lightcurves/read", data=payload,
                          headers={"Content-Type": "application/fits"}, timeout=60)
        assert r.status_code == 400, (payload[:20], r.text)
        assert r.json()["field"] == "file" and "light-curve" in r.json()["allowed"]
