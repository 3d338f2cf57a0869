"""JEM-X per-ScW images on the simulated archive: blank field statistics, Crab detection."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.archive.store import get_archive
from core.instruments.jemx import decode as jdec
from core.instruments.jemx.scw_image import decode_jemx
from core.instruments.jemx.catalog import ODA_COLUMNS, SRCL_COLUMNS, catalog_to_oda_json, detect_sources
from core.instruments.jemx.files import read_jemx
from core.sky.catalog import sky_model

#: No sky-model source within 12° of its pointing (JEM-X sees nothing beyond 9.5°).
BLANK_SCW = "026600190010"
#: The Crab 1.0° and 2.4° off axis.
CRAB_SCWS = ("003900190010", "003900140010")


def _sep_arcmin(ra1, dec1, ra2, dec2):
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    c = math.sin(d1) * math.sin(d2) + math.cos(d1) * math.cos(d2) * math.cos(r1 - r2)
    return math.degrees(math.acos(min(1.0, max(-1.0, c)))) * 60.0


@pytest.mark.parametrize("unit", [1, 2])
def test_blank_field_significance_is_standard_normal_without_rescaling(unit):
    arch = get_archive()
    row = arch.row(BLANK_SCW)
    dist = np.degrees(np.arccos(np.clip(
        np.sin(np.radians(row["dec_scx"])) * np.sin(np.radians(sky_model().dec))
        + np.cos(np.radians(row["dec_scx"])) * np.cos(np.radians(sky_model().dec))
        * np.cos(np.radians(sky_model().ra - row["ra_scx"])), -1, 1)))
    assert dist.min() > 12.0
    scw = read_jemx(arch, BLANK_SCW, unit)
    for e1, e2 in ((3.0, 20.0), (10.0, 35.0)):
        img = decode_jemx(scw, e1, e2, iros=True)
        sig = img.significance[np.isfinite(img.significance)]
        assert sig.size > 80000
        assert abs(float(sig.mean())) < 0.05
        assert abs(float(sig.std()) - 1.0) < 0.05
        assert img.meta["iros_sources"] == []  # nothing above 6σ
        assert len(detect_sources(img, threshold=7.0, unit=unit)) == 0


@pytest.mark.parametrize("unit", [1, 2])
@pytest.mark.parametrize("scw_id", CRAB_SCWS)
def test_crab_found_without_a_catalogue_within_r90(unit, scw_id):
    crab = sky_model()["Crab"]
    scw = read_jemx(get_archive(), scw_id, unit)
    img = decode_jemx(scw, 3.0, 20.0, iros=True)  # no catalogue: IROS finds it as a new source
    cat = detect_sources(img, threshold=7.0, catalog=sky_model(), unit=unit)
    assert tuple(cat.colnames) == SRCL_COLUMNS
    assert cat.meta["EXTNAME"] == f"JMX{unit}-SRCL-RES"
    top = cat[0]
    assert top["NAME"] == "Crab" and top["DETSIG"] > 150
    sep = _sep_arcmin(top["RA_OBJ"], top["DEC_OBJ"], crab.ra, crab.dec)
    assert sep < top["ERR_RAD"] * 60.0
    # The peak of the cleaned image is at the source, with the sky model's rate (on-axis units).
    sig = img.significance
    iz, iy = np.unravel_index(np.nanargmax(sig), sig.shape)
    ra, dec = (float(v) for v in img.wcs.pixel_to_world_values(iy, iz))
    assert _sep_arcmin(ra, dec, crab.ra, crab.dec) < 2.5 * jdec.PIXEL_DEG * 60
    # Away from the source the cleaned image is noise: no sidelobes left.
    far = np.isfinite(sig)
    far[iz - 8:iz + 9, iy - 8:iy + 9] = False
    assert abs(float(np.nanmean(sig[far]))) < 0.1 and float(np.nanstd(sig[far])) < 1.1
    oda = catalog_to_oda_json(cat)
    assert oda["cat_column_names"] == list(ODA_COLUMNS)
    assert json.loads(json.dumps(oda))["cat_column_list"][1][0] == "Crab"


def test_images_are_tan_frames_about_the_pointing_and_iros_flux_is_the_model_rate():
    from core.instruments.jemx.simulate import source_rate_per_mcrab

    crab = sky_model()["Crab"]
    scw = read_jemx(get_archive(), CRAB_SCWS[0], 1)
    img = decode_jemx(scw, 3.0, 20.0, catalog=[("Crab", crab.ra, crab.dec)])
    ra, dec = (float(v) for v in img.wcs.pixel_to_world_values(jdec.LAG_CENTRE[1], jdec.LAG_CENTRE[0]))
    assert _sep_arcmin(ra, dec, scw.header["RA_SCX"], scw.header["DEC_SCX"]) < 1e-6
    assert img.shape == jdec.LAG_SHAPE
    assert abs(jdec.PIXEL_DEG * 60 - 2.022) < 1e-3
    src = img.meta["iros_sources"][0]
    lo, hi = jdec.pi_range(3.0, 20.0)
    model = source_rate_per_mcrab(crab)[lo:hi].sum() * float(crab.flux_mcrab_at(scw.header["TSTART"]))
    assert src["flux"] == pytest.approx(model, abs=4 * src["flux_err"] + 0.005 * model)
    # On-axis exposure: live time × the mean efficiency of the sensitive pixels (dead strips, gain).
    from core.instruments.jemx.detector import active_fraction

    w = jdec.good_weights(scw)
    expected = scw.livetime * w.sum() / np.count_nonzero(active_fraction() > 0)
    assert np.nanmax(img.exposure) == pytest.approx(expected, rel=0.01)
    assert np.nanmax(img.exposure) < scw.livetime


def test_psf_width_matches_the_r90_constant_and_the_three_arcmin_resolution():
    from core.instruments.jemx.catalog import R90_STAT_ARCMIN, error_radius_deg

    s = jdec.psf_sigma_pix()
    assert s == pytest.approx(0.88, abs=0.03)             # the σ behind R90_STAT_ARCMIN
    fwhm_arcmin = 2.3548 * s * jdec.PIXEL_DEG * 60
    assert 3.0 < fwhm_arcmin < 5.5                         # "≈ 3′" angular resolution
    assert R90_STAT_ARCMIN == pytest.approx(2.146 * math.sqrt(2) * s * jdec.PIXEL_DEG * 60, rel=0.04)
    assert float(error_radius_deg(10.0)) * 60 == pytest.approx(math.hypot(R90_STAT_ARCMIN / 10, 0.5))


@pytest.mark.xfail(reason="pointing history v2 (real revolution timing, issue 12) moved the Galactic-Centre "
                          "ScWs this test was written for: its field must be re-chosen (issue 13)", strict=False)
@pytest.mark.parametrize("unit", [1, 2])
def test_galactic_centre_sources_located_within_r90_and_no_spurious_detections(unit):
    # GX 5-1 (≈ 1.4 kcts/s on axis) lies 6.2° off axis, outside the imaged field but casting a
    # shadow through the collimator's wings: modelled in detector space, it leaves no residual.
    m = sky_model()
    scw = read_jemx(get_archive(), "006100870010", unit)
    h = scw.header
    field = [(s.name, s.ra, s.dec) for s in m.within(h["RA_SCX"], h["DEC_SCX"], 9.5)]
    img = decode_jemx(scw, 3.0, 20.0, catalog=field, refine_catalog=True)
    fitted = {s["name"]: s for s in img.meta["iros_sources"]}
    assert fitted["GX 5-1"]["snr"] > 20
    cat = detect_sources(img, threshold=7.0, catalog=m, unit=unit)
    names = list(cat["NAME"])
    assert names[0] == "GX 3+1" and "IGR J17464-3213" in names
    assert not [n for n in names if n.startswith("NEW_")]
    for row in cat:
        src = m[row["NAME"]]
        assert _sep_arcmin(row["RA_OBJ"], row["DEC_OBJ"], src.ra, src.dec) < row["ERR_RAD"] * 60.0
    resid = img.significance.copy()
    for s in img.meta["iros_sources"]:
        iz, iy = int(round(s["iz"])), int(round(s["iy"]))
        resid[max(iz - 8, 0):iz + 9, max(iy - 8, 0):iy + 9] = np.nan
    assert abs(float(np.nanmean(resid))) < 0.05 and abs(float(np.nanstd(resid)) - 1.0) < 0.06
