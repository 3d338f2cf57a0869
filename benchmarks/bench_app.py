"""App benchmark in a real browser (headless Chromium): page load to interactive, and
submit-to-display of an already computed product; screenshots for the README.

    python3 benchmarks/bench_app.py

Prints the figures and writes ``benchmarks/results/app.json``, ``docs/screenshots/page.png``
and ``docs/screenshots/embed.png``. Uses a throw-away data directory.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERY = "src_name=Crab&T1=2003-03-01&T2=2003-04-30&max_pointings=3"


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(fn, timeout=120, poll=0.01):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if fn():
                return True
        except Exception:
            pass
        time.sleep(poll)
    raise TimeoutError


def main():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.common.by import By

    data = Path(tempfile.mkdtemp(prefix="oda-bench-app-"))
    port = _port()
    env = dict(os.environ, ODA_DATA_DIR=str(data), ODA_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    d = webdriver.Chrome(options=opts)
    css = lambda s: d.find_elements(By.CSS_SELECTOR, s)  # noqa: E731
    enabled = lambda: css("#submit") and css("#submit")[0].is_enabled()  # noqa: E731
    image = lambda: css("#img-graph .hm, #img-graph .heatmaplayer image")  # noqa: E731
    try:
        _wait(lambda: urllib.request.urlopen(base + "/", timeout=5).status == 200, 60, 0.3)
        # warm the server process (first request loads the pointing history) and compute the product once
        d.get(f"{base}/?{QUERY}")
        try:
            _wait(image, 300)
        except TimeoutError:
            d.save_screenshot("/tmp/bench-timeout.png")
            raise SystemExit("no image: " + " | ".join(e.text for e in css("#job-status, #form-status")))
        loads, displays = [], []
        for _ in range(5):
            d.get("about:blank")
            t0 = time.perf_counter()
            d.get(base + "/")
            _wait(enabled, 60)
            loads.append(time.perf_counter() - t0)
        # submit-to-display of the computed product (the page's form, default 4 -> 3 pointings)
        for _ in range(5):
            d.get(f"{base}/?{QUERY}&product_type=spectrum")  # a page showing no image yet
            _wait(enabled, 60)
            _wait(lambda: css("#spec-graph .scatterlayer .point"), 300)
            radio = d.find_element(By.XPATH, "//div[@id='q-product_type']//label[normalize-space()='Sky image']")
            radio.click()
            _wait(enabled, 60)
            time.sleep(0.5)  # validation settled
            t0 = time.perf_counter()
            css("#submit")[0].click()
            _wait(lambda: image() and "Crab" in d.find_element(By.ID, "cat-table").text, 60)
            displays.append(time.perf_counter() - t0)
        shots = ROOT / "docs" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        time.sleep(1)
        d.save_screenshot(str(shots / "page.png"))
        d.get(f"{base}/embed?{QUERY}&product=image")
        _wait(image, 60)
        time.sleep(1)
        d.set_window_size(900, 760)
        time.sleep(0.5)
        d.save_screenshot(str(shots / "embed.png"))
    finally:
        d.quit()
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)
    out = {"page_load_to_interactive_s": {"median": round(statistics.median(loads), 3), "runs": [round(x, 3) for x in loads],
                                          "target": 2.0},
           "submit_to_display_computed_s": {"median": round(statistics.median(displays), 3),
                                            "runs": [round(x, 3) for x in displays], "target": 1.0},
           "query": QUERY, "browser": "headless Chromium 1280x800, server: python app.py (Werkzeug), loopback",
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    print(json.dumps(out, indent=1))
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "app.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
