"""HTTP API benchmarks against the real server (``python app.py`` in a subprocess).

Run: ``python benchmarks/bench_api.py`` — prints figures and writes
``benchmarks/results/api.json``. ``--server werkzeug`` runs the same load against Flask's
development server instead (``app.server.run``, one thread per connection), for an A/B
under the same machine load, and writes ``api_werkzeug.json``.

* cold ``oda_api`` ``get_product`` of a 4-ScW ISGRI image (simulation + imaging included);
* warm ``get_product`` round trip (product computed: submit, encode, transfer, decode by
  ``oda_api``), median of 10;
* 50 concurrent clients fetching the computed product (``/api/v1/products/<id>`` JSON,
  ``mosaic.fits`` 4 MB, ``catalog.ecsv``, and a warm ``/run_analysis`` of the ODA protocol),
  5 rounds each: per-request p50/p99, throughput, errors.

The server is what ``python app.py`` runs: waitress (``ODA_THREADS`` worker threads,
default 8; asynchronous connection handling), with the access log on. Product files are
served from checksum-verified bytes held in memory and encoded ODA responses are cached
per product, so the work per request is small; 2 cores are shared by the server and the
50 client threads of this script.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ODA_BENCH_DATA", "/tmp/oda-bench-api"))
QUERY = dict(src_name="Crab", T1="2003-03-15", T2="2004-03-15", radius=10, max_pointings=4, E1_keV=20, E2_keV=40)
N_CLIENTS, ROUNDS = 50, 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(server: str = "waitress") -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, ODA_PORT=str(port), ODA_DATA_DIR=str(DATA), ODA_SESAME="0")
    cmd = [sys.executable, "app.py"]
    if server == "werkzeug":
        cmd = [sys.executable, "-c", "import os, app; app.server.run(host='127.0.0.1', port=int(os.environ['ODA_PORT']), "
                                     "threaded=True)"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # the access log is written (and discarded) as in service
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            requests.get(f"{url}/api/instr-list", timeout=5).raise_for_status()
            return proc, url
        except (requests.RequestException, OSError):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.3)


def _pct(values, q):
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
    return values[k]


def main(server: str = "waitress") -> dict:
    from oda_api.api import DispatcherAPI

    logging.getLogger("oda_api").setLevel(logging.ERROR)
    shutil.rmtree(DATA, ignore_errors=True)
    proc, url = _start_server(server)
    label = (f"waitress, {os.environ.get('ODA_THREADS', '8')} threads (python app.py)" if server == "waitress"
             else "werkzeug development server, threaded (for comparison)")
    res: dict = {"query": QUERY, "clients": N_CLIENTS, "rounds": ROUNDS, "server": label,
                 "load_average_1min_at_start": round(os.getloadavg()[0], 2)}
    try:
        disp = DispatcherAPI(url=url)
        t0 = time.perf_counter()
        disp.get_product(instrument="isgri", product="isgri_image", product_type="Real", silent=True, **QUERY)
        res["cold_get_product_s"] = round(time.perf_counter() - t0, 3)
        pid = disp.job_id
        warm = []
        for _ in range(10):
            d = DispatcherAPI(url=url)
            t0 = time.perf_counter()
            dc = d.get_product(instrument="isgri", product="isgri_image", product_type="Real", silent=True, **QUERY)
            warm.append(time.perf_counter() - t0)
            assert dc.mosaic_image_0_mosaic is not None
        res["warm_get_product_s"] = {"median": round(statistics.median(warm), 4), "min": round(min(warm), 4),
                                     "max": round(max(warm), 4)}
        oda_params = dict(instrument="isgri", product_type="isgri_image", query_status="new", session_id="BENCH",
                          api="True", **QUERY)
        targets = [("product_json", f"{url}/api/v1/products/{pid}", None),
                   ("mosaic_fits", f"{url}/products/{pid}/mosaic.fits", None),
                   ("catalog_ecsv", f"{url}/products/{pid}/catalog.ecsv", None),
                   ("run_analysis", f"{url}/run_analysis", oda_params)]
        for _, u, p in targets:  # prime caches (encoded ODA response, product)
            requests.get(u, params=p, timeout=120).raise_for_status()
        lat: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        errors: list[str] = []
        nbytes = [0]
        lock = threading.Lock()
        barrier = threading.Barrier(N_CLIENTS)

        def client():
            s = requests.Session()
            barrier.wait()
            for _ in range(ROUNDS):
                for name, u, p in targets:
                    t0 = time.perf_counter()
                    try:
                        r = s.get(u, params=p, timeout=120)
                        ok = r.status_code == 200 and (name != "run_analysis" or r.json()["query_status"] == "done")
                        size = len(r.content)
                    except Exception as exc:  # counted, reported
                        ok, size = False, 0
                        r = exc
                    dt = time.perf_counter() - t0
                    with lock:
                        lat[name].append(dt)
                        nbytes[0] += size
                        if not ok:
                            errors.append(f"{name}: {getattr(r, 'status_code', r)}")

        threads = [threading.Thread(target=client) for _ in range(N_CLIENTS)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        all_lat = [x for v in lat.values() for x in v]
        res["concurrent"] = {
            "requests": len(all_lat), "errors": len(errors), "error_samples": errors[:5],
            "wall_s": round(wall, 3), "requests_per_s": round(len(all_lat) / wall, 1),
            "MB_per_s": round(nbytes[0] / wall / 1e6, 1),
            "p50_s": round(_pct(all_lat, 50), 4), "p99_s": round(_pct(all_lat, 99), 4),
            "per_endpoint": {k: {"p50_s": round(_pct(v, 50), 4), "p99_s": round(_pct(v, 99), 4), "n": len(v)}
                             for k, v in lat.items()},
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(DATA, ignore_errors=True)
    out = ROOT / "benchmarks" / "results" / ("api.json" if server == "waitress" else f"api_{server}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", choices=("waitress", "werkzeug"), default="waitress")
    main(ap.parse_args().server)
