"""JEM-X pixel illumination fraction (PIF), collimator response and coding fraction.

PIF of pixel ``k`` for direction tangents ``t``: the mean transmission of the mask over
the pixel's footprint shifted to the mask plane (``x + D·t``), with the mask raster of
:mod:`.mask` blurred by the detector's position resolution (a Gaussian of
:data:`~.detector.POSITION_FWHM_MM` FWHM: the shadow recorded by a gas chamber is the
geometric shadow convolved with its position response). The integral is exact for the
rasterised mask: a summed-area table of the raster, interpolated bilinearly, gives the
integral over any axis-aligned rectangle, so one PIF costs four table look-ups per pixel
corner (≈ 2 ms) whatever the direction.

Collimator: JEM-X has a square-cell collimator above the detector whose response falls
linearly with the off-axis tangent along each cell axis; its zero-response tangent
(:data:`COLLIMATOR_ZERO_TAN`) is matched to the geometric zero response of the mask
(detector radius + mask half-width over D: 6.6° off axis, the "≈ 13.2° zero response"
full width of instruments.md). With the mask alone the field is fully coded within 2.4°
(the "≈ 4.8°" full width); the collimator vignettes the throughput: 0.92 at 0.5°, 0.64
per axis at 2.4° [approx: the flight collimator's cell pitch and height are not in our
sources]. Rates in OSA units are on-axis equivalent, so the templates of the analysis
include ``cos θ × collimator``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.ndimage import gaussian_filter

from . import detector as det
from . import mask as msk

__all__ = ["COLLIMATOR_ZERO_TAN", "FCFOV_HALF_DEG", "ZERO_RESPONSE_HALF_DEG", "pif", "footprint_fractions",
           "collimator_transmission", "response_factor", "coding_fraction", "pif_for_source",
           "n_ideal"]

#: Geometric half-angle of the fully coded field, degrees.
FCFOV_HALF_DEG = math.degrees(math.atan((msk.mask_extent_mm() * math.sqrt(3) / 2 - det.ACTIVE_RADIUS_MM)
                                        / msk.MASK_DISTANCE_MM))
#: Geometric half-angle of zero response, degrees (detector radius + mask inscribed radius).
ZERO_RESPONSE_HALF_DEG = math.degrees(math.atan((0.5 * 535.0 + det.ACTIVE_RADIUS_MM) / msk.MASK_DISTANCE_MM))
#: Tangent at which the collimator transmission reaches zero along a cell axis.
COLLIMATOR_ZERO_TAN = math.tan(math.radians(ZERO_RESPONSE_HALF_DEG))


@functools.lru_cache(maxsize=2)
def _sat(kind: str) -> np.ndarray:
    """Summed-area table (float64, shape (2n+1, 2n+1)) of the blurred mask raster."""
    r = msk.mask_raster() if kind == "open" else msk.mask_area_raster()
    sigma = det.POSITION_FWHM_MM / (2.0 * math.sqrt(2.0 * math.log(2.0))) / msk.RASTER_MM
    if kind == "open":
        r = gaussian_filter(r.astype(np.float64), sigma, mode="constant")
    s = np.zeros((r.shape[0] + 1, r.shape[1] + 1))
    np.cumsum(np.cumsum(r, axis=0, dtype=np.float64), axis=1, out=s[1:, 1:])
    s.setflags(write=False)
    return s


@functools.lru_cache(maxsize=1)
def _raster_frame() -> tuple[float, int]:
    e = msk.raster_edges_mm()
    return float(e[0]), int(e.size - 1)


def _edge_coords(shift_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer raster index and fraction of the pixel edges shifted by ``shift_mm``."""
    edges = (np.arange(det.N_PIX + 1) - det.CENTRE_INDEX - 0.5) * det.PITCH_MM + shift_mm
    first, n = _raster_frame()
    u = (edges - first) / msk.RASTER_MM
    u = np.clip(u, 0.0, float(n))
    i = np.minimum(np.floor(u).astype(np.int64), n - 1)
    return i, u - i, u


def _box_integrals(sat: np.ndarray, sz: float, sy: float) -> np.ndarray:
    iz, fz, _ = _edge_coords(sz)
    iy, fy, _ = _edge_coords(sy)
    a = sat[np.ix_(iz, iy)]
    b = sat[np.ix_(iz + 1, iy)]
    c = sat[np.ix_(iz, iy + 1)]
    d = sat[np.ix_(iz + 1, iy + 1)]
    gz = fz[:, None]
    gy = fy[None, :]
    corner = a * (1 - gz) * (1 - gy) + b * gz * (1 - gy) + c * (1 - gz) * gy + d * gz * gy
    return corner[1:, 1:] - corner[:-1, 1:] - corner[1:, :-1] + corner[:-1, :-1]


def footprint_fractions(shift_z_mm: float, shift_y_mm: float, kind: str = "open") -> np.ndarray:
    """Mean of the mask raster over the 128×128 detector pixel footprints shifted by (mm).

    ``kind="open"``: the open fraction as the detector records it (blurred by the position
    resolution) — the PIF of a direction whose shadow shift is ``D·tan``; ``kind="area"``:
    the fraction over the mask area (open or closed). Used to resample the mask onto the
    detector grid for decoding.
    """
    if kind not in ("open", "area"):
        raise ValueError(f"kind must be 'open' or 'area', got {kind!r}")
    cells = (det.PITCH_MM / msk.RASTER_MM) ** 2
    return _box_integrals(_sat(kind), float(shift_z_mm), float(shift_y_mm)) / cells


def pif(tan_z: float, tan_y: float) -> np.ndarray:
    """PIF of a point source, float32 ``(128, 128)`` in [0, 1] (detector efficiency not applied).

    Parameters
    ----------
    tan_z, tan_y : float
        Direction tangents (:meth:`core.instrument.attitude.Attitude.to_instrument`);
        non-finite values give zeros.
    """
    tz, ty = float(tan_z), float(tan_y)
    if not (math.isfinite(tz) and math.isfinite(ty)):
        return np.zeros((det.N_PIX, det.N_PIX), np.float32)
    d = msk.MASK_DISTANCE_MM
    cells = (det.PITCH_MM / msk.RASTER_MM) ** 2
    p = _box_integrals(_sat("open"), d * tz, d * ty) / cells
    return np.clip(p, 0.0, 1.0).astype(np.float32)


def coding_fraction(tan_z: float, tan_y: float) -> float:
    """Fraction of the (perfect) detector's sensitive area that sees the mask area."""
    tz, ty = float(tan_z), float(tan_y)
    if not (math.isfinite(tz) and math.isfinite(ty)):
        return 0.0
    d = msk.MASK_DISTANCE_MM
    cells = (det.PITCH_MM / msk.RASTER_MM) ** 2
    cover = np.clip(_box_integrals(_sat("area"), d * tz, d * ty) / cells, 0.0, 1.0)
    w = det.ideal_efficiency()
    return float((cover * w).sum() / w.sum())


def collimator_transmission(tan_z, tan_y) -> np.ndarray:
    """Collimator throughput relative to on axis: Π over the cell axes of (1 − |t|/t0)₊."""
    tz = np.abs(np.asarray(tan_z, float))
    ty = np.abs(np.asarray(tan_y, float))
    out = np.clip(1.0 - tz / COLLIMATOR_ZERO_TAN, 0.0, 1.0) * np.clip(1.0 - ty / COLLIMATOR_ZERO_TAN, 0.0, 1.0)
    return np.where(np.isfinite(out), out, 0.0)


def response_factor(tan_z, tan_y) -> np.ndarray:
    """cos θ × collimator: what multiplies the PIF of an on-axis-equivalent rate."""
    tz = np.asarray(tan_z, float)
    ty = np.asarray(tan_y, float)
    cos = 1.0 / np.sqrt(1.0 + tz * tz + ty * ty)
    return cos * collimator_transmission(tz, ty)


@functools.lru_cache(maxsize=1)
def n_ideal() -> float:
    """Σ over a perfect detector of active fraction × on-axis PIF: OSA's N_ideal for JEM-X."""
    return float((pif(0.0, 0.0) * det.ideal_efficiency()).sum())


def pif_for_source(attitude, ra: float, dec: float) -> np.ndarray:
    """PIF of a sky position for an attitude (:class:`core.instrument.attitude.Attitude`)."""
    tz, ty = attitude.to_instrument(ra, dec)
    return pif(float(tz), float(ty))
