"""Data containers shared by the imaging steps (decode → mosaic → detect).

They hold plain numpy arrays plus JSON-able metadata so that the product store can keep
them as ``.npz`` + JSON (never pickles) and rebuild them exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

__all__ = ["SkyImages", "IMAGE_KINDS"]

#: The four image planes every ScW image and mosaic carries, in OSA's order.
IMAGE_KINDS = ("intensity", "variance", "significance", "exposure")


@dataclass
class SkyImages:
    """Intensity / variance / significance / exposure on one celestial TAN grid.

    ``intensity`` is in OSA units (count rate of the whole detector as if the source were
    fully coded on axis, cts/s), ``variance`` in (cts/s)², ``significance`` = intensity /
    sqrt(variance) (NaN where not covered), ``exposure`` in seconds of effective on-axis
    time. ``meta`` is JSON-able (ScW id(s), band, times, IROS-removed sources, ...).
    """

    intensity: np.ndarray
    variance: np.ndarray
    significance: np.ndarray
    exposure: np.ndarray
    wcs: WCS
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.intensity.shape

    # -- store round trip (numpy + JSON, no pickle) ----------------------------------------
    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {k: np.asarray(getattr(self, k), dtype=np.float32) for k in IMAGE_KINDS}
        meta = dict(self.meta, wcs_header=self.wcs.to_header(relax=True).tostring(sep="\n"))
        json.dumps(meta)  # fail early on non-JSON-able metadata
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict, meta: dict) -> "SkyImages":
        meta = dict(meta)
        header = fits.Header.fromstring(meta.pop("wcs_header"), sep="\n")
        return cls(*(np.asarray(arrays[k]) for k in IMAGE_KINDS), wcs=WCS(header), meta=meta)
