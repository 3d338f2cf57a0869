"""Validation against the benchmark cases of ``../shared/reference/validation-cases.md``.

Run: ``python benchmarks/validate.py [--max_pointings 50] [--seeds 100] [--workers 2] [--only crab,v404]``

Regenerates ``docs/validation.md`` (and its figures in ``docs/validation/``): for every case the
paper's value, the sky model's truth (for time-variable sources the live-time-weighted mean over
the ScWs analysed) and our value with its 1σ error, the offset in σ, and the Monte-Carlo
ensembles of :mod:`core.ensembles`. Results also go to ``benchmarks/results/validation.json``.

The simulated archive draws its events from a more detailed instrument than the analysis
assumes (:mod:`core.instrument.truth`: per-pixel gains and thresholds, mask transparency,
off-axis passive absorption, background module levels); the offsets measured here are the
analysis' systematic errors against that instrument. Data go to ``$ODA_DATA_DIR`` (default
``/tmp/oda-validate``); a second run restores what the first computed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ODA_DATA_DIR", "/tmp/oda-validate")

import numpy as np  # noqa: E402

DOC = ROOT / "docs" / "validation.md"
FIG = ROOT / "docs" / "validation"
RESULTS = ROOT / "benchmarks" / "results" / "validation.json"
REF = SHARED / "reference-data"

ROWS: list[dict] = []
FIGURES: list[tuple[str, str]] = []
NOTES: list[str] = []
PARAMS: dict[str, dict] = {}


#: Case key of the rows being produced (rows of cases not re-run are kept from the last run).
CURRENT = {"case": ""}


def row(case, quantity, paper, truth, value, err=None, unit="", tol_sigma=None, tol_frac=None):
    """One table row; ``err`` a float or (minus, plus). Status: within tol_sigma·σ + tol_frac·|truth|."""
    if isinstance(err, (tuple, list)):
        lo, hi = err
        e = None if lo is None or hi is None else 0.5 * (abs(lo) + abs(hi))
    else:
        e = err
    status = ""
    if truth is not None and value is not None and (tol_sigma is not None or tol_frac is not None):
        allowed = (tol_sigma or 0.0) * (e or 0.0) + (tol_frac or 0.0) * abs(truth)
        status = "ok" if abs(value - truth) <= allowed else "off"
    off = None
    if truth is not None and value is not None and e:
        off = (value - truth) / e
    ROWS.append({"key": CURRENT["case"], "case": case, "quantity": quantity, "paper": paper, "truth": truth, "value": value, "err": e,
                 "unit": unit, "offset_sigma": off, "status": status})


def _fmt(v, e=None):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if e is None:
        return f"{v:.4g}"
    return f"{v:.4g} ± {e:.2g}"


def _figure(title: str, src: Path, name: str):
    FIG.mkdir(parents=True, exist_ok=True)
    dst = FIG / name
    shutil.copyfile(src, dst)
    FIGURES.append((title, f"validation/{name}"))


def _mean_truth(source, rows, fn, n_sub: int = 60):
    """Live-time-weighted mean of fn(source, ijd) over the selected ScWs.

    Averaged over ``n_sub`` times across each ScW (flaring sources change within one)."""
    fr = (np.arange(n_sub) + 0.5) / n_sub
    w = np.asarray(rows["ontime"], float) * np.asarray(rows["deadc"], float)
    vals = []
    for a, b in zip(np.asarray(rows["tstart"], float), np.asarray(rows["tstop"], float)):
        ts = a + (b - a) * fr
        lv = np.asarray(source.flux_mcrab_at(ts), float)
        ref = float(np.asarray(source.flux_mcrab_at(np.array([ts[0]])), float)[0])
        # The spectral shape is fixed: fn at one time scaled by the level (as model_rates does).
        f0 = fn(source, float(ts[0]))
        vals.append(f0 * float(lv.mean()) / ref if ref > 0 else float(np.mean([fn(source, x) for x in ts])))
    return float((w * np.array(vals)).sum() / w.sum())


def _param(fit: dict, name: str):
    p = next(p for p in fit["parameters"] if p["name"] == name)
    return p["value"], tuple(p["err_1sigma"])


def _flux(fit: dict, band: str):
    f = next(f for f in fit["fluxes"] if f"{f['e1_keV']:g}-{f['e2_keV']:g}" == band)
    return f["energy_flux_erg_cm2_s"], tuple(f["energy_flux_err_1sigma"])


def _sig(catalog, name):
    for r in catalog:
        if str(r["NAME"]).strip() == name:
            return float(r["DETSIG"]), float(r["FLUX"]), float(r["FLUX_ERR"])
    return None, None, None


# -- real files -----------------------------------------------------------------------------------
def case_real(args):
    from core.fitting.fit import fit_spectrum
    from core.fitting.ogip import read_spectrum

    data = read_spectrum(REF / "NGC2110_ursini_spectrum_osa10.fits", REF / "NGC2110_ursini_arf_osa10.fits.gz",
                         REF / "NGC2110_ursini_rmf_osa10.fits.gz")
    pl = fit_spectrum(data, "powerlaw", emin=20, emax=300)
    g = pl["gamma"]
    row("NGC 2110 real PHA", "Γ (power law, 20–300 keV)", "1.81 ± 0.05", None, g.value, g.err_1sigma, tol_sigma=1)
    k = pl.derived()["K_1keV"]
    row("NGC 2110 real PHA", "K(1 keV) [ph/cm²/s/keV]", "≈ 0.0355 (±10%)", 0.0355, k["value"], k["err_1sigma"],
        tol_frac=0.10)
    row("NGC 2110 real PHA", "χ²/dof", "≈ 10/11", None, f"{pl.statistic:.1f}/{pl.dof}")
    f = pl.flux(20, 100)
    row("NGC 2110 real PHA", "F(20–100) [erg/cm²/s]", "≈ 1.9e-10 (±5%)", 1.9e-10, f.energy, f.energy_err_1sigma,
        tol_frac=0.05)
    cp = fit_spectrum(data, "cutoffpl", emin=20, emax=300)
    row("NGC 2110 real PHA", "Γ (cutoff power law)", "1.63 ± 0.15", None, cp["gamma"].value, cp["gamma"].err_1sigma)
    ec = cp["ecut"]
    lim = ec.limit
    row("NGC 2110 real PHA", "E_c [keV]", "≈ 300 (lower bound ~170)", None,
        ec.value if lim is None else f"> {lim['value_90']:.0f} (90%)" if lim.get("value_90") else "limit",
        ec.err_1sigma if lim is None else None)
    # Lubiński 2016 model E²F against the Ursini power law in 20–100 keV.
    lub = np.loadtxt(REF / "NGC2110_model_lubinski.csv", delimiter=None if "\t" in (REF / "NGC2110_model_lubinski.csv").read_text()[:200] else ",")
    e, e2f = lub[:, 0], lub[:, 1]
    sel = (e >= 20) & (e <= 100)
    ours = np.array([pl.photon_spectrum(np.array([x]))[0] * x * x for x in e[sel]])
    ratio = float(np.trapezoid(ours, np.log(e[sel])) / np.trapezoid(e2f[sel], np.log(e[sel])))
    row("NGC 2110 real PHA", "ratio to Lubiński 2016 (20–100 keV)", "0.92 ± 0.05", 0.92, ratio, None, tol_frac=0.06)

    from core.spectral.lc_read import read_lightcurve

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for fname, label in (("isgri_lc_example.fits", "ODA JEM-X1 light curve, GRB 221009A"),
                         ("jemx_lc_example.fits.gz", "ODA JEM-X light-curve product")):
        lc = read_lightcurve(REF / fname)
        k = int(np.argmax(lc.rate))
        row(f"real LC {fname}", "rows kept / read", "survive bad rows", None, f"{len(lc)}/{lc.n_input}",
            None)
        row(f"real LC {fname}", "peak rate [cts/s]", "8.18 ± 0.09 at MJD 59864.83" if "isgri" in fname else "—",
            None, float(lc.rate[k]), float(lc.error[k]))
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.errorbar(lc.time_mjd, lc.rate, yerr=lc.error, xerr=lc.timedel_s / 86400 / 2, fmt=".", ms=3, lw=0.6)
        ax.set_xlabel("MJD (TT)")
        ax.set_ylabel(f"rate ({lc.rate_unit})")
        ax.set_title(f"{label}: {len(lc)} of {lc.n_input} rows", fontsize=9)
        fig.tight_layout()
        FIG.mkdir(parents=True, exist_ok=True)
        out = FIG / f"lc_{fname.split('.')[0]}.png"
        fig.savefig(out, dpi=110)
        plt.close(fig)
        FIGURES.append((label, f"validation/{out.name}"))


# -- simulated archive ----------------------------------------------------------------------------
def _run(params, args):
    from core.products.run import run_product
    from core.query import Query

    q = Query.from_params(**params)
    t0 = time.perf_counter()
    res = run_product(q, workers=args.workers)
    print(f"  {q.product_type} {params.get('src_name', '')}: {len(res.scws)} ScWs, {time.perf_counter() - t0:.0f} s",
          flush=True)
    return res


def case_crab(args):
    from core.archive.store import get_archive
    from core.imaging.pipeline import scw_image
    from core.query import Query
    from core.sky.catalog import sky_model

    base = dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", radius=10, max_pointings=args.max_pointings)
    img = _run({**base, "product_type": "image", "E1_keV": 20, "E2_keV": 40}, args)
    cat = img.data.catalog
    s, fl, fe = _sig(cat, "Crab")
    n = len(img.scws)
    row("Crab 2003", f"image significance 20–40 keV ({n} ScWs)", "~1.4–1.7e3 σ per year", None, s, None)
    # Mosaic photometry against the per-ScW PIF fits (IROS, detector space).
    arch = get_archive()
    q = Query.from_params(**base, product_type="image")
    from core.imaging.decode import scw_attitude

    f_i, e_i = [], []
    for sid in arch.select(q).ids:
        im, _ = scw_image(str(sid), 20.0, 40.0)
        tz0, ty0 = (float(v) for v in scw_attitude(arch.read(str(sid)).header).to_instrument(83.6331, 22.0145))
        for src in im.meta.get("iros_sources", []):
            d = src if isinstance(src, dict) else src.__dict__
            # IROS found it from the data: the Crab is the source within 0.3° of its position.
            if math.hypot(d["tan_z"] - tz0, d["tan_y"] - ty0) < math.radians(0.3):
                f_i.append(d["flux"])
                e_i.append(d["flux_err"])
    w = 1.0 / np.array(e_i) ** 2
    per_scw = float((w * np.array(f_i)).sum() / w.sum())
    row("Crab 2003", "mosaic FLUX / per-ScW PIF fits (20–40 keV)", "1 (OSA: ~0.9)", 1.0, fl / per_scw,
        fe / per_scw, tol_frac=0.03)
    row("Crab 2003", "raw blank-field rms of the mosaic significance", "1 after rescaling", None,
        img.data.images.meta.get("noise_rms"), None)
    _figure("Crab 2003, 20–40 keV mosaic", img.png(), "crab_mosaic.png")

    crab = sky_model().get("Crab")
    sel = arch.select(q)
    for model, e1, e2, label in (("powerlaw", 20, 100, "20–100"), ("powerlaw", 100, 300, "100–300")):
        fit = _run({**base, "product_type": "spectral_fit", "spectral_model": model, "E1_keV": e1, "E2_keV": e2,
                    "selected_catalog": [["Crab", 83.6331, 22.0145]]}, args)
        g, ge = _param(fit.summary["fit"], "gamma")
        truth_g = crab.shape.gamma if e2 <= crab.shape.e_break else crab.shape.gamma2
        paper = "2.06–2.11" if e1 == 20 else "≈ 2.3"
        row("Crab 2003", f"Γ ({label} keV)", paper, truth_g, g, ge, tol_sigma=1, tol_frac=0.02)
        if e1 == 20:
            f, fe_ = _flux(fit.summary["fit"], "20-100")
            truth = _mean_truth(crab, sel.rows, lambda s, t: s.energy_flux(20, 100, t))
            row("Crab 2003", "F(20–100) [erg/cm²/s]", "1.69e-8", truth, f, fe_, tol_sigma=1, tol_frac=0.02)
            _figure("Crab 2003 spectrum, power law 20–100 keV", fit.png(), "crab_fit.png")


def case_v404(args):
    from core.archive.store import get_archive
    from core.query import Query
    from core.sky.catalog import sky_model

    base = dict(src_name="V404 Cyg", T1="2015-06-20T15:49:59", T2="2015-06-25T04:05:59", radius=10,
                max_pointings=args.max_pointings)
    img = _run({**base, "product_type": "image", "E1_keV": 20, "E2_keV": 40}, args)
    for name, paper in (("V404 Cyg", "≈ 2000"), ("Cyg X-1", "≈ 760"), ("Cyg X-3", "≈ 200")):
        s, _, _ = _sig(img.data.catalog, name)
        row("V404 Cyg June 2015", f"{name} significance 20–40 keV", paper, None, s, None)
    _figure("V404 Cyg field, 20–40 keV mosaic", img.png(), "v404_mosaic.png")
    cat = [[str(r["NAME"]).strip(), float(r["RA_FIN"]), float(r["DEC_FIN"])] for r in img.data.catalog][:20]
    fit = _run({**base, "product_type": "spectral_fit", "spectral_model": "cutoffpl", "E1_keV": 20, "E2_keV": 300,
                "selected_catalog": cat}, args)
    src = sky_model().get("V404 Cyg")
    fs = fit.summary["fit"]
    g, ge = _param(fs, "gamma")
    row("V404 Cyg June 2015", "Γ (cutoff power law, 20–300 keV)", "2.02", src.shape.gamma, g, ge, tol_sigma=1,
        tol_frac=0.02)
    ec, ece = _param(fs, "ecut")
    row("V404 Cyg June 2015", "E_c [keV]", "Ef ≈ 128", src.shape.e_cut, ec, ece, tol_sigma=1, tol_frac=0.02)
    row("V404 Cyg June 2015", "χ²/dof", "—", None, fs["stat_per_dof"], None)
    sel = get_archive().select(Query.from_params(**base))
    truth = _mean_truth(src, sel.rows, lambda s, t: s.energy_flux(20, 100, t))
    f, fe = _flux(fs, "20-100")
    row("V404 Cyg June 2015", "F(20–100) [erg/cm²/s], ScW-averaged", "—", truth, f, fe, tol_sigma=1, tol_frac=0.02)
    _figure("V404 Cyg cutoff power-law fit", fit.png(), "v404_fit.png")
    lc = _run({**base, "product_type": "lc", "E1_keV": 20, "E2_keV": 40, "time_bin": 100, "selected_catalog": cat},
              args)
    s = next(x for x in lc.summary["sources"] if x["name"] == "V404 Cyg")
    r = np.array(s["rate"], float)
    above = r > 1000
    episodes = int(np.sum(above[1:] & ~above[:-1]) + (1 if above.size and above[0] else 0))
    k = int(np.nanargmax(r))
    row("V404 Cyg June 2015", "LC 100 s: peak rate [cts/s]", "7000–7500", None, float(r[k]), float(s["error"][k]))
    row("V404 Cyg June 2015", "LC 100 s: episodes above 1000 cts/s", "44 (all ScWs)", None, f"{episodes}", None)
    _figure("V404 Cyg 20–40 keV light curve, 100 s bins", lc.png("V404 Cyg"), "v404_lc.png")


def case_gx51(args):
    from core.sky.catalog import sky_model

    ids = [ln.strip().split(".")[0] for ln in (REF / "list_osa10.txt").read_text().split() if ln.strip()[:1].isdigit()]
    base = dict(src_name="GX 5-1", scw_list=",".join(ids))
    img = _run({**base, "product_type": "image", "E1_keV": 20, "E2_keV": 30}, args)
    for name, paper in (("GX 5-1", "≈ 100"), ("GRS 1758-258", "≈ 45")):
        s, _, _ = _sig(img.data.catalog, name)
        row("GX 5-1 (44 ScWs 2003)", f"{name} significance 20–30 keV", paper, None, s, None)
    row("Galactic Center field", "sources detected (≥ 7σ)", "~25 catalogued (ODA)", None, f"{len(img.data.catalog)}")
    _figure("GX 5-1 field, 20–30 keV, 44 ScWs", img.png(), "gx51_mosaic.png")
    cat = [[str(r["NAME"]).strip(), float(r["RA_FIN"]), float(r["DEC_FIN"])] for r in img.data.catalog][:30]
    fit = _run({**base, "product_type": "spectral_fit", "spectral_model": "comptt", "E1_keV": 20, "E2_keV": 70,
                "selected_catalog": cat}, args)
    fs = fit.summary["fit"]
    src = sky_model().get("GX 5-1")
    kte, kee = _param(fs, "kTe")
    row("GX 5-1 (44 ScWs 2003)", "kTe [keV] (comptt, 20–70 keV)", "≈ 5", src.shape.kte, kte, kee, tol_sigma=1,
        tol_frac=0.02)
    tau, taue = _param(fs, "tau")
    row("GX 5-1 (44 ScWs 2003)", "τ", "—", src.shape.tau(), tau, taue, tol_sigma=1, tol_frac=0.02)
    f, fe = _flux(fs, "20-100")
    row("GX 5-1 (44 ScWs 2003)", "F(20–100) [erg/cm²/s]", "4.0e-10", src.energy_flux(20, 100), f, fe, tol_sigma=1,
        tol_frac=0.02)
    ok = all(x is not None and x > 0 for x in (-fe[0], fe[1])) and all(
        v is not None and math.isfinite(v) for p in fs["parameters"] for v in p["err_1sigma"])
    row("GX 5-1 (44 ScWs 2003)", "errors finite and positive", "—", None, "yes" if ok else "NO")
    _figure("GX 5-1 comptt fit", fit.png(), "gx51_fit.png")


def case_3c279(args):
    from core.archive.store import get_archive
    from core.query import Query
    from core.sky.catalog import sky_model

    base = dict(src_name="3C 279", T1="2015-06-15T15:56:45", T2="2015-06-16T06:13:10", radius=10,
                max_pointings=args.max_pointings)
    cat = [["3C 279", 194.0465, -5.7893], ["3C 273", 187.2779, 2.0524]]
    fit = _run({**base, "product_type": "spectral_fit", "spectral_model": "powerlaw", "E1_keV": 20, "E2_keV": 100,
                "selected_catalog": cat}, args)
    fs = fit.summary["fit"]
    g, ge = _param(fs, "gamma")
    src = sky_model().get("3C 279")
    row("3C 279 flare June 2015", "Γ (20–100 keV)", "≈ 0.8 ± 0.9", src.shape.gamma, g, ge, tol_sigma=2)
    sel = get_archive().select(Query.from_params(**base))
    truth = _mean_truth(src, sel.rows, lambda s, t: s.energy_flux(20, 100, t))
    f, fe = _flux(fs, "20-100")
    row("3C 279 flare June 2015", "F(20–100) [erg/cm²/s]", "≈ 3× the 3.1e-11 average", truth, f, fe, tol_sigma=2)
    lc = _run({**base, "product_type": "lc", "E1_keV": 20, "E2_keV": 100, "selected_catalog": cat}, args)
    s = next(x for x in lc.summary["sources"] if x["name"] == "3C 279")
    r = np.array(s["rate"], float)
    k = int(np.nanargmax(r))
    row("3C 279 flare June 2015", "LC peak [cts/s] (per ScW)", "2.9 ± 1.5", None, float(r[k]), float(s["error"][k]))
    _figure("3C 279 flare light curve (per ScW, 20–100 keV)", lc.png("3C 279"), "3c279_lc.png")


def case_ngc2110_sim(args):
    from core.archive.store import get_archive
    from core.query import Query
    from core.sky.catalog import sky_model

    base = dict(src_name="NGC 2110", T1="2003-01-01", T2="2018-12-31", radius=10, max_pointings=args.max_pointings)
    img = _run({**base, "product_type": "image", "E1_keV": 30, "E2_keV": 100}, args)
    s, _, _ = _sig(img.data.catalog, "NGC 2110")
    row("NGC 2110 simulated", f"image significance 30–100 keV ({len(img.scws)} ScWs)", "12–17σ (1.6–1.9 Ms)", None, s)
    cat = [[str(r["NAME"]).strip(), float(r["RA_FIN"]), float(r["DEC_FIN"])] for r in img.data.catalog][:20]
    if not any(c[0] == "NGC 2110" for c in cat):
        cat.append(["NGC 2110", 88.0474, -7.4562])
    fit = _run({**base, "product_type": "spectral_fit", "spectral_model": "powerlaw", "E1_keV": 20, "E2_keV": 100,
                "selected_catalog": cat}, args)
    fs = fit.summary["fit"]
    src = sky_model().get("NGC 2110")
    g, ge = _param(fs, "gamma")
    row("NGC 2110 simulated", "Γ (20–100 keV)", "1.75 ± 0.05", src.shape.gamma, g, ge, tol_sigma=1, tol_frac=0.02)
    from core.fitting.models import make_model

    m = make_model("powerlaw")
    vals = [p["value"] for p in fs["parameters"]]
    f1855 = float(m.energy_flux(18, 55, np.array(vals)))
    sel = get_archive().select(Query.from_params(**base))
    truth = _mean_truth(src, sel.rows, lambda s, t: s.energy_flux(18, 55, t))
    row("NGC 2110 simulated", "F(18–55) [erg/cm²/s]", "1.37e-10", truth, f1855, None)


def case_ensembles(args):
    from core.ensembles import blank_field_ensemble, lightcurve_ensemble, position_ensemble, spectrum_ensemble

    out = {}
    t0 = time.perf_counter()
    spec = spectrum_ensemble(args.seeds)
    out.update({k: v.summary() for k, v in spec.items()})
    out["lc"] = lightcurve_ensemble(args.seeds).summary()
    pos = position_ensemble(args.seeds)
    out.update({f"position_{k}": v.summary() for k, v in pos.items()})
    out["blank"] = blank_field_ensemble(args.seeds)
    print(f"  ensembles: {time.perf_counter() - t0:.0f} s", flush=True)
    return out


CASES = {"real": case_real, "crab": case_crab, "v404": case_v404, "gx51": case_gx51, "3c279": case_3c279,
         "ngc2110": case_ngc2110_sim}


def write_doc(args, ensembles, seconds):
    lines = ["# Validation", "",
             "Generated by `python benchmarks/validate.py` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). Do not edit by hand. ScWs per case "
             "(`--max_pointings`, the selection spread evenly in the case's window): "
             + ", ".join(f"{k} {v['max_pointings']}" for k, v in PARAMS.items() if k != "real")
             + f"; ensembles {args.seeds} seeds.", "",
             "Cases of `../shared/reference/validation-cases.md`: the published (ODA benchmark) value, the sky "
             "model's truth (live-time-weighted over the ScWs analysed for variable sources; — where the sky "
             "model has no single number), our value with its 1σ error, the offset in σ, and a status where a "
             "tolerance is defined (1σ + 2% of the truth for spectral parameters, as the issue asks).", "",
             "The simulator draws events from a more detailed instrument than the analysis assumes "
             "(`core/instrument/truth.py`: per-pixel gain spread 1.5%, per-pixel threshold spread 1 keV, mask "
             "transparency above 200 keV, off-axis passive absorption, 0.5% background module jitter per ScW); "
             "IROS finds the sources of each ScW from the data (the catalogue only names the mosaic's "
             "detections). The offsets below are the analysis' systematic errors against that instrument.", "",
             "| case | quantity | paper | sky-model truth | ours | offset | Δ | status |",
             "|---|---|---|---|---|---|---|---|"]
    for r in ROWS:
        off = "" if r["offset_sigma"] is None else f"{r['offset_sigma']:+.1f}σ"
        rel = ""
        if isinstance(r["value"], (int, float)) and isinstance(r["truth"], (int, float)) and r["truth"]:
            rel = f"{(r['value'] - r['truth']) / abs(r['truth']):+.1%}"
        lines.append(f"| {r['case']} | {r['quantity']} | {r['paper']} | {_fmt(r['truth'])} | "
                     f"{_fmt(r['value'], r['err'])} | {off} | {rel} | {r['status']} |")
    if ensembles:
        lines += ["", "## Monte-Carlo ensembles (`core/ensembles.py`, per-ScW level)", "",
                  f"{args.seeds} Poisson realisations each of one ScW's expected counts (nominal instrument).", "",
                  "| ensemble | n | pull mean | pull rms | bias | notes |", "|---|---|---|---|---|---|"]
        for k, s in ensembles.items():
            if k == "blank":
                continue
            notes = ", ".join(f"{a} = {b:.3g}" if isinstance(b, float) else f"{a} = {b}" for a, b in s.items()
                              if a not in ("name", "n", "n_pulls", "pull_mean", "pull_std", "bias_frac"))
            bias = "" if not math.isfinite(s["bias_frac"]) else f"{s['bias_frac']:+.2%}"
            lines.append(f"| {s['name']} | {s['n_pulls']} | {s['pull_mean']:+.3f} | {s['pull_std']:.3f} | {bias} | {notes} |")
        b = ensembles["blank"]
        lines += ["", f"Blank fields: {b['n_scw']} background-only ScWs decoded with IROS: **{b['false_detections']} "
                      f"false detections above {b['threshold']:g}σ**; significance mean {b['sig_mean']:+.3f}, rms "
                      f"{b['sig_rms']:.3f}, highest pixel {b['max_peak']:.2f}σ."]
    missing = [k for k in CASES if not any(r.get("key") == k for r in ROWS)]
    notes = NOTES + [f"case `{k}` has no results in this regeneration (run `python benchmarks/validate.py "
                     f"--only {k}`)" for k in missing]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if FIGURES:
        lines += ["", "## Figures", ""]
        for title, path, *_ in FIGURES:
            lines += [f"**{title}**", "", f"![{title}]({path})", ""]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max_pointings", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--workers", type=int, default=int(os.environ.get("ODA_WORKERS", "2")))
    ap.add_argument("--only", default="", help="comma-separated cases: " + ", ".join(CASES) + ", ensembles")
    args = ap.parse_args(argv)
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    t0 = time.perf_counter()
    previous = json.loads(RESULTS.read_text()) if only and RESULTS.exists() else {}
    for name, fn in CASES.items():
        if only and name not in only:
            # Not re-run: keep that case's rows and figures from the last run.
            ROWS.extend(r for r in previous.get("rows", []) if r.get("key") == name)
            FIGURES.extend(tuple(f) for f in previous.get("figures", []) if f[2] == name)
            continue
        CURRENT["case"] = name
        n_fig = len(FIGURES)
        print(f"case {name}", flush=True)
        try:
            fn(args)
        except Exception as exc:  # a failing case is reported, the others still run
            NOTES.append(f"case {name} failed: {type(exc).__name__}: {exc}")
            print(f"  FAILED: {exc!r}", flush=True)
        FIGURES[n_fig:] = [(t, p, name) for t, p, *_ in FIGURES[n_fig:]]
        PARAMS[name] = {"max_pointings": args.max_pointings}
    for name, prm in previous.get("params", {}).items():
        PARAMS.setdefault(name, prm)
    ens = case_ensembles(args) if (not only or "ensembles" in only) else previous.get("ensembles", {})
    seconds = time.perf_counter() - t0
    write_doc(args, ens, seconds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": ROWS, "ensembles": ens, "notes": NOTES, "seconds": seconds,
                                   "figures": FIGURES, "params": PARAMS, "seeds": args.seeds}, indent=1, default=str))
    print(DOC.read_text())


if __name__ == "__main__":
    main()
