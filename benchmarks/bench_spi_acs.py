"""SPI-ACS light-curve benchmark: a ±300 s light curve at 50 ms, cold and warm.

Run: ``python benchmarks/bench_spi_acs.py`` — prints figures and writes
``benchmarks/results/spi_acs.json``.

* **cold** (target < 1 s): archive chunks not yet simulated, product not in the store: read
  (simulate + write 1–2 one-hour chunks of 50 ms counts), analyse, write FITS + JSON into the
  product store. Measured in a running process (imports done, pointing history loaded),
  median over distinct trigger times (each one cold);
* **chunks on disk** (product not cached): the same with the chunks already simulated;
* **warm** (target < 50 ms): the same query again (product restored from the store);
* the first request of a fresh process (imports + pointing history load + cold), once.

ODA_ARCHIVE_DIR / ODA_CACHE_DIR point at fresh temporary directories; the pointing history is
the data directory's (built once per data directory, a few seconds, not counted).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
T0S = ["2017-08-17T12:41:04.4", "2019-01-14T20:57:03.19", "2013-04-27T07:47:06.42", "2008-03-19T06:12:49",
       "2010-06-02T20:00:00", "2012-02-11T15:00:00", "2016-09-20T18:30:00", "2021-03-03T09:00:00",
       "2005-05-05T05:05:05", "2023-11-11T11:11:11"]


def main() -> dict:
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="bench-acs-"))
    os.environ["ODA_ARCHIVE_DIR"] = str(tmp / "archive")
    os.environ["ODA_CACHE_DIR"] = str(tmp / "cache")
    from core.archive.pointings import load_history
    from core.config import get_settings

    get_settings.cache_clear()
    t = time.perf_counter()
    load_history(get_settings().data_dir)
    hist_s = time.perf_counter() - t
    from core.products.run import run_product
    from core.query import Query

    def query(t0):
        return Query.from_params(instrument="spi_acs", T0=t0, window=300, time_bin=0.05)

    # warm-up of first calls (imports of astropy.io.fits, scipy...) on a throw-away interval
    run_product(query("2004-04-04T04:04:04"))
    cold, disk, warm, usable = [], [], [], []
    for t0 in T0S:
        q = query(t0)
        t = time.perf_counter()
        try:
            res = run_product(q)
        except Exception as exc:  # e.g. a perigee gap at this time
            print(f"  {t0}: {exc}")
            continue
        cold.append(time.perf_counter() - t)
        usable.append(t0)
        n_chunks = len(res.scws)
        t = time.perf_counter()
        run_product(q)
        warm.append(time.perf_counter() - t)
        # chunks on disk, product not cached: another binning of the same interval is a new product
        q2 = q.with_(time_bin=0.1)
        t = time.perf_counter()
        run_product(q2)
        disk.append(time.perf_counter() - t)
        print(f"  {t0}: cold {cold[-1] * 1e3:7.1f} ms ({n_chunks} chunk{'s' if n_chunks > 1 else ''}), "
              f"chunks on disk {disk[-1] * 1e3:7.1f} ms, warm {warm[-1] * 1e3:6.2f} ms, "
              f"{res.summary['n']} bins")
    env = dict(os.environ, ODA_ARCHIVE_DIR=str(tmp / "archive-fresh"), ODA_CACHE_DIR=str(tmp / "cache-fresh"))
    code = ("import time; t=time.perf_counter(); from core.products.run import run_product; from core.query import Query; "
            "run_product(Query.from_params(instrument='spi_acs', T0='2017-08-17T12:41:04.4', window=300, time_bin=0.05)); "
            "print(time.perf_counter()-t)")
    fresh = float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                                 check=True).stdout.strip().splitlines()[-1])
    out = {"window_s": 600, "time_bin_s": 0.05, "bins": 12000, "n_queries": len(cold), "trigger_times": usable,
           "cold_seconds": {"median": statistics.median(cold), "max": max(cold), "min": min(cold)},
           "chunks_on_disk_seconds": {"median": statistics.median(disk), "max": max(disk)},
           "warm_seconds": {"median": statistics.median(warm), "max": max(warm)},
           "fresh_process_first_request_seconds": fresh, "history_load_seconds": hist_s,
           "targets": {"cold_s": 1.0, "warm_s": 0.05}}
    print(f"cold   median {out['cold_seconds']['median'] * 1e3:7.1f} ms (max {out['cold_seconds']['max'] * 1e3:.1f}; target < 1000)")
    print(f"disk   median {out['chunks_on_disk_seconds']['median'] * 1e3:7.1f} ms")
    print(f"warm   median {out['warm_seconds']['median'] * 1e3:7.2f} ms (max {out['warm_seconds']['max'] * 1e3:.2f}; target < 50)")
    print(f"fresh process, first request (imports + history + cold): {fresh:.2f} s; history load {hist_s:.2f} s")
    res_dir = ROOT / "benchmarks" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "spi_acs.json").write_text(json.dumps(out, indent=1) + "\n")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    main()
