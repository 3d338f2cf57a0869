"""The JEM-X coded mask: a hexagonal uniformly redundant array (HURA) of 22 501 elements.

Construction (Finger & Prince 1985, "Hexagonal uniformly redundant arrays for coded-aperture
imaging", Proc. 19th ICRC 3, 295; the biquadratic-residue difference sets of Chowla 1944):

* ``p = 22 501 = 4·75² + 1`` is a prime with ``75`` odd, so the non-zero **biquadratic
  (quartic) residues** modulo ``p`` form a cyclic difference set with parameters
  ``(v, k, λ) = (22 501, 5 625, 1 406)``: exactly 25 % of the labels are "open" and every
  non-zero cyclic shift of the set overlaps it in the same number of labels (a flat
  autocorrelation, the "uniformly redundant" property). That the flight mask has exactly
  22 501 elements, 25 % open (instruments.md; Lund et al. 2003) is this set.
* A hexagonal lattice point with axial coordinates ``(a, b)`` (centre at
  ``pitch · (a + b/2, b·√3/2)``) gets the label ``n = (a + r·b) mod p`` with ``r`` a
  primitive sixth root of unity modulo ``p`` (``r² − r + 1 ≡ 0``; ``p ≡ 1 mod 6`` so it
  exists; we take the smaller root, 1133). The labelling is a group homomorphism, so the
  pattern is periodic on the lattice with a period lattice that is itself hexagonal, and
  the 2-D periodic array inherits the flat autocorrelation. Rotating by 60° multiplies
  labels by ``r``; ``r²`` is a quartic residue (3 divides 75) so the pattern has 120°
  symmetry, as HURAs do.
* The physical mask is **one period**: for every label the lattice point nearest to the
  mask centre (the Voronoi cell of the period lattice, a hexagon of 22 501 elements,
  ≈ 571 mm between corners and 495 mm between flats, i.e. ≈ 535 mm "diameter"). Each
  element is a hexagon of 3.3 mm between flats (the lattice pitch); the centre element has
  label 0 and is closed.

How this may deviate from the flight mask: the choice of root ``r`` (the two roots give
mirror-image masks), the orientation of the lattice with respect to the detector axes and
which period cell was cut are not published in the sources we have; the mask support
structure and the 0.5 mm tungsten thickness (vignetting ≤ 0.06 mm at the edge of the field,
negligible against 3.3 mm elements) are not modelled, and tungsten is opaque over 3–35 keV
(transmission < 1e-9 at 35 keV).

Geometry (mm): the mask plane is ``MASK_DISTANCE_MM`` above the detector; a detector point
``x`` sees a source at direction tangents ``t`` through the mask point ``x + D·t`` (the
convention of :mod:`core.instrument.attitude`; first axis along spacecraft +Z, second
along +Y). The mask is rasterised once per process on a ``RASTER_MM`` grid, which is what
the PIF and the decoding array integrate.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "HURA_ORDER", "HURA_ROOT", "N_ELEMENTS", "OPEN_FRACTION", "ELEMENT_PITCH_MM",
    "MASK_DISTANCE_MM", "RASTER_MM", "quartic_residues", "hura_labels", "mask_elements",
    "element_index", "mask_raster", "mask_area_raster", "raster_edges_mm", "mask_extent_mm", "period_vectors_mm",
]

#: Prime order of the HURA (= number of mask elements).
HURA_ORDER = 22501
#: Primitive sixth root of unity modulo HURA_ORDER used for the hexagonal labelling.
HURA_ROOT = 1133
#: Number of mask elements (one period).
N_ELEMENTS = HURA_ORDER
#: Open fraction of the pattern: (p − 1)/4 / p.
OPEN_FRACTION = (HURA_ORDER - 1) / 4 / HURA_ORDER
#: Distance between neighbouring element centres = width of a hexagon between flats, mm.
ELEMENT_PITCH_MM = 3.3
#: Mask–detector distance, mm (instruments.md: 3.4 m).
MASK_DISTANCE_MM = 3400.0
#: Raster step of the mask transmission map, mm (2 mm detector pixels = 6 raster cells).
RASTER_MM = 1.0 / 3.0
_SQ3 = math.sqrt(3.0)


def quartic_residues(p: int = HURA_ORDER) -> np.ndarray:
    """Boolean vector of length ``p``: True at the non-zero quartic residues modulo ``p``.

    For ``p = 4x² + 1`` with ``x`` odd they form a ``(p, (p−1)/4, (p−5)/16)`` cyclic
    difference set (Chowla 1944).
    """
    p = int(p)
    y = np.arange(1, p, dtype=np.int64)
    y2 = (y * y) % p
    out = np.zeros(p, dtype=bool)
    out[(y2 * y2) % p] = True
    return out


def hura_labels(a, b, p: int = HURA_ORDER, r: int = HURA_ROOT) -> np.ndarray:
    """Label ``(a + r·b) mod p`` of hexagonal lattice points (axial coordinates)."""
    return (np.asarray(a, np.int64) + r * np.asarray(b, np.int64)) % p


def _axial_to_xy(a, b, pitch: float = ELEMENT_PITCH_MM):
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    return pitch * (a + 0.5 * b), pitch * (0.5 * _SQ3) * b


@functools.lru_cache(maxsize=1)
def _elements() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, label, open) of the 22 501 elements of one period nearest the centre."""
    p = HURA_ORDER
    # The period cell has ≈ 87 elements from centre to corner; scan a hexagon of radius 100.
    n = 100
    a, b = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    a, b = a.ravel(), b.ravel()
    keep = np.abs(a + b) <= n
    a, b = a[keep], b[keep]
    x, y = _axial_to_xy(a, b, 1.0)
    d2 = x * x + y * y
    lab = hura_labels(a, b)
    # Nearest point per label; equal distances (the cell boundary) are settled by angle so
    # that the choice is deterministic and one-to-one.
    ang = np.arctan2(y, x) % (2 * math.pi)
    order = np.lexsort((ang, np.round(d2, 9), lab))
    first = np.ones(order.size, bool)
    first[1:] = lab[order][1:] != lab[order][:-1]
    sel = order[first]
    if sel.size != p:
        raise AssertionError(f"HURA period cell has {sel.size} elements, expected {p}")
    res = quartic_residues(p)
    out = (a[sel], b[sel], lab[sel], res[lab[sel]])
    for arr in out:
        arr.setflags(write=False)
    return out


def mask_elements() -> dict[str, np.ndarray]:
    """The mask elements: axial ``a``, ``b``, centre ``x_mm``, ``y_mm``, ``label``, ``open``."""
    a, b, lab, op = _elements()
    x, y = _axial_to_xy(a, b)
    return {"a": a.copy(), "b": b.copy(), "x_mm": x, "y_mm": y, "label": lab.copy(), "open": op.copy()}


def element_index(x_mm, y_mm):
    """Axial coordinates (a, b) of the hexagon containing mask-plane points (cube rounding)."""
    x = np.asarray(x_mm, float) / ELEMENT_PITCH_MM
    y = np.asarray(y_mm, float) / ELEMENT_PITCH_MM
    bf = y * (2.0 / _SQ3)
    af = x - 0.5 * bf
    cf = -af - bf
    ra, rb, rc = np.rint(af), np.rint(bf), np.rint(cf)
    da, db, dc = np.abs(ra - af), np.abs(rb - bf), np.abs(rc - cf)
    fix_a = (da > db) & (da > dc)
    fix_b = ~fix_a & (db > dc)
    ra = np.where(fix_a, -rb - rc, ra)
    rb = np.where(fix_b, -ra - rc, rb)
    return ra.astype(np.int64), rb.astype(np.int64)


def period_vectors_mm() -> np.ndarray:
    """Two shortest vectors (mm) of the period lattice (the pattern repeats by them).

    A source whose shadow is shifted by one of these would decode onto itself: they set
    where ghosts of a cyclic system would be. The physical mask is a single period, so a
    JEM-X image has no ghosts, only noise-like sidelobes.
    """
    p, r = HURA_ORDER, HURA_ROOT
    # Kernel of (a, b) -> a + r b mod p: basis (p, 0), (-r, 1); Gauss-reduce in the metric.
    def norm(v):
        x, y = _axial_to_xy(v[0], v[1], 1.0)
        return float(x * x + y * y)

    u, v = np.array([p, 0]), np.array([-r, 1])
    for _ in range(100):
        if norm(u) < norm(v):
            u, v = v, u
        x1, y1 = _axial_to_xy(*u, 1.0)
        x2, y2 = _axial_to_xy(*v, 1.0)
        m = int(round((x1 * x2 + y1 * y2) / norm(v)))
        if m == 0:
            break
        u = u - m * v
    out = np.array([_axial_to_xy(*v), _axial_to_xy(*u)], dtype=float)
    return out


@functools.lru_cache(maxsize=1)
def mask_extent_mm() -> float:
    """Largest distance of a point of the mask from its centre (a hexagon corner), mm."""
    a, b, _, _ = _elements()
    x, y = _axial_to_xy(a, b)
    return float(np.hypot(x, y).max() + ELEMENT_PITCH_MM / _SQ3)


def raster_edges_mm() -> np.ndarray:
    """Edges (mm) of the raster cells along either axis (the raster is square)."""
    return _raster_edges().copy()


@functools.lru_cache(maxsize=1)
def _raster_edges() -> np.ndarray:
    n = _raster_half_cells()
    e = np.arange(-n, n + 1) * RASTER_MM
    e.setflags(write=False)
    return e


def _raster_half_cells() -> int:
    return int(math.ceil((mask_extent_mm() + 2.0) / RASTER_MM))


@functools.lru_cache(maxsize=1)
def _mask_raster() -> np.ndarray:
    a, b, _, op = _elements()
    n = _raster_half_cells()
    c = (np.arange(-n, n) + 0.5) * RASTER_MM
    # Element lookup for every raster cell centre, in blocks of rows to bound memory.
    amin, bmin = int(a.min()), int(b.min())
    grid = np.full((int(a.max()) - amin + 3, int(b.max()) - bmin + 3), -1, dtype=np.int8)
    grid[a - amin + 1, b - bmin + 1] = op.astype(np.int8)
    out = np.zeros((2 * n, 2 * n), dtype=np.float32)
    for i in range(0, 2 * n, 256):
        xs = c[i:i + 256]
        xx, yy = np.meshgrid(xs, c, indexing="ij")
        ia, ib = element_index(xx, yy)
        ia = ia - amin + 1
        ib = ib - bmin + 1
        inside = (ia >= 0) & (ia < grid.shape[0]) & (ib >= 0) & (ib < grid.shape[1])
        v = np.full(ia.shape, -1, np.int8)
        v[inside] = grid[ia[inside], ib[inside]]
        out[i:i + 256] = np.where(v == 1, 1.0, np.where(v == 0, 0.0, -1.0))
    out.setflags(write=False)
    return out


def mask_raster() -> np.ndarray:
    """Mask transmission on the raster, float32 ``(2n, 2n)`` indexed ``[z, y]`` (1 open).

    Cell ``[i, j]`` spans ``raster_edges_mm()[i:i+2]`` along +Z and ``[j:j+2]`` along +Y;
    everything outside the 22 501 elements is opaque.
    """
    return (_mask_raster() > 0).astype(np.float32)


def mask_area_raster() -> np.ndarray:
    """1 where the raster cell centre lies on a mask element (open or closed), else 0."""
    return (_mask_raster() >= 0).astype(np.float32)
