"""ISGRI spectral channel grids (measured-energy bin edges, keV).

* :func:`osa11_channel_edges` — the OSA 11 256-channel grid.
* :func:`osa10_channel_edges` — a documented approximation of the OSA 10 62-channel grid.
* :func:`catalogue_band_edges` — the 14-band grid of the real OSA 10 NGC 2110 spectrum.
* :func:`rebin_edges` — merge channels by a factor or up to a minimum width.

OSA band edges are multiples of 0.5 keV (the ISGRI_PI / energy-reconstruction step), except
the catalogue grid, which is the one shipped with the real OSA 10 products.
"""

from __future__ import annotations

import numpy as np

__all__ = ["osa11_channel_edges", "osa10_channel_edges", "catalogue_band_edges", "rebin_edges"]


def osa11_channel_edges():
    """The 257 edges of the OSA 11 ISGRI 256-channel grid.

    ``E_0 = 12 keV`` and channel ``i`` (0 … 255) is ``ΔE_i = 0.5·(1 + round(0.054·i))`` keV
    wide: 0.5 keV channels at the bottom growing to 7.5 keV at the top. The edges then run
    from 12 to 1022.0 keV, the nominal ~1 MeV range of ISGRI. ``round`` is evaluated as
    round-half-up (``floor(x + 0.5)``) on the exact value ``54·i/1000``; the only exact half
    is ``i = 250`` (13.5), where half-up and Python's half-to-even both give 14.

    Returns
    -------
    numpy.ndarray
        257 increasing edges [keV], all multiples of 0.5 keV.
    """
    i = np.arange(256)
    # Work in integer half-keV units so that the edges are exact multiples of 0.5 keV.
    widths_half_kev = 1 + np.floor(54 * i / 1000.0 + 0.5).astype(np.int64)
    return (24 + np.concatenate([[0], np.cumsum(widths_half_kev)])) * 0.5


def osa10_channel_edges():
    """The 63 edges of a 62-channel grid standing for OSA 10's ISGRI spectral binning.

    **Approximation.** OSA 10 spectra were commonly extracted on a 62-channel grid, but its
    exact bounds are not in the sources available to us. We build a documented stand-in:
    logarithmic edges from 13 keV (the bottom of OSA's response grid) to 1000 keV, each
    rounded to the 0.5 keV step of the ISGRI energy reconstruction (ratio ≈ 1.072 per channel,
    i.e. channels about one FWHM of the resolution wide at ~100 keV). Replace it by the real
    ``ISGR-EBDS-MOD`` bounds if an OSA 10 response file becomes available.

    Returns
    -------
    numpy.ndarray
        63 increasing edges [keV], multiples of 0.5 keV, from 13 to 1000 keV.
    """
    raw = np.geomspace(13.0, 1000.0, 63)
    edges = np.round(raw * 2.0) / 2.0
    # Rounding can merge neighbouring low edges; enforce at least 0.5 keV per channel.
    for k in range(1, edges.size):
        edges[k] = max(edges[k], edges[k - 1] + 0.5)
    return edges


def catalogue_band_edges():
    """The 15 edges of the 14-band grid of the real OSA 10 catalogue spectra.

    As in ``ISGR-EBDS-MOD`` of the NGC 2110 (Ursini et al. 2019) response shipped in
    ``shared/reference-data``: 17.31–300.22 keV, rounded to 0.01 keV.

    Returns
    -------
    numpy.ndarray
    """
    return np.array([17.31, 19.70, 22.10, 24.49, 27.36, 31.19, 35.98, 42.68, 52.73, 69.01,
                     100.12, 119.75, 149.91, 199.69, 300.22])


def rebin_edges(edges, factor=None, min_width=None):
    """Merge adjacent channels.

    Parameters
    ----------
    edges : array_like
        Increasing channel edges.
    factor : int, optional
        Merge every ``factor`` channels; a short last group is merged into the previous
        group so that no channel is narrower than the others.
    min_width : float, optional
        Merge channels from the bottom up until each merged channel is at least this wide
        [keV]; a short last group is merged into the previous one.

    Returns
    -------
    numpy.ndarray
        The kept edges (always including the first and the last).

    Raises
    ------
    ValueError
        If neither or both of ``factor`` and ``min_width`` are given, or they are not
        positive.
    """
    e = np.asarray(edges, dtype=float)
    if (factor is None) == (min_width is None):
        raise ValueError("give exactly one of factor or min_width")
    n = e.size - 1
    if factor is not None:
        factor = int(factor)
        if factor < 1:
            raise ValueError("factor must be >= 1")
        keep = list(range(0, n + 1, factor))
        if keep[-1] != n:
            if len(keep) > 1 and n - keep[-1] < factor:
                keep[-1] = n
            else:
                keep.append(n)
        return e[keep]
    if min_width <= 0:
        raise ValueError("min_width must be > 0")
    keep = [0]
    for k in range(1, n + 1):
        if e[k] - e[keep[-1]] >= min_width:
            keep.append(k)
    if keep[-1] != n:
        if len(keep) > 1:
            keep[-1] = n
        else:
            keep.append(n)
    return e[keep]
