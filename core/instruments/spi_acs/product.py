"""The ``spi_acs_lc`` product: the light curve as the ODA plugin serves it, and its analysis.

Files (in the product store, by product id):

* ``spi_acs_lc.fits``: primary HDU with the query (``HIERARCH ODA QUERY <name>`` cards),
  the reproducing ``COMMAND`` and the analysis (``SNR_PEAK``, ``T_PEAK``, ``T90``,
  ``FLUENCE``...); one BinTable ``RATE`` (TIME [s from TIMEZERO, bin start], RATE
  [counts/s], ERROR [counts/s, Poisson √N / Δt as the plugin writes it]) with TIMEDEL,
  TIMEZERO (IJD s of T0), MJDREF = 51544, TIMESYS TT, TIMEUNIT s, TSTART/TSTOP, ONTIME,
  TELESCOP INTEGRAL, INSTRUME SPI-ACS and NOISEFAC (measured noise over Poisson);
* ``result.json``: the summary.

T0 is the middle of [T1, T2] (a ``T0`` with a ``window`` gives exactly that), as the
plugin's ``T_ref``. The summary has ``sources`` (one entry, ``SPI-ACS``, for the light-curve
views), ``T0_isot``, ``time_bin``, ``theta_deg`` (source direction from the X axis, when
RA/DEC are given), ``spectrum`` and ``analysis`` (:func:`.analysis.analyse`).
"""

from __future__ import annotations

import json
import math
import shlex
import tempfile
import time
from pathlib import Path

import numpy as np

from ...errors import QueryError
from .analysis import analyse, background_model
from .archive import ACS_VERSION, BIN_S, read_counts

__all__ = ["PRODUCT_VERSION", "make_lightcurve", "load_lightcurve", "lightcurve_png", "read_lc_fits",
           "reproduce_command", "query_note", "LC_FILE"]

PRODUCT_VERSION = f"acs-lc2-sim{ACS_VERSION}"
LC_FILE = "spi_acs_lc.fits"


def query_note(query) -> str:
    """One line saying what a spi_acs_lc query will show (the page's form status)."""
    span = (query.ijd2 - query.ijd1) * 86400.0
    scale = 86400.0 if query.time_bin_format == "jd" else 1.0
    n = int(span // (query.time_bin * scale))
    where = "the direction's response" if math.isfinite(query.RA) else "the sky-averaged response"
    return (f"SPI-ACS all-sky light curve: {span:.6g} s around T0 = the middle of T1..T2, {n} bins of "
            f"{query.time_bin * scale:g} s; fluences with {where} ({query.acs_spectrum}).")


def reproduce_command(query) -> str:
    args = ["python", "-m", "core", "lc", "--instrument", "spi_acs", "--T1", query.T1, "--T2", query.T2,
            "--T_format", query.T_format, "--time_bin", f"{query.time_bin:g}"]
    if query.time_bin_format != "sec":
        args += ["--time_bin_format", query.time_bin_format]
    if math.isfinite(query.RA):
        args += ["--RA", f"{query.RA:.6f}", "--DEC", f"{query.DEC:.6f}"]
    args += ["--E1_keV", f"{query.E1_keV:g}", "--E2_keV", f"{query.E2_keV:g}", "--acs_spectrum", query.acs_spectrum,
             "--detection_threshold", f"{query.detection_threshold:g}"]
    return " ".join(shlex.quote(a) for a in args)


def _rebin(counts: np.ndarray, good: np.ndarray, k: int):
    n = len(counts) // k
    c = counts[:n * k].reshape(n, k).sum(axis=1).astype(float)
    g = good[:n * k].reshape(n, k).sum(axis=1)
    return c, g


def _response(query, t0_s: float):
    from .background import attitude_at
    from .response import PRESET_SPECTRA, counts_per_fluence, theta_from_axis

    spec = PRESET_SPECTRA[query.acs_spectrum]
    theta = None
    if math.isfinite(query.RA):
        theta = float(theta_from_axis(query.RA, query.DEC, *attitude_at(t0_s)))
    return spec, theta, counts_per_fluence(spec, query.E1_keV, query.E2_keV, theta)


def _clean(obj):
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def compute(query) -> tuple[dict, bytes, dict]:
    """(summary, FITS bytes, timing) of a validated spi_acs lc query (nothing stored)."""
    from astropy.io import fits

    from ...timeutil import ijd_to_isot, ijd_to_time

    t_begin = time.perf_counter()
    t1_s, t2_s = query.ijd1 * 86400.0, query.ijd2 * 86400.0
    t0_s = 0.5 * (t1_s + t2_s)
    data, chunks = read_counts(t1_s, t2_s)
    t_read = time.perf_counter()
    if not data.good.any():
        raise QueryError("T1", "SPI-ACS has no data in T1..T2 (perigee passage or telemetry gap)",
                         "a time outside the radiation belts")
    spec, theta, cpf = _response(query, t0_s)
    t_rel = data.time - t0_s
    try:
        ana = analyse(t_rel, data.counts, data.good, threshold=query.detection_threshold, counts_per_fluence=cpf)
    except ValueError as exc:
        raise QueryError("T1", f"cannot analyse this interval: {exc}", "an interval with > 10 s of data around T0") from None
    scale = 86400.0 if query.time_bin_format == "jd" else 1.0
    k = max(int(round(query.time_bin * scale / BIN_S)), 1)
    c, g = _rebin(data.counts, data.good, k)
    full = g == k  # bins with a gap are left out, not shown at a false rate
    dt = k * BIN_S
    tt = t_rel[:len(c) * k:k][full]
    rate = c[full] / dt
    err = np.sqrt(np.maximum(c[full], 1.0)) / dt
    bkg = background_model(tt + dt / 2, ana["background"])

    hdr_q = [(f"HIERARCH ODA QUERY {k_}", v) for k_, v in query.to_params().items()
             if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    prim = fits.PrimaryHDU()
    ph = prim.header
    ph["TELESCOP"], ph["INSTRUME"] = "INTEGRAL", "SPI-ACS"
    ph["ORIGIN"] = ("INTEGRAL ODA (simulated archive)", "")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        for key, v in hdr_q:
            if len(f"{key}= {v!r}") <= 80:
                ph[key] = v
        peak = ana.get("peak", {})
        for key, val, com in (("SNR_PEAK", peak.get("snr"), "best S/N of the excess search"),
                              ("T_PEAK", peak.get("t_s"), "[s] from T0, centre of the best window"),
                              ("TSCALE", peak.get("timescale_s"), "[s] time scale of the best window"),
                              ("DETECTED", ana["detected"], f"S/N >= {query.detection_threshold:g}"),
                              ("T90", ana.get("t90", {}).get("T90_s"), "[s] T90-like duration"),
                              ("FLUENCE", ana.get("fluence", {}).get("fluence_erg_cm2"),
                               f"[erg/cm2] {query.E1_keV:g}-{query.E2_keV:g} keV, {query.acs_spectrum}"),
                              ("NOISEFAC", ana["noise_factor_measured"], "noise std / Poisson, measured")):
            if val is not None and (not isinstance(val, float) or math.isfinite(val)):
                ph[key] = (val, com)
        ph["COMMAND"] = reproduce_command(query)[:68]
    ph.add_history("Reproduce: " + reproduce_command(query))
    cols = [fits.Column("TIME", "D", unit="s", array=tt), fits.Column("RATE", "D", unit="count/s", array=rate),
            fits.Column("ERROR", "D", unit="count/s", array=err)]
    lc = fits.BinTableHDU.from_columns(cols, name="RATE")
    h = lc.header
    for key, val, com in (("TELESCOP", "INTEGRAL", ""), ("INSTRUME", "SPI-ACS", ""),
                          ("TIMESYS", "TT", ""), ("TIMEREF", "LOCAL", ""), ("TASSIGN", "SATELLITE", ""),
                          ("TIMEUNIT", "s", ""), ("MJDREF", 51544.0, "IJD 0 = MJD 51544 (TT)"),
                          ("TIMEZERO", t0_s, "[s] since MJDREF: T0 (TIME = 0)"),
                          ("TSTART", t1_s, "[s] since MJDREF"), ("TSTOP", t2_s, "[s] since MJDREF"),
                          ("TIMEDEL", dt, "[s] bin width"), ("TIMEPIXR", 0.0, "TIME is the bin start"),
                          ("ONTIME", float(data.good.sum() * BIN_S), "[s] time with data"),
                          ("DATE-OBS", ijd_to_time(query.ijd1).tt.isot, "TT, as TIMESYS"),
                          ("DATE-END", ijd_to_time(query.ijd2).tt.isot, "TT, as TIMESYS"),
                          ("NOISEFAC", ana["noise_factor_measured"], "noise std / sqrt(counts), measured")):
        h[key] = (val, com) if com else val
    import io

    buf = io.BytesIO()
    fits.HDUList([prim, lc]).writeto(buf)
    raw = buf.getvalue()
    summary = _clean({
        "instrument": "spi_acs", "T0_isot": ijd_to_isot(t0_s / 86400.0), "T0_ijd_s": t0_s,
        "time_bin": dt, "n": int(full.sum()), "theta_deg": theta, "spectrum": {"name": query.acs_spectrum, **spec.to_dict()},
        "band_keV": [query.E1_keV, query.E2_keV], "counts_per_fluence": cpf, "analysis": ana,
        "sources": [{"name": "SPI-ACS", "n": int(full.sum()), "file": LC_FILE, "mean": float(np.mean(rate)) if len(rate) else None}],
        "background_rate": [float(bkg.min()), float(bkg.max())] if len(bkg) else None,
    })
    timing = {"read_s": t_read - t_begin, "total_s": time.perf_counter() - t_begin,
              "chunks": [{"chunk": c_, "simulated": m} for c_, m in chunks]}
    return summary, raw, timing


def make_lightcurve(query, *, progress=None, store=None):
    """Compute (or restore) the spi_acs_lc product of ``query``."""
    from ...products.result import ProductResult
    from ...products.scw_task import ScwStatus
    from ...products.store import get_store
    from .instrument import SPI_ACS

    store = store or get_store()
    pid = SPI_ACS.product_id(query)
    hit = load_lightcurve(pid, query, store=store)
    if hit is not None:
        return hit
    summary, raw, timing = compute(query)
    status = [ScwStatus(f"ACS chunk {c['chunk']}", "calculated" if c["simulated"] else "restored from cache",
                        timing["total_s"] / max(len(timing["chunks"]), 1)) for c in timing["chunks"]]
    if progress:
        for i, s in enumerate(status, 1):
            progress(i, len(status), s)
    files = {LC_FILE: raw,
             "result.json": json.dumps({"product_id": pid, "query": query.to_params(), **summary}, indent=1).encode()}
    meta = {"query": query.to_params(), "product_type": "lc", "summary": summary,
            "scws": [s.to_dict() for s in status]}
    path = store.put(pid, meta=meta, files=files)
    return ProductResult(pid, "lc", query, status, {n: path / n for n in files}, summary, False, None)


def load_lightcurve(pid: str, query, *, store=None):
    from ...products.result import ProductResult
    from ...products.scw_task import ScwStatus
    from ...products.store import get_store

    store = store or get_store()
    meta = store.meta(pid)
    if meta is None or "summary" not in meta or meta["summary"].get("instrument") != "spi_acs":
        return None
    files = {name: store.path(pid) / name for name in store.files(pid)}
    if LC_FILE not in files:
        return None
    scws = [ScwStatus(d["scw_id"], "restored from cache", 0.0) for d in meta.get("scws", [])]
    return ProductResult(pid, "lc", query, scws, files, meta["summary"], True, None)


def read_lc_fits(path) -> dict:
    """TIME (s from T0), RATE, ERROR and header keys of a spi_acs_lc FITS file."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        d = hdul["RATE"].data
        h = hdul["RATE"].header
        return {"time": np.array(d["TIME"], float), "rate": np.array(d["RATE"], float),
                "error": np.array(d["ERROR"], float), "timedel": float(h["TIMEDEL"]),
                "timezero": float(h["TIMEZERO"])}


def lightcurve_png(result) -> Path:
    """Publication PNG: rate, fitted background, T0, the peak and the T90 interval."""
    from ...products.store import content_key, get_store

    store = get_store()
    key = content_key("spi-acs-png", result.product_id, PRODUCT_VERSION)
    path = store.file(key, "figure.png")
    if path is not None:
        return path
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lc = read_lc_fits(result.files[LC_FILE])
    s = result.summary
    ana = s["analysis"]
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=120)
    ax.step(lc["time"] + lc["timedel"] / 2, lc["rate"], where="mid", lw=0.7, color="k", label="SPI-ACS")
    tt = np.linspace(lc["time"][0], lc["time"][-1] + lc["timedel"], 400) if len(lc["time"]) else np.array([0.0])
    ax.plot(tt, background_model(tt, ana["background"]), color="tab:blue", lw=1.2, label="background fit")
    ax.axvline(0.0, color="tab:red", ls="--", lw=1, label=f"T0 = {s['T0_isot'][:23]}")
    if ana.get("t90"):
        ax.axvspan(ana["t90"]["t05_s"], ana["t90"]["t95_s"], color="tab:orange", alpha=0.2, label="T90")
    pk = ana.get("peak") or {}
    title = f"SPI-ACS, {s['time_bin']:g} s bins"
    if pk:
        title += f" — peak S/N {pk['snr']:.1f} at T0{pk['t_s']:+.2f} s ({pk['timescale_s']:g} s)"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("time since T0 (s)")
    ax.set_ylabel("rate (counts/s)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figure.png"
        fig.savefig(out)
        plt.close(fig)
        entry = store.put(key, files={"figure.png": out.read_bytes()}, meta={"product_id": result.product_id})
    return entry / "figure.png"
