"""Arrival times of simulated events inside good-time intervals, for any instrument's
simulator: uniform in the GTIs, or following a source's flux on a time grid."""

from __future__ import annotations

import numpy as np

__all__ = ["sample_times", "source_times"]


def sample_times(rng, n: int, gti: np.ndarray) -> np.ndarray:
    """``n`` times [s] uniform over the GTIs (rows of start, stop)."""
    lengths = gti[:, 1] - gti[:, 0]
    u = rng.random(n) * lengths.sum()
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    k = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(gti) - 1)
    return gti[k, 0] + (u - cum[k])


def source_times(rng, n: int, mcrab_seconds: np.ndarray, edges, gti: np.ndarray) -> np.ndarray:
    """Arrival times [s] of ``n`` source events: uniform in the GTIs (``edges`` None), or
    following the flux ``mcrab_seconds`` per bin of the ``edges`` grid for a fast-varying source."""
    if edges is None:
        return sample_times(rng, n, gti)
    k = np.repeat(np.arange(len(mcrab_seconds)), rng.multinomial(n, mcrab_seconds / mcrab_seconds.sum()))
    rng.shuffle(k)
    t = edges[k] + rng.random(n) * (edges[k + 1] - edges[k])
    # Keep only times inside GTIs (bins straddling a GTI edge): resample those.
    bad = np.ones(n, bool)
    for a, b in gti:
        bad &= ~((t >= a) & (t < b))
    if bad.any():
        t[bad] = sample_times(rng, int(bad.sum()), gti)
    return t
