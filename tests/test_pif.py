"""PIF model, coding fraction, attitude and detector layout, checked against the real
OSA ``ii_pif`` map of SGR 1935+2154 (ScW 255900280010)."""

import numpy as np
import pytest
from astropy.io import fits

from core.instrument import detector, mask
from core.instrument.attitude import Attitude
from core.instrument.pif import (
    coding_fraction,
    mask_transmission,
    pif,
    pif_for_source,
    tungsten_mass_attenuation,
)
from tests._shared import shared_path

PIF_FILE = ("reference-data", "isgri_pif_255900280010_SGR1935.fits.gz")


@pytest.fixture(scope="module")
def real_pif():
    path = shared_path(*PIF_FILE)
    with fits.open(path) as hdul:
        hdu = hdul["ISGR-PIF.-SHD"]
        return hdu.data.astype(float), dict(hdu.header)


@pytest.fixture(scope="module")
def sgr_geometry(real_pif):
    _, h = real_pif
    att = Attitude(h["RA_SCX"], h["DEC_SCX"], h["RA_SCZ"], h["DEC_SCZ"])
    return att, h["RA_OBJ"], h["DEC_OBJ"]


def _corr(a, b):
    live = detector.live_pixels()
    return np.corrcoef(a[live], b[live])[0, 1]


# --- detector layout ---------------------------------------------------------------


def test_detector_layout_matches_real_map(real_pif):
    ref, _ = real_pif
    assert ref.shape == (detector.N_Z, detector.N_Y) == (134, 130)
    live = detector.live_pixels()
    assert live.sum() == 128 * 128
    # The real map is exactly 0 over whole rows/columns only in the dead lines.
    dead_rows = np.flatnonzero((ref == 0).all(axis=1))
    dead_cols = np.flatnonzero((ref == 0).all(axis=0))
    np.testing.assert_array_equal(dead_rows, np.flatnonzero(~detector.live_rows()))
    np.testing.assert_array_equal(dead_cols, np.flatnonzero(~detector.live_cols()))
    m = detector.module_map()
    assert m.dtype == np.int8
    np.testing.assert_array_equal(m >= 0, live)
    assert [int((m == k).sum()) for k in range(8)] == [32 * 64] * 8
    assert m[0, 0] == 0 and m[0, 129] == 1 and m[133, 0] == 6 and m[133, 129] == 7


def test_pixel_centres():
    z, y = detector.pixel_centres_mm()
    assert z.shape == y.shape == (134, 130)
    assert z[0, 0] == pytest.approx(-66.5 * 4.6)
    assert y[0, 129] == pytest.approx(64.5 * 4.6)
    assert z[67, 5] - z[66, 5] == pytest.approx(detector.PITCH_MM)


def test_dead_pixels_monotonic_and_fraction():
    live = detector.live_pixels()
    prev = detector.dead_pixels(0)
    assert not (prev & ~live).any()
    for rev in (100, 500, 1000, 2000, 2800):
        cur = detector.dead_pixels(rev)
        assert not (prev & ~cur).any(), "a dead pixel came back to life"
        prev = cur
    f0 = detector.dead_pixels(50)[live].mean()
    f1 = detector.dead_pixels(2800)[live].mean()
    assert 0.015 < f0 < 0.03 and 0.033 < f1 < 0.05
    np.testing.assert_array_equal(detector.dead_pixels(1234), detector.dead_pixels(1234))


def test_pixel_efficiency():
    eff = detector.pixel_efficiency(1000)
    assert eff.dtype == np.float32 and eff.shape == (134, 130)
    assert (eff[~detector.live_pixels()] == 0).all()
    assert (eff[detector.dead_pixels(1000)] == 0).all()
    good = detector.live_pixels() & ~detector.dead_pixels(1000)
    assert abs(eff[good].mean() - 1.0) < 0.005
    assert 0.02 < eff[good].std() < 0.04
    np.testing.assert_array_equal(eff, detector.pixel_efficiency(1000))


# --- attitude ----------------------------------------------------------------------


def test_attitude_round_trip():
    att = Attitude(286.822875976562, 20.2762775421143, 199.37516784668, -6.87311124801636)
    rng = np.random.default_rng(7)
    tz = rng.uniform(-0.5, 0.5, 2000)
    ty = rng.uniform(-0.5, 0.5, 2000)
    ra, dec = att.from_instrument(tz, ty)
    tz2, ty2 = att.to_instrument(ra, dec)
    np.testing.assert_allclose(tz2, tz, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ty2, ty, rtol=0, atol=1e-12)
    # And sky -> instrument -> sky to 1e-9 degree of arc.
    ra0 = 286.8 + rng.uniform(-15, 15, 2000)
    dec0 = 20.3 + rng.uniform(-15, 15, 2000)
    ra1, dec1 = att.from_instrument(*att.to_instrument(ra0, dec0))
    dra = ((ra1 - ra0 + 180) % 360 - 180) * np.cos(np.radians(dec0))
    assert np.max(np.hypot(dra, dec1 - dec0)) < 1e-9


def test_attitude_axes_and_posangle(sgr_geometry):
    att, ra, dec = sgr_geometry
    tz, ty = att.to_instrument(att.ra_scx, att.dec_scx)
    assert abs(tz) < 1e-12 and abs(ty) < 1e-12
    assert att.off_axis_angle(ra, dec) == pytest.approx(6.646, abs=1e-3)
    tz, ty = att.to_instrument(ra, dec)
    assert tz == pytest.approx(-0.115385, abs=1e-5) and ty == pytest.approx(0.016233, abs=1e-5)
    # Right-handed triad, Z towards the header's Z axis.
    x, y, z = att.x_axis, att.y_axis, att.z_axis
    np.testing.assert_allclose(np.cross(z, x), y, atol=1e-12)
    again = Attitude.from_pointing(att.ra_scx, att.dec_scx, att.posangle)
    np.testing.assert_allclose(again.matrix, att.matrix, atol=1e-12)
    assert again.posangle == pytest.approx(att.posangle, abs=1e-9)
    # Vectorised, NaN behind the instrument.
    tz, ty = att.to_instrument(np.array([ra, att.ra_scx + 180.0]), np.array([dec, -att.dec_scx]))
    assert np.isfinite(tz[0]) and np.isnan(tz[1]) and np.isnan(ty[1])


# --- PIF ---------------------------------------------------------------------------


def test_pif_reproduces_real_osa_map(real_pif, sgr_geometry):
    ref, _ = real_pif
    att, ra, dec = sgr_geometry
    ours = pif_for_source(att, ra, dec)
    assert ours.shape == (134, 130) and ours.dtype == np.float32
    assert ours.min() >= 0.0 and ours.max() <= 1.0
    assert (ours[~detector.live_pixels()] == 0).all()
    thick = _corr(ours, ref)
    thin = _corr(pif_for_source(att, ra, dec, thickness=False), ref)
    # Achieved 0.99987 (thick + module-edge shadow) and 0.981 (thin mask).
    assert thick >= 0.999, thick
    assert thin >= 0.97, thin
    assert thick > thin
    # The real map has no tungsten transparency at 18-250 keV; neither do we at 200 keV.
    assert _corr(pif_for_source(att, ra, dec, energy_keV=200.0), ref) >= 0.999
    # Total illuminated area agrees to 1 %.
    assert ours.sum() == pytest.approx(ref.sum(), rel=0.01)


def test_pif_on_axis_mean_is_open_fraction():
    live = detector.live_pixels()
    p = pif(0.0, 0.0)
    assert p[live].mean() == pytest.approx(mask.mask_open_fraction(), abs=0.01)
    assert p[live].mean() == pytest.approx(1404 / 2809, abs=0.01)
    # On axis the mask thickness does not vignette.
    np.testing.assert_allclose(p, pif(0.0, 0.0, thickness=False), atol=1e-6)


def test_pif_thickness_vignetting_reduces_throughput():
    live = detector.live_pixels()
    t = np.tan(np.radians(3.0))
    thin = pif(t, t, thickness=False)[live].mean()
    thick = pif(t, t, module_shadow=False)[live].mean()
    # Each open/closed edge loses 16 mm·tanθ/2 of open length: ≈ 3.6 % per axis at 3°.
    assert 0.90 < thick / thin < 0.95
    # The module-border shadow removes a little more.
    assert pif(t, t)[live].mean() < thick


def test_pif_outside_field_and_invalid():
    assert pif(np.tan(np.radians(20.0)), 0.0).sum() == 0.0
    assert pif(np.nan, 0.0).sum() == 0.0
    assert pif(np.inf, np.inf).sum() == 0.0


def test_tungsten_transparency():
    assert tungsten_mass_attenuation(100.0) == pytest.approx(4.438, rel=1e-6)
    # Sharp K edge at 69.525 keV.
    assert tungsten_mass_attenuation(69.6) > 4 * tungsten_mass_attenuation(69.4)
    assert mask_transmission(100.0) < 1e-20
    assert 0.005 < mask_transmission(500.0) < 0.03
    assert 0.08 < mask_transmission(1000.0) < 0.2
    live = detector.live_pixels()
    p0 = pif(0.02, -0.01, module_shadow=False)
    np.testing.assert_allclose(pif(0.02, -0.01, energy_keV=150.0, module_shadow=False), p0,
                               atol=1e-6)
    p1 = pif(0.02, -0.01, energy_keV=1000.0, module_shadow=False)
    closed = live & (p0 == 0)
    assert closed.any()
    assert np.allclose(p1[closed], mask_transmission(1000.0), rtol=1e-3)


def test_coding_fraction():
    assert coding_fraction(0.0, 0.0) == pytest.approx(1.0)
    t20 = np.tan(np.radians(20.0))
    assert coding_fraction(t20, 0.0) == 0.0
    assert coding_fraction(0.0, -t20) == 0.0
    t3 = np.tan(np.radians(3.0))
    assert coding_fraction(t3, -t3) == pytest.approx(1.0)
    t10 = np.tan(np.radians(10.0))
    assert 0.2 < coding_fraction(t10, 0.0) < 0.8
    # Vectorised and monotonic along an axis.
    t = np.tan(np.radians(np.linspace(0, 16, 33)))
    c = coding_fraction(t, 0.0)
    assert c.shape == t.shape
    assert (np.diff(c) <= 1e-12).all()
    assert c[-1] == 0.0 and coding_fraction(np.nan, 0.0) == 0.0
    # Consistent with the PIF: an all-open mask would see coding × area.
    live = detector.live_pixels()
    tz, ty = np.tan(np.radians(8.0)), np.tan(np.radians(-2.0))
    lit = pif(tz, ty, thickness=False)[live].mean()
    assert 0.3 * coding_fraction(tz, ty) < lit < 0.7 * coding_fraction(tz, ty)
