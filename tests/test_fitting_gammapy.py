"""gammapy reads the PHA, ARF and RMF our writers produce and fits what we fit.

requirements.txt pins regions < 0.12, whose private helper gammapy 2.1 imports.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.fitting.fit import fit_spectrum
from core.fitting.ogip import read_spectrum, write_arf, write_pha, write_rmf
from tests._shared import shared_path

NGC = ("reference-data", "NGC2110_ursini_spectrum_osa10.fits")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The NGC 2110 spectrum and response written back out with our writers."""
    s = read_spectrum(shared_path(*NGC))
    d = tmp_path_factory.mktemp("ngc2110")
    write_arf(d / "arf.fits", s.arf.energ_lo, s.arf.energ_hi, s.arf.specresp)
    write_rmf(d / "rmf.fits", s.rmf.energ_lo, s.rmf.energ_hi, s.rmf.matrix, s.rmf.e_min, s.rmf.e_max)
    write_pha(d / "pha.fits", s.channel, s.rate, s.stat_err, s.exposure, respfile="rmf.fits", ancrfile="arf.fits",
              ebounds=(s.rmf.e_min, s.rmf.e_max), header={"OBJECT": "NGC 2110"})
    return s, d


def test_gammapy_fits_same_gamma_on_exported_ngc2110(exported):
    """χ² power-law fit in gammapy (its OGIP readers, its folding, iminuit) vs ours."""
    import astropy.units as u
    from astropy.io import fits
    from gammapy.datasets import SpectrumDataset
    from gammapy.irf import EDispKernel, EDispKernelMap
    from gammapy.maps import RegionNDMap
    from gammapy.modeling import Fit
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
    from gammapy.stats.fit_statistics import FitStatistic

    _, d = exported
    kernel = EDispKernel.read(d / "rmf.fits")
    with fits.open(d / "pha.fits") as h:
        rate = RegionNDMap.from_hdulist(h, format="ogip", ogip_column="RATE")
        err = RegionNDMap.from_hdulist(h, format="ogip", ogip_column="STAT_ERR")
    aeff = RegionNDMap.read(d / "arf.fits", format="ogip-arf")
    exposure = aeff * (1 * u.s)  # npred is then a rate in counts/s, like RATE
    edisp = EDispKernelMap.from_edisp_kernel(kernel, geom=exposure.geom)

    class GaussianChi2(FitStatistic):
        """χ² with the spectrum's STAT_ERR (ISGRI rates are background-subtracted, not Poisson)."""

        @classmethod
        def stat_array_dataset(cls, dataset):
            return ((dataset.counts.data - dataset.npred().data) / err.data) ** 2

    counts = RegionNDMap.from_geom(rate.geom, data=rate.data, unit="")
    ds = SpectrumDataset(counts=counts, exposure=exposure, edisp=edisp, name="ngc2110")
    ds._fit_statistic = GaussianChi2
    e = rate.geom.axes["energy"].center.to_value("keV").reshape(rate.data.shape)
    ds.mask_fit = RegionNDMap.from_geom(rate.geom, data=(e >= 20) & (e <= 300), dtype=bool)
    pl = PowerLawSpectralModel(index=2.0, amplitude="1e-5 cm-2 s-1 keV-1", reference="50 keV")
    ds.models = SkyModel(spectral_model=pl, name="ngc2110")
    res = Fit().run([ds])
    assert res.success

    ours = fit_spectrum(read_spectrum(d / "pha.fits"), "powerlaw", emin=20, emax=300)
    assert pl.index.value == pytest.approx(ours["gamma"].value, abs=0.02)
    assert pl.index.value == pytest.approx(1.81, abs=0.05)
    assert pl.index.error == pytest.approx(ours["gamma"].error, rel=0.1)
    assert ds.stat_sum() == pytest.approx(ours.statistic, abs=0.5)


def test_gammapy_ogip_reader_on_poisson_spectrum(tmp_path):
    """gammapy's own SpectrumDatasetOnOff.read on a COUNTS spectrum from write_pha(poisson=True);
    its Cash fit agrees with ours."""
    from gammapy.datasets import SpectrumDataset, SpectrumDatasetOnOff
    from gammapy.modeling import Fit
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel

    s = read_spectrum(shared_path(*NGC))
    write_arf(tmp_path / "arf.fits", s.arf.energ_lo, s.arf.energ_hi, np.clip(s.arf.specresp, 0, None))
    write_rmf(tmp_path / "rmf.fits", s.rmf.energ_lo, s.rmf.energ_hi, s.rmf.matrix, s.rmf.e_min, s.rmf.e_max)
    exposure = 2.0e4
    counts = np.random.default_rng(11).poisson(s.rate * exposure)
    write_pha(tmp_path / "cts.fits", s.channel, counts / exposure, None, exposure, poisson=True,
              respfile="rmf.fits", ancrfile="arf.fits", ebounds=(s.rmf.e_min, s.rmf.e_max))

    on = SpectrumDatasetOnOff.read(tmp_path / "cts.fits")
    np.testing.assert_array_equal(on.counts.data.ravel(), counts)
    ds = SpectrumDataset(counts=on.counts, exposure=on.exposure, edisp=on.edisp, name="sim")
    e = on.counts.geom.axes["energy"].center.to_value("keV").reshape(on.counts.data.shape)
    ds.mask_fit = on.counts.copy(data=(e >= 20) & (e <= 300))
    pl = PowerLawSpectralModel(index=2.0, amplitude="1e-5 cm-2 s-1 keV-1", reference="50 keV")
    ds.models = SkyModel(spectral_model=pl, name="sim")
    assert Fit().run([ds]).success

    ours = fit_spectrum(read_spectrum(tmp_path / "cts.fits"), "powerlaw", emin=20, emax=300, stat="cash", errors=False)
    assert pl.index.value == pytest.approx(ours["gamma"].value, abs=0.02)
