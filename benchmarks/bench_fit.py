"""Spectral-fit benchmarks on the real NGC 2110 ISGRI spectrum (OSA 10 response, 2466 × 14).

Run: ``python benchmarks/bench_fit.py`` — prints figures and writes ``benchmarks/results/fit.json``.

* read PHA + ARF + RMF;
* one power-law fit with profile errors (1σ and 90 %) and band fluxes with errors, 20–300 keV
  (target ≤ 0.5 s), median of repeated runs after one warm-up (imports, first calls);
* the same for a cutoff power law (3 parameters) and the Cash statistic on a Poisson version
  of the spectrum;
* the same power-law fit through the full OSA 11 256-channel grid (our instrument response),
  to show the cost of a large matrix.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "reference-data"
PHA = SHARED / "NGC2110_ursini_spectrum_osa10.fits"
REPEATS = 7


def _time(fn, repeats=REPEATS):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), out


def main() -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from core.fitting.fit import fit_spectrum
    from core.fitting.ogip import SpectrumData, read_spectrum

    res: dict = {"file": PHA.name, "repeats": REPEATS}
    med, best, data = _time(lambda: read_spectrum(PHA))
    res["read_seconds"] = {"median": med, "min": best}
    print(f"{'read PHA+ARF+RMF':40s} median {med * 1e3:7.1f} ms")

    for model in ("powerlaw", "cutoffpl"):
        med, best, r = _time(lambda m=model: fit_spectrum(data, m, emin=20, emax=300))
        res[f"{model}_chi2"] = {"median_seconds": med, "min_seconds": best,
                                "params": {p.name: [p.value, p.err_1sigma[0], p.err_1sigma[1]] for p in r.parameters},
                                "stat": r.statistic, "dof": r.dof, "F20_100": r.fluxes[2].energy}
        print(f"{model + ' chi2 fit + errors':40s} median {med:7.3f} s  (min {best:.3f} s)  "
              f"{', '.join(f'{p.name}={p.value:.4g}' for p in r.parameters)}  chi2/dof={r.statistic:.2f}/{r.dof}")

    # Poisson version: counts = rate × 20 ks.
    exposure = 2.0e4
    counts = np.random.default_rng(1).poisson(data.rate * exposure).astype(float)
    pois = SpectrumData(channel=data.channel, rate=counts / exposure, stat_err=np.sqrt(np.maximum(counts, 1)) / exposure,
                        sys_err=data.sys_err, quality=data.quality, grouping=data.grouping, exposure=exposure,
                        counts=counts, poisson=True, arf=data.arf, rmf=data.rmf)
    med, best, r = _time(lambda: fit_spectrum(pois, "powerlaw", emin=20, emax=300, stat="cash"))
    res["powerlaw_cash"] = {"median_seconds": med, "min_seconds": best, "gamma": r["gamma"].value}
    print(f"{'powerlaw cash fit + errors':40s} median {med:7.3f} s  (min {best:.3f} s)")

    # A 256-channel OSA 11 grid through our instrument model (bigger matrix).
    from core.instrument.response import Response

    t = time.perf_counter()
    resp = Response(revolution=100)
    res["osa11_response_build_seconds"] = time.perf_counter() - t
    from core.fitting.models import make_model
    from core.fitting.ogip import ARF, RMF

    n = resp.n_channels
    truth = make_model("powerlaw").bin_flux(resp.true_edges[:-1], resp.true_edges[1:], [2.1, 7.4e-3])
    rate = resp.folded(truth)
    err = 0.02 * rate.max() * np.ones(n)
    obs = rate + np.random.default_rng(2).normal(0, 1, n) * err
    big = SpectrumData(channel=np.arange(n), rate=obs, stat_err=err, sys_err=np.zeros(n), quality=np.zeros(n, int),
                       grouping=np.zeros(n, int), exposure=1e4,
                       arf=ARF(resp.true_edges[:-1], resp.true_edges[1:], resp.arf),
                       rmf=RMF(resp.true_edges[:-1], resp.true_edges[1:], resp.matrix, np.arange(n),
                               resp.channel_edges[:-1], resp.channel_edges[1:]))
    med, best, r = _time(lambda: fit_spectrum(big, "powerlaw", emin=20, emax=300), repeats=3)
    res["powerlaw_chi2_osa11_256ch"] = {"median_seconds": med, "min_seconds": best, "n_bins": int(r.rate.size),
                                        "gamma": r["gamma"].value}
    print(f"{'powerlaw chi2, 256-channel OSA 11 grid':40s} median {med:7.3f} s  ({r.rate.size} channels in 20-300 keV)")

    res["target_powerlaw_seconds"] = 0.5
    res["powerlaw_within_target"] = res["powerlaw_chi2"]["median_seconds"] <= 0.5
    out = ROOT / "benchmarks" / "results" / "fit.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"# wrote {out}")
    return res


if __name__ == "__main__":
    main()
