"""Weighted least squares with the model variance (Poisson maximum likelihood by iteration),
shared by the decoders and the IROS source fits of every coded-mask instrument."""

from __future__ import annotations

import numpy as np

__all__ = ["wls"]


def wls(x: np.ndarray, d: np.ndarray, n_iter: int = 3, m0=None, nonneg=()):
    """Weighted least squares of counts ``d`` (n_pix,) on columns ``x`` (n_pix, n_par) with
    model variance: Ω = 1/m, m from the previous iteration (first: ``m0`` or the mean
    count). Columns listed in ``nonneg`` (background amplitudes) are kept ≥ 0 by dropping
    the most negative one and refitting (active set).

    Returns (theta, cov, model variance m).
    """
    n_par = x.shape[1]
    m = np.full(d.shape, max(float(d.mean()), 1.0)) if m0 is None else np.maximum(m0, 0.5)
    active = np.ones(n_par, bool)
    nonneg = np.asarray(sorted(set(int(i) for i in nonneg)), dtype=int)
    theta = np.zeros(n_par)
    cov = np.zeros((n_par, n_par))
    for _ in range(max(n_iter, 1)):
        while True:
            idx = np.flatnonzero(active)
            xa = x[:, idx]
            wx = xa / m[:, None]
            a = xa.T @ wx
            rhs = wx.T @ d
            try:
                ca = np.linalg.inv(a)
            except np.linalg.LinAlgError:
                ca = np.linalg.pinv(a)
            ta = ca @ rhs
            theta = np.zeros(n_par)
            theta[idx] = ta
            neg = [i for i in nonneg if active[i] and theta[i] < 0]
            if not neg:
                break
            active[min(neg, key=lambda i: theta[i])] = False
        cov = np.zeros((n_par, n_par))
        cov[np.ix_(idx, idx)] = ca
        m = np.maximum(x @ theta, 0.5)
    return theta, cov, m
