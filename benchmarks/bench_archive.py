"""Archive benchmarks: history build, selection, ScW simulation, ScW read, bytes per ScW.

Run: ``python benchmarks/bench_archive.py`` (prints the figures and writes
``benchmarks/results/archive.json``). Single-threaded BLAS/FFT so that "one core" holds.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timeit(fn, repeat=5):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> dict:
    work = Path(tempfile.mkdtemp(prefix="oda-bench-"))
    os.environ["ODA_DATA_DIR"] = str(work)
    from core.archive import pointings as P
    from core.archive.osa_files import read_scw, write_scw
    from core.archive.simulate import simulate_scw
    from core.archive.store import Archive
    from core.config import get_settings
    from core.query import Query
    from core.sky.catalog import sky_model

    res: dict = {}
    t = time.perf_counter()
    hist = P.build_history()
    res["history_build_s"] = time.perf_counter() - t
    res["history_n_scw"] = int(len(hist))
    P.load_history(work)  # writes the cache
    P._load_history_cached.cache_clear()
    res["history_load_cached_s"] = min(_timeit(lambda: (P._load_history_cached.cache_clear(), P.load_history(work)), 3))

    arch = Archive(get_settings())
    q = Query.from_params(src_name="Crab", T1="2003-01-01", T2="2025-01-01", radius=10, max_pointings=50)
    res["selection_crab_mission_s"] = statistics.median(_timeit(lambda: arch.select(q), 10))
    q2 = Query.from_params(src_name="GX 5-1", T1="2003-03-15", T2="2003-10-30", radius=10, max_pointings=50)
    res["selection_gx51_2003_s"] = statistics.median(_timeit(lambda: arch.select(q2), 10))

    # Measured-energy sampling of 5e6 photons (the simulator's inner loop).
    import numpy as np

    from core.instrument import response as R

    rng = np.random.default_rng(3)
    e = rng.uniform(15.0, 300.0, 5_000_000)
    R.sample_measured_energy(e[:10], 500, rng)  # build the lookup tables once
    res["energy_sampler_5e6_photons_s"] = min(_timeit(
        lambda: R.low_threshold_acceptance(R.sample_measured_energy(e, 500, rng), 500), 3))

    sky_model()
    cases = {"crab_field": arch.select(q), "galactic_centre": arch.select(q2)}
    for name, sel in cases.items():
        rows, ids = sel.rows[:5], sel.ids[:5]
        sim_t, write_t, read_t, sizes, nev = [], [], [], [], []
        simulate_scw(rows[0], str(ids[0]))  # warm caches (PIF tables, response, background maps)
        for row, sid in zip(rows, ids):
            t = time.perf_counter()
            sim = simulate_scw(row, str(sid))
            sim_t.append(time.perf_counter() - t)
            d = work / "scw" / str(sid)
            d.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            write_scw(d, sim.meta, sim.events, sim.gti, sim.pixel_status)
            write_t.append(time.perf_counter() - t)
            read_t.append(min(_timeit(lambda: read_scw(d), 3)))
            sizes.append(sum(f.stat().st_size for f in d.iterdir()))
            nev.append(len(sim.events))
        res[name] = {
            "simulate_s_median": statistics.median(sim_t), "write_s_median": statistics.median(write_t),
            "simulate_plus_write_s_median": statistics.median(a + b for a, b in zip(sim_t, write_t)),
            "read_s_median": statistics.median(read_t), "bytes_per_scw_median": statistics.median(sizes),
            "events_per_scw_median": statistics.median(nev),
        }
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    out = ROOT / "benchmarks" / "results" / "archive.json"
    out.write_text(json.dumps(res, indent=2))
    for k, v in res.items():
        print(f"{k:28s} {json.dumps(v)}")
    return res


if __name__ == "__main__":
    main()
