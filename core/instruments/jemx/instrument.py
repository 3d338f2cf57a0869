"""JEM-X 1 and 2 as the registry knows them: ODA products ``jemx_image``, ``jemx_spectrum``,
``jemx_lc`` and ``spectral_fit`` (the ODA INTEGRAL plugin's: ``jemx_num`` 1 or 2, default 2;
E 3–35 keV, default the parameter table's 3–35 keV; radius 4°), made by :mod:`.products`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base import FitsNaming, Instrument, register

__all__ = ["JEMX", "JemxInstrument", "naming", "JEMX_DEADC"]

#: Live fraction of JEM-X in the simulated archive (:data:`.simulate.DEADC`, kept equal in tests).
JEMX_DEADC = 0.92
#: Version of the JEM-X products (images, spectra, light curves, fits): part of their ids.
PRODUCT_VERSION = "jemx-4"


def naming(unit: int) -> FitsNaming:
    """FITS identity of JEM-X unit ``unit`` (OSA's ``JMXn-...`` extension names)."""
    u = int(unit)
    return FitsNaming(instrume=f"JMX{u}", detnam=f"JMX{u}", label=f"JEM-X{u}",
                      imatypes=("RECONSTRUCTED", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"), extnames={
                          "mosaic": f"JMX{u}-MOSA-IMA", "catalog": f"JMX{u}-SRCL-RES", "spectrum": f"JMX{u}-PHA1-SPE",
                          "arf": f"JMX{u}-AXIS-ARF", "rmf": f"JMX{u}-RMF.-RSP", "ebounds": f"JMX{u}-FBDS-MOD",
                          "lc": f"JMX{u}-SRC.-LCR", "gti": f"JMX{u}-GNRL-GTI"})


@dataclass(frozen=True)
class JemxInstrument(Instrument):
    def fits_naming(self, query=None) -> FitsNaming:
        return naming(getattr(query, "jemx_num", 2) if query is not None else 2)

    def product_version(self, product_type: str) -> str:
        if product_type not in self.products.values():
            raise KeyError(f"jemx has no {product_type} product")
        return PRODUCT_VERSION

    def data_tag(self, archive=None) -> str:
        from ...archive.store import get_archive
        from ...sky.catalog import sky_model
        from .files import model_version

        archive = archive or get_archive()
        return f"{archive.tag}|{model_version(sky_model().version)}" if archive.simulated else archive.tag

    def make(self, query, *, progress=None, cancel=None, workers=None, archive=None, store=None):
        from ...products.maker import make_product
        from .products import build_product

        return make_product(self, query, build_product, progress=progress, cancel=cancel, workers=workers,
                            archive=archive, store=store)

    def load(self, pid, query, *, store=None):
        if query.product_type == "image":
            from ...products.store import get_store
            from .products import load_image

            return load_image(pid, query, store=store or get_store())
        return super().load(pid, query, store=store)

    def png(self, result, name=None):
        from .products import product_png

        return product_png(result, name)

    def good_time_s(self, rows) -> np.ndarray:
        """JEM-X good time: the ScW's GTI (its elapsed time less the telemetry gap) × JEM-X's
        live fraction (the JMXn-GNRL-GTI and DEADC of the simulated files)."""
        telapse = (np.asarray(rows["tstop"], float) - np.asarray(rows["tstart"], float)) * 86400.0
        return (telapse - np.clip(np.asarray(rows["gap_len"], float), 0.0, None)) * JEMX_DEADC

    def oda_catalog(self, table) -> dict:
        """``OsaJemxCatalog`` columns: no NEW_SOURCE or ISGRI_FLAG."""
        from .catalog import catalog_to_oda_json

        return catalog_to_oda_json(table)

    def channel_edges(self, query=None) -> np.ndarray:
        """The 16 JEM-X spectral channels over 3–35 keV (``channel_grid``/``rebin`` do not apply)."""
        from .response import spectral_channel_edges

        return np.asarray(spectral_channel_edges(), float)

    def error_radius_deg(self, snr) -> np.ndarray:
        from .catalog import error_radius_deg

        return error_radius_deg(snr)

    def mosaic_plan(self, query, *, archive=None):
        from .products import mosaic_plan

        return mosaic_plan(query, archive=archive)


JEMX = register(JemxInstrument(
    name="jemx", label="JEM-X",
    products={"jemx_image": "image", "jemx_spectrum": "spectrum", "jemx_lc": "lc", "spectral_fit": "spectral_fit"},
    energy_range_keV=(3.0, 35.0), default_band_keV=(3.0, 35.0), spectral_band_keV=(3.0, 35.0),
    default_threshold=7.0, default_radius_deg=4.0, flux_bands_keV=((5.0, 20.0), (3.0, 20.0), (3.0, 35.0)),
    oda_names={"image": "mosaic_image", "spectrum": "jemx_spectrum", "arf": "jemx_arf", "rmf": "jemx_rmf",
               "lc": "jemx_lc"},
))
