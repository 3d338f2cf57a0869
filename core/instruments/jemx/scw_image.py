"""JEM-X sky images of one ScW: a shadowgram decoded (:mod:`.decode`), its sources fitted
and removed in detector space (:mod:`.iros`), the result as
:class:`~core.imaging.types.SkyImages`. Apart from :mod:`.decode` so that IROS (which uses
the decoder) and the decoder do not import each other.
"""

from __future__ import annotations

import math

from ...imaging.decode import scw_attitude
# One pixel-map finish for both coded-mask imagers: the decoders share the weight-term layout.
from ...imaging.scw_image import finish_images
from ...imaging.types import SkyImages
from .decode import (N_IDEAL, Decoder, JemxShadowgram, background_templates, fit_background, psf_sigma_pix,
                     scw_wcs, shadowgram)
from .iros import run_iros

__all__ = ["decode_jemx", "decode_shadowgram", "finish_images"]


def decode_shadowgram(shd: JemxShadowgram, header, *, scw_id: str = "", catalog=None, iros: bool = True,
                      iros_threshold: float = 6.0, max_sources: int = 10, refine_catalog: bool = False) -> SkyImages:
    """Decode a shadowgram (see :func:`decode_jemx`)."""
    dec = Decoder(shd)
    templates = background_templates(shd.unit, shd.revolution)
    extra: dict = {}
    removed: list = []
    if iros:
        res = run_iros(dec, scw_attitude(header), templates, catalog=catalog, threshold=iros_threshold,
                       max_sources=max_sources, refine_catalog=refine_catalog)
        intensity, variance, removed = res.intensity, res.variance, res.sources
        extra["background_coefficients"] = [float(c) for c in res.background_coefficients]
    else:
        model, coef = fit_background(shd, templates)
        intensity, variance = dec.decode(shd.counts - model)
        extra["background_coefficients"] = [float(c) for c in coef]
    inten, var, sig, expo = finish_images(dec, intensity, variance)
    meta = {
        "instrument": f"jemx{shd.unit}", "jemx_num": int(shd.unit), "scw_id": str(scw_id),
        "e1": float(shd.e1), "e2": float(shd.e2), "tstart": float(header.get("TSTART", math.nan)),
        "tstop": float(header.get("TSTOP", math.nan)), "livetime": float(shd.livetime),
        "revolution": int(shd.revolution), "n_events": int(shd.n_events), "iros_sources": removed,
        "unit": "count/s", "n_ideal": float(N_IDEAL), "psf_sigma_pix": psf_sigma_pix(), **extra,
    }
    return SkyImages(intensity=inten, variance=var, significance=sig, exposure=expo, wcs=scw_wcs(header), meta=meta)


def decode_jemx(scw, e1_keV: float = 3.0, e2_keV: float = 20.0, *, catalog=None, iros: bool = True,
                iros_threshold: float = 6.0, max_sources: int = 10, refine_catalog: bool = False) -> SkyImages:
    """Sky images of one JEM-X ScW (:class:`.files.JemxScw`) in a band (keV, PI grid).

    Returns :class:`core.imaging.types.SkyImages` on :func:`scw_wcs` (417×417 pixels of
    2.02′): intensity in on-axis cts/s, variance, significance, exposure; ``meta`` with the
    IROS sources (name, ra, dec, flux, flux_err, snr, catalog, ...). With ``refine_catalog``
    IROS fits the positions of the catalogue sources in the field too.
    """
    shd = shadowgram(scw, e1_keV, e2_keV)
    return decode_shadowgram(shd, scw.header, scw_id=scw.scw_id, catalog=catalog, iros=iros,
                             iros_threshold=iros_threshold, max_sources=max_sources, refine_catalog=refine_catalog)
