"""ISGRI as the registry knows it: ODA products ``isgri_image``, ``isgri_spectrum``,
``isgri_lc`` and ``spectral_fit``; limits of the ODA INTEGRAL plugin (E 15–1000 keV,
default 20–40 keV, radius 15°)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base import FitsNaming, Instrument, register

__all__ = ["ISGRI", "IsgriInstrument", "NAMING"]

NAMING = FitsNaming(instrume="IBIS", detnam="ISGRI", label="ISGRI", extnames={
    "mosaic": "ISGR-MOSA-IMA", "catalog": "ISGR-SRCL-RES", "spectrum": "SPECTRUM", "arf": "SPECRESP",
    "rmf": "SPECRESP MATRIX", "ebounds": "EBOUNDS", "lc": "ISGR-SRC.-LCR"})


@dataclass(frozen=True)
class IsgriInstrument(Instrument):
    def fits_naming(self, query=None) -> FitsNaming:
        return NAMING

    def product_version(self, product_type: str) -> str:
        # The versions live with the code that computes the numbers.
        if product_type == "image":
            from ...imaging.pipeline import IMAGING_VERSION

            return IMAGING_VERSION
        if product_type not in self.products.values():
            raise KeyError(f"isgri has no {product_type} product")
        from ...spectral.products import SPECTRAL_VERSION

        return SPECTRAL_VERSION

    def data_tag(self, archive=None) -> str:
        from ...archive.store import get_archive

        return (archive or get_archive()).tag

    def make(self, query, *, progress=None, cancel=None, workers=None, archive=None, store=None):
        if query.product_type == "image":
            from ...imaging.pipeline import image_result, make_image

            return image_result(make_image(query, progress=progress, cancel=cancel, workers=workers,
                                           archive=archive, store=store))
        from ...products.maker import make_product
        from ...spectral.products import build_product

        return make_product(self, query, build_product, progress=progress, cancel=cancel, workers=workers,
                            archive=archive, store=store)

    def load(self, pid, query, *, store=None):
        if query.product_type == "image":
            from ...imaging.pipeline import image_result, load_image_result
            from ...products.store import get_store

            res = load_image_result(store or get_store(), pid, query)
            return None if res is None else image_result(res)
        return super().load(pid, query, store=store)

    def png(self, result, name=None):
        if result.product_type == "image":
            from ...imaging.pipeline import image_png

            return image_png(result.data)
        from ...spectral.products import product_png

        return product_png(result, name)

    def oda_catalog(self, table) -> dict:
        from ...imaging.detect import catalog_to_oda_json

        return catalog_to_oda_json(table)

    def channel_edges(self, query) -> np.ndarray:
        from ...spectral.products import channel_edges

        return channel_edges(query.channel_grid, query.rebin)

    def error_radius_deg(self, snr) -> np.ndarray:
        from ...imaging.detect import error_radius_deg

        return error_radius_deg(snr)

    def mosaic_plan(self, query, *, archive=None):
        from ...imaging.pipeline import mosaic_plan

        return mosaic_plan(query, archive=archive)


ISGRI = register(IsgriInstrument(
    name="isgri", label="IBIS/ISGRI",
    products={"isgri_image": "image", "isgri_spectrum": "spectrum", "isgri_lc": "lc", "spectral_fit": "spectral_fit"},
    energy_range_keV=(15.0, 1000.0), default_band_keV=(20.0, 40.0), spectral_band_keV=(20.0, 300.0),
    channel_grids=("osa11", "osa10", "catalogue"), default_threshold=7.0, default_radius_deg=15.0,
    oda_names={"image": "mosaic_image", "spectrum": "isgri_spectrum", "arf": "isgri_arf", "rmf": "isgri_rmf",
               "lc": "isgri_lc"},
))
