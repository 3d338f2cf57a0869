"""Spectrum and light-curve benchmarks on the simulated archive (ScWs already on disk).

Run: ``python benchmarks/bench_spectra.py`` — prints figures and writes
``benchmarks/results/spectra.json``. Each scenario runs in a fresh subprocess with an
empty product store ("cold": every ScW is read and fitted) unless it says warm.

* per-ScW extraction of a 256-channel spectrum once the events are read (median);
* spectrum of one source (the Crab, OSA 11 256 channels) over 50 ScWs: cold with 1 and 2
  worker processes (service-warm pool), and the identical request warm;
* 100 s light curve over 50 ScWs, cold, 2 workers;
* one power-law fit with errors of the 50-ScW Crab spectrum (20–100 keV).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ODA_BENCH_DATA", "/tmp/oda-bench-imaging"))
CRAB = dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", radius=10, max_pointings=50,
            selected_catalog=[["Crab", 83.6331, 22.0145]])
REPEATS = 3


def _scenario(name: str, params: dict, store: str, workers: int = 1, repeat: int = 1) -> dict:
    code = f"""
import json, os, resource, sys, time
sys.path.insert(0, {str(ROOT)!r})
from core.query import Query
from core.products.run import run_product
if {workers} > 1:  # a running service has its worker pool started
    from core.imaging.pipeline import warm_up
    warm_up({workers})
q = Query.from_params({params!r})
times, statuses = [], []
for _ in range({repeat}):
    t = time.perf_counter()
    r = run_product(q, workers={workers})
    times.append(time.perf_counter() - t)
    statuses.append({{s.status: sum(x.status == s.status for x in r.scws) for s in r.scws}})
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({{'seconds': times, 'statuses': statuses, 'max_rss_mb': rss / 1024, 'n_scw': len(r.scws)}}))
"""
    env = dict(os.environ, ODA_DATA_DIR=str(DATA), ODA_CACHE_DIR=store)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{name:40s} {json.dumps(res)}")
    return res


def _extract_timing() -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ["ODA_DATA_DIR"] = str(DATA)
    from core.archive.store import get_archive
    from core.query import Query
    from core.spectral.extract import extract_spectrum
    from core.spectral.products import channel_edges

    archive = get_archive()
    q = Query.from_params({k: v for k, v in CRAB.items() if k != "selected_catalog"})
    edges = channel_edges("osa11", 1)
    read, fit = [], []
    for sid in [str(i) for i in archive.select(q).ids][:10]:
        t = time.perf_counter()
        scw = archive.read(sid)
        read.append(time.perf_counter() - t)
        t = time.perf_counter()
        extract_spectrum(scw, CRAB["selected_catalog"], edges)
        fit.append(time.perf_counter() - t)
    return {"read_ms": 1e3 * float(np.median(read)), "extract_256ch_ms": 1e3 * float(np.median(fit[1:]))}


def _fit_timing(store: str) -> dict:
    os.environ["ODA_CACHE_DIR"] = store
    from core.config import get_settings

    get_settings.cache_clear()
    from core.fitting.fit import fit_spectrum
    from core.fitting.ogip import read_spectrum
    from core.products.run import run_product
    from core.query import Query

    res = run_product(Query.from_params(**CRAB, product_type="spectrum"))
    data = read_spectrum(res.files["spectrum_Crab.pha"])
    fit_spectrum(data, "powerlaw", emin=20, emax=100)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        r = fit_spectrum(data, "powerlaw", emin=20, emax=100)
        times.append(time.perf_counter() - t)
    return {"fit_powerlaw_s": float(np.median(times)), "gamma": r.parameters[0].value,
            "gamma_err": r.parameters[0].error, "chi2": r.statistic, "dof": r.dof}


def main() -> None:
    print("ensuring the 50 Crab ScWs are on disk ...")
    env = dict(os.environ, ODA_DATA_DIR=str(DATA))
    subprocess.run([sys.executable, "-m", "core", "simulate", "--src", "Crab", "--T1", "2003-01-01", "--T2",
                    "2004-01-01", "--max_pointings", "50"], cwd=ROOT, env=env, check=True, capture_output=True)
    results: dict = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d %H:%M")}
    results["per_scw"] = _extract_timing()
    print("per ScW", results["per_scw"])
    spec = {**CRAB, "product_type": "spectrum"}
    lc = {**CRAB, "product_type": "lc", "time_bin": 100, "E1_keV": 20, "E2_keV": 40}
    cold1, cold2, lc2 = [], [], []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as store:
            cold1.append(_scenario("spectrum 50 ScWs cold, 1 worker", spec, store)["seconds"][0])
        with tempfile.TemporaryDirectory() as store:
            r = _scenario("spectrum 50 ScWs cold, 2 workers", spec, store, workers=2, repeat=2)
            cold2.append(r["seconds"][0])
            warm = r["seconds"][1]
        with tempfile.TemporaryDirectory() as store:
            lc2.append(_scenario("lc 100 s 50 ScWs cold, 2 workers", lc, store, workers=2)["seconds"][0])
    with tempfile.TemporaryDirectory() as store:
        warm_runs = _scenario("spectrum identical request warm", spec, store, repeat=4)["seconds"][1:]
        results["fit"] = _fit_timing(store)
    results.update({
        "spectrum_cold_1worker_s": float(np.median(cold1)), "spectrum_cold_2workers_s": float(np.median(cold2)),
        "spectrum_warm_s": float(np.median(warm_runs + [warm])), "lc100s_cold_2workers_s": float(np.median(lc2)),
        "runs": {"cold1": cold1, "cold2": cold2, "lc2": lc2, "warm": warm_runs + [warm]},
        "targets": {"spectrum_cold_s": 5.0, "spectrum_warm_s": 0.05, "lc100s_s": 10.0, "fit_s": 0.5}})
    print(json.dumps(results, indent=1))
    out = ROOT / "benchmarks" / "results" / "spectra.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
