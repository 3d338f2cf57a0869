"""``oda_api``'s own helpers on our products, through the real server on loopback.

``OdaImage``, ``OdaSpectrum`` and ``OdaLightCurve`` ``show()`` and ``write_fits()``;
``write_fits_file()`` of spectrum, ARF and RMF gives files that ``python -m core fit`` and
gammapy fit to the same photon index as the server's own files; every product file and every
file ``oda_api`` writes back is clean under ``fitsverify``; units survive; the RMF reaches
scripts as data in OSA's unit order with equal shapes across queries; the protocol details
``oda_api`` relies on (no-data failure, Dummy, parameter echo, catalogue order of products).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_api_support import api_url  # noqa: F401  (fixture)

oda_api = pytest.importorskip("oda_api.api")
plot_tools = pytest.importorskip("oda_api.plot_tools")
logging.getLogger("oda_api").setLevel(logging.ERROR)

#: Two Crab-field ScWs of 2003 (the API tests' selection).
FIELD = dict(src_name="Crab", T1="2003-03-15", T2="2004-03-15", radius=10, max_pointings=2)
REPO = Path(__file__).resolve().parents[1]


def _disp(url):
    d = oda_api.DispatcherAPI(url=url)
    d.n_max_tries = 1
    return d


def fitsverify(path) -> None:
    """0 errors and 0 warnings from fitsverify (skipped only if absent outside CI)."""
    exe = shutil.which("fitsverify")
    if exe is None:
        if "CI" in os.environ:
            pytest.fail("fitsverify is not installed (Debian package fitsverify)")
        pytest.skip("fitsverify not installed")
    out = subprocess.run([exe, "-q", "-e", str(path)], capture_output=True, text=True, timeout=60)
    assert "verification OK" in out.stdout, f"fitsverify {Path(path).name}: {out.stdout}{out.stderr}"


def _core_fit_gamma(pha, arf=None, rmf=None, tmp=None) -> float:
    """Photon index from ``python -m core fit`` (the command line, as users run it)."""
    out = Path(tmp) / f"fit_{Path(pha).stem}.json"
    cmd = [sys.executable, "-m", "core", "fit", str(pha), "--model", "powerlaw", "--emin", "20", "--emax", "100",
           "--json", str(out)]
    if arf:
        cmd += ["--arf", str(arf), "--rmf", str(rmf)]
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, timeout=300)
    res = json.loads(out.read_text())
    params = res.get("parameters") or res.get("fit", {}).get("parameters")
    return float(next(p["value"] for p in params if p["name"] in ("gamma", "PhoIndex", "index")))


def _gammapy_gamma(pha, arf, rmf) -> float:
    """χ² power-law index from gammapy's own OGIP readers and fit (20-100 keV, good channels)."""
    import astropy.units as u
    from astropy.io import fits
    from gammapy.datasets import SpectrumDataset
    from gammapy.irf import EDispKernel, EDispKernelMap
    from gammapy.maps import RegionNDMap
    from gammapy.modeling import Fit
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
    from gammapy.stats.fit_statistics import FitStatistic

    kernel = EDispKernel.read(rmf)
    with fits.open(pha) as h0, fits.open(rmf) as r:
        h = fits.HDUList([*h0, r["EBOUNDS"]])  # gammapy reads the channel energies next to the spectrum
        rate = RegionNDMap.from_hdulist(h, format="ogip", ogip_column="RATE")
        err = RegionNDMap.from_hdulist(h, format="ogip", ogip_column="STAT_ERR")
        quality = np.asarray(h["SPECTRUM"].data["QUALITY"]).reshape(rate.data.shape)
    aeff = RegionNDMap.read(arf, format="ogip-arf")
    exposure = aeff * (1 * u.s)
    edisp = EDispKernelMap.from_edisp_kernel(kernel, geom=exposure.geom)

    class GaussianChi2(FitStatistic):
        @classmethod
        def stat_array_dataset(cls, dataset):
            return ((dataset.counts.data - dataset.npred().data) / np.where(err.data > 0, err.data, np.inf)) ** 2

    counts = RegionNDMap.from_geom(rate.geom, data=rate.data, unit="")
    ds = SpectrumDataset(counts=counts, exposure=exposure, edisp=edisp, name="crab")
    ds._fit_statistic = GaussianChi2
    e = rate.geom.axes["energy"].center.to_value("keV").reshape(rate.data.shape)
    ds.mask_fit = RegionNDMap.from_geom(rate.geom, data=(e >= 20) & (e <= 100) & (quality == 0) & (err.data > 0),
                                        dtype=bool)
    pl = PowerLawSpectralModel(index=2.0, amplitude="1e-2 cm-2 s-1 keV-1", reference="50 keV")
    ds.models = SkyModel(spectral_model=pl, name="crab")
    assert Fit().run([ds]).success
    return float(pl.index.value)


# -- products through oda_api ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image(api_url):  # noqa: F811
    disp = _disp(api_url)
    dc = disp.get_product(instrument="isgri", product="isgri_image", product_type="Real", silent=True,
                          E1_keV=20, E2_keV=40, osa_version="OSA10.2", **FIELD)
    return disp, dc


@pytest.fixture(scope="module")
def catalog_two(image):
    """The image's catalogue edited as the notebooks do: Crab plus a source added by hand."""
    _, dc = image
    table = dc.dispatcher_catalog_1.table
    assert "Crab" in list(table["src_names"])
    keep = [i for i, n in enumerate(table["src_names"]) if n != "Crab"]
    table.remove_rows(keep)
    table.add_row((0, "Zeta Src", 0, 88.0, 25.0, 0, 2, 0, 0))  # 5° from the Crab, in the field
    table.add_row((0, "Crab copy", 0, 83.64, 22.02, 0, 2, 0, 0))  # 0.5′ from the Crab: merged, never fitted
    return dc.dispatcher_catalog_1.get_api_dictionary()


@pytest.fixture(scope="module")
def spectrum(api_url, catalog_two):  # noqa: F811
    disp = _disp(api_url)
    dc = disp.get_product(instrument="isgri", product="isgri_spectrum", product_type="Real", silent=True,
                          osa_version="OSA10.2", selected_catalog=catalog_two, **FIELD)
    return disp, dc


@pytest.fixture(scope="module")
def light_curve(api_url, catalog_two):  # noqa: F811
    disp = _disp(api_url)
    dc = disp.get_product(instrument="isgri", product="isgri_lc", product_type="Real", silent=True,
                          time_bin=1000, selected_catalog=catalog_two, **FIELD)
    return disp, dc


def _core(**params):
    from core.products.run import run_product
    from core.query import Query

    return run_product(Query.from_params(params))


def test_image_helpers_and_meta(image, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    disp, dc = image
    prod = dc.mosaic_image_0_mosaic
    assert set(prod.meta_data) >= {"product", "instrument", "src_name", "query_parameters"}
    assert prod.meta_data["instrument"] == "isgri" and prod.meta_data["src_name"] == ""   # as ODA's mosaics
    assert json.loads(prod.meta_data["query_parameters"])["src_name"] == "Crab"
    names = list(dc.dispatcher_catalog_1.table["src_names"])
    assert "target" not in names and "Crab" in names           # catalogue names, no synthetic row
    img = plot_tools.OdaImage(dc)
    img.show(unit_ID=3)
    path = img.write_fits(file_prefix="crab_", output_dir=str(tmp_path))
    fitsverify(path)
    from astropy.io import fits

    res = _core(product_type="image", E1_keV=20, E2_keV=40, **FIELD)
    fits_files = [f for f in res.files.values() if str(f).endswith(".fits")]
    assert {Path(f).name for f in fits_files} >= {"mosaic.fits", "catalog.fits"}
    for f in fits_files:
        fitsverify(f)
    with fits.open(path) as mine, fits.open(res.files["mosaic.fits"]) as ref:
        assert [h.header.get("IMATYPE") for h in mine] == [h.header.get("IMATYPE") for h in ref]
        np.testing.assert_array_equal(mine[3].data, ref[3].data)
    assert "prod_process_message" in disp.response_json["products"]


def test_spectrum_write_back_fits_the_same(spectrum, tmp_path):
    disp, dc = spectrum
    srcs = [p.meta_data["src_name"] for p in dc._p_list]
    assert srcs[:3] == ["Crab"] * 3 and "Crab copy" not in srcs      # 0.5′ apart: one source
    kinds = [p.meta_data["product"] for p in dc._p_list if p.meta_data["src_name"] == "Crab"]
    assert kinds == ["isgri_spectrum", "isgri_arf", "isgri_rmf"]
    spec, arf, rmf = [p for p in dc._p_list if p.meta_data["src_name"] == "Crab"]
    # the notebooks' reads: data_unit[1] spectrum / ARF, data_unit[2] the matrix
    assert [u.name for u in rmf.data_unit] == ["PRIMARY", "EBOUNDS", "MATRIX"]
    m = rmf.data_unit[2].data["MATRIX"]
    assert m.dtype.kind == "f" and m.shape[1] == 62 == len(spec.data_unit[1].data["RATE"])  # OSA10.2: 62 channels
    assert np.all(np.isfinite(m)) and m.sum(axis=1).max() <= 1.0 + 1e-5 and m.sum() > 10
    assert spec.data_unit[1].header["MJDREF"] == 51544.0 and spec.data_unit[1].header["DATE-OBS"].startswith("2003")
    files = {}
    for p, ext in ((spec, "pha"), (arf, "arf"), (rmf, "rmf")):
        files[ext] = tmp_path / f"crab_back.{ext}"
        p.write_fits_file(str(files[ext]))
        fitsverify(files[ext])
    res = _core(product_type="spectrum", channel_grid="osa10", selected_catalog=[("Crab", 83.6331, 22.0145)], **FIELD)
    own = {ext: res.files[f"spectrum_Crab.{ext}"] for ext in ("pha", "arf", "rmf")}
    for f in own.values():
        fitsverify(f)
    g_back = _core_fit_gamma(files["pha"], files["arf"], files["rmf"], tmp_path)
    g_own = _core_fit_gamma(own["pha"], None, None, tmp_path)
    assert g_back == pytest.approx(g_own, abs=1e-4) and 1.9 < g_own < 2.3
    assert _gammapy_gamma(files["pha"], files["arf"], files["rmf"]) == pytest.approx(
        _gammapy_gamma(own["pha"], own["arf"], own["rmf"]), abs=1e-3)
    # OdaSpectrum's helpers
    os_ = plot_tools.OdaSpectrum(dc)
    import matplotlib

    matplotlib.use("Agg")
    os_.show(in_source_name="Crab")
    fn, tstart, tstop, exposure = os_.write_fits(source_name="Crab", output_dir=str(tmp_path))
    assert 52700 < tstart < tstop < 53100 and exposure > 1000
    fitsverify(fn)
    assert disp.response_json["products"]["analysis_parameters"]["osa_version"] == "OSA10.2"


def test_light_curves_in_catalogue_order_with_units(light_curve, catalog_two, tmp_path):
    from astropy.table import Table

    disp, dc = light_curve
    assert [p.meta_data["src_name"] for p in dc._p_list] == ["Crab", "Zeta Src"]   # as in the catalogue
    assert hasattr(dc, "isgri_lc_0_Crab") and hasattr(dc, "isgri_lc_1_ZetaSrc")  # oda_api drops spaces
    for name in ("Crab", "Zeta Src"):
        sub = dc.new_from_metadata("src_name", name)
        assert sub is not None and len(sub._p_list) == 1
        p = sub._p_list[0]
        assert set(p.meta_data) == {"src_name", "time_bin", "time", "rate", "rate_err"}
        hdu = p.data_unit[1].to_fits_hdu()
        assert hdu.header["NAME"] == name and hdu.header["TIMEPIXR"] == 0.5
        assert hdu.columns["TIME"].unit == "d" and hdu.columns["RATE"].unit == "count/s"
    path = tmp_path / "lc.fits"
    dc.isgri_lc_0_Crab.write_fits_file(str(path))
    fitsverify(path)
    t = Table.read(path, hdu=1, astropy_native=True)
    from astropy.time import Time

    assert isinstance(t["TIME"], Time) and 2003.1 < t["TIME"][0].decimalyear < 2004.3   # units kept: TIME → Time
    lc = plot_tools.OdaLightCurve(dc)
    import matplotlib

    matplotlib.use("Agg")
    lc.show(in_source_name="Crab")
    fn, tstart, tstop, _ = lc.write_fits("Crab", output_dir=str(tmp_path))
    assert 52700 < tstart < tstop < 53100
    fitsverify(fn)
    res = _core(product_type="lc", time_bin=1000, selected_catalog=catalog_two, **FIELD)
    assert res.product_id == disp.job_id
    for f in res.files.values():
        if str(f).endswith(".fits"):
            fitsverify(f)
    src = [s for s in res.summary["sources"] if s["name"] == "Crab"][0]
    np.testing.assert_allclose(dc.isgri_lc_0_Crab.data_unit[1].data["RATE"], src["rate"], rtol=1e-6)


def test_rmf_shapes_equal_across_chunks(api_url, tmp_path):  # noqa: F811
    """Scripts sum ``rmf['MATRIX'] * exposure`` over the chunks of one query."""
    from core.archive.store import get_archive
    from core.query import Query

    ids = list(get_archive().select(Query.from_params(**FIELD)).ids)
    cat = json.dumps([{"name": "Crab", "ra": 83.6331, "dec": 22.0145}])
    mats = []
    for sid in ids:
        dc = _disp(api_url).get_product(instrument="isgri", product="isgri_spectrum", product_type="Real", silent=True,
                                        scw_list=sid, osa_version="OSA11.0", selected_catalog=cat)
        rmf = [p for p in dc._p_list if p.meta_data["product"] == "isgri_rmf"][0]
        mats.append(rmf.data_unit[2].data["MATRIX"])
    assert len(mats) == 2 and mats[0].shape == mats[1].shape and mats[0].shape[1] == 256   # OSA11: 256 channels
    total = mats[0] * 1000.0 + mats[1] * 2000.0
    assert np.all(np.isfinite(total))


# -- protocol details oda_api relies on -----------------------------------------------------------
def test_no_usable_data_is_failed_to_find_any_useful_results(api_url):  # noqa: F811
    disp = _disp(api_url)
    with pytest.raises(oda_api.FailedToFindAnyUsefulResults):
        disp.get_product(instrument="isgri", product="isgri_image", product_type="Real", silent=True,
                         src_name="Crab", T1="2003-03-15T00:00:00", T2="2003-03-15T00:20:00", radius=0.05)
    es = disp.response_json["exit_status"]
    assert es["message"] == "failed: get dataserver products " and "no ScW" in es["error_message"]


def test_dummy_answers_at_once(api_url):  # noqa: F811
    import time

    disp = _disp(api_url)
    t0 = time.time()
    dc = disp.get_product(instrument="isgri", product="isgri_image", product_type="Dummy", silent=True,
                          src_name="GX 5-1", T1="2012-01-01", T2="2012-02-01")
    assert time.time() - t0 < 10
    mosaic = dc.mosaic_image_0_mosaic
    assert mosaic.data_unit[1].header["DUMMY"] is True and not np.any(mosaic.data_unit[1].data)
    assert len(dc.dispatcher_catalog_1.table) == 0


def test_parameters_echoed_with_same_str(image):
    disp, _ = image
    returned = disp.returned_analysis_parameters
    assert returned["session_id"] == disp.session_id
    disp.returned_analysis_parameters_consistency()   # oda_api's own check: raises on any mismatch


def test_long_scw_list_string_and_osa_version(api_url):  # noqa: F811
    from core.archive.store import get_archive
    from core.query import Query

    ids = [s for s in get_archive().select(Query.from_params(**{**FIELD, "max_pointings": 40})).ids]
    assert len(ids) == 40
    import requests

    base = dict(instrument="isgri", product_type="isgri_image", query_status="new", session_id="new",
                E1_keV=20, E2_keV=40, osa_version="OSA10.2", src_name="Crab")
    r = requests.get(f"{api_url}/run_analysis", params={**base, "scw_list": ",".join(ids), "dry_run": "x",
                                                         "osa_version": "OSA9"}, timeout=60)
    assert r.status_code == 400 and r.json()["field"] == "osa_version" and "OSA11.0" in r.json()["allowed"]
    from server.params import query_from_oda

    q, echoed = query_from_oda({**base, "scw_list": ",".join(ids)})
    assert len(q.scw_list) == 40 and echoed["scw_list"] == ",".join(ids)


def test_instr_list_and_meta_data(api_url):  # noqa: F811
    disp = _disp(api_url)
    instruments = disp.get_instruments_list()
    assert "isgri" in instruments
    for inst in instruments:
        import requests

        r = requests.get(f"{api_url}/api/meta-data", params={"instrument": inst}, timeout=30)
        assert r.status_code == 200 and r.json()
    desc = disp.get_product_description("isgri", "isgri_lc")
    entries = {e["name"]: e for g in desc for e in g if isinstance(e, dict) and "name" in e}
    assert entries["radius"]["value"] == 15.0 and entries["time_bin"]["value"] == 1000.0
