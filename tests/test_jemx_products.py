"""JEM-X 1 and 2 served end to end: through run_product (the CLI, page and APIs all call it)
and through the real ``oda_api`` client against the real server on loopback.

Validation on the simulated archive (issue 13): the Crab with each unit gives F(5–20 keV)
within 5 % of the ODA benchmark 1.685e-8 erg/cm²/s and Γ within its error + 2 % of the sky
model's; the sources found in the mosaic lie within their r90; product files carry the
JEM-X names; ScW selection uses the JEM-X good time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.io import fits

from core.products.run import load_product, run_product
from core.query import Query
from core.sky.catalog import sky_model

#: Crab ScWs of pointing history v2 (1.0°, 2.4° ... off axis).
CRAB_SCWS = "003900190010,003900140010,003900440010"
CRAB_F_5_20 = 1.685e-8


def _sep_arcmin(ra1, dec1, ra2, dec2):
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    c = math.sin(d1) * math.sin(d2) + math.cos(d1) * math.cos(d2) * math.cos(r1 - r2)
    return math.degrees(math.acos(min(1.0, max(-1.0, c)))) * 60.0


def _q(**kw):
    return Query.from_params(dict(src_name="Crab", scw_list=CRAB_SCWS, instrument="jemx", **kw))


@pytest.mark.parametrize("unit", [1, 2])
def test_crab_image_spectrum_fit_through_run_product(unit):
    crab = sky_model()["Crab"]
    img = run_product(_q(product_type="image", jemx_num=unit, E1_keV=3, E2_keV=20))
    assert len(img.scws) == 3 and {s.status for s in img.scws} <= {"calculated", "restored from cache"}
    top = img.summary["catalog"][0]
    assert top["name"] == "Crab" and top["significance"] > 200
    assert _sep_arcmin(top["ra"], top["dec"], crab.ra, crab.dec) < top["err_rad"] * 60.0
    assert not [r for r in img.summary["catalog"] if r["new"]]  # nothing spurious
    with fits.open(img.files["mosaic.fits"]) as hdul:
        assert [h.name for h in hdul[2:]] == [f"JMX{unit}-MOSA-IMA"] * 4
        assert [h.header["IMATYPE"] for h in hdul[2:]] == ["RECONSTRUCTED", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"]
        assert hdul[0].header["INSTRUME"] == f"JMX{unit}"
    with fits.open(img.files["catalog.fits"]) as hdul:
        assert hdul[1].name == f"JMX{unit}-SRCL-RES"
    again = load_product(img.product_id)
    assert again.from_cache and again.summary["catalog"] == img.summary["catalog"]

    fit = run_product(_q(product_type="spectral_fit", jemx_num=unit, E1_keV=3, E2_keV=35))
    # the spectrum came from the image's catalogue, the per-ScW images were restored
    spec = load_product(fit.summary["spectrum_product_id"])
    with fits.open(spec.files[spec.summary["sources"][0]["pha"]]) as hdul:
        assert hdul[1].name == f"JMX{unit}-PHA1-SPE" and len(hdul[1].data) == 16
    par = {p["name"]: p for p in fit.summary["fit"]["parameters"]}
    gamma = par["gamma"]
    assert abs(gamma["value"] - crab.shape.gamma) <= gamma["error"] + 0.02 * crab.shape.gamma
    flux = fit.summary["fluxes"]["5-20"]["energy_flux_erg_cm2_s"]
    assert flux == pytest.approx(CRAB_F_5_20, rel=0.05)


def test_light_curve_has_the_jemx_layout_and_the_crab_rate():
    from core.instruments.jemx.decode import pi_range
    from core.instruments.jemx.simulate import source_rate_per_mcrab

    crab = sky_model()["Crab"]
    lc = run_product(_q(product_type="lc", jemx_num=1, E1_keV=3, E2_keV=13, time_bin=900,
                        selected_catalog=[("Crab", crab.ra, crab.dec)]))
    src = lc.summary["sources"][0]
    assert src["name"] == "Crab" and src["n"] >= 6
    with fits.open(lc.files[src["file"]]) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "JMX1-GNRL-GTI", "JMX1-SRC.-LCR"]
        d = hdul[2].data
        assert {"TIME", "RATE", "ERROR", "BRATE", "BERROR"} <= set(d.columns.names)
        assert hdul[2].header["MJDREF"] == 51544.0
    lo, hi = pi_range(3.0, 13.0)
    model = float(source_rate_per_mcrab(crab)[lo:hi].sum()) * float(crab.flux_mcrab_at(src["time"][0]))
    rate = np.array(src["rate"])
    assert np.mean(rate) == pytest.approx(model, rel=0.03)
    assert src["chi2_const"] / src["dof"] < 2.0   # the Crab is steady


def test_selection_uses_the_jemx_good_time(tmp_path):
    from core.archive.store import get_archive
    from core.instruments import get_instrument
    from core.instruments.jemx.files import read_jemx

    arch = get_archive()
    sid = CRAB_SCWS.split(",")[0]
    scw = read_jemx(arch, sid, 1)
    good = float(get_instrument("jemx").good_time_s(arch.row(sid)[None])[0])
    assert good == pytest.approx(scw.header["ONTIME"] * scw.header["DEADC"], rel=1e-6)
    isgri = float(get_instrument("isgri").good_time_s(arch.row(sid)[None])[0])
    assert abs(good - isgri) > 1.0  # a different good time...
    # ... that min_good_time is applied to
    q = Query.from_params(src_name="Crab", T1="2003-02-01", T2="2003-02-12", instrument="jemx", radius=4,
                          min_good_time=round(good, 1) + 0.05, max_pointings=200)
    q2 = q.with_(min_good_time=round(good, 1) - 0.05)
    ids = lambda query: {str(s) for s in arch.select(query).ids}  # noqa: E731
    assert sid + ".001" not in ids(q) and sid + ".001" in ids(q2)


def test_simulating_isgri_keeps_the_jemx_files_of_the_scw(fresh_settings):
    from core.archive.store import Archive
    from core.instruments.jemx.files import ensure_jemx, events_file

    arch = Archive(fresh_settings)
    sid = "003900190010"
    path, made = ensure_jemx(arch, sid, 1)
    assert made and path.exists()
    before = path.read_bytes()
    scw_dir, made = arch.ensure(sid)
    assert made
    assert (scw_dir / events_file(1)).read_bytes() == before
    assert (scw_dir / "isgri_events.fits.gz").exists()
    arch.read(sid)


def test_jemx_num_is_validated_and_enters_only_jemx_ids():
    from core.errors import QueryError

    with pytest.raises(QueryError) as e:
        _q(jemx_num=3)
    assert e.value.field == "jemx_num" and "1, 2" in str(e.value.allowed)
    assert _q().jemx_num == 2  # the plugin's default
    assert _q(jemx_num=1).product_id() != _q(jemx_num=2).product_id()
    isgri = Query.from_params(src_name="Crab", scw_list=CRAB_SCWS)
    assert "jemx_num" not in isgri.to_params() and "jemx_num" not in isgri.canonical()
    assert isgri.product_id() == isgri.with_(jemx_num=1).product_id()


@pytest.mark.parametrize("unit", [1, 2])
def test_blank_field_mosaic_is_standard_normal_without_rescaling(unit):
    # 14° from every sky-model source; the mosaic resamples the ScW image onto its own grid,
    # propagating the variance with the measured pixel correlation (no rescaling).
    img = run_product(Query.from_params(scw_list="026600190010", instrument="jemx", jemx_num=unit,
                                        product_type="image", E1_keV=3, E2_keV=20))
    sig = img.data.images.significance
    sig = sig[np.isfinite(sig)]
    assert sig.size > 80000
    assert abs(float(sig.mean())) < 0.05 and abs(float(sig.std()) - 1.0) < 0.05
    assert img.data.images.meta.get("variance_rescale", 1.0) == 1.0
    assert img.summary["n_sources"] == 0
