"""Per-ScW coded-mask decoding: geometry, units, noise, sources, ghosts, IROS.

Simulations are made in memory with fixed seeds (no archive on disk). The statistical
tolerances are wide enough that a change of seed cannot make them fail by chance: flux
within 3σ (σ from the fit covariance or the image variance), positions within twice the
90 % error radius r90 = 15′/SNR of Gros et al. (2003) (2·r90 ≈ 4.3σ of a 2-D Gaussian),
floored at 0.3′, and below 1′ whenever SNR > 30.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.archive.osa_files import ScwData
from core.archive.simulate import (MEASURED_ENERGY_EDGES, TRUE_ENERGY_EDGES, _n_ref,
                                   expected_source_counts, folded_rate, simulate_scw)
from core.imaging.scw_image import decode_scw, decode_shadowgram
from core.imaging.decode import (LAG_CENTRE, LAG_SHAPE, MIN_CODING, N_IDEAL, PIXEL_DEG, PIXEL_TAN,
                                 Decoder, lag_to_tan, locate_peak,
                                 psf_profile, scw_wcs, tan_to_lag)
from core.imaging.iros import GHOST_PERIOD_PX, source_template
from core.imaging.shadowgram import Shadowgram, background_model, shadowgram
from core.imaging.types import SkyImages
from core.instrument import detector as det
from core.instrument.attitude import Attitude
from core.instrument.response import effective_area_for_simulation
from core.sky.catalog import SkySource, sky_model
from core.sky.spectra import SpectralShape
from core.sky.variability import Steady

E1, E2 = 20.0, 40.0
ROW_INDEX = 100000          # a pointing of revolution 1103 (any row would do)
FIELD = (120.0, -40.0)      # an empty part of the sky for the injected sources
ARCMIN = 1.0 / 60.0


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def _row(history, ra: float, dec: float, index: int = ROW_INDEX):
    """A copy of a history row re-pointed at (ra, dec), keeping its roll."""
    row = history[index].copy()
    att = Attitude.from_pointing(ra, dec, float(row["posangle"]))
    row["ra_scx"], row["dec_scx"] = ra, dec
    row["ra_scz"], row["dec_scz"] = att.ra_scz, att.dec_scz
    return row


def _attitude(row) -> Attitude:
    return Attitude(row["ra_scx"], row["dec_scx"], row["ra_scz"], row["dec_scz"])


def _at_offset(row, deg_z: float, deg_y: float) -> tuple[float, float]:
    """Sky position at the given angles along the detector Z and Y axes."""
    ra, dec = _attitude(row).from_instrument(math.tan(math.radians(deg_z)), math.tan(math.radians(deg_y)))
    return float(ra), float(dec)


def _source(name: str, ra: float, dec: float, mcrab: float) -> SkySource:
    return SkySource(name, ra, dec, SpectralShape("powerlaw", 2.0), mcrab, Steady(mcrab))


def _simulate(row, sources, background: bool, seed: str, scw_id: str = "110300010010.001") -> ScwData:
    sim = simulate_scw(row, scw_id, sources=sources, background=background, seed_extra=seed)
    return ScwData(scw_id, sim.meta, sim.events, sim.gti, sim.pixel_status)


def _expected_rate(source: SkySource, row, e1: float = E1, e2: float = E2) -> float:
    """On-axis-equivalent count rate in [e1, e2] (OSA units), folded as the simulator does."""
    rev = int(row["revolution"])
    e_mid = np.sqrt(TRUE_ENERGY_EDGES[1:] * TRUE_ENERGY_EDGES[:-1])
    width = np.diff(TRUE_ENERGY_EDGES)
    area = np.asarray(effective_area_for_simulation(e_mid, rev), float)
    spec = folded_rate(source.norm_per_mcrab * source.shape.shape(e_mid) * area * width, rev)
    band = (MEASURED_ENERGY_EDGES[:-1] >= e1) & (MEASURED_ENERGY_EDGES[1:] <= e2)
    t_mid = float(row["tstart"]) + 0.5 * (float(row["tstop"]) - float(row["tstart"]))
    return float(spec[band].sum()) * float(source.flux_mcrab_at(t_mid))


def _true_lag(row, source) -> tuple[float, float]:
    tz, ty = _attitude(row).to_instrument(source.ra, source.dec)
    iz, iy = tan_to_lag(tz, ty)
    return float(iz), float(iy)


def _iros_entry(images: SkyImages, row, source, radius_px: float = 3.0):
    iz, iy = _true_lag(row, source)
    hits = [d for d in images.meta["iros_sources"] if math.hypot(d["iz"] - iz, d["iy"] - iy) < radius_px]
    assert len(hits) == 1, images.meta["iros_sources"]
    return hits[0]


def _position_error_arcmin(row, source, tan_z: float, tan_y: float) -> float:
    tz, ty = _attitude(row).to_instrument(source.ra, source.dec)
    return math.degrees(math.hypot(float(tz) - tan_z, float(ty) - tan_y)) * 60.0


def _position_tolerance_arcmin(snr: float) -> float:
    tol = max(2.0 * 15.0 / snr, 0.3)
    return min(tol, 1.0) if snr > 30 else tol


def _disk(shape, iz: float, iy: float, radius: float) -> np.ndarray:
    zz, yy = np.ogrid[:shape[0], :shape[1]]
    return np.hypot(zz - iz, yy - iy) < radius


# ------------------------------------------------------------------------------------------
# simulations shared by several tests (module scope: each is made once)
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blank_scws(history):
    rows = [_row(history, *FIELD), _row(history, 250.0, 35.0, index=40000),
            _row(history, 30.0, -60.0, index=200000)]
    return [(row, _simulate(row, [], True, f"blank{k}")) for k, row in enumerate(rows)]


@pytest.fixture(scope="module")
def two_sources(history):
    row = _row(history, *FIELD)
    on_axis = _source("ON_AXIS", *FIELD, 100.0)
    off_axis = _source("OFF_AXIS", *_at_offset(row, 4.5, -4.0), 200.0)  # 6.0° off axis
    scw = _simulate(row, [on_axis, off_axis], True, "two-sources")
    return row, scw, on_axis, off_axis


@pytest.fixture(scope="module")
def crab_11deg(history):
    crab = sky_model()["Crab"]
    row0 = _row(history, crab.ra, crab.dec)
    # Point so that the Crab is 11° off axis along Z and 1.5° along Y (partially coded).
    ra, dec = _attitude(row0).from_instrument(-math.tan(math.radians(11.0)), -math.tan(math.radians(1.5)))
    row = _row(history, float(ra), float(dec))
    return row, _simulate(row, [crab], True, "crab-11deg"), crab


# ------------------------------------------------------------------------------------------
# geometry, units, shadowgram
# ------------------------------------------------------------------------------------------
def test_lag_grid_wcs_and_attitude_agree(history):
    row = history[ROW_INDEX]
    header = {k.upper(): float(row[k]) for k in ("ra_scx", "dec_scx", "ra_scz", "dec_scz", "posangle")}
    wcs = scw_wcs(header)
    assert LAG_SHAPE == (365, 361) and LAG_CENTRE == (182, 181)
    assert wcs.pixel_shape == (LAG_SHAPE[1], LAG_SHAPE[0])
    assert PIXEL_DEG * 60 == pytest.approx(5.0387, abs=1e-3)
    iz = np.array([0, 40, 182, 182, 300, 364, 7])
    iy = np.array([0, 300, 181, 0, 20, 360, 355])
    sky = wcs.pixel_to_world(iy, iz)
    tz, ty = _attitude(row).to_instrument(sky.ra.deg, sky.dec.deg)
    ez, ey = lag_to_tan(iz, iy)
    assert np.max(np.abs(tz - ez)) < 1e-6 * PIXEL_TAN
    assert np.max(np.abs(ty - ey)) < 1e-6 * PIXEL_TAN
    bz, by = tan_to_lag(ez, ey)
    assert np.allclose(bz, iz) and np.allclose(by, iy)
    # The field reaches the zero-response edge (~15°) on every side.
    assert math.degrees(math.atan(abs(float(lag_to_tan(0, 0)[0])))) > 14.5


def test_normalisation_is_osa_units_on_noise_free_pifs(history):
    """A source exactly on a lag decodes to its rate; N_ideal is the simulator's N_ref."""
    assert N_IDEAL == pytest.approx(_n_ref(), rel=1e-6)
    rev = int(history[ROW_INDEX]["revolution"])
    weights = np.where(det.pixel_efficiency(rev) > 0, det.pixel_efficiency(rev), 0.0).astype(float)
    shd = Shadowgram(np.zeros((det.N_Z, det.N_Y)), weights, 2000.0, rev, E1, E2, 0)
    dec = Decoder(shd)
    rate = 7.0
    # On axis: exact (the on-axis PIF is the sampled mask itself).
    inten, _ = dec.decode(source_template(0.0, 0.0, shd) * rate, with_variance=False)
    assert inten[LAG_CENTRE] == pytest.approx(rate, rel=1e-9)
    # Off axis on lag centres: cos θ and the thick-mask loss are corrected (≤ 1 %).
    for iz, iy in ((250, 120), (100, 300), (182, 35), (330, 181)):
        tz, ty = (float(v) for v in lag_to_tan(iz, iy))
        inten, _ = dec.decode(source_template(tz, ty, shd) * rate, with_variance=False)
        assert inten[iz, iy] == pytest.approx(rate, rel=0.01), (iz, iy)
    # Between pixel centres the peak drops: 0.89 at an edge, 0.80 at a corner.
    for frac, loss in (((0.5, 0.0), 0.89), ((0.5, 0.5), 0.80)):
        tz, ty = (float(v) for v in lag_to_tan(LAG_CENTRE[0] + frac[0], LAG_CENTRE[1] + frac[1]))
        inten, _ = dec.decode(source_template(tz, ty, shd) * rate, with_variance=False)
        assert inten[LAG_CENTRE] / rate == pytest.approx(loss, abs=0.02)
    assert float(psf_profile(0.5)) ** 2 == pytest.approx(0.80, abs=0.02)


def test_shadowgram_counts_weights_and_templates(blank_scws):
    row, scw = blank_scws[0]
    shd = shadowgram(scw, E1, E2)
    ev = scw.events
    good = (scw.pixel_status == 0) & det.live_pixels()
    sel = (ev["SELECT_FLAG"] == 0) & (ev["ISGRI_ENERGY"] >= E1) & (ev["ISGRI_ENERGY"] < E2)
    sel &= good[ev["DETZ"], ev["DETY"]]
    assert shd.n_events == int(sel.sum()) == int(shd.counts.sum())
    assert shd.counts.shape == shd.weights.shape == (det.N_Z, det.N_Y)
    assert np.all(shd.weights[scw.pixel_status != 0] == 0) and np.all(shd.weights[~det.live_pixels()] == 0)
    assert np.all(shd.counts[shd.weights == 0] == 0)
    assert shd.livetime == pytest.approx(scw.livetime)
    assert background_model(shd.revolution, 20, 40).shape == (2, det.N_Z, det.N_Y)
    assert background_model(shd.revolution, 100, 300).shape == (1, det.N_Z, det.N_Y)
    # A second band of the same ScW reuses the per-event cache and stays consistent.
    hi = shadowgram(scw, 40.0, 100.0)
    both = shadowgram(scw, 20.0, 100.0)
    assert np.array_equal(shd.counts + hi.counts, both.counts)


# ------------------------------------------------------------------------------------------
# noise
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("iros", [False, True])
def test_blank_field_significance_is_standard_normal(blank_scws, iros):
    """Background only: S ~ N(0, 1) over the well-coded field (coding ≥ 0.2).

    One image's rms scatters by ≈ 1.5 % around 1 (its ~10⁵ pixels hold only a few
    thousand independent values), so the rms is tested on the three ScWs together.
    """
    pooled = []
    for row, scw in blank_scws:
        img = decode_scw(scw, E1, E2, iros=iros)
        shd = shadowgram(scw, E1, E2)
        dec = Decoder(shd)
        well = np.isfinite(img.significance) & (dec.wt.coding >= 0.2)
        sig = img.significance[well]
        assert sig.size > 80000
        assert abs(float(sig.mean())) < 0.05
        assert abs(float(sig.std()) - 1.0) < 0.06
        assert float(np.nanmax(np.abs(img.significance))) < 7.0
        assert img.meta["iros_sources"] == []
        pooled.append(sig)
        # Uncovered sky is NaN with zero exposure; covered sky has finite planes.
        covered = dec.wt.coding >= MIN_CODING
        assert np.all(np.isnan(img.intensity[~covered])) and np.all(img.exposure[~covered] == 0)
        assert np.all(np.isfinite(img.intensity[covered]) & np.isfinite(img.variance[covered]))
        # Exposure on axis = live time × mean efficiency of the working detector.
        assert img.exposure[LAG_CENTRE] == pytest.approx(
            img.meta["livetime"] * float(shd.weights.sum()) / det.live_pixels().sum(), rel=1e-6)
    pooled = np.concatenate(pooled)
    assert abs(float(pooled.mean())) < 0.05
    assert abs(float(pooled.std()) - 1.0) < 0.05


# ------------------------------------------------------------------------------------------
# point sources
# ------------------------------------------------------------------------------------------
def test_injected_sources_position_and_flux(two_sources):
    row, scw, on_axis, off_axis = two_sources
    plain = decode_scw(scw, E1, E2, iros=False)
    cleaned = decode_scw(scw, E1, E2, iros=True)
    shd = shadowgram(scw, E1, E2)
    for src in (on_axis, off_axis):
        rate = _expected_rate(src, row)
        # The IROS source model is the simulator's expectation: counts = rate · T_live · Σ weights.
        weight_sum, _ = expected_source_counts(src, row)
        tz, ty = (float(v) for v in _attitude(row).to_instrument(src.ra, src.dec))
        assert source_template(tz, ty, shd).sum() == pytest.approx(shd.livetime * weight_sum, rel=1e-5)
        # IROS: PIF fit in detector space.
        d = _iros_entry(cleaned, row, src)
        assert not d["catalog"] and d["name"].startswith("NEW_")
        assert abs(d["flux"] - rate) < 3.0 * d["flux_err"], (src.name, d, rate)
        err = _position_error_arcmin(row, src, d["tan_z"], d["tan_y"])
        assert err < _position_tolerance_arcmin(d["snr"]), (src.name, err, d["snr"])
        # The reported RA/Dec is the fitted direction.
        tz, ty = _attitude(row).to_instrument(d["ra"], d["dec"])
        assert float(tz) == pytest.approx(d["tan_z"], abs=1e-9) and float(ty) == pytest.approx(d["tan_y"], abs=1e-9)
        # Image: PSF fit of the uncleaned ScW image around the brightest pixel.
        iz, iy = _true_lag(row, src)
        box = _disk(plain.shape, iz, iy, 3.0) & np.isfinite(plain.intensity)
        jz, jy = np.unravel_index(np.argmax(np.where(box, plain.intensity, -np.inf)), plain.shape)
        fz, fy, amp = locate_peak(plain.intensity, int(jz), int(jy))
        snr = float(plain.significance[jz, jy])
        err_img = math.hypot(fz - iz, fy - iy) * PIXEL_DEG * 60.0
        assert err_img < _position_tolerance_arcmin(snr), (src.name, err_img, snr)
        sigma = math.sqrt(float(plain.variance[jz, jy]))
        assert abs(amp - rate) < 3.0 * sigma + 0.02 * rate, (src.name, amp, rate, sigma)
    # The on-axis source sits on a pixel centre: its peak pixel is its flux.
    iz, iy = LAG_CENTRE
    assert abs(plain.intensity[iz, iy] - _expected_rate(on_axis, row)) < 3.0 * math.sqrt(plain.variance[iz, iy])
    assert len(cleaned.meta["iros_sources"]) == 2
    assert shd.n_events == plain.meta["n_events"]


def test_brightest_pixel_maps_back_to_source_direction(two_sources, crab_11deg):
    for row, scw, sources in ((two_sources[0], two_sources[1], two_sources[2:]),
                              (crab_11deg[0], crab_11deg[1], (crab_11deg[2],))):
        img = decode_scw(scw, E1, E2, iros=False)
        att = _attitude(row)
        for src in sources:
            iz, iy = _true_lag(row, src)
            box = _disk(img.shape, iz, iy, 4.0) & np.isfinite(img.intensity)
            jz, jy = np.unravel_index(np.argmax(np.where(box, img.intensity, -np.inf)), img.shape)
            sky = img.wcs.pixel_to_world(jy, jz)
            tz, ty = att.to_instrument(sky.ra.deg, sky.dec.deg)
            tz0, ty0 = att.to_instrument(src.ra, src.dec)
            assert abs(float(tz) - float(tz0)) <= PIXEL_TAN and abs(float(ty) - float(ty0)) <= PIXEL_TAN


def test_crab_on_axis_intensity_is_its_count_rate(history):
    crab = sky_model()["Crab"]
    row = _row(history, crab.ra, crab.dec)
    scw = _simulate(row, [crab], False, "crab-on-axis")
    rate = _expected_rate(crab, row)
    assert 150.0 < rate < 175.0  # ≈160 ISGRI cts/s in 20–40 keV
    plain = decode_scw(scw, E1, E2, iros=False)
    assert plain.intensity[LAG_CENTRE] == pytest.approx(rate, rel=0.03)
    assert np.nanargmax(np.where(plain.exposure > 0.5 * plain.exposure.max(), plain.intensity, -np.inf)) == \
        np.ravel_multi_index(LAG_CENTRE, plain.shape)
    cleaned = decode_scw(scw, E1, E2, iros=True, catalog=[("Crab", crab.ra, crab.dec)])
    d = cleaned.meta["iros_sources"]
    assert [x["name"] for x in d] == ["Crab"] and d[0]["catalog"]
    assert d[0]["flux"] == pytest.approx(rate, rel=0.03)
    assert abs(d[0]["flux"] - rate) < 3.0 * d[0]["flux_err"] + 0.005 * rate
    # Final image: the source put back at its position (+ residual noise).
    assert abs(cleaned.intensity[LAG_CENTRE] - d[0]["flux"]) < 3.0 * math.sqrt(cleaned.variance[LAG_CENTRE])


def test_partially_coded_source_ghosts_removed_by_iros(crab_11deg):
    row, scw, crab = crab_11deg
    iz, iy = _true_lag(row, crab)
    assert math.degrees(math.atan(math.hypot(*lag_to_tan(iz, iy)))) > 10.5
    ghost_zone = np.zeros(LAG_SHAPE, bool)
    for kz in (-1, 0, 1):
        for ky in (-1, 0, 1):
            if kz or ky:
                ghost_zone |= _disk(LAG_SHAPE, iz + kz * GHOST_PERIOD_PX, iy + ky * GHOST_PERIOD_PX, 3.0)
    source_zone = _disk(LAG_SHAPE, iz, iy, 4.0)

    plain = decode_scw(scw, E1, E2, iros=False)
    sig = plain.significance
    assert np.any(ghost_zone & np.isfinite(sig))
    # Without cleaning: ghosts one basic-pattern period away, tens of σ.
    assert float(np.nanmax(np.where(ghost_zone, sig, np.nan))) > 20.0

    cleaned = decode_scw(scw, E1, E2, iros=True)
    sig = cleaned.significance
    assert len(cleaned.meta["iros_sources"]) == 1
    d = cleaned.meta["iros_sources"][0]
    rate = _expected_rate(crab, row)
    assert abs(d["flux"] - rate) < 3.0 * d["flux_err"]
    assert _position_error_arcmin(row, crab, d["tan_z"], d["tan_y"]) < _position_tolerance_arcmin(d["snr"])
    assert float(np.nanmax(np.where(ghost_zone, np.abs(sig), np.nan))) < 5.0
    assert float(np.nanmax(np.where(source_zone, np.nan, np.abs(sig)))) < 5.5
    # The source itself is back as a clean peak at its position with the fitted flux.
    assert float(np.nanmax(np.where(source_zone, cleaned.intensity, np.nan))) == pytest.approx(d["flux"], rel=0.25)
    well = np.isfinite(sig) & ~source_zone
    assert abs(float(np.std(sig[well])) - 1.0) < 0.05
    # The variance is that of the full data, unchanged by cleaning.
    assert np.allclose(cleaned.variance, plain.variance, equal_nan=True)


def test_catalogue_sources_are_fitted_at_their_position(two_sources):
    row, scw, on_axis, off_axis = two_sources
    catalog = [("OFF_AXIS", off_axis.ra, off_axis.dec), ("NOT_THERE", *_at_offset(row, -5.0, 3.0))]
    img = decode_scw(scw, E1, E2, catalog=catalog)
    names = [d["name"] for d in img.meta["iros_sources"]]
    assert "OFF_AXIS" in names and "NOT_THERE" not in names
    d = _iros_entry(img, row, off_axis)
    assert d["catalog"] and d["ra"] == off_axis.ra and d["dec"] == off_axis.dec
    assert abs(d["flux"] - _expected_rate(off_axis, row)) < 3.0 * d["flux_err"]
    # The uncatalogued on-axis source is still found as a new one.
    assert _iros_entry(img, row, on_axis)["name"].startswith("NEW_")


def test_meta_is_json_and_store_round_trip(two_sources):
    row, scw, *_ = two_sources
    img = decode_scw(scw, E1, E2, max_sources=1)
    for key in ("scw_id", "e1", "e2", "tstart", "tstop", "livetime", "revolution", "n_events", "iros_sources"):
        assert key in img.meta
    assert len(img.meta["iros_sources"]) == 1
    assert {"name", "ra", "dec", "flux", "flux_err", "snr"} <= set(img.meta["iros_sources"][0])
    json.dumps(img.meta)
    arrays, meta = img.to_arrays()
    back = SkyImages.from_arrays(arrays, json.loads(json.dumps(meta)))
    assert back.shape == LAG_SHAPE
    assert np.allclose(back.intensity, img.intensity.astype(np.float32), equal_nan=True)
    sky = img.wcs.pixel_to_world(10, 20)
    assert back.wcs.pixel_to_world(10, 20).separation(sky).deg < 1e-6
    # decode_shadowgram is the same decoding from an existing shadowgram.
    again = decode_shadowgram(shadowgram(scw, E1, E2), scw.header, scw_id=scw.scw_id, max_sources=1)
    assert np.allclose(again.intensity, img.intensity, equal_nan=True)
