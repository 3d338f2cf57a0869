"""JEM-X imaging benchmarks on the simulated archive.

Run: ``python benchmarks/bench_jemx.py`` — prints figures and writes
``benchmarks/results/jemx.json``:

* simulation of one JEM-X ScW (one unit; median);
* per-ScW decode of one band once events are read, without and with IROS (median over 10
  Crab ScWs), and ISGRI's on the same ScWs in the same process (the machine is shared, so
  the ratio is what compares: target JEM-X ≤ 2× ISGRI);
* a 50-ScW JEM-X1 mosaic (Crab 2003, pointings within 4° — ODA's JEM-X default radius —
  3–20 keV): cold (read + decode with IROS + per-ScW images stored as ``.npz`` + mosaic with
  :class:`core.imaging.mosaic.MosaicBuilder`) and warm (stored images + mosaic);
* the same mosaic as the served ``jemx_image`` product (``run_product``: selection by
  scw_list, per-ScW tasks restored or computed through the shared maker skeleton, the
  variance-propagating projection, detection, files, store): cold (empty product store) and
  warm (the per-ScW images stored, a new product id), and ISGRI's ``isgri_image`` of 10 of
  the same ScWs cold and warm, per ScW (target: JEM-X within 2× of ISGRI's per-ScW cost).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

# One BLAS thread, set before numpy loads: on a shared machine idle BLAS threads spin and
# make the small weighted fits 50x slower than their arithmetic.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ODA_BENCH_DATA", "/tmp/oda-bench-jemx"))
os.environ["ODA_DATA_DIR"] = str(DATA)
sys.path.insert(0, str(ROOT))

N_MOSAIC = 50
BAND = (3.0, 20.0)


def _crab_scws(n: int) -> list[str]:
    from core.archive.pointings import load_history, scw_ids
    from core.archive.selection import angular_distance
    from core.sky.catalog import sky_model

    h = load_history(DATA)
    ids = scw_ids(h)
    crab = sky_model()["Crab"]
    d = angular_distance(h["ra_scx"], h["dec_scx"], crab.ra, crab.dec)
    sel = np.flatnonzero((d < 4.0) & (h["tstart"] > 1096.0) & (h["tstart"] < 1461.0))
    pick = sel[((np.arange(n) + 0.5) * sel.size / n).astype(int)]
    return [str(ids[i]) for i in pick]


def _median(v):
    return float(sorted(v)[len(v) // 2])


def main() -> dict:
    from core.archive.store import get_archive
    from core.imaging.scw_image import decode_scw
    from core.imaging.mosaic import MosaicBuilder, mosaic_grid
    from core.imaging.types import SkyImages
    from core.instruments.jemx.decode import PIXEL_DEG
    from core.instruments.jemx.scw_image import decode_jemx
    from core.instruments.jemx.files import ensure_jemx, read_jemx
    from core.sky.catalog import sky_model

    arch = get_archive()
    ids = _crab_scws(N_MOSAIC)
    res: dict = {"n_scw": len(ids), "band_keV": list(BAND)}

    from core.instruments.jemx.files import write_jemx
    from core.instruments.jemx.simulate import simulate_jemx

    sim = []
    with tempfile.TemporaryDirectory() as d:  # simulate + write, whether or not the archive has them
        for sid in ids[:5]:
            t = time.perf_counter()
            s = simulate_jemx(arch.row(sid), sid, 1)
            write_jemx(Path(d) / "jmx1_events.fits.gz", s.meta, s.events, s.gti, s.pixel_status)
            sim.append(time.perf_counter() - t)
    res["simulate_and_write_per_scw_s"] = _median(sim)
    for sid in ids:
        ensure_jemx(arch, sid, 1)

    def field(h, radius):
        return [(s.name, s.ra, s.dec) for s in sky_model().within(h["RA_SCX"], h["DEC_SCX"], radius)]

    def best_of(f, n=3):  # the machine is shared: the fastest of a few runs is the cost
        out = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
        return min(out)

    dec = {"jemx_no_iros": [], "jemx_iros": [], "isgri_no_iros": [], "isgri_iros": []}
    for sid in ids[:10]:  # JEM-X and ISGRI alternate on the same ScWs, under the same load
        j = read_jemx(arch, sid, 1)
        jcat = field(j.header, 9.5)
        i = arch.read(sid)
        icat = field(i.header, 16)
        decode_jemx(j, *BAND, iros=False)
        decode_scw(i, 20, 40, iros=False)
        dec["jemx_no_iros"].append(best_of(lambda: decode_jemx(j, *BAND, iros=False)))
        dec["isgri_no_iros"].append(best_of(lambda: decode_scw(i, 20, 40, iros=False)))
        dec["jemx_iros"].append(best_of(lambda: decode_jemx(j, *BAND, catalog=jcat)))
        dec["isgri_iros"].append(best_of(lambda: decode_scw(i, 20, 40, catalog=icat)))
    # Projection onto a mosaic grid (what a mosaic adds per ScW), ISGRI's on its own grid.
    from core.imaging.mosaic import project

    crab0 = sky_model()["Crab"]
    jw, js = mosaic_grid(crab0.ra, crab0.dec, [], pixel_deg=PIXEL_DEG, margin_deg=7.0)
    iw, ishape = mosaic_grid(crab0.ra, crab0.dec, [])
    dec["jemx_project"], dec["isgri_project"] = [], []
    for sid in ids[:5]:
        jimg = decode_jemx(read_jemx(arch, sid, 1), *BAND, iros=False)
        iimg = decode_scw(arch.read(sid), 20, 40, iros=False)
        dec["jemx_project"].append(best_of(lambda: project(jimg, jw, js)))
        dec["isgri_project"].append(best_of(lambda: project(iimg, iw, ishape)))
    res["decode_median_s"] = {k: _median(v) for k, v in dec.items()}
    res["decode_ratio_jemx_over_isgri"] = {
        "no_iros": res["decode_median_s"]["jemx_no_iros"] / res["decode_median_s"]["isgri_no_iros"],
        "iros": res["decode_median_s"]["jemx_iros"] / res["decode_median_s"]["isgri_iros"],
        "project": res["decode_median_s"]["jemx_project"] / res["decode_median_s"]["isgri_project"]}

    crab = sky_model()["Crab"]
    heads = [read_jemx(arch, s, 1).header for s in ids]
    wcs, shape = mosaic_grid(crab.ra, crab.dec, [(h["RA_SCX"], h["DEC_SCX"]) for h in heads],
                             pixel_deg=PIXEL_DEG, margin_deg=7.0)
    with tempfile.TemporaryDirectory() as store:
        t = time.perf_counter()
        mb = MosaicBuilder(wcs, shape)
        for sid in ids:
            scw = read_jemx(arch, sid, 1)
            img = decode_jemx(scw, *BAND, catalog=field(scw.header, 9.5))
            arrays, meta = img.to_arrays()
            np.savez(Path(store) / f"{sid}.npz", **arrays)
            (Path(store) / f"{sid}.json").write_text(json.dumps(meta))
            mb.add(img)
        cold = mb.result()
        res["mosaic_cold_s"] = time.perf_counter() - t
        warm = []
        for _ in range(3):
            t = time.perf_counter()
            mb = MosaicBuilder(wcs, shape)
            for sid in ids:
                with np.load(Path(store) / f"{sid}.npz") as z:
                    arrays = {k: z[k] for k in z.files}
                mb.add(SkyImages.from_arrays(arrays, json.loads((Path(store) / f"{sid}.json").read_text())))
            mos = mb.result()
            warm.append(time.perf_counter() - t)
        res["mosaic_warm_s"] = _median(warm)
        res["warm_equals_cold"] = bool(np.allclose(np.nan_to_num(mos.significance), np.nan_to_num(cold.significance),
                                                   rtol=1e-5, atol=1e-5))
    x, y = (float(v) for v in wcs.world_to_pixel_values(crab.ra, crab.dec))
    sig = mos.significance
    res["crab_mosaic_significance"] = float(np.nanmax(sig[int(round(y)) - 2:int(round(y)) + 3,
                                                          int(round(x)) - 2:int(round(x)) + 3]))
    res["mosaic_shape"] = list(shape)
    res["cold_per_scw_s"] = res["mosaic_cold_s"] / len(ids)
    res.update(_served(ids))
    print(json.dumps(res, indent=1))
    out = ROOT / "benchmarks" / "results" / "jemx.json"
    out.write_text(json.dumps(res, indent=1) + "\n")
    return res


def _served(ids: list[str]) -> dict:
    """jemx_image / isgri_image through run_product, cold and warm, per ScW."""
    from core.products.run import run_product
    from core.products.store import ProductStore
    from core.query import Query

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = ProductStore(Path(tmp) / "store")
        q = Query.from_params(instrument="jemx", jemx_num=1, product_type="image", src_name="Crab",
                              scw_list=",".join(ids), E1_keV=BAND[0], E2_keV=BAND[1])
        t = time.perf_counter()
        cold = run_product(q, store=store)
        out["served_jemx_cold_s"] = time.perf_counter() - t
        t = time.perf_counter()
        warm = run_product(q.with_(detection_threshold=8.0), store=store)  # new product, stored ScW images
        out["served_jemx_warm_s"] = time.perf_counter() - t
        assert all(s.status == "restored from cache" for s in warm.scws)
        out["served_jemx_crab_significance"] = cold.summary["catalog"][0]["significance"]
        isgri_ids = ids[:10]
        for sid in isgri_ids:  # ISGRI events on disk first: the cold figure is read + decode + mosaic
            from core.archive.store import get_archive

            get_archive().ensure(sid)
        qi = Query.from_params(product_type="image", src_name="Crab", scw_list=",".join(isgri_ids), E1_keV=20, E2_keV=40)
        t = time.perf_counter()
        run_product(qi, store=store)
        out["served_isgri_cold_s_10scw"] = time.perf_counter() - t
        t = time.perf_counter()
        run_product(qi.with_(detection_threshold=8.0), store=store)
        out["served_isgri_warm_s_10scw"] = time.perf_counter() - t
    n = len(ids)
    out["served_per_scw_s"] = {"jemx_cold": out["served_jemx_cold_s"] / n, "jemx_warm": out["served_jemx_warm_s"] / n,
                               "isgri_cold": out["served_isgri_cold_s_10scw"] / 10,
                               "isgri_warm": out["served_isgri_warm_s_10scw"] / 10}
    p = out["served_per_scw_s"]
    out["served_ratio_jemx_over_isgri"] = {"cold": p["jemx_cold"] / p["isgri_cold"], "warm": p["jemx_warm"] / p["isgri_warm"]}
    return out


if __name__ == "__main__":
    main()
