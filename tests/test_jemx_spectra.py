"""JEM-X spectra and light curves recover the sky model: the Crab's 5–20 keV flux and index
with each unit (ODA benchmark: F(5–20 keV) = 1.685e-8 erg/cm²/s), V404 Cyg's June 2015 flares."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from core.archive.store import get_archive
from core.fitting.fit import energy_flux_erg, fit_spectrum
from core.fitting.ogip import read_spectrum
from core.instruments.jemx import extract as jx
from core.instruments.jemx.decode import pi_range
from core.instruments.jemx.files import read_jemx
from core.instruments.jemx.simulate import MAX_OFFAXIS_DEG, source_rate_per_mcrab
from core.sky.catalog import sky_model

CRAB_SCWS = ("003900190010", "003900140010", "003900440010", "003900240010")
#: V404 Cyg on axis on 2015-06-21/22 (rev 1555/1556, pointing history v2): flares from
#: ≈ 0.6 to 22 Crab within the ScWs.
V404_SCWS = ("155500660010", "155600070010", "155600140010")
CRAB_F_5_20 = 1.685e-8


def _field(scw):
    h = scw.header
    return [(s.name, s.ra, s.dec) for s in sky_model().within(h["RA_SCX"], h["DEC_SCX"], MAX_OFFAXIS_DEG)]


@pytest.mark.parametrize("unit", [1, 2])
def test_crab_stacked_spectrum_fits_the_benchmark_flux_and_the_model_index(unit, tmp_path):
    arch = get_archive()
    fluxes = [jx.extract_spectrum(scw, _field(scw)) for scw in (read_jemx(arch, s, unit) for s in CRAB_SCWS)]
    rate, err, expo = jx.stack_spectra(fluxes, "Crab")
    files = jx.write_spectrum(tmp_path, "Crab", unit, rate, err, expo)
    names = {p: [h.name for h in fits.open(files[p])][1:] for p in files}
    assert names["pha"] == [f"JMX{unit}-PHA1-SPE"]
    assert names["arf"] == [f"JMX{unit}-AXIS-ARF"]
    assert names["rmf"] == [f"JMX{unit}-RMF.-RSP", f"JMX{unit}-FBDS-MOD"]
    spec = read_spectrum(files["pha"])          # finds its ARF/RMF through RESPFILE/ANCRFILE
    res = fit_spectrum(spec, "powerlaw", pivot=10.0)
    flux = energy_flux_erg(res, 5.0, 20.0)
    assert flux == pytest.approx(CRAB_F_5_20, rel=0.05)
    gamma = res["gamma"]
    model_gamma = sky_model()["Crab"].shape.gamma
    assert abs(gamma.value - model_gamma) <= gamma.error + 0.02 * model_gamma
    assert res.stat_per_dof < 3.0


def test_v404_cyg_3_13_kev_light_curve_follows_the_model_flares(tmp_path):
    arch = get_archive()
    v404 = sky_model()["V404 Cyg"]
    lo, hi = pi_range(3.0, 13.0)
    per_mcrab = float(source_rate_per_mcrab(v404)[lo:hi].sum())
    t_all, r_all, e_all, m_all, b_all, be_all = [], [], [], [], [], []
    for sid in V404_SCWS:
        scw = read_jemx(arch, sid, 1)
        edges = np.arange(scw.gti[0, 0], scw.gti[-1, 1] + 1e-9, 300.0 / 86400.0)
        f, index = jx.extract_lightcurve(scw, _field(scw), 3.0, 13.0, edges)
        j = f.names.index("V404 Cyg")
        full = f.ontime > 299.0
        t_lo, t_hi = edges[index][full], edges[index + 1][full]
        sub = t_lo[:, None] + (t_hi - t_lo)[:, None] * ((np.arange(15) + 0.5) / 15)[None]
        m_all.append(per_mcrab * v404.flux_mcrab_at(sub).mean(axis=1))
        t_all.append(0.5 * (t_lo + t_hi))
        r_all.append(f.rate[full, j])
        e_all.append(f.rate_err[full, j])
        b_all.append(f.bkg_rate[full])
        be_all.append(f.bkg_err[full])
    t, r, e, m = (np.concatenate(x) for x in (t_all, r_all, e_all, m_all))
    assert t.size >= 15
    assert m.max() > 10 * m.min()                    # flares of an order of magnitude
    pulls = (r - m) / e
    assert abs(float(np.mean(pulls))) < 0.5 and float(np.std(pulls)) < 1.6
    assert np.corrcoef(r, m)[0, 1] > 0.99
    assert int(np.argmax(r)) == int(np.argmax(m))
    path = jx.write_lightcurve(tmp_path / "lc_V404_Cyg.fits", "V404 Cyg", 1, t, 300.0, r, e,
                               np.concatenate(b_all), np.concatenate(be_all), e1=3.0, e2=13.0)
    with fits.open(path) as hdul:
        lc = hdul["JMX1-SRC.-LCR"]
        assert [c for c in ("TIME", "RATE", "ERROR", "BRATE", "BERROR") if c in lc.columns.names] == \
            ["TIME", "RATE", "ERROR", "BRATE", "BERROR"]
        assert np.allclose(lc.data["RATE"], r, rtol=1e-6) and lc.header["MJDREF"] == 51544.0
        assert np.all(lc.data["BRATE"] > 0)
