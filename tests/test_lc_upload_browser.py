"""The light-curve upload of the page in headless Chromium: real OSA/ODA files load and plot."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests._shared import shared_path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, DRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and DRIVER), reason="needs chromium and chromedriver")


@pytest.fixture(scope="module")
def base():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=dict(os.environ, ODA_PORT=str(port)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=5).read()
            break
        except OSError:
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.time() < deadline, "app did not start"
            time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    d = webdriver.Chrome(options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def _wait(fn, timeout=60, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as exc:  # not rendered yet
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} ({last!r})")


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
