"""ISGRI detector layout: modules, dead lines, pixel positions, dead pixels, efficiency.

Every detector map in this project is a numpy array indexed ``[z, y]`` with shape
``(N_Z, N_Y) = (134, 130)``: the first index runs along DETZ, the second along DETY,
exactly as astropy reads an OSA ``ISGR-*-SHD`` image (NAXIS1 = 130 = DETY).

The 128×128 CdTe pixels sit in 8 modules of 32 (Z) × 64 (Y) pixels. OSA pads the
image with 2-pixel dead lines between modules, so the module edges are at
DETZ 0/32/66/100/134 and DETY 0/64/130. This layout was checked against the real
OSA PIF map of ScW 255900280010: it is exactly zero on rows 32, 33, 66, 67, 100, 101
and on columns 64, 65, and nowhere else over a whole row or column.

Module numbering: ``module = 2 * zblock + yblock`` with ``zblock`` 0..3 along DETZ
and ``yblock`` 0..1 along DETY.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "N_Z",
    "N_Y",
    "PITCH_MM",
    "PIXEL_MM",
    "Z_EDGES",
    "Y_EDGES",
    "N_MODULES",
    "Z_CENTRE_INDEX",
    "Y_CENTRE_INDEX",
    "module_map",
    "live_pixels",
    "live_rows",
    "live_cols",
    "module_slices",
    "module_starts",
    "MODULE_NZ",
    "MODULE_NY",
    "pixel_centres_mm",
    "dead_fraction",
    "dead_pixels",
    "pixel_efficiency",
]

#: Number of image rows (DETZ) of an OSA ISGRI detector map, dead lines included.
N_Z = 134
#: Number of image columns (DETY) of an OSA ISGRI detector map, dead lines included.
N_Y = 130
#: Pixel pitch in mm.
PITCH_MM = 4.6
#: Side of the sensitive CdTe pixel in mm (the rest of the pitch is inter-pixel gap).
PIXEL_MM = 4.0
#: Module edges along DETZ (image row indices); module k holds rows [e[k+1]-32, e[k+1]).
Z_EDGES = (0, 32, 66, 100, 134)
#: Module edges along DETY (image column indices); module k holds [e[k+1]-64, e[k+1]).
Y_EDGES = (0, 64, 130)
#: Number of detector modules.
N_MODULES = 8
#: Fractional row index of the detector centre (pixel z = (i - 66.5) * pitch).
Z_CENTRE_INDEX = 66.5
#: Fractional column index of the detector centre (pixel y = (j - 64.5) * pitch).
Y_CENTRE_INDEX = 64.5

#: Pixels per module along DETZ.
MODULE_NZ = 32
#: Pixels per module along DETY.
MODULE_NY = 64

# Dead/noisy pixel model. The seed is a fixed constant (not the revolution) so that
# each pixel gets one "death revolution" for the whole mission, which makes the dead
# map monotonic: a pixel dead at revolution r is dead at every later revolution.
_DEAD_SEED = 0x15C1
_EFF_SEED = 0x15C2
_DEAD_FRACTION_START = 0.02
_DEAD_FRACTION_REV2800 = 0.04
_EFF_SIGMA = 0.03
_EFF_CLIP = (0.85, 1.15)


def _zblocks() -> list[tuple[int, int]]:
    # Each module ends at an edge; the dead line is at the start of the next block
    # (rows 32-33, 66-67, 100-101 are dead, as in the real OSA map).
    return [(Z_EDGES[k + 1] - MODULE_NZ, Z_EDGES[k + 1]) for k in range(len(Z_EDGES) - 1)]


def _yblocks() -> list[tuple[int, int]]:
    return [(Y_EDGES[k + 1] - MODULE_NY, Y_EDGES[k + 1]) for k in range(len(Y_EDGES) - 1)]


def module_starts(axis: str) -> tuple[int, ...]:
    """First image index of each module along ``"z"`` (0, 34, 68, 102) or ``"y"`` (0, 66)."""
    blocks = _zblocks() if axis == "z" else _yblocks()
    return tuple(b[0] for b in blocks)


def module_slices() -> list[tuple[slice, slice]]:
    """Return the ``(z, y)`` slices of the live pixels of each module.

    Returns
    -------
    list of tuple of slice
        ``N_MODULES`` entries ordered by module number (``2 * zblock + yblock``).
    """
    return [
        (slice(z0, z1), slice(y0, y1)) for (z0, z1) in _zblocks() for (y0, y1) in _yblocks()
    ]


@lru_cache(maxsize=1)
def _module_map() -> np.ndarray:
    m = np.full((N_Z, N_Y), -1, dtype=np.int8)
    for k, (sz, sy) in enumerate(module_slices()):
        m[sz, sy] = k
    m.setflags(write=False)
    return m


def module_map() -> np.ndarray:
    """Module number of every image pixel.

    Returns
    -------
    numpy.ndarray
        int8 array of shape ``(134, 130)`` indexed ``[z, y]``: module 0..7, or -1 in
        the 2-pixel dead lines between modules.
    """
    return _module_map().copy()


def live_rows() -> np.ndarray:
    """Boolean vector (length ``N_Z``) of image rows that are not dead lines."""
    out = np.zeros(N_Z, dtype=bool)
    for z0, z1 in _zblocks():
        out[z0:z1] = True
    return out


def live_cols() -> np.ndarray:
    """Boolean vector (length ``N_Y``) of image columns that are not dead lines."""
    out = np.zeros(N_Y, dtype=bool)
    for y0, y1 in _yblocks():
        out[y0:y1] = True
    return out


def live_pixels() -> np.ndarray:
    """Map of pixels that exist (not in an inter-module dead line).

    Returns
    -------
    numpy.ndarray
        bool array ``(134, 130)``; it is the outer product of `live_rows` and
        `live_cols`, because the dead lines are whole rows and columns.
    """
    return np.outer(live_rows(), live_cols())


def pixel_centres_mm() -> tuple[np.ndarray, np.ndarray]:
    """Pixel centre coordinates in the detector plane.

    Returns
    -------
    z_mm, y_mm : numpy.ndarray
        float64 arrays ``(134, 130)``: ``z = (i - 66.5) * 4.6`` and
        ``y = (j - 64.5) * 4.6`` mm, with ``i`` the row (DETZ) and ``j`` the column
        (DETY) index. The origin is the detector centre, which lies under the mask
        centre up to the offsets in :mod:`core.instrument.mask`.
    """
    z = (np.arange(N_Z) - Z_CENTRE_INDEX) * PITCH_MM
    y = (np.arange(N_Y) - Y_CENTRE_INDEX) * PITCH_MM
    zz, yy = np.meshgrid(z, y, indexing="ij")
    return zz, yy


def dead_fraction(revolution: int | float) -> float:
    """Expected fraction of live pixels that are dead or noisy at a revolution.

    About 2 % at launch, growing linearly to 4 % by revolution 2800 (in-flight ISGRI
    lost pixels slowly; OSA flags "a few %").

    Parameters
    ----------
    revolution : int or float
        INTEGRAL revolution number (negative values are treated as 0).

    Returns
    -------
    float
    """
    r = max(float(revolution), 0.0)
    slope = (_DEAD_FRACTION_REV2800 - _DEAD_FRACTION_START) / 2800.0
    return _DEAD_FRACTION_START + slope * r


@lru_cache(maxsize=1)
def _death_revolution() -> np.ndarray:
    # One uniform draw per pixel, mapped through the inverse of dead_fraction(r):
    # u < 2 % -> dead from the start, otherwise dead from r = (u - 2 %) / slope.
    rng = np.random.default_rng(_DEAD_SEED)
    u = rng.random((N_Z, N_Y))
    slope = (_DEAD_FRACTION_REV2800 - _DEAD_FRACTION_START) / 2800.0
    death = (u - _DEAD_FRACTION_START) / slope
    death = np.where(u < _DEAD_FRACTION_START, -np.inf, death)
    death[~live_pixels()] = np.inf  # gaps are not pixels; they are never "dead"
    death.setflags(write=False)
    return death


def dead_pixels(revolution: int) -> np.ndarray:
    """Deterministic map of dead or noisy pixels at a revolution.

    Each live pixel has one pseudo-random "death revolution" drawn once from a fixed
    seed; it is dead at every revolution from then on, so the map is monotonic in
    ``revolution``. About 2 % of pixels are dead early in the mission and ≈ 4 % by
    revolution 2800 (see `dead_fraction`). Dead lines are not flagged here (use
    `live_pixels`).

    Parameters
    ----------
    revolution : int
        INTEGRAL revolution number.

    Returns
    -------
    numpy.ndarray
        bool array ``(134, 130)``, True where the pixel is dead or noisy.
    """
    return _death_revolution() <= float(revolution)


@lru_cache(maxsize=1)
def _base_efficiency() -> np.ndarray:
    # Per-crystal relative efficiency is a property of the pixel, so it is drawn once
    # from a fixed seed rather than per revolution.
    rng = np.random.default_rng(_EFF_SEED)
    eff = rng.normal(1.0, _EFF_SIGMA, size=(N_Z, N_Y)).clip(*_EFF_CLIP)
    eff = eff.astype(np.float32)
    eff.setflags(write=False)
    return eff


def pixel_efficiency(revolution: int) -> np.ndarray:
    """Relative efficiency of every pixel at a revolution.

    Parameters
    ----------
    revolution : int
        INTEGRAL revolution number; it selects the dead pixels.

    Returns
    -------
    numpy.ndarray
        float32 array ``(134, 130)``: 0 in the dead lines and on dead pixels,
        otherwise a fixed per-pixel value drawn from N(1, 0.03) clipped to
        [0.85, 1.15]. Deterministic.
    """
    eff = _base_efficiency().copy()
    eff[~live_pixels()] = 0.0
    eff[dead_pixels(revolution)] = 0.0
    return eff
