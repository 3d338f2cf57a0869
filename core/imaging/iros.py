"""IROS: iterative removal of sources from an ISGRI shadowgram (Hammersley et al. 1992).

Each round decodes the current residual (counts − fitted sources − fitted background),
takes the most significant catalogue source in the field (residual significance ≥
:data:`CATALOG_THRESHOLD`) or, when none is left, the highest residual peak above the
detection threshold, and refits everything jointly in DETECTOR space::

    E[counts_k] = Σ_j R_j · T_live·cosθ_j·PIF_j,k·eff_k / N_ideal + Σ_l c_l · Bkg_l,k

by weighted least squares over good pixels with Ω = 1/m, ``m`` the model variance
(3 iterations from the mean count at the start, then one more at every refit, starting
from the previous model). The background terms (flat × efficiency and the templates of
:func:`core.imaging.shadowgram.background_model`) are kept ≥ 0. ``R_j`` is directly
the source's on-axis-equivalent count rate in OSA units (cts/s); its error comes from
the covariance (Xᵀ Ω X)⁻¹.

Positions: catalogue sources keep their catalogue positions. A new source starts from a
PSF fit on the residual image; as a partially coded source's ghosts (one basic-pattern
period, :data:`GHOST_PERIOD_PX` = 129 pixels ≈ 10.5°, away) can be as significant as the
source itself (more so without background), the peak and the local maxima at its
period-shifted positions are compared by the matched-filter SNR of their PIF against the
residual counts and the best one is taken. Its position is then refined by Gauss–Newton
on the PIF model (central differences of :func:`core.instrument.pif.pif`), and all new
sources get a last joint refinement at the end. Sources that end below half their entry
threshold (a ghost taken before its parent, a fluctuation raised by a sidelobe) are
dropped and the rest refitted.

The final image is the decoded residual plus each removed source put back as its
main-lobe PSF (:func:`core.imaging.decode.psf_model`) at its exact position with its
fitted rate: sidelobes, ghosts and the coding noise of the removed sources are gone
(a 1 Crab source 11° off axis leaves ≤ 3σ where its ghosts were, instead of 40–90σ).
The variance stays that of the full data.

Cost (one core): ≈ 17 ms with no source found, ≈ 55 ms for 3 sources, 160–190 ms for 10
(mostly PIF evaluations, ≈ 0.35 ms each, and the weighted fits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..instrument import detector as det
from ..instrument import mask as msk
from ..instrument.pif import pif as compute_pif
from .wls import wls
from .decode import (LAG_SHAPE, N_IDEAL, PIXEL_TAN, Decoder, lag_to_tan, locate_peak,
                     psf_model, tan_to_lag)

__all__ = ["IrosSource", "IrosResult", "run_iros", "source_template", "fit_sources",
           "CATALOG_THRESHOLD", "GHOST_PERIOD_PX"]

#: Residual significance from which a catalogue source in the field is fitted and removed.
CATALOG_THRESHOLD = 4.0
#: Exclusion radius (pixels) around sources already in the model when looking for new peaks.
_EXCLUDE_PX = 2.0
_FINAL_GN = 2  # Gauss–Newton iterations of the last joint position refinement (stops when converged)
_GN_STEP = 0.25 * PIXEL_TAN  # finite-difference step of the PIF derivatives (tangent)


@dataclass
class IrosSource:
    """One source in the IROS model."""

    name: str
    tan_z: float
    tan_y: float
    catalog: bool
    threshold: float
    flux: float = 0.0
    flux_err: float = math.inf
    ra: float = math.nan
    dec: float = math.nan

    @property
    def snr(self) -> float:
        return self.flux / self.flux_err if self.flux_err > 0 and np.isfinite(self.flux_err) else 0.0

    def lag(self) -> tuple[float, float]:
        iz, iy = tan_to_lag(self.tan_z, self.tan_y)
        return float(iz), float(iy)


@dataclass
class IrosResult:
    intensity: np.ndarray
    variance: np.ndarray
    sources: list = field(default_factory=list)       # JSON-able dicts
    background_coefficients: np.ndarray = field(default_factory=lambda: np.zeros(0))
    model_counts: np.ndarray | None = None
    residual_counts: np.ndarray | None = None


class _PifCache:
    def __init__(self, shd):
        self.shd = shd
        self.good = shd.weights > 0
        self._cache: dict[tuple[float, float], np.ndarray] = {}

    def template(self, tz: float, ty: float) -> np.ndarray:
        """Counts per (cts/s) of a source at (tz, ty), on good pixels (flattened)."""
        key = (float(tz), float(ty))
        hit = self._cache.get(key)
        if hit is None:
            hit = source_template(tz, ty, self.shd)[self.good]
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = hit
        return hit


def source_template(tan_z: float, tan_y: float, shd) -> np.ndarray:
    """Expected counts per unit OSA rate (1 cts/s) of a point source, (134, 130).

    ``T_live · cosθ · PIF(tan_z, tan_y) · weights / N_ideal`` (weights = efficiency on
    good pixels, 0 elsewhere).
    """
    cos = 1.0 / math.sqrt(1.0 + tan_z * tan_z + tan_y * tan_y)
    p = compute_pif(float(tan_z), float(tan_y)).astype(np.float64)
    return p * shd.weights * (shd.livetime * cos / N_IDEAL)


def fit_sources(shd, sources, templates, *, refine=(), n_gn: int = 1, pifs: _PifCache | None = None,
                m0=None):
    """Joint weighted least-squares fit of source rates and background amplitudes.

    Parameters
    ----------
    shd : Shadowgram
    sources : list of IrosSource
        Updated in place (flux, flux_err and, for those in ``refine``, tan_z/tan_y).
    templates : numpy.ndarray
        Background templates ``(n, 134, 130)``; a flat (efficiency) term is added first.
    refine : iterable of int
        Indices of sources whose position is refined (Gauss–Newton on the PIF).
    n_gn : int
        Gauss–Newton iterations for the refined positions.
    m0 : numpy.ndarray, optional
        Model variance on good pixels from a previous fit (saves an iteration).

    Returns
    -------
    (model_counts (134, 130), background coefficients, model variance on good pixels)
    """
    pifs = pifs or _PifCache(shd)
    good = pifs.good
    d = shd.counts[good]
    bk = np.concatenate([shd.weights[None], np.asarray(templates)], axis=0)[:, good].T
    ns = len(sources)
    refine = sorted(set(int(i) for i in refine))

    def linear(m0=None, n_iter=3):
        cols = [pifs.template(s.tan_z, s.tan_y) for s in sources]
        x = np.column_stack(cols + [bk]) if cols else bk
        theta, cov, m = wls(x, d, n_iter=n_iter, m0=m0, nonneg=range(x.shape[1] - bk.shape[1], x.shape[1]))
        return x, theta, cov, m

    x, theta, cov, m = linear(m0=m0, n_iter=3 if m0 is None else 1)
    for _ in range(n_gn if refine else 0):
        h = _GN_STEP
        extra = []
        for j in refine:
            s = sources[j]
            a = theta[j]
            dz = (pifs.template(s.tan_z + h, s.tan_y) - pifs.template(s.tan_z - h, s.tan_y)) / (2 * h)
            dy = (pifs.template(s.tan_z, s.tan_y + h) - pifs.template(s.tan_z, s.tan_y - h)) / (2 * h)
            extra += [a * dz, a * dy]
        xg = np.column_stack([x] + extra)
        th, _, _ = wls(xg, d, n_iter=1, m0=m, nonneg=range(x.shape[1] - bk.shape[1], x.shape[1]))
        steps = th[x.shape[1]:].reshape(-1, 2)
        moved = 0.0
        for j, (sz, sy) in zip(refine, steps):
            if not (np.isfinite(sz) and np.isfinite(sy)) or theta[j] <= 0:
                continue
            sz = float(np.clip(sz, -PIXEL_TAN, PIXEL_TAN))
            sy = float(np.clip(sy, -PIXEL_TAN, PIXEL_TAN))
            sources[j].tan_z += sz
            sources[j].tan_y += sy
            moved = max(moved, abs(sz), abs(sy))
        x, theta, cov, m = linear(m0=m, n_iter=1)
        if moved < 0.01 * PIXEL_TAN:
            break
    for j, s in enumerate(sources):
        s.flux = float(theta[j])
        s.flux_err = float(math.sqrt(cov[j, j])) if cov[j, j] > 0 else math.inf
    model = np.zeros_like(shd.counts)
    model[good] = x @ theta
    return model, theta[ns:], m


#: One period of the MURA basic pattern on the sky, in image pixels (53 × 11.2 / 4.6):
#: a partially coded source has ghosts this far away along Z and/or Y.
GHOST_PERIOD_PX = msk.MURA_ORDER * msk.MASK_ELEMENT_MM / det.PITCH_MM


def _peak_position(image: np.ndarray, jz: int, jy: int, fast: bool = False) -> tuple[float, float]:
    """Sub-pixel peak: PSF fit, or (``fast``) a 3-point parabola along each axis."""
    if fast:
        out = []
        for c, (a, b) in ((jz, (image[jz - 1, jy], image[jz + 1, jy])),
                          (jy, (image[jz, jy - 1], image[jz, jy + 1]))):
            den = a - 2.0 * image[jz, jy] + b
            off = 0.5 * (a - b) / den if np.isfinite(den) and den < 0 else 0.0
            out.append(c + float(np.clip(off, -0.5, 0.5)))
        return out[0], out[1]
    fz, fy, _ = locate_peak(image, jz, jy)
    if not (abs(fz - jz) <= 1.0 and abs(fy - jy) <= 1.0):
        fz, fy = float(jz), float(jy)
    return float(fz), float(fy)


def _best_of_ghost_family(shd, pifs, inten, sig, jz, jy, model, min_sig):
    """Position of a new source: the peak or, if it is a ghost, its parent.

    A partially coded source decodes with near copies one basic-pattern period away
    (up to ~100 % amplitude; without background a ghost can even be the most
    significant pixel). Among the peak and the local maxima near its period-shifted
    positions (significance ≥ ``min_sig``), take the one whose PIF best matches the
    residual counts (matched-filter SNR with the current model variance).
    """
    good = pifs.good
    resid = (shd.counts - model)[good]
    var = np.maximum(model[good], 0.5)
    best = None
    nz, ny = sig.shape
    for kz in (-1, 0, 1):
        for ky in (-1, 0, 1):
            cz = jz + kz * GHOST_PERIOD_PX
            cy = jy + ky * GHOST_PERIOD_PX
            iz, iy = int(round(cz)), int(round(cy))
            if (kz or ky):
                if not (1 <= iz < nz - 1 and 1 <= iy < ny - 1):
                    continue
                box = sig[iz - 1:iz + 2, iy - 1:iy + 2]
                if not np.isfinite(box).any() or float(np.max(box)) < min_sig:
                    continue
                dz, dy = np.unravel_index(int(np.argmax(box)), box.shape)
                iz, iy = iz - 1 + int(dz), iy - 1 + int(dy)
            fz, fy = _peak_position(inten, iz, iy, fast=bool(kz or ky))
            tz, ty = lag_to_tan(fz, fy)
            t = pifs.template(float(tz), float(ty))
            tw = t / var
            den = float(t @ tw)
            if den <= 0:
                continue
            snr = float(resid @ tw) / math.sqrt(den)
            if best is None or snr > best[0]:
                best = (snr, float(tz), float(ty))
    if best is None:
        fz, fy = _peak_position(inten, jz, jy)
        tz, ty = lag_to_tan(fz, fy)
        return float(tz), float(ty)
    return best[1], best[2]


def _catalog_entries(catalog):
    out = []
    for item in catalog or ():
        if hasattr(item, "ra") and hasattr(item, "dec"):
            out.append((str(getattr(item, "name", "")), float(item.ra), float(item.dec)))
        else:
            name, ra, dec = item[0], item[1], item[2]
            out.append((str(name), float(ra), float(dec)))
    return out


def run_iros(decoder: Decoder, attitude, templates, *, catalog=None, threshold: float = 6.0,
             max_sources: int = 20, catalog_threshold: float = CATALOG_THRESHOLD) -> IrosResult:
    """Iterative removal of sources on one decoded shadowgram.

    Parameters
    ----------
    decoder : core.imaging.decode.Decoder
    attitude : core.instrument.attitude.Attitude
    templates : numpy.ndarray
        Background templates ``(n, 134, 130)``.
    catalog : iterable of (name, ra, dec) or objects with name/ra/dec, optional
    threshold : float
        Residual significance for a new (non-catalogue) source.
    max_sources : int
    catalog_threshold : float
        Residual significance for a catalogue source to be fitted.

    Returns
    -------
    IrosResult
    """
    shd = decoder.shd
    valid = decoder.wt.valid
    pifs = _PifCache(shd)
    sources: list[IrosSource] = []

    cands = []
    for name, ra, dec in _catalog_entries(catalog):
        tz, ty = attitude.to_instrument(ra, dec)
        tz, ty = float(tz), float(ty)
        if not (np.isfinite(tz) and np.isfinite(ty)):
            continue
        iz, iy = tan_to_lag(tz, ty)
        jz, jy = int(round(float(iz))), int(round(float(iy)))
        if not (0 <= jz < LAG_SHAPE[0] and 0 <= jy < LAG_SHAPE[1]) or not valid[jz, jy]:
            continue
        cands.append((name, ra, dec, tz, ty, jz, jy))

    model, bcoef, mvar = fit_sources(shd, sources, templates, pifs=pifs)
    vsearch = decoder.search_variance()
    n_new = 0
    max_sources = max(int(max_sources), 0)
    while len(sources) < max_sources:
        inten, _ = decoder.decode(shd.counts - model, with_variance=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            sig = np.where(valid & (vsearch > 0), inten / np.sqrt(vsearch), -np.inf)
        new = None
        # Catalogue sources first: the most significant one left.
        best = None
        for k, (name, ra, dec, tz, ty, jz, jy) in enumerate(cands):
            s = float(sig[max(jz - 1, 0):jz + 2, max(jy - 1, 0):jy + 2].max())
            if s >= catalog_threshold and (best is None or s > best[0]):
                best = (s, k)
        if best is not None:
            name, ra, dec, tz, ty, _, _ = cands.pop(best[1])
            new = IrosSource(name, tz, ty, True, catalog_threshold, ra=ra, dec=dec)
            refine = []
        else:
            masked = sig.copy()
            for s in sources:
                iz, iy = s.lag()
                z0, z1 = int(math.floor(iz - _EXCLUDE_PX)), int(math.ceil(iz + _EXCLUDE_PX)) + 1
                y0, y1 = int(math.floor(iy - _EXCLUDE_PX)), int(math.ceil(iy + _EXCLUDE_PX)) + 1
                masked[max(z0, 0):max(z1, 0), max(y0, 0):max(y1, 0)] = -np.inf
            k = int(np.argmax(masked))
            jz, jy = divmod(k, LAG_SHAPE[1])
            if not masked[jz, jy] >= threshold:
                break
            tz, ty = _best_of_ghost_family(shd, pifs, inten, masked, jz, jy, model, 0.5 * threshold)
            n_new += 1
            new = IrosSource(f"NEW_{n_new}", float(tz), float(ty), False, threshold)
            refine = [len(sources)]
        sources.append(new)
        model, bcoef, mvar = fit_sources(shd, sources, templates, refine=refine, n_gn=1, pifs=pifs,
                                         m0=mvar)

    if sources:
        # Last joint position refinement of the new sources, then drop what faded away.
        refine = [j for j, s in enumerate(sources) if not s.catalog]
        model, bcoef, mvar = fit_sources(shd, sources, templates, refine=refine, n_gn=_FINAL_GN, pifs=pifs,
                                         m0=mvar)
        keep = [s for s in sources if s.snr >= 0.5 * s.threshold]
        if len(keep) < len(sources):
            sources = keep
            model, bcoef, mvar = fit_sources(shd, sources, templates, pifs=pifs, m0=mvar)

    residual = shd.counts - model
    inten, var = decoder.decode(residual)
    out = []
    for s in sources:
        iz, iy = s.lag()
        inten += psf_model(inten.shape, iz, iy, s.flux)
        if not s.catalog or not np.isfinite(s.ra):
            ra, dec = attitude.from_instrument(s.tan_z, s.tan_y)
            s.ra, s.dec = float(ra), float(dec)
        off = math.degrees(math.atan(math.hypot(s.tan_z, s.tan_y)))
        out.append({
            "name": s.name, "ra": float(s.ra), "dec": float(s.dec), "flux": float(s.flux),
            "flux_err": float(s.flux_err), "snr": float(s.snr), "catalog": bool(s.catalog),
            "tan_z": float(s.tan_z), "tan_y": float(s.tan_y), "iz": iz, "iy": iy,
            "offaxis_deg": off,
        })
    return IrosResult(intensity=inten, variance=var, sources=out,
                      background_coefficients=np.asarray(bcoef, float), model_counts=model,
                      residual_counts=residual)
