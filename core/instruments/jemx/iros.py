"""IROS for JEM-X: iterative removal of sources in detector space (Hammersley et al. 1992).

As :mod:`core.imaging.iros` does for ISGRI: decode the residual, take the most significant
catalogue source in the field (residual significance ≥ :data:`CATALOG_THRESHOLD`) or else the
highest residual peak above the threshold, refit all sources and the background jointly in
detector space by weighted least squares with model variance::

    E[counts_k] = Σ_j R_j · T_live · cosθ_j · C(θ_j) · PIF_j,k · eff_k / N_ideal + Σ_l c_l · Bkg_l,k

(``R_j`` the on-axis-equivalent rate, cts/s; background = flat × efficiency and the two
templates of :mod:`.background`, kept ≥ 0), and repeat. New sources start at the PSF-fitted
residual peak and their positions are refined by Gauss–Newton on the PIF model. The JEM-X
mask is a single HURA period, so there are no ghosts to arbitrate (only noise-like
sidelobes, which the detector-space fit removes with the source). The final image is the
decoded residual plus each source put back as its main lobe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...imaging.detect import fit_peak
from ...imaging.wls import wls
from .decode import LAG_SHAPE, N_IDEAL, PIXEL_TAN, lag_to_tan, psf_model, psf_sigma_pix, tan_to_lag
from .pif import pif as compute_pif, response_factor

__all__ = ["CATALOG_THRESHOLD", "MIN_OUTSIDE_PIF", "IrosSource", "IrosResult", "source_template", "fit_sources", "run_iros"]

#: Residual significance from which a catalogue source in the field is fitted.
CATALOG_THRESHOLD = 4.0
#: Mean PIF over the good pixels from which a catalogue source outside the imaged field is
#: modelled (a fully coded source has ≈ 0.25; below this its column is too poorly constrained).
MIN_OUTSIDE_PIF = 0.002
_EXCLUDE_PX = 3.0
_GN_STEP = 0.25 * PIXEL_TAN


@dataclass
class IrosSource:
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
        return self.flux / self.flux_err if self.flux_err > 0 and math.isfinite(self.flux_err) else 0.0


@dataclass
class IrosResult:
    intensity: np.ndarray
    variance: np.ndarray
    sources: list = field(default_factory=list)
    background_coefficients: np.ndarray = field(default_factory=lambda: np.zeros(0))
    model_counts: np.ndarray | None = None


def source_template(tan_z: float, tan_y: float, shd) -> np.ndarray:
    """Expected counts per 1 cts/s (on-axis equivalent) of a point source, ``(128, 128)``."""
    f = float(response_factor(tan_z, tan_y))
    if f <= 0:
        return np.zeros_like(shd.weights)
    p = compute_pif(float(tan_z), float(tan_y)).astype(np.float64)
    return p * shd.weights * (shd.livetime * f / N_IDEAL)


class _Templates:
    def __init__(self, shd):
        self.shd = shd
        self.good = shd.weights > 0
        self._cache: dict = {}

    def __call__(self, tz: float, ty: float) -> np.ndarray:
        key = (float(tz), float(ty))
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 128:
                self._cache.clear()
            hit = self._cache[key] = source_template(tz, ty, self.shd)[self.good]
        return hit


def fit_sources(shd, sources, templates, *, refine=(), n_gn: int = 2, tpl: _Templates | None = None, m0=None):
    """Joint fit of the source rates (and refined positions) with the background.

    Updates ``sources`` in place; returns (model counts map, background coefficients, model variance).
    """
    tpl = tpl or _Templates(shd)
    good = tpl.good
    d = shd.counts[good]
    bk = np.concatenate([shd.weights[None], np.asarray(templates)], axis=0)[:, good].T
    ns = len(sources)

    def linear(m0=None, n_iter=3):
        cols = [tpl(s.tan_z, s.tan_y) for s in sources]
        x = np.column_stack(cols + [bk]) if cols else bk
        th, cov, m = wls(x, d, n_iter=n_iter, m0=m0, nonneg=range(ns, x.shape[1]))
        return x, th, cov, m

    x, theta, cov, m = linear(m0, 3 if m0 is None else 2)
    refine = sorted(set(int(i) for i in refine))
    for _ in range(n_gn if refine else 0):
        h = _GN_STEP
        extra = []
        for j in refine:
            s = sources[j]
            dz = (tpl(s.tan_z + h, s.tan_y) - tpl(s.tan_z - h, s.tan_y)) / (2 * h)
            dy = (tpl(s.tan_z, s.tan_y + h) - tpl(s.tan_z, s.tan_y - h)) / (2 * h)
            extra += [theta[j] * dz, theta[j] * dy]
        th, _, _ = wls(np.column_stack([x] + extra), d, n_iter=1, m0=m, nonneg=range(ns, x.shape[1]))
        steps = th[x.shape[1]:].reshape(-1, 2)
        moved = 0.0
        for j, (sz, sy) in zip(refine, steps):
            if not (np.isfinite(sz) and np.isfinite(sy)) or theta[j] <= 0:
                continue
            sz, sy = float(np.clip(sz, -PIXEL_TAN, PIXEL_TAN)), float(np.clip(sy, -PIXEL_TAN, PIXEL_TAN))
            sources[j].tan_z += sz
            sources[j].tan_y += sy
            moved = max(moved, abs(sz), abs(sy))
        x, theta, cov, m = linear(m, 1)
        if moved < 0.005 * PIXEL_TAN:
            break
    for j, s in enumerate(sources):
        s.flux = float(theta[j])
        s.flux_err = float(math.sqrt(cov[j, j])) if cov[j, j] > 0 else math.inf
    model = np.zeros_like(shd.counts)
    model[good] = x @ theta
    return model, theta[ns:], m


def _catalog_entries(catalog):
    out = []
    for item in catalog or ():
        if hasattr(item, "ra") and hasattr(item, "dec"):
            out.append((str(getattr(item, "name", "")), float(item.ra), float(item.dec)))
        else:
            out.append((str(item[0]), float(item[1]), float(item[2])))
    return out


def run_iros(decoder, attitude, templates, *, catalog=None, threshold: float = 6.0, max_sources: int = 10,
             catalog_threshold: float = CATALOG_THRESHOLD, refine_catalog: bool = False) -> IrosResult:
    """Iterative removal of sources on one decoded JEM-X shadowgram (see the module docstring).

    ``refine_catalog``: also fit the positions of the catalogue sources in the imaged field
    (as OSA's JEM-X source lists report fitted RA_OBJ/DEC_OBJ); by default they stay at the
    catalogue positions.
    """
    shd = decoder.shd
    valid = decoder.wt.valid
    tpl = _Templates(shd)
    sources: list[IrosSource] = []
    cands = []
    for name, ra, dec in _catalog_entries(catalog):
        tz, ty = (float(v) for v in attitude.to_instrument(ra, dec))
        if not (math.isfinite(tz) and math.isfinite(ty)):
            continue
        iz, iy = (int(round(float(v))) for v in tan_to_lag(tz, ty))
        if 0 <= iz < LAG_SHAPE[0] and 0 <= iy < LAG_SHAPE[1] and valid[iz, iy]:
            cands.append((name, ra, dec, tz, ty, iz, iy))
        elif float(compute_pif(tz, ty)[tpl.good].mean()) >= MIN_OUTSIDE_PIF and float(response_factor(tz, ty)) > 0:
            # Outside the imaged field (coding < MIN_CODING) but still casting a shadow on part
            # of the detector, through the collimator's wings: it cannot be seen in the image,
            # yet a bright one (GX 5-1 6° off axis) would leave a structured residual across it.
            # Modelled in detector space from the start, like the background.
            # Kept at the end only if it stands out (SNR ≥ 1.5), else refitted without it.
            sources.append(IrosSource(name, tz, ty, True, 3.0, ra=ra, dec=dec))
    model, bcoef, mvar = fit_sources(shd, sources, templates, tpl=tpl)
    vsearch = decoder.search_variance()
    n_new = 0
    n_outside = len(sources)
    while len(sources) - n_outside < max(int(max_sources), 0):
        inten, _ = decoder.decode(shd.counts - model, with_variance=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            sig = np.where(valid & (vsearch > 0), inten / np.sqrt(vsearch), -np.inf)
        best = None
        for k, c in enumerate(cands):
            s = float(sig[max(c[5] - 1, 0):c[5] + 2, max(c[6] - 1, 0):c[6] + 2].max())
            if s >= catalog_threshold and (best is None or s > best[0]):
                best = (s, k)
        if best is not None:
            name, ra, dec, tz, ty, _, _ = cands.pop(best[1])
            sources.append(IrosSource(name, tz, ty, True, catalog_threshold, ra=ra, dec=dec))
            refine = [len(sources) - 1] if refine_catalog else []
        else:
            masked = sig.copy()
            for s in sources:
                iz, iy = tan_to_lag(s.tan_z, s.tan_y)
                z0, y0 = int(math.floor(iz - _EXCLUDE_PX)), int(math.floor(iy - _EXCLUDE_PX))
                masked[max(z0, 0):max(z0 + 2 * int(_EXCLUDE_PX) + 2, 0),
                       max(y0, 0):max(y0 + 2 * int(_EXCLUDE_PX) + 2, 0)] = -np.inf
            k = int(np.argmax(masked))
            jz, jy = divmod(k, LAG_SHAPE[1])
            if not masked[jz, jy] >= threshold:
                break
            fy, fz, _ = fit_peak(np.where(np.isfinite(masked), masked, np.nan), jz, jy, psf_sigma_pix())
            tz, ty = lag_to_tan(fz, fy)
            n_new += 1
            sources.append(IrosSource(f"NEW_{n_new}", float(tz), float(ty), False, threshold))
            refine = [len(sources) - 1]
        model, bcoef, mvar = fit_sources(shd, sources, templates, refine=refine, tpl=tpl, m0=mvar)
    if sources:
        refine = [j for j, s in enumerate(sources)
                  if not s.catalog or (refine_catalog and j >= n_outside)]
        model, bcoef, mvar = fit_sources(shd, sources, templates, refine=refine, n_gn=3, tpl=tpl, m0=mvar)
        keep = [s for s in sources if s.snr >= 0.5 * s.threshold]
        if len(keep) < len(sources):
            sources = keep
            model, bcoef, mvar = fit_sources(shd, sources, templates, tpl=tpl, m0=mvar)
    inten, var = decoder.decode(shd.counts - model)
    out = []
    for s in sources:
        iz, iy = (float(v) for v in tan_to_lag(s.tan_z, s.tan_y))
        inten = inten + psf_model(inten.shape, iz, iy, s.flux)  # (off the covered field: NaN'd later)
        if not s.catalog or not math.isfinite(s.ra) or (refine_catalog and s.threshold == catalog_threshold):
            ra, dec = attitude.from_instrument(s.tan_z, s.tan_y)
            s.ra, s.dec = float(ra), float(dec)
        out.append({"name": s.name, "ra": float(s.ra), "dec": float(s.dec), "flux": s.flux, "flux_err": s.flux_err,
                    "snr": s.snr, "catalog": bool(s.catalog), "tan_z": s.tan_z, "tan_y": s.tan_y, "iz": iz, "iy": iy,
                    "offaxis_deg": math.degrees(math.atan(math.hypot(s.tan_z, s.tan_y)))})
    return IrosResult(inten, var, out, np.asarray(bcoef, float), model)
