"""Spacecraft attitude: sky (RA, Dec) ↔ IBIS detector-frame direction tangents.

Frame: the unit vectors ``X`` (viewing axis, ``RA_SCX``/``DEC_SCX``), ``Z`` (the
spacecraft Z axis, ``RA_SCZ``/``DEC_SCZ``, re-orthogonalised against X) and
``Y = Z × X`` form a right-handed triad. A sky direction ``s`` has the projected
direction tangents ::

    tan_z = (s·Z) / (s·X),    tan_y = (s·Y) / (s·X)

and a detector point ``(z, y)`` sees it through the mask at
``(z, y) + D · (tan_z, tan_y)``; the mask shadow on the detector is shifted by
``-D · (tan_z, tan_y)``. DETZ runs along +Z and DETY along +Y.

Which convention won, and how it was decided: the real OSA PIF map of SGR 1935+2154
(ScW 255900280010, 6.65° off axis; tan_z = -0.11539, tan_y = +0.01623 here) was
compared with the PIF model of :mod:`core.instrument.pif` for all 8 sign/swap
choices of (tan_z, tan_y) and both mask orientations (M and Mᵀ), with the mask
distance scanned over 2900–3400 mm. Best Pearson correlation over live pixels:

=======================================  =========  ===============================
convention                                best corr  note
=======================================  =========  ===============================
(+Z, +Y)  [adopted], mask Y offset        0.99987    D = 3138.44 mm, centre y -4.31
(+Z, +Y), mask exactly centred            0.778      needs the 4.3 mm Y offset
(+Z, +Y), mask transposed (Mᵀ)            0.967      MURA is symmetric but for row 0
(+Z, −Y)                                  0.24       0.9999 only with a 106 mm offset
(−Z, +Y) / (−Z, −Y)                       0.02       no distance fits
swapped (tan_z↔tan_y), any signs          ≤ 0.03     would need > 300 mm offsets
=======================================  =========  ===============================

So the natural right-handed frame with no mirror flip and no swap reproduces the
real map; mirrored alternatives only fit with offsets of many mask elements.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Attitude", "radec_to_unit", "unit_to_radec"]


def radec_to_unit(ra, dec) -> np.ndarray:
    """Unit vectors of equatorial positions.

    Parameters
    ----------
    ra, dec : float or array_like
        Degrees; broadcast against each other.

    Returns
    -------
    numpy.ndarray
        Shape ``broadcast(ra, dec).shape + (3,)``.
    """
    ra = np.radians(np.asarray(ra, dtype=float))
    dec = np.radians(np.asarray(dec, dtype=float))
    ra, dec = np.broadcast_arrays(ra, dec)
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1)


def unit_to_radec(v) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (degrees, RA in [0, 360)) of vectors (need not be normalised).

    Parameters
    ----------
    v : array_like
        Shape ``(..., 3)``.

    Returns
    -------
    ra, dec : numpy.ndarray
    """
    v = np.asarray(v, dtype=float)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    ra = np.degrees(np.arctan2(y, x)) % 360.0
    # atan2 keeps full precision near the poles where arcsin would not.
    dec = np.degrees(np.arctan2(z, np.hypot(x, y)))
    return ra, dec


class Attitude:
    """Pointing of the spacecraft during one science window.

    Parameters
    ----------
    ra_scx, dec_scx : float
        Viewing (X) axis, degrees.
    ra_scz, dec_scz : float
        Spacecraft Z axis, degrees. Only its component perpendicular to X is used.

    Examples
    --------
    >>> att = Attitude(286.823, 20.276, 199.375, -6.873)
    >>> tz, ty = att.to_instrument(293.732, 21.897)
    >>> round(float(tz), 4), round(float(ty), 4)
    (-0.1154, 0.0162)
    >>> ra, dec = att.from_instrument(tz, ty)
    >>> round(float(ra), 6), round(float(dec), 6)
    (293.732, 21.897)
    """

    def __init__(self, ra_scx: float, dec_scx: float, ra_scz: float, dec_scz: float):
        x = radec_to_unit(ra_scx, dec_scx)
        z = radec_to_unit(ra_scz, dec_scz)
        # Header values are rounded to float32, so X·Z is ~1e-7, not 0: re-orthogonalise
        # so that to_instrument/from_instrument are exact inverses.
        z = z - np.dot(z, x) * x
        nz = np.linalg.norm(z)
        if nz < 1e-6:
            raise ValueError("Z axis is parallel to the viewing axis")
        z = z / nz
        y = np.cross(z, x)
        self.ra_scx = float(ra_scx)
        self.dec_scx = float(dec_scx)
        self.ra_scz = float(ra_scz)
        self.dec_scz = float(dec_scz)
        #: Rows are the X, Y, Z axes in equatorial coordinates.
        self.matrix = np.stack([x, y, z])

    @classmethod
    def from_pointing(cls, ra_scx: float, dec_scx: float, posangle_deg: float) -> "Attitude":
        """Build an attitude from the pointing and the position angle of the Z axis.

        Parameters
        ----------
        ra_scx, dec_scx : float
            Viewing axis, degrees.
        posangle_deg : float
            Position angle of the spacecraft Z axis at the pointing, from north
            through east, degrees (see `posangle`).

        Returns
        -------
        Attitude
        """
        x = radec_to_unit(ra_scx, dec_scx)
        north, east = _north_east(x)
        pa = np.radians(posangle_deg)
        z = np.cos(pa) * north + np.sin(pa) * east
        ra_z, dec_z = unit_to_radec(z)
        return cls(ra_scx, dec_scx, float(ra_z), float(dec_z))

    @property
    def x_axis(self) -> np.ndarray:
        """Unit vector of the viewing axis."""
        return self.matrix[0].copy()

    @property
    def y_axis(self) -> np.ndarray:
        """Unit vector of the spacecraft Y axis (Z × X)."""
        return self.matrix[1].copy()

    @property
    def z_axis(self) -> np.ndarray:
        """Unit vector of the spacecraft Z axis (orthogonalised)."""
        return self.matrix[2].copy()

    @property
    def posangle(self) -> float:
        """Position angle of the Z axis at the pointing, north through east, degrees.

        In [0, 360). It is the roll of a TAN sky image about the pointing: +Z lies at
        this position angle on the sky.
        """
        north, east = _north_east(self.matrix[0])
        z = self.matrix[2]
        return float(np.degrees(np.arctan2(z @ east, z @ north)) % 360.0)

    def to_instrument(self, ra, dec) -> tuple[np.ndarray, np.ndarray]:
        """Detector-frame direction tangents of sky positions.

        Parameters
        ----------
        ra, dec : float or array_like
            Degrees; broadcast against each other.

        Returns
        -------
        tan_z, tan_y : numpy.ndarray
            Same shape as the broadcast input (0-d for scalars). NaN for directions
            at or behind 90° from the viewing axis, where tangents are meaningless.
        """
        s = radec_to_unit(ra, dec)
        c = s @ self.matrix.T  # components along X, Y, Z
        cx = c[..., 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(cx > 0, 1.0 / np.where(cx > 0, cx, 1.0), np.nan)
        return c[..., 2] * inv, c[..., 1] * inv

    def from_instrument(self, tan_z, tan_y) -> tuple[np.ndarray, np.ndarray]:
        """Sky positions of detector-frame direction tangents (inverse of `to_instrument`).

        Parameters
        ----------
        tan_z, tan_y : float or array_like
            Broadcast against each other.

        Returns
        -------
        ra, dec : numpy.ndarray
            Degrees, RA in [0, 360).
        """
        tz, ty = np.broadcast_arrays(np.asarray(tan_z, float), np.asarray(tan_y, float))
        x, y, z = self.matrix
        v = x + tz[..., None] * z + ty[..., None] * y
        return unit_to_radec(v)

    def off_axis_angle(self, ra, dec) -> np.ndarray:
        """Angle between sky positions and the viewing axis, degrees.

        Parameters
        ----------
        ra, dec : float or array_like
            Degrees.

        Returns
        -------
        numpy.ndarray
        """
        s = radec_to_unit(ra, dec)
        c = s @ self.matrix.T
        # atan2(|perp|, along) is accurate at small angles, unlike arccos.
        return np.degrees(np.arctan2(np.hypot(c[..., 1], c[..., 2]), c[..., 0]))

    def __repr__(self) -> str:
        return (
            f"Attitude(ra_scx={self.ra_scx!r}, dec_scx={self.dec_scx!r}, "
            f"ra_scz={self.ra_scz!r}, dec_scz={self.dec_scz!r})"
        )


def _north_east(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local north and east unit vectors on the sky at direction ``x``."""
    pole = np.array([0.0, 0.0, 1.0])
    east = np.cross(pole, x)
    ne = np.linalg.norm(east)
    if ne < 1e-12:
        # At a celestial pole every direction is "south"; pick RA = 0 as north by convention.
        east = np.array([0.0, 1.0, 0.0])
    else:
        east = east / ne
    north = np.cross(x, east)
    return north, east
