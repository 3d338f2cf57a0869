"""SPI-ACS parameter descriptions (ranges and defaults of ``/api/meta-data``, ``/api/v1/instruments``)."""

from __future__ import annotations

from ...query import ACS_SPECTRA
from .instrument import SPI_ACS

__all__ = ["spi_acs_specs"]


def spi_acs_specs(specs: dict) -> dict:
    """The generic parameter specs, with SPI-ACS's own limits, defaults and extra fields."""
    b = SPI_ACS.time_binning
    lo, hi = SPI_ACS.energy_range_keV
    e1, e2 = SPI_ACS.default_band_keV
    out = dict(specs)
    out["time_bin"] = dict(type="number", unit="s", default=b.default, minimum=b.lo, maximum=b.hi, multipleOf=b.step,
                           description=f"bin width, a multiple of {b.step:g} s (0: the default {b.default:g} s)")
    out["E1_keV"] = dict(type="number", unit="keV", default=e1, minimum=lo, maximum=hi,
                         description="lower edge of the band fluences are given in (the shield sees > ~80 keV)")
    out["E2_keV"] = dict(type="number", unit="keV", default=e2, minimum=lo, maximum=hi,
                         description="upper edge of the fluence band")
    out["detection_threshold"] = dict(type="number", unit="sigma", default=SPI_ACS.default_threshold, minimum=3.0,
                                      maximum=100.0, description="S/N of an excess that counts as a detection")
    out["RA"] = dict(specs["RA"], description="optional: source direction for the response (default: sky average)")
    out["DEC"] = dict(specs["DEC"], description="optional: source declination")
    out["T2"] = dict(specs["T2"], description=f"end time; {SPI_ACS.min_span_s:g} s ≤ T2 − T1 ≤ {SPI_ACS.max_span_s:g} s")
    out["acs_spectrum"] = dict(type="string", default="short_grb", enum=list(ACS_SPECTRA),
                               description="spectrum of the fluence and its upper limit: short_grb (cut-off power law "
                                           "α −0.5, Ep 500 keV), long_grb (Band α −1, β −2.3, Ep 230 keV), magnetar "
                                           "(blackbody 30 keV), solar_flare (power law index 3)")
    out["T0"] = dict(type="string", description="instead of T1/T2: trigger time, in T_format")
    out["window"] = dict(type="number", unit="s", default=300.0, exclusiveMinimum=0.0, maximum=43200.0,
                         description="with T0: T1 = T0 − window, T2 = T0 + window")
    for k in ("radius", "max_pointings", "min_good_time", "scw_list", "selected_catalog",
              "channel_grid", "rebin", "spectral_model"):
        out.pop(k, None)
    return out
