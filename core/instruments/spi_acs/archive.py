"""SPI-ACS counts in the simulated archive: 50 ms bins in one-hour chunks, made on first use.

A chunk ``k`` covers ``[ORIGIN + 3600 k, ORIGIN + 3600 (k+1))`` IJD seconds (``ORIGIN`` =
mission start, so bins are aligned on the 50 ms grid across the mission). It is simulated
deterministically (seeded by the chunk index and :data:`ACS_VERSION`): background counts
from :mod:`.background` as a compound Poisson process, plus the catalogue transients
folded through the shield's response for their direction in the spacecraft frame at that
time, plus short telemetry gaps. Stored as ``<archive>/spi_acs/v<version>/<k // 1000>/
acs_<k>.npz`` (``counts`` int32, ``good`` uint8, ``meta`` JSON text; no pickles), written
to a temporary file and renamed (atomic); a chunk that does not read back as expected is
simulated again. The chunks are bounded to a tenth of ``ODA_ARCHIVE_MAX_BYTES``: above it
the least recently used are deleted (they come back bit for bit when needed).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from . import background as bkg

__all__ = ["ACS_VERSION", "SATURATION_RATE", "BIN_S", "CHUNK_S", "ORIGIN_S", "AcsCounts", "read_counts", "simulate_chunk",
           "chunk_path", "transient_counts", "load_chunk", "enforce_bound"]

#: Bump when simulated counts change (part of product ids and chunk paths).
ACS_VERSION = "3"
BIN_S = 0.05
CHUNK_S = 3600.0
_NBIN = int(round(CHUNK_S / BIN_S))
_GAP_RATE_PER_S = 0.02 / 3600.0      # short telemetry gaps: ~one per two days of data
_SUBSTEPS = 50                       # transients sampled every 1 ms (spikes shorter than a bin)
#: Summed rate at which the shield's electronics saturate (non-paralysable dead time of the
#: 91 veto channels, ~10 µs each [approx]): the giant flare of SGR 1806-20 is clipped there.
SATURATION_RATE = 9.1e6


def _origin_s() -> float:
    from ...timeutil import mission_bounds_ijd

    return mission_bounds_ijd()[0] * 86400.0


ORIGIN_S = _origin_s()


class AcsCounts:
    """Counts of consecutive 50 ms bins: ``t_start`` (IJD s of the first bin), ``counts``, ``good``."""

    def __init__(self, t_start: float, counts: np.ndarray, good: np.ndarray):
        self.t_start = float(t_start)
        self.counts = counts
        self.good = good

    @property
    def time(self) -> np.ndarray:
        """Bin starts, IJD s."""
        return self.t_start + BIN_S * np.arange(len(self.counts))


def _seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def _root() -> Path:
    from ...config import ensure_private_dir, get_settings

    return ensure_private_dir(get_settings().archive_dir / "spi_acs" / f"v{ACS_VERSION}")


def chunk_path(k: int) -> Path:
    return _root() / f"{k // 1000:04d}" / f"acs_{k:07d}.npz"


def transient_counts(tr, t_start: float, n: int) -> np.ndarray:
    """Expected counts per 50 ms bin of one catalogue transient over ``n`` bins from ``t_start``."""
    from .response import counts_per_fluence, theta_from_axis

    out = np.zeros(n)
    lo = max(tr.start_s, t_start)
    hi = min(tr.stop_s, t_start + n * BIN_S)
    if hi <= lo:
        return out
    i0 = int(math.floor((lo - t_start) / BIN_S))
    i1 = min(int(math.ceil((hi - t_start) / BIN_S)), n)
    step = BIN_S / _SUBSTEPS
    t = t_start + (i0 * _SUBSTEPS + np.arange((i1 - i0) * _SUBSTEPS) + 0.5) * step
    shape = tr.profile(t - tr.t0_s).reshape(i1 - i0, _SUBSTEPS).sum(axis=1) * step
    ra, dec = tr.direction()
    theta = float(theta_from_axis(ra, dec, *bkg.attitude_at(tr.t0_s)))
    out[i0:i1] = shape * tr.fluence * counts_per_fluence(tr.spectrum, tr.e_lo, tr.e_hi, theta)
    return out


def _poisson_quantile(lam: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Poisson deviates of mean ``lam`` (≳ 100) from standard normal ``z``: Cornish–Fisher quantile.

    ``λ + √λ z + (z² − 1)/6`` rounded is the Poisson quantile of the normal quantile ``z`` to
    well under one count for the shield's λ of 10²–10⁴ per bin. Drawing through quantiles of
    seeded normals (instead of ``rng.poisson``) keeps a chunk's noise the same when the model
    of its rate changes a little (a new pointing history moves the belts' edges, say), so
    results at a given time do not jump from one noise realisation to another.
    """
    x = np.floor(lam + np.sqrt(lam) * z + (z * z - 1.0) / 6.0 + 0.5)
    return np.maximum(x, 0.0).astype(np.int64)


def simulate_chunk(k: int) -> AcsCounts:
    """Simulate chunk ``k`` (deterministic)."""
    from .catalogue import transients

    t_start = ORIGIN_S + k * CHUNK_S
    t_end = t_start + CHUNK_S
    rng = np.random.default_rng(_seed("spi-acs", ACS_VERSION, k))
    good = np.zeros(_NBIN, dtype=bool)
    for a, b in bkg.coverage(t_start, t_end):
        good[int(math.ceil((a - t_start) / BIN_S)):int(math.floor((b - t_start) / BIN_S))] = True
    counts = np.zeros(_NBIN, dtype=np.int64)
    if good.any():
        t_mid = t_start + (np.arange(_NBIN) + 0.5) * BIN_S
        mu = bkg.rate(t_mid) * BIN_S
        src = np.zeros(_NBIN)
        for tr in transients():
            if tr.stop_s > t_start and tr.start_s < t_end:
                src += transient_counts(tr, t_start, _NBIN)
        # Dead time: the summed rate saturates (bright bursts and giant flares are clipped).
        live = 1.0 / (1.0 + (mu + src) / (SATURATION_RATE * BIN_S))
        mu, src = mu * live, src * live
        f, m = bkg.SHOWER_FRACTION, bkg.SHOWER_SIZE
        z1, z2 = rng.standard_normal(_NBIN), rng.standard_normal(_NBIN)
        counts = _poisson_quantile(mu * (1.0 - f), z1) + m * _poisson_quantile(mu * f / m, z2) + rng.poisson(src)
        # Telemetry gaps, kept away from the catalogue's events (the real shield recorded them).
        for _ in range(rng.poisson(_GAP_RATE_PER_S * CHUNK_S)):
            g0 = rng.uniform(t_start, t_end)
            glen = rng.uniform(5.0, 60.0)
            if any(tr.start_s - 600 < g0 + glen and g0 < tr.stop_s + 600 for tr in transients()):
                continue
            good[max(int((g0 - t_start) / BIN_S), 0):int((g0 + glen - t_start) / BIN_S)] = False
    counts = np.where(good, counts, 0).astype(np.int32)
    return AcsCounts(t_start, counts, good)


def _meta(k: int) -> str:
    return json.dumps({"instrument": "spi_acs", "version": ACS_VERSION, "chunk": k, "bin_s": BIN_S,
                       "t_start_ijd_s": ORIGIN_S + k * CHUNK_S, "n": _NBIN}, sort_keys=True)


def _read_chunk(path: Path, k: int) -> AcsCounts | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            meta, counts, good = str(z["meta"]), z["counts"], z["good"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # truncated or corrupt: simulated again
    if meta != _meta(k) or counts.shape != (_NBIN,) or good.shape != (_NBIN,) or counts.dtype != np.int32:
        return None
    return AcsCounts(ORIGIN_S + k * CHUNK_S, counts, good.astype(bool))


def _write_chunk(path: Path, k: int, data: AcsCounts) -> None:
    from ...config import ensure_private_dir

    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, counts=data.counts, good=data.good.astype(np.uint8), meta=np.array(_meta(k)))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_WRITES = {"since_scan": 0}
_SCAN_EVERY = 50


def enforce_bound(max_bytes: int | None = None) -> int:
    """Delete least recently used chunks above the bound (down to 90% of it); returns how many."""
    from ...config import get_settings

    bound = int(max_bytes if max_bytes is not None else get_settings().archive_max_bytes // 10)
    files = []
    for p in _root().glob("*/acs_*.npz"):
        try:
            st = p.stat()
        except OSError:
            continue
        files.append((st.st_mtime, st.st_size, p))
    total = sum(s for _, s, _ in files)
    if total <= bound:
        return 0
    n = 0
    for _, size, p in sorted(files):
        if total <= 0.9 * bound:
            break
        p.unlink(missing_ok=True)
        total -= size
        n += 1
    return n


def load_chunk(k: int) -> tuple[AcsCounts, bool]:
    """Chunk ``k`` from disk, or simulated and stored. Returns (counts, simulated_now)."""
    path = chunk_path(k)
    data = _read_chunk(path, k) if path.exists() else None
    if data is not None:
        try:
            os.utime(path)  # last use, for the size bound
        except OSError:
            pass
        return data, False
    data = simulate_chunk(k)
    _write_chunk(path, k, data)
    _WRITES["since_scan"] += 1
    if _WRITES["since_scan"] >= _SCAN_EVERY:
        _WRITES["since_scan"] = 0
        enforce_bound()
    return data, True


def read_counts(t1_s: float, t2_s: float) -> tuple[AcsCounts, list[tuple[int, bool]]]:
    """50 ms counts of the bins overlapping [t1, t2) (IJD s), and (chunk, simulated_now) per chunk."""
    i1 = int(math.floor((t1_s - ORIGIN_S) / BIN_S + 1e-6))
    i2 = int(math.ceil((t2_s - ORIGIN_S) / BIN_S - 1e-6))
    counts, good, used = [], [], []
    for k in range(i1 // _NBIN, (i2 - 1) // _NBIN + 1):
        data, made = load_chunk(k)
        a = max(i1 - k * _NBIN, 0)
        b = min(i2 - k * _NBIN, _NBIN)
        counts.append(data.counts[a:b])
        good.append(data.good[a:b])
        used.append((k, made))
    return AcsCounts(ORIGIN_S + i1 * BIN_S, np.concatenate(counts), np.concatenate(good)), used
