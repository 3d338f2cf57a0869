"""ISGRI sky images of one ScW: a shadowgram decoded (:mod:`.decode`), its sources fitted
and removed in detector space (:mod:`.iros`), the result as :class:`~.types.SkyImages`.

Kept apart from :mod:`.decode` so that IROS (which uses the decoder) and the decoder do not
import each other.
"""

from __future__ import annotations

import math

import numpy as np

from .decode import N_IDEAL, Decoder, fit_background, scw_attitude, scw_wcs
from .iros import run_iros
from .shadowgram import Shadowgram, background_model, shadowgram
from .types import SkyImages

__all__ = ["decode_scw", "decode_shadowgram", "finish_images"]


def finish_images(decoder: Decoder, intensity: np.ndarray, variance: np.ndarray):
    valid = decoder.wt.valid
    inten = np.where(valid, intensity, np.nan)
    var = np.where(valid, variance, np.nan)
    # Lags whose detector pixels got no counts at all (no background) have V ≈ 0 up to
    # FFT round-off: no significance there.
    vmax = float(np.nanmax(var)) if valid.any() else 0.0
    floor = 1e-12 * vmax if np.isfinite(vmax) else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        sig = np.where(valid & (var > floor), inten / np.sqrt(var), np.nan)
    expo = np.where(valid, decoder.shd.livetime * decoder.wt.exposure_frac, 0.0)
    return inten, var, sig, expo


def decode_shadowgram(shd: Shadowgram, header, *, scw_id: str = "", catalog=None, iros: bool = True,
                      iros_threshold: float = 6.0, max_sources: int = 20) -> SkyImages:
    """Decode an existing shadowgram (see :func:`decode_scw`)."""
    dec = Decoder(shd)
    templates = background_model(shd.revolution, shd.e1, shd.e2)
    removed: list[dict] = []
    extra = {}
    if iros:
        res = run_iros(dec, scw_attitude(header), templates, catalog=catalog,
                       threshold=iros_threshold, max_sources=max_sources)
        intensity, variance = res.intensity, res.variance
        removed = res.sources
        extra["background_coefficients"] = [float(c) for c in res.background_coefficients]
    else:
        bkg_model, coef = fit_background(shd, templates)
        intensity, variance = dec.decode(shd.counts - bkg_model)
        extra["background_coefficients"] = [float(c) for c in coef]
    inten, var, sig, expo = finish_images(dec, intensity, variance)
    meta = {
        "scw_id": str(scw_id),
        "e1": float(shd.e1),
        "e2": float(shd.e2),
        "tstart": float(header.get("TSTART", math.nan)),
        "tstop": float(header.get("TSTOP", math.nan)),
        "livetime": float(shd.livetime),
        "revolution": int(shd.revolution),
        "n_events": int(shd.n_events),
        "iros_sources": removed,
        "unit": "count/s",
        "n_ideal": float(N_IDEAL),
        **extra,
    }
    return SkyImages(intensity=inten, variance=var, significance=sig, exposure=expo,
                     wcs=scw_wcs(header), meta=meta)


def decode_scw(scw, e1_keV: float, e2_keV: float, *, catalog=None, iros: bool = True,
               iros_threshold: float = 6.0, max_sources: int = 20) -> SkyImages:
    """Decode one science window in one energy band.

    Parameters
    ----------
    scw : core.archive.osa_files.ScwData
    e1_keV, e2_keV : float
        Measured-energy band, keV.
    catalog : iterable of (name, ra, dec), optional
        Known sources; those in the field are fitted and removed first by IROS.
    iros : bool
        Run IROS (source fitting, removal and clean re-decoding, see
        :mod:`core.imaging.iros`); otherwise only the background is fitted and subtracted.
    iros_threshold : float
        Significance above which a residual peak becomes a new IROS source.
    max_sources : int
        Maximum number of sources IROS removes.

    Returns
    -------
    SkyImages
        On `scw_wcs` (``LAG_SHAPE`` = 365 × 361 pixels of 5.04′). Intensity in OSA
        cts/s; NaN (exposure 0) where the coding fraction < `MIN_CODING`. ``meta``:
        scw_id, e1, e2, tstart, tstop, livetime, revolution, n_events, iros_sources
        (list of dicts name, ra, dec, flux, flux_err, snr, ...), background_coefficients.
    """
    shd = shadowgram(scw, e1_keV, e2_keV)
    return decode_shadowgram(shd, scw.header, scw_id=scw.scw_id, catalog=catalog, iros=iros,
                             iros_threshold=iros_threshold, max_sources=max_sources)
