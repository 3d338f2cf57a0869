"""The IBIS coded mask: MURA-53 basic pattern and its 95×95 cyclic extension.

Geometry (mm, detector frame of :mod:`core.instrument.detector`): mask element ``k``
(0..94) spans ``[(k - 47.5) * 11.2, (k - 46.5) * 11.2] + MASK_CENTRE_{Z,Y}_MM`` and the
pattern is ``M[kz, ky] = A[(kz - 47) mod 53, (ky - 47) mod 53]`` with the first index
along DETZ and no transpose. A detector point ``x`` looks through the mask mid-plane
at ``x + MASK_DISTANCE_MM * tan(theta)``.

How the numbers were fixed: a least-squares fit (maximising the Pearson correlation
over live pixels) of our PIF model to the real OSA ``ii_pif`` map of SGR 1935+2154 in
ScW 255900280010 (source 6.65° off axis, tan_z = -0.11539, tan_y = +0.01623 in the
convention of :mod:`core.instrument.attitude`). The fit gives shadow shifts of
-362.13 mm (Z) and +55.26 mm (Y). With one source the distance and a mask-centre
offset are degenerate; keeping the mask centred in Z gives the mid-plane distance
``MASK_DISTANCE_MM`` = 3138.44 mm, and then Y needs the mask centre at
y = -4.31 mm (equivalently a 4.7' boresight offset of IBIS from the header
attitude, about a rotation around the spacecraft Z axis). Without that offset the
best correlation is 0.78 whatever the distance; with it 0.99987. A ±1 mm error of
either offset drops the correlation to 0.98, ±2 mm to 0.93. The fitted effective
thickness (15.7 mm) is within the fit noise of the nominal 16 mm, which is kept.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "MURA_ORDER",
    "MASK_ELEMENTS",
    "MASK_ELEMENT_MM",
    "MASK_THICKNESS_MM",
    "MASK_DISTANCE_MM",
    "MASK_CENTRE_ELEMENT",
    "MASK_CENTRE_Z_MM",
    "MASK_CENTRE_Y_MM",
    "MASK_HALF_SIZE_MM",
    "TUNGSTEN_DENSITY_G_CM3",
    "quadratic_residue_sequence",
    "mura_basic",
    "mura_decoding",
    "ibis_mask",
    "mask_element_edges_mm",
    "mask_open_fraction",
]

#: Prime order of the IBIS MURA basic pattern.
MURA_ORDER = 53
#: Elements per side of the physical mask (95 = 2·53 − 11).
MASK_ELEMENTS = 95
#: Side of one square mask element in mm.
MASK_ELEMENT_MM = 11.2
#: Tungsten thickness of the closed elements in mm.
MASK_THICKNESS_MM = 16.0
#: Distance detector plane → mask mid-plane in mm (fitted, see the module docstring).
MASK_DISTANCE_MM = 3138.44
#: Index of the mask element whose centre is the mask centre.
MASK_CENTRE_ELEMENT = 47
#: Z position of the mask centre in the detector frame, mm (kept 0: see docstring).
MASK_CENTRE_Z_MM = 0.0
#: Y position of the mask centre in the detector frame, mm (fitted).
MASK_CENTRE_Y_MM = -4.31
#: Half the side of the mask, mm.
MASK_HALF_SIZE_MM = 0.5 * MASK_ELEMENTS * MASK_ELEMENT_MM
#: Density of the mask tungsten, g/cm³.
TUNGSTEN_DENSITY_G_CM3 = 19.3


def quadratic_residue_sequence(p: int = MURA_ORDER) -> np.ndarray:
    """Legendre-type sequence C of a MURA of prime order ``p``.

    Parameters
    ----------
    p : int
        A prime of the form 4m + 1.

    Returns
    -------
    numpy.ndarray
        int8 vector of length ``p``: ``C[i] = +1`` if ``i`` is a non-zero quadratic
        residue modulo ``p``, else ``-1`` (so ``C[0] = -1``).
    """
    if p < 5 or any(p % d == 0 for d in range(2, int(p**0.5) + 1)) or p % 4 != 1:
        raise ValueError(f"MURA order must be a prime 4m+1, got {p}")
    c = -np.ones(p, dtype=np.int8)
    c[(np.arange(1, p) ** 2) % p] = 1
    c[0] = -1
    return c


@lru_cache(maxsize=8)
def _mura_basic(p: int) -> np.ndarray:
    c = quadratic_residue_sequence(p).astype(np.int16)
    a = (np.outer(c, c) == 1).astype(np.uint8)
    a[0, :] = 0
    a[1:, 0] = 1
    a.setflags(write=False)
    return a


def mura_basic(p: int = MURA_ORDER) -> np.ndarray:
    """MURA basic pattern A (1 = open, 0 = closed) of prime order ``p``.

    Gottesman & Fenimore (1989): ``A[0, j] = 0``; ``A[i, 0] = 1`` for ``i != 0``;
    otherwise ``A[i, j] = 1`` where ``C[i] * C[j] = +1``.

    Parameters
    ----------
    p : int
        Prime of the form 4m + 1 (53 for IBIS).

    Returns
    -------
    numpy.ndarray
        uint8 array ``(p, p)``; for ``p = 53`` it has 1404 open cells of 2809.
    """
    return _mura_basic(int(p)).copy()


def mura_decoding(p: int = MURA_ORDER) -> np.ndarray:
    """MURA decoding array ``G = 2A - 1`` with ``G[0, 0] = +1``.

    The cyclic correlation of ``A`` with ``G`` is ``(number of open cells) · δ``.

    Parameters
    ----------
    p : int
        Prime of the form 4m + 1.

    Returns
    -------
    numpy.ndarray
        int8 array ``(p, p)`` of ±1.
    """
    g = 2 * _mura_basic(int(p)).astype(np.int8) - 1
    g[0, 0] = 1
    return g


@lru_cache(maxsize=1)
def _ibis_mask() -> np.ndarray:
    k = (np.arange(MASK_ELEMENTS) - MASK_CENTRE_ELEMENT) % MURA_ORDER
    m = _mura_basic(MURA_ORDER)[np.ix_(k, k)].copy()
    m.setflags(write=False)
    return m


def ibis_mask() -> np.ndarray:
    """The 95×95 IBIS mask pattern (1 = open).

    Returns
    -------
    numpy.ndarray
        uint8 array ``(95, 95)`` indexed ``[kz, ky]`` (first index along DETZ):
        ``M[kz, ky] = A[(kz - 47) mod 53, (ky - 47) mod 53]``, so the central element
        is ``A[0, 0]`` and any 53×53 window is a cyclic shift of the basic pattern.
    """
    return _ibis_mask().copy()


def mask_element_edges_mm(axis: str = "z") -> np.ndarray:
    """Edges of the mask elements along one axis, in the detector frame.

    Parameters
    ----------
    axis : {"z", "y"}
        Detector axis.

    Returns
    -------
    numpy.ndarray
        96 increasing edges (mm): element ``k`` spans ``[edges[k], edges[k + 1]]``.
    """
    if axis not in ("z", "y"):
        raise ValueError("axis must be 'z' or 'y'")
    centre = MASK_CENTRE_Z_MM if axis == "z" else MASK_CENTRE_Y_MM
    k = np.arange(MASK_ELEMENTS + 1)
    return (k - MASK_CENTRE_ELEMENT - 0.5) * MASK_ELEMENT_MM + centre


def mask_open_fraction() -> float:
    """Fraction of the 95×95 IBIS mask elements that are open.

    Returns
    -------
    float
        About 0.50 (the basic 53×53 pattern alone: 1404/2809 = 0.4998).
    """
    return float(_ibis_mask().mean())
