"""Point-source photometry on mosaics: PSF-template fluxes that survive resampling.

A ScW image holds a point source as ``F · p(x − x₀) · p(y − y₀)`` (:func:`core.imaging.decode.psf_profile`,
p(0) = 1: the pixel at the source is its rate). A mosaic resamples every ScW image bilinearly
onto its grid; at an arbitrary sub-pixel phase this lowers the peak by 0–16 % (the value at a
pixel corner is the mean of four samples), so the peak pixel of a mosaic underestimates the
flux by ≈ 10 % on average (as OSA's own mosaics: "the source flux is slightly reduced (~10 %)
compared to the weighted average of the fluxes measured in the Science Window", OSA 10.2 known
issues). Rescaling the variance so that the significances come back, as the mosaic did before,
hid the loss in the significance and kept it in the flux.

Bilinear resampling at a random phase convolves on average with the unit triangle ``tri``,
which conserves the integral. The mosaic PSF is therefore ``P(d) = (p ⊗ tri)(d)`` per axis,
and the flux is the amplitude of a least-squares fit of ``F · P(x − x₀) · P(y − y₀)`` to the
intensity in the 3×3 pixels around the fitted position (no free pedestal: a decoded image is
balanced to zero background, and a pedestal in so small a box is degenerate with the wings).
The error is √V at the position: V = 1/Σ 1/Vᵢ is the variance of a point-source flux of the
co-added ScWs there (each Vᵢ is that of its own image), unscaled. The detection significance is
FLUX / FLUX_ERR. The blank-field rms of the significance map (below 1 because bilinear
resampling averages neighbouring pixels) is measured and reported, not forced to 1
(:func:`noise_rms`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["mosaic_psf_profile", "point_source_flux", "noise_rms"]

#: Half-size of the fitting box (3×3): the main lobe's core, where P > 0.6.
FIT_HALF = 1
#: |S| above which pixels (and their neighbours) are left out of the noise estimate.
NOISE_CLIP_SIGMA = 5.0
NOISE_CLIP_GROW = 3


@functools.lru_cache(maxsize=1)
def _table():
    from .decode import psf_profile

    step = 0.01
    x = np.arange(-8.0, 8.0 + step / 2, step)
    tri = np.clip(1.0 - np.abs(x), 0.0, None)
    prof = np.convolve(psf_profile(x), tri, mode="same") * step
    return x, prof


def mosaic_psf_profile(d) -> np.ndarray:
    """Per-axis mosaic PSF at offset ``d`` [pixels] for a unit flux: p ⊗ tri (peak ≈ 0.95)."""
    x, prof = _table()
    return np.interp(np.asarray(d, float), x, prof, left=0.0, right=0.0)


def point_source_flux(intensity: np.ndarray, variance: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """``(flux, error)`` of a point source at 0-based pixel (x along columns, y along rows).

    NaN when no finite pixel of the 3×3 box is left.
    """
    ny, nx = intensity.shape
    if not (np.isfinite(x) and np.isfinite(y)):
        return math.nan, math.nan
    ix, iy = int(round(x)), int(round(y))
    y0, y1 = max(iy - FIT_HALF, 0), min(iy + FIT_HALF + 1, ny)
    x0, x1 = max(ix - FIT_HALF, 0), min(ix + FIT_HALF + 1, nx)
    if y0 >= y1 or x0 >= x1:
        return math.nan, math.nan
    box = np.asarray(intensity[y0:y1, x0:x1], float)
    vbox = np.asarray(variance[y0:y1, x0:x1], float)
    t = np.outer(mosaic_psf_profile(np.arange(y0, y1) - y), mosaic_psf_profile(np.arange(x0, x1) - x))
    ok = np.isfinite(box) & np.isfinite(vbox) & (vbox > 0)
    den = float((t[ok] ** 2).sum())
    if not ok.any() or den <= 0:
        return math.nan, math.nan
    flux = float((t[ok] * box[ok]).sum() / den)
    # V at the position: bilinear in 1/V (the weights are what the mosaic co-adds).
    w = np.where(ok, 1.0 / np.where(ok, vbox, 1.0), 0.0)
    fy, fx = y - iy, x - ix
    wy = np.clip(1.0 - np.abs(np.arange(y0, y1) - iy - fy), 0.0, None)
    wx = np.clip(1.0 - np.abs(np.arange(x0, x1) - ix - fx), 0.0, None)
    k = np.outer(wy, wx) * ok
    wsum = float((k * w).sum() / k.sum()) if k.sum() > 0 else float(w[ok].mean())
    return flux, (1.0 / math.sqrt(wsum) if wsum > 0 else math.nan)


def noise_rms(significance: np.ndarray) -> float:
    """Robust (1.4826·MAD) rms of a significance map, sources and their wings left out."""
    from scipy.ndimage import binary_dilation

    from .mosaic import robust_rms

    sig = np.asarray(significance, float)
    covered = np.isfinite(sig)
    if covered.sum() < 200:
        return math.nan
    with np.errstate(invalid="ignore"):
        bright = np.abs(np.nan_to_num(sig)) > NOISE_CLIP_SIGMA
    mask = covered & ~binary_dilation(bright, iterations=NOISE_CLIP_GROW)
    return robust_rms(sig[mask]) if mask.sum() >= 200 else math.nan
