"""JEM-X science-window simulator: the archive's sky model + pointing → events of one unit.

For each sky-model source within reach of the collimator the expected counts in pixel ``k``
are ::

    λ_k = T_live · cosθ · C(θ) · PIF_k · eff_k / N_ideal · ∫ N(E, t) A(E) dE

with ``A(E)`` the on-axis effective area of a perfect detector (:mod:`.response`, the ARF
convention), ``C`` the collimator transmission and ``PIF`` the mask shadow (:mod:`.pif`),
``eff`` the unit's pixel efficiency (:mod:`.detector`) and ``N_ideal`` = Σ active × on-axis
PIF. Each spectrum N(E)·A(E) is folded once through the redistribution onto the PI
channels and PI values are drawn from that. Sources varying within a ScW (flares) are
sampled on a 10 s grid, as for ISGRI. The background (:mod:`.background`) has two
components with their own spectra and spatial templates; a few junk events on the
chamber rim are flagged (``STATUS = 1``).

The pointing is the ISGRI one (:mod:`core.archive.pointings`: JEM-X looks along the same
axis), and the sky is :mod:`core.sky`, evaluated over 3–35 keV. Everything is seeded by
the ScW id, the unit and :data:`JEMX_SIM_VERSION` (with the pointing-history version), so
an evicted ScW is regenerated bit for bit.

Not modelled (documented limits): rate-dependent dead time and the on-board grey filter
(a constant live fraction :data:`DEADC` is used), gain drifts (PI is the corrected energy),
the energy dependence of the position resolution.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from ...archive.event_times import sample_times, source_times
from ...archive.pointings import HISTORY_VERSION
from ...instrument.attitude import Attitude
from . import background as bkg
from . import detector as det
from . import response as resp
from .pif import n_ideal, pif as compute_pif, response_factor

__all__ = ["JEMX_SIM_VERSION", "DEADC", "EVENT_DTYPE", "MAX_OFFAXIS_DEG", "SimulatedJemx", "simulate_jemx",
           "gti_seconds", "source_rate_per_mcrab", "expected_weights", "pi_rate"]

#: Bump whenever simulated JEM-X events change: part of the file's version keyword.
JEMX_SIM_VERSION = "1"
#: Live fraction of the JEM-X electronics [approx, constant].
DEADC = 0.92
#: In-memory event record (native byte order).
EVENT_DTYPE = np.dtype([("TIME", "f8"), ("DETX", "u1"), ("DETY", "u1"), ("PI", "i2"), ("STATUS", "u1")])
#: Sources farther than this from the axis cannot reach the detector (collimator × mask).
MAX_OFFAXIS_DEG = 9.5

_TICK_S = 2.0 ** -13          # JEM-X time resolution ≈ 122 µs
_FAST_STEP_S = 10.0
_E_MID = np.sqrt(resp.TRUE_ENERGY_EDGES[1:] * resp.TRUE_ENERGY_EDGES[:-1])
_E_WIDTH = np.diff(resp.TRUE_ENERGY_EDGES)
_JUNK_RATE = 0.3              # cts/s of flagged rim events


@dataclass
class SimulatedJemx:
    meta: dict
    events: np.ndarray
    gti: np.ndarray           # (n, 2) IJD
    pixel_status: np.ndarray  # uint8 (128, 128): 0 good, 1 dead strip, 2 outside the sensitive disc
    n_counts: dict


def _seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def gti_seconds(row) -> np.ndarray:
    """Good-time intervals of a pointing-history row, in seconds from its start."""
    telapse = (float(row["tstop"]) - float(row["tstart"])) * 86400.0
    g0, gl = float(row["gap_start"]), float(row["gap_len"])
    if gl <= 0:
        return np.array([[0.0, telapse]])
    parts = [(0.0, g0), (g0 + gl, telapse)]
    return np.array([p for p in parts if p[1] - p[0] > 1e-6])


def pi_rate(true_rate_per_bin: np.ndarray) -> np.ndarray:
    """Detected rate per PI channel for a rate per true-energy bin."""
    return np.asarray(true_rate_per_bin, float) @ resp.pi_redistribution()


def source_rate_per_mcrab(source) -> np.ndarray:
    """On-axis count rate per PI channel of ``source`` at 1 mCrab (its spectral shape)."""
    return pi_rate(source.norm_per_mcrab * source.shape.shape(_E_MID) * resp.effective_area(_E_MID) * _E_WIDTH)


def expected_weights(tan_z: float, tan_y: float, efficiency: np.ndarray) -> np.ndarray:
    """Counts per pixel per unit on-axis-equivalent count: cosθ·C·PIF·eff / N_ideal."""
    p = compute_pif(tan_z, tan_y).astype(np.float64)
    return p * efficiency * (float(response_factor(tan_z, tan_y)) / n_ideal())


def pixel_status(unit: int, revolution: int) -> np.ndarray:
    """0 good, 1 dead anode strip, 2 outside the sensitive disc."""
    status = np.zeros((det.N_PIX, det.N_PIX), np.uint8)
    status[det.active_fraction() <= 0] = 2
    status[det.dead_strip_map(unit, revolution) & (status == 0)] = 1
    return status


def _sample_pi(rng, n: int, rate: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(rate)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), resp.N_PI - 1).astype(np.int16)


def _pixels(rng, n: int, weights: np.ndarray) -> np.ndarray:
    flat = weights.ravel().astype(np.float64)
    counts = rng.multinomial(n, flat / flat.sum())
    return np.repeat(np.arange(flat.size, dtype=np.int32), counts)


@functools.lru_cache(maxsize=2)
def _background_pi() -> dict:
    """Background PI spectra per component, normalised so the sum is 1 cts/s in 3–35 keV."""
    band = (resp.PI_EDGES[:-1] >= resp.ENERGY_MIN_KEV) & (resp.PI_EDGES[1:] <= resp.ENERGY_MAX_KEV + 1e-9)
    spec = {c: pi_rate(bkg.background_spectrum(c, _E_MID) * _E_WIDTH) for c in bkg.COMPONENTS}
    total = sum(float(s[band].sum()) for s in spec.values())
    return {c: s / total for c, s in spec.items()}


def simulate_jemx(row, scw_id: str, unit: int, *, sources=None, background: bool = True,
                  sky_version: str = "") -> SimulatedJemx:
    """Simulate one pointing ScW of JEM-X unit ``unit``.

    Parameters
    ----------
    row : numpy.void
        Pointing-history row (:data:`core.archive.pointings.HISTORY_DTYPE`).
    scw_id : str
    unit : {1, 2}
    sources : list of SkySource, optional
        Default: every sky-model source within :data:`MAX_OFFAXIS_DEG` of the axis.
    background : bool
    sky_version : str
        Sky-model version, part of the seed.
    """
    from ...sky.catalog import sky_model

    unit = det.check_unit(unit)
    rng = np.random.default_rng(_seed(scw_id, "JMX", unit, JEMX_SIM_VERSION, HISTORY_VERSION, sky_version))
    rev = int(row["revolution"])
    t0 = float(row["tstart"])
    telapse = (float(row["tstop"]) - t0) * 86400.0
    gti = gti_seconds(row)
    ontime = float(np.sum(gti[:, 1] - gti[:, 0]))
    att = Attitude(row["ra_scx"], row["dec_scx"], row["ra_scz"], row["dec_scz"])
    if sources is None:
        sources = sky_model().within(float(row["ra_scx"]), float(row["dec_scx"]), MAX_OFFAXIS_DEG)
    eff = det.pixel_efficiency(unit, rev)

    chunks_pix, chunks_pi, chunks_t = [], [], []
    n_counts: dict[str, int] = {}
    for src in sources:
        tz, ty = (float(v) for v in att.to_instrument(src.ra, src.dec))
        if not (math.isfinite(tz) and math.isfinite(ty)) or float(response_factor(tz, ty)) <= 0:
            continue
        weights = expected_weights(tz, ty, eff)
        wsum = float(weights.sum())
        if wsum <= 0:
            continue
        spec = source_rate_per_mcrab(src)
        if src.variability.fast:
            edges = np.arange(0.0, telapse + _FAST_STEP_S, _FAST_STEP_S)
            edges[-1] = telapse
            mids = 0.5 * (edges[1:] + edges[:-1])
            flux = src.flux_mcrab_at(t0 + mids / 86400.0)
            inside = np.zeros(len(mids))
            for a, b in gti:
                inside += np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0, None)
            mcrab_s = flux * inside
        else:
            mcrab_s = np.array([float(src.flux_mcrab_at(t0 + telapse / 2 / 86400.0)) * ontime])
        lam = float(mcrab_s.sum() * DEADC * spec.sum() * wsum)
        n = int(rng.poisson(lam)) if lam > 0 else 0
        n_counts[src.name] = n
        if n == 0:
            continue
        chunks_pix.append(_pixels(rng, n, weights))
        chunks_pi.append(_sample_pi(rng, n, spec))
        chunks_t.append(source_times(rng, n, mcrab_s, edges if len(mcrab_s) > 1 else None, gti))

    if background:
        maps = bkg.spatial_maps(unit, rev)
        act = det.active_fraction()
        level = bkg.UNIT_LEVEL[unit] * float(np.exp(0.03 * rng.standard_normal()))
        for comp, spec in _background_pi().items():
            f = level * (bkg.level_factor(t0) if comp == "particle" else 1.0)
            pattern = maps[comp]
            # Templates have mean 1 over the sensitive pixels of a perfect detector: dead
            # strips and the gain map remove or add their share of the nominal rate.
            share = float(pattern.sum() / np.count_nonzero(act > 0))
            lam = bkg.RATE_3_35 * f * float(spec.sum()) * ontime * DEADC * share
            n = int(rng.poisson(lam))
            n_counts[f"background_{comp}"] = n
            chunks_pix.append(_pixels(rng, n, pattern))
            chunks_pi.append(_sample_pi(rng, n, spec))
            chunks_t.append(sample_times(rng, n, gti))

    status_map = pixel_status(unit, rev)
    pix = np.concatenate(chunks_pix) if chunks_pix else np.zeros(0, np.int32)
    pis = np.concatenate(chunks_pi) if chunks_pi else np.zeros(0, np.int16)
    t_sec = np.concatenate(chunks_t) if chunks_t else np.zeros(0)
    flags = np.zeros(pix.size, np.uint8)
    # Junk events on the rim of the chamber (discharges, wall events): flagged STATUS = 1.
    rim = np.flatnonzero(((det.active_fraction() > 0) & (det.active_fraction() < 1)).ravel())
    n = int(rng.poisson(_JUNK_RATE * ontime))
    pix = np.concatenate([pix, rim[rng.integers(0, rim.size, n)].astype(np.int32)])
    pis = np.concatenate([pis, np.minimum(rng.exponential(60.0, n), resp.N_PI - 1).astype(np.int16)])
    t_sec = np.concatenate([t_sec, sample_times(rng, n, gti)])
    flags = np.concatenate([flags, np.ones(n, np.uint8)])

    # Time order by one sort of a packed key (tick, pixel, flag, PI).
    ticks = np.minimum(np.floor(t_sec / _TICK_S).astype(np.int64), (1 << 28) - 1)
    key = (ticks << 32) | (pix.astype(np.int64) << 12) | (flags.astype(np.int64) << 11) | pis.astype(np.int64)
    key.sort()
    ev = np.empty(key.size, dtype=EVENT_DTYPE)
    tick_d = _TICK_S / 86400.0
    ev["TIME"] = (key >> 32) * tick_d + (t0 + 0.5 * tick_d)
    p = (key >> 12) & 0xFFFFF
    ev["DETX"] = p // det.N_PIX
    ev["DETY"] = p % det.N_PIX
    ev["STATUS"] = (key >> 11) & 1
    ev["PI"] = key & 0x7FF
    meta = {
        "REVOL": rev, "SWID": scw_id.split(".")[0], "JEMX_NUM": unit,
        "RA_SCX": float(row["ra_scx"]), "DEC_SCX": float(row["dec_scx"]),
        "RA_SCZ": float(row["ra_scz"]), "DEC_SCZ": float(row["dec_scz"]), "POSANGLE": float(row["posangle"]),
        "TSTART": t0, "TSTOP": float(row["tstop"]), "TELAPSE": telapse, "ONTIME": ontime, "DEADC": DEADC,
    }
    return SimulatedJemx(meta, ev, t0 + gti / 86400.0, status_map, n_counts)
