"""Mosaics, source detection and product files, on synthetic ScW images with known truth.

Each synthetic "ScW" is a rotated TAN frame (CRVAL = pointing, 4.94′ pixels, roll), Gaussian
noise of known σ, Gaussian PSF sources (σ = 1.2 pixel) and NaN outside a square field. Seeds
are fixed and tolerances are several standard deviations wide.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from core.imaging.detect import (FLAG_EDGE, FLAG_FORCED, catalog_from_oda_json, catalog_to_oda_json,
                                 detect_sources, error_radius_deg)
from core.imaging.mosaic import (ISGRI_PIXEL_DEG, MosaicBuilder, build_mosaic, mosaic_grid, project,
                                 read_mosaic_fits, write_mosaic_fits)
from core.imaging.outputs import mosaic_png, write_catalog_ecsv, write_catalog_fits, write_region_file
from core.imaging.types import SkyImages

from ._shared import shared_path

PIX = ISGRI_PIXEL_DEG
PSF = 1.2
RA0, DEC0 = 266.0, -29.0   # Galactic centre region: RA wrap-free, mid southern declination


# -- synthetic ScW images ----------------------------------------------------------------------------
def tan_wcs(ra: float, dec: float, roll: float, n: int, align=None) -> WCS:
    """TAN frame about (ra, dec) rotated by ``roll``; ``align=(ra, dec)`` puts that point on a pixel centre."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(n + 1) / 2, (n + 1) / 2]
    w.wcs.cdelt = [-PIX, PIX]
    c, s = np.cos(np.radians(roll)), np.sin(np.radians(roll))
    w.wcs.pc = [[c, -s], [s, c]]
    w.wcs.radesys = "ICRS"          # the mosaic grid is FK5: exercises the frame relabelling
    w.wcs.set()
    if align is not None:
        px, py = w.world_to_pixel_values(*align)
        w.wcs.crpix = [w.wcs.crpix[0] - (px - np.round(px)), w.wcs.crpix[1] - (py - np.round(py))]
        w.wcs.set()
    return w


def make_frame(rng, ra, dec, roll, *, n=160, sigma=1.0, sources=(), align=None, scw_id="000100010010",
               exposure=2000.0) -> SkyImages:
    """One synthetic ScW image: noise σ, sources [(ra, dec, amplitude)], NaN outside a square field."""
    w = tan_wcs(ra, dec, roll, n, align)
    y, x = np.mgrid[0:n, 0:n].astype(float)
    inten = rng.normal(0.0, sigma, (n, n))
    for sra, sdec, amp in sources:
        px, py = w.world_to_pixel_values(sra, sdec)
        inten += amp * np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * PSF ** 2))
    half = n / 2 - 3
    r = np.maximum(np.abs(x - (n - 1) / 2), np.abs(y - (n - 1) / 2))
    out = r > half
    inten[out] = np.nan
    var = np.where(out, np.nan, sigma ** 2)
    expo = np.where(out, np.nan, exposure * (1.0 - 0.7 * r / half))   # partially coded edge: less exposure
    return SkyImages(inten, var, inten / np.sqrt(var), expo, w, {"scw_id": scw_id, "e1": 20.0, "e2": 40.0})


def pointings(rng, k, spread=2.0):
    return [(RA0 + rng.uniform(-spread, spread) / np.cos(np.radians(DEC0)), DEC0 + rng.uniform(-spread, spread))
            for _ in range(k)]


def mosaic_of(frames, centre=(RA0, DEC0), margin=7.0, rescale=True):
    pts = [tuple(f.wcs.wcs.crval) for f in frames]
    wcs, shape = mosaic_grid(*centre, pts, margin_deg=margin)
    b = MosaicBuilder(wcs, shape)
    for f in frames:
        assert b.add(f)
    return b.result(rescale_variance=rescale), b


def offset(ra, dec, dx_deg, dy_deg):
    """Small offset on the sky (flat approximation, fine at < 10°)."""
    return ra + dx_deg / np.cos(np.radians(dec)), dec + dy_deg


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def noise_mosaic():
    rng = np.random.default_rng(11)
    frames = [make_frame(rng, ra, dec, rng.uniform(0, 360), sigma=rng.uniform(0.7, 1.5), scw_id=f"0042{i:04d}0010")
              for i, (ra, dec) in enumerate(pointings(rng, 20))]
    return mosaic_of(frames)


@pytest.fixture(scope="module")
def source_field():
    """20 frames with 36 sources of expected mosaic SNR 8–30 on a jittered 6×6 grid (≥ 1.1° apart)."""
    rng = np.random.default_rng(2024)
    sigmas = rng.uniform(0.8, 1.3, 20)
    pts = pointings(rng, 20, spread=1.5)
    truth = []
    for i in range(6):
        for j in range(6):
            ra, dec = offset(RA0, DEC0, -4.4 + 1.76 * i + rng.uniform(-0.3, 0.3),
                             -4.4 + 1.76 * j + rng.uniform(-0.3, 0.3))
            truth.append((ra, dec, rng.uniform(8.0, 30.0)))
    # Per-frame amplitude giving the wanted inverse-variance-combined SNR (every frame covers
    # every source: |offset| ≤ 5.7° + 1.5° dither < 13.2° half field - margin).
    norm = np.sqrt(np.sum(1.0 / sigmas ** 2))
    sources = [(ra, dec, snr / norm) for ra, dec, snr in truth]
    frames = [make_frame(rng, ra, dec, rng.uniform(0, 360), n=200 + 2 * (k % 2), sigma=s, sources=sources,
                         scw_id=f"0043{k:04d}0010")
              for k, ((ra, dec), s) in enumerate(zip(pts, sigmas))]
    images, _ = mosaic_of(frames, margin=8.5)
    return images, truth


# -- grid and projection -----------------------------------------------------------------------------
def test_grid_centred_odd_capped():
    wcs, (ny, nx) = mosaic_grid(RA0, DEC0, [(RA0, DEC0), offset(RA0, DEC0, 6.0, -3.0)])
    assert ny % 2 == 1 and nx % 2 == 1
    cx, cy = wcs.world_to_pixel_values(RA0, DEC0)
    assert abs(cx - (nx - 1) / 2) < 1e-9 and abs(cy - (ny - 1) / 2) < 1e-9   # query on a pixel centre
    assert np.isclose(abs(wcs.wcs.cdelt[0]), ISGRI_PIXEL_DEG) and wcs.wcs.cdelt[0] < 0
    # covers the farthest pointing plus the field margin in each direction
    assert nx * PIX >= 2 * (6.0 + 15.0) - 2 * PIX and ny * PIX >= 2 * (3.0 + 15.0) - 2 * PIX
    assert nx * PIX < 2 * (6.5 + 15.0) + 3 * PIX
    _, big = mosaic_grid(RA0, DEC0, [offset(RA0, DEC0, 60.0, 0.0), (RA0 + 150.0, 10.0)])
    assert max(big) * PIX <= 80.0 + 3 * PIX  # odd sizes round up by up to 2 pixels
    _, empty = mosaic_grid(RA0, DEC0, [])
    assert empty[0] == empty[1] and abs(empty[0] * PIX - 30.0) < 3 * PIX


def test_project_blocks_equal_full_reprojection():
    """The strip-wise cut-out resampling gives what one full-grid reproject_interp gives."""
    from reproject import reproject_interp

    rng = np.random.default_rng(5)
    wcs, shape = mosaic_grid(RA0, DEC0, [(RA0, DEC0)], margin_deg=12.0)
    for roll in (0.0, 33.0, 45.0):
        f = make_frame(rng, *offset(RA0, DEC0, 1.3, -0.7), roll, n=200)
        part = project(f, wcs, shape)
        w = 1.0 / f.variance
        # project() relabels the ICRS input as FK5 (< 0.02″ apart) to avoid a per-pixel frame
        # transformation; do the same for the reference.
        fk5 = f.wcs.deepcopy()
        fk5.wcs.radesys, fk5.wcs.equinox = "FK5", 2000.0
        full, foot = reproject_interp((np.stack([f.intensity * w, w, f.exposure]), fk5), wcs, shape_out=shape,
                                      order="bilinear", return_footprint=True, roundtrip_coords=False)
        ok = (foot[0] > 0) & np.all(np.isfinite(full), axis=0)
        got = np.zeros(shape, bool)
        got[part.y0:part.y1, part.x0:part.x1] = part.covered
        # Coordinates interpolated between exact wcslib nodes: coverage may differ only on the
        # outermost ring of edge pixels, values by interpolation round-off.
        assert np.sum(got != ok) <= 0.002 * ok.sum()
        both = (got & ok)[part.y0:part.y1, part.x0:part.x1]
        for plane, k in ((part.wf, 0), (part.w, 1), (part.exposure, 2)):
            ref = full[k][part.y0:part.y1, part.x0:part.x1]
            np.testing.assert_allclose(plane[both], ref[both], rtol=1e-9, atol=0.01 * np.std(ref[both]))


def test_resampling_positions_are_exact_to_a_thousandth_of_a_pixel():
    """Resample an image whose value is its own x (and y) pixel coordinate: the output is
    the exact input position of each output pixel, to compare with wcslib evaluated per pixel."""
    from core.imaging.mosaic import _interp_block

    rng = np.random.default_rng(9)
    wcs, shape = mosaic_grid(RA0, DEC0, [(RA0, DEC0)], margin_deg=12.0)
    f = make_frame(rng, *offset(RA0, DEC0, 3.0, 2.0), 37.0, n=200)
    yy, xx = np.mgrid[0:200, 0:200].astype(float)
    fk5 = f.wcs.deepcopy()
    fk5.wcs.radesys, fk5.wcs.equinox = "FK5", 2000.0
    res = _interp_block(np.stack([xx, yy]), fk5, wcs, shape)
    oy, ox = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    ex, ey = fk5.wcs_world2pix(*wcs.wcs_pix2world(ox, oy, 0), 0)
    inside = np.isfinite(res[0])
    assert inside.sum() > 20000
    assert np.abs(res[0][inside] - ex[inside]).max() < 1e-3 and np.abs(res[1][inside] - ey[inside]).max() < 1e-3
    far = make_frame(rng, RA0 + 120.0, 40.0, 0.0, n=100)
    assert project(far, wcs, shape) is None


# -- mosaic statistics --------------------------------------------------------------------------------
def test_noise_significance_is_standard_normal(noise_mosaic):
    images, builder = noise_mosaic
    s = images.significance[np.isfinite(images.significance)]
    assert s.size > 35000
    assert abs(s.mean()) < 0.05
    assert abs(s.std() - 1.0) < 0.05
    # bilinear resampling smooths: V had to shrink, by a plausible factor
    k = images.meta["variance_rescale"]
    assert 0.3 < k < 1.0
    assert images.meta["n_scw"] == 20 and len(images.meta["scw_ids"]) == 20
    assert images.meta["e1"] == 20.0 and images.meta["e2"] == 40.0
    assert builder.coverage.max() == 20
    # consistent planes; NaN exactly where nothing was added; exposure adds up
    cov = builder.coverage > 0
    assert np.array_equal(np.isfinite(images.intensity), cov)
    assert np.array_equal(np.isfinite(images.exposure), cov)
    np.testing.assert_allclose(images.significance[cov], images.intensity[cov] / np.sqrt(images.variance[cov]))
    assert np.nanmax(images.exposure) > 20 * 2000.0 * 0.5


def test_no_false_detection_in_pure_noise(noise_mosaic):
    images, _ = noise_mosaic
    t = detect_sources(images, threshold=7.0)
    assert len(t) == 0 and t.meta["n_detected"] == 0
    assert t.colnames == ["NAME", "RA_OBJ", "DEC_OBJ", "RA_FIN", "DEC_FIN", "DETSIG", "FLUX", "FLUX_ERR",
                          "ERR_RAD", "NEW_SOURCE", "ISGRI_FLAG", "FLAG"]


def _aligned_stack(rng, n_frames, amp, sigmas):
    src = (RA0, DEC0)
    return [make_frame(rng, *offset(RA0, DEC0, rng.uniform(-2, 2), rng.uniform(-2, 2)), rng.uniform(0, 360),
                       sigma=s, sources=[(*src, amp)], align=src) for s in sigmas[:n_frames]]


def test_source_significance_is_inverse_variance_combination():
    rng = np.random.default_rng(7)
    sigmas = rng.uniform(0.7, 1.5, 20)
    amp = 14.0
    frames = _aligned_stack(rng, 20, amp, sigmas)
    images, _ = mosaic_of(frames, rescale=False)
    cy, cx = (np.array(images.shape) - 1) // 2      # the source sits on the grid's central pixel
    expected = amp * np.sqrt(np.sum(1.0 / sigmas ** 2))   # ≈ 60: noise 1 ⇒ 1.7 %
    assert images.significance[cy, cx] == pytest.approx(expected, rel=0.10)
    assert images.intensity[cy, cx] == pytest.approx(amp, rel=0.10)
    assert images.variance[cy, cx] == pytest.approx(1.0 / np.sum(1.0 / sigmas ** 2), rel=1e-6)
    assert images.meta["variance_rescale"] == 1.0
    # with the noise rescaling, the significance scales by 1/√k and the intensity is unchanged
    rescaled, _ = mosaic_of(frames)
    k = rescaled.meta["variance_rescale"]
    assert rescaled.significance[cy, cx] == pytest.approx(images.significance[cy, cx] / np.sqrt(k), rel=1e-9)
    np.testing.assert_allclose(rescaled.intensity, images.intensity, equal_nan=True)


def test_source_significance_random_subpixel_phase():
    """Unaligned frames: bilinear resampling costs 0–16 % of a 1.2-pixel PSF's peak (10 % on average)."""
    rng = np.random.default_rng(8)
    sigmas = np.full(20, 1.0)
    amp = 14.0
    frames = [make_frame(rng, *offset(RA0, DEC0, rng.uniform(-2, 2), rng.uniform(-2, 2)), rng.uniform(0, 360),
                         sources=[(RA0, DEC0, amp)]) for _ in sigmas]
    images, _ = mosaic_of(frames, rescale=False)
    cy, cx = (np.array(images.shape) - 1) // 2
    ratio = images.significance[cy, cx] / (amp * np.sqrt(20.0))
    assert 0.80 < ratio < 1.03


def test_significance_grows_as_sqrt_n():
    sigmas = np.full(16, 1.0)
    amp = 30.0
    s = {}
    for n in (4, 9, 16):
        images, _ = mosaic_of(_aligned_stack(np.random.default_rng(100 + n), n, amp, sigmas), rescale=False)
        cy, cx = (np.array(images.shape) - 1) // 2
        s[n] = images.significance[cy, cx]
    for n in (9, 16):
        assert s[n] / s[4] == pytest.approx(np.sqrt(n / 4), rel=0.10)


def test_build_mosaic_streams_generator():
    rng = np.random.default_rng(3)
    frames = [make_frame(rng, ra, dec, 10.0 * i, n=100) for i, (ra, dec) in enumerate(pointings(rng, 3))]
    wcs, shape = mosaic_grid(RA0, DEC0, [tuple(f.wcs.wcs.crval) for f in frames], margin_deg=5)
    a = build_mosaic((f for f in frames), wcs, shape, rescale_variance=False)
    b = build_mosaic(frames, rescale_variance=False)       # grid from the inputs' pointings
    assert a.meta["n_scw"] == b.meta["n_scw"] == 3
    assert np.nansum(a.exposure) == pytest.approx(np.nansum(b.exposure), rel=0.02)


# -- detection ------------------------------------------------------------------------------------------
def _nearest(t, ra, dec):
    from core.imaging.detect import _sep_deg

    if len(t) == 0:
        return None, np.inf
    sep = _sep_deg(ra, dec, np.asarray(t["RA_FIN"]), np.asarray(t["DEC_FIN"]))
    k = int(np.argmin(sep))
    return k, float(sep[k])


def test_detection_recovers_injected_sources(source_field):
    images, truth = source_field
    t = detect_sources(images, threshold=7.0)
    assert len(truth) >= 30
    found = 0
    for ra, dec, _snr in truth:
        k, sep = _nearest(t, ra, dec)
        if k is not None and sep <= t["ERR_RAD"][k]:
            found += 1
    assert found >= 0.9 * len(truth)
    # nothing spurious: every detection is one of the injected sources
    from core.imaging.detect import _sep_deg

    tra, tdec = np.array([s[0] for s in truth]), np.array([s[1] for s in truth])
    for row in t:
        assert np.min(_sep_deg(row["RA_FIN"], row["DEC_FIN"], tra, tdec)) < 3 * row["ERR_RAD"]
    assert len(t) == len(truth) == t.meta["n_detected"]
    # sorted, consistent measurements
    assert np.all(np.diff(t["DETSIG"]) <= 0)
    np.testing.assert_allclose(t["ERR_RAD"], error_radius_deg(t["DETSIG"]))
    assert np.all(t["FLUX_ERR"] > 0)
    np.testing.assert_allclose(t["FLUX"] / t["FLUX_ERR"], t["DETSIG"], rtol=0.02)
    assert np.all(t["NEW_SOURCE"] == 1) and np.all(t["ISGRI_FLAG"] == 1)
    assert t.meta["threshold"] == 7.0


def test_error_radius_formula():
    # 19′/SNR (fit_peak's accuracy, measured by the position ensemble and on full simulations:
    # tests/test_position_errors.py) with the 0.3′ in-flight floor of Gros et al. 2003.
    assert error_radius_deg(6.6) * 60 == pytest.approx(2.89, abs=0.02)
    assert error_radius_deg(25.0) * 60 == pytest.approx(0.82, abs=0.02)
    assert error_radius_deg(1000.0) * 60 == pytest.approx(0.3, abs=0.01)


def test_catalogue_cross_match_and_new_names(source_field):
    images, truth = source_field
    rng = np.random.default_rng(1)
    cat = []
    for i, (ra, dec, _snr) in enumerate(truth):
        if i % 2 == 0:   # half of them known, catalogued 1′ off the truth
            cat.append((f"SRC {i}", *offset(ra, dec, 1.0 / 60 * rng.choice([-1, 1]), 0.0)))
    cat.append(("FAR AWAY", RA0 + 30.0, DEC0))
    t = detect_sources(images, threshold=7.0, catalog=cat)
    byname = {row["NAME"]: row for row in t}
    for name, cra, cdec in cat[:-1]:
        row = byname[name]
        assert row["RA_OBJ"] == cra and row["DEC_OBJ"] == cdec       # catalogue position
        assert (row["RA_FIN"], row["DEC_FIN"]) != (cra, cdec)        # fitted position
        assert row["NEW_SOURCE"] == 0 and row["ISGRI_FLAG"] == 2
    assert "FAR AWAY" not in byname
    new = t[t["NEW_SOURCE"] == 1]
    assert len(new) == len(truth) - len(cat[:-1])
    # NEW_1, NEW_2, … in order of decreasing significance
    order = np.argsort(-np.asarray(new["DETSIG"]))
    assert [str(n) for n in new["NAME"][order]] == [f"NEW_{i}" for i in range(1, len(new) + 1)]
    assert np.all(new["ISGRI_FLAG"] == 1)
    np.testing.assert_array_equal(new["RA_OBJ"], new["RA_FIN"])


def test_sky_model_catalogue_identifies_real_source():
    from core.sky.catalog import sky_model

    model = sky_model()
    src = max(model.sources, key=lambda s: s.flux_mcrab if abs(s.dec) < 60 else -1)
    rng = np.random.default_rng(4)
    f = make_frame(rng, *offset(src.ra, src.dec, 1.0, 0.5), 20.0, n=120, sources=[(src.ra, src.dec, 25.0)])
    t = detect_sources(f, threshold=7.0, catalog=model)
    assert t["NAME"][0] == src.name and t["NEW_SOURCE"][0] == 0
    t2 = detect_sources(f, threshold=7.0, catalog=[(s.name, s.ra, s.dec) for s in model])
    assert t2["NAME"][0] == src.name


def test_no_target_row_and_catalogue_names_kept():
    """As ODA's catalogues: detections only, each under its catalogue name (no "target" row)."""
    rng = np.random.default_rng(9)
    src = offset(RA0, DEC0, 1.0, 1.0)
    f = make_frame(rng, RA0, DEC0, 0.0, n=140, sources=[(*src, 20.0)])
    empty = offset(RA0, DEC0, -2.0, 1.5)
    # an undetected target is not listed
    t = detect_sources(f, threshold=7.0, catalog=[("KNOWN", *src)], target=("My Target", *empty))
    assert list(t["NAME"]) == ["KNOWN"] and not np.any(t["FLAG"] & FLAG_FORCED)
    assert t["DETSIG"][0] > 15
    # the target at a catalogue source's position: the catalogue name is kept
    for tname in ("KNOWN alias", "target", ""):
        t2 = detect_sources(f, threshold=7.0, catalog=[("KNOWN", *src)], target=(tname, *offset(*src, 0.5 / 60, 0.0)))
        assert list(t2["NAME"]) == ["KNOWN"]
    # a user-named position the catalogue does not know names its detection (not NEW_1)
    t3 = detect_sources(f, threshold=7.0, catalog=[], target=("My transient", *src))
    assert list(t3["NAME"]) == ["My transient"] and t3["NEW_SOURCE"][0] == 0
    # the default name of a position query never becomes a source name
    t4 = detect_sources(f, threshold=7.0, catalog=[], target=("target", *src))
    assert list(t4["NAME"]) == ["NEW_1"]
    # target outside the map: nothing added
    t5 = detect_sources(f, threshold=7.0, catalog=[("KNOWN", *src)], target=("Elsewhere", RA0 + 40, DEC0))
    assert list(t5["NAME"]) == ["KNOWN"]


def test_edge_flag():
    rng = np.random.default_rng(10)
    n = 140
    w = tan_wcs(RA0, DEC0, 0.0, n)
    half = n / 2 - 3
    edge_src = w.pixel_to_world_values((n - 1) / 2 + half - 1.5, (n - 1) / 2)   # 1.5 pixels inside the field
    centre_src = w.pixel_to_world_values((n - 1) / 2 - 20, (n - 1) / 2 + 10)
    f = make_frame(rng, RA0, DEC0, 0.0, n=n, sources=[(*edge_src, 25.0), (*centre_src, 25.0)])
    t = detect_sources(f, threshold=7.0)
    assert len(t) == 2
    k_edge, _ = _nearest(t, *edge_src)
    k_mid, _ = _nearest(t, *centre_src)
    assert t["FLAG"][k_edge] & FLAG_EDGE
    assert t["FLAG"][k_mid] == 0
    # low exposure alone also flags
    f.exposure[:, : n // 2] *= 0.01
    t = detect_sources(f, threshold=7.0)
    k_mid, _ = _nearest(t, *centre_src)
    assert t["FLAG"][k_mid] & FLAG_EDGE


# -- files ------------------------------------------------------------------------------------------------
def test_mosaic_fits_round_trip(tmp_path, source_field):
    images, _ = source_field
    path = tmp_path / "mosaic.fits"
    qp = {"RA": RA0, "DEC": DEC0, "E1_keV": 20.0, "E2_keV": 40.0, "src_name": "GX 5-1",
          "scw_list": [f"0043{k:04d}0010.001" for k in range(20)]}
    cmd = "python -m core image --RA 266.0 --DEC -29.0 --E1_keV 20 --E2_keV 40 " + " ".join(["--x y"] * 20)
    write_mosaic_fits(images, path, query_params=qp, command=cmd, extra_header={"OBSERVER": "test"})
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "GROUPING", *["ISGR-MOSA-IMA"] * 4]
        assert [h.header["IMATYPE"] for h in hdul[2:]] == ["INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"]
        ph = hdul[0].header
        assert (ph["TELESCOP"], ph["INSTRUME"], ph["DETNAM"]) == ("INTEGRAL", "IBIS", "ISGRI")
        assert ph["E_MIN"] == 20.0 and ph["E_MAX"] == 40.0 and ph["NSCW"] == 20 and ph["OBSERVER"] == "test"
        assert json.loads(ph["QUERY"]) == qp and ph["COMMAND"] == cmd
        assert "python -m core image" in "".join(str(h) for h in ph["HISTORY"])
        assert list(hdul[1].data["MEMBER_POSITION"]) == [3, 4, 5, 6]
        for h in hdul[2:]:
            assert h.data.dtype == np.dtype(">f4")
            assert h.header["BUNIT"] is not None and h.header["RADESYS"] == "FK5"
            w = WCS(h.header)
            assert w.has_celestial and w.wcs.ctype[0] == "RA---TAN"
        assert hdul[2].header["BUNIT"] == "count/s" and hdul[5].header["BUNIT"] == "s"
    back = read_mosaic_fits(path)
    for kind in ("intensity", "variance", "significance", "exposure"):
        np.testing.assert_allclose(getattr(back, kind), getattr(images, kind).astype(np.float32), rtol=1e-6,
                                   equal_nan=True)
    xy = np.array([[0, 0], [10, 250], [images.shape[1] - 1, images.shape[0] - 1]], float)
    np.testing.assert_allclose(back.wcs.pixel_to_world_values(xy[:, 0], xy[:, 1]),
                               images.wcs.pixel_to_world_values(xy[:, 0], xy[:, 1]), atol=1e-9)
    assert back.meta["n_scw"] == 20 and back.meta["scw_ids"] == images.meta["scw_ids"]
    assert back.meta["e1"] == 20.0 and back.meta["query"] == qp
    assert back.meta["variance_rescale"] == pytest.approx(images.meta["variance_rescale"])
    # detection on the file gives the same sources
    assert len(detect_sources(back)) == len(detect_sources(images))


@pytest.mark.parametrize("as_extension", [False, True])
def test_read_lone_significance_image(tmp_path, as_extension):
    rng = np.random.default_rng(12)
    n = 80
    w = tan_wcs(RA0, DEC0, 0.0, n)
    w.wcs.radesys = "FK5"
    sig = rng.normal(size=(n, n)).astype(np.float32)
    sig[:5] = np.nan
    hdr = w.to_header()
    if as_extension:
        hdr["EXTNAME"] = "ISGR-MOSA-IMA"
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sig, hdr)])
    else:
        hdul = fits.HDUList([fits.PrimaryHDU(sig, hdr)])
    path = tmp_path / "sig.fits"
    hdul.writeto(path)
    img = read_mosaic_fits(path)
    finite = np.isfinite(sig)
    np.testing.assert_array_equal(img.significance[finite], sig[finite])
    np.testing.assert_array_equal(img.intensity[finite], sig[finite])
    assert np.all(img.variance[finite] == 1.0)
    assert np.all(np.isnan(img.variance[~finite])) and np.all(np.isnan(img.intensity[~finite]))
    assert img.meta["significance_only"]
    np.testing.assert_allclose(img.wcs.wcs.crval, [RA0, DEC0])


def test_catalog_fits_ecsv_regions(tmp_path, source_field):
    from regions import Regions

    images, truth = source_field
    t = detect_sources(images, threshold=7.0, catalog=[("Known A", truth[0][0], truth[0][1])],
                       target=("Target B", *offset(RA0, DEC0, 7.0, 7.0)))
    p = write_catalog_fits(t, tmp_path / "cat.fits")
    with fits.open(p) as hdul:
        h = hdul["ISGR-SRCL-RES"]
        assert h.columns.names[:12] == ["NAME", "RA_OBJ", "DEC_OBJ", "RA_FIN", "DEC_FIN", "DETSIG", "FLUX",
                                        "FLUX_ERR", "ERR_RAD", "NEW_SOURCE", "ISGRI_FLAG", "FLAG"]
        assert h.header["RADECSYS"] == "FK5" and h.header["E_MIN"] == 20.0
        assert list(h.data["NAME"]) == list(t["NAME"])
        np.testing.assert_allclose(h.data["RA_FIN"], t["RA_FIN"])
        np.testing.assert_array_equal(h.data["FLAG"], t["FLAG"])
    e = write_catalog_ecsv(t, tmp_path / "cat.ecsv")
    te = Table.read(e, format="ascii.ecsv")
    assert list(te["NAME"]) == list(t["NAME"]) and te.meta["threshold"] == 7.0
    np.testing.assert_allclose(te["DEC_FIN"], t["DEC_FIN"])

    r = write_region_file(t, tmp_path / "src.reg")
    text = r.read_text()
    assert "\nfk5\n" in text
    regs = Regions.read(str(r), format="ds9")
    assert len(regs) == len(t)
    for reg, row in zip(regs, t):
        assert reg.meta["text"] == row["NAME"]
        assert reg.center.fk5.ra.deg == pytest.approx(row["RA_FIN"], abs=1e-6)
        assert reg.center.fk5.dec.deg == pytest.approx(row["DEC_FIN"], abs=1e-6)
        assert reg.radius.to_value("arcmin") == pytest.approx(max(row["ERR_RAD"] * 60, 2.0), rel=1e-4)
    empty = write_region_file(t[:0], tmp_path / "empty.reg")
    assert len(Regions.read(str(empty), format="ds9")) == 0


def test_mosaic_png(tmp_path, source_field):
    import matplotlib.image as mpimg

    images, _ = source_field
    t = detect_sources(images, threshold=7.0, target=("Target", RA0, DEC0))
    before = None
    if "matplotlib.pyplot" in sys.modules:
        before = list(sys.modules["matplotlib.pyplot"].get_fignums())
    p = mosaic_png(images, t, tmp_path / "m.png", title="test mosaic")
    assert p.stat().st_size > 50_000
    arr = mpimg.imread(p)
    assert arr.shape[1] >= 1000 and arr.shape[0] >= 700       # 8 in at 150 dpi
    assert arr[..., :3].std() > 0.05                           # not blank
    if before is not None:
        assert list(sys.modules["matplotlib.pyplot"].get_fignums()) == before
    for stretch in ("linear", "sqrt"):
        mosaic_png(images, None, tmp_path / f"{stretch}.png", stretch=stretch, vmin=-3, vmax=20)
    with pytest.raises(ValueError):
        mosaic_png(images, None, tmp_path / "x.png", stretch="bogus")


# -- ODA catalogue JSON -------------------------------------------------------------------------------
def test_real_oda_catalog_round_trip():
    path = shared_path("reference-data", "api_cat_str_gx5-1.txt")
    original = json.loads(path.read_text())
    t = catalog_from_oda_json(original)
    assert len(t) == 25
    gx = t[t["NAME"] == "GX 5-1"][0]
    assert gx["DETSIG"] == pytest.approx(100.67, abs=0.01)
    assert gx["RA_FIN"] == pytest.approx(270.284, abs=1e-3) and gx["DEC_FIN"] == pytest.approx(-25.081, abs=1e-3)
    assert set(t["NEW_SOURCE"]) == {-32768}            # OSA's null for known sources, kept as is
    back = catalog_to_oda_json(t)
    assert back == original
    assert json.loads(json.dumps(back)) == original
    assert list(back) == list(original)                # same key order as ODA
    # the table is usable by our writers too
    text = catalog_from_oda_json(path.read_text())
    assert list(text["NAME"]) == list(t["NAME"])


def test_our_catalog_to_oda_json_and_back(source_field):
    images, truth = source_field
    t = detect_sources(images, threshold=7.0, catalog=[("Known A", truth[0][0], truth[0][1])],
                       target=("Target B", *offset(RA0, DEC0, 7.0, 7.0)))
    d = catalog_to_oda_json(t)
    assert d["cat_column_names"] == ["meta_ID", "src_names", "significance", "ra", "dec", "NEW_SOURCE",
                                     "ISGRI_FLAG", "FLAG", "ERR_RAD"]
    assert [c[1] for c in d["cat_column_descr"]][2:] == ["<f8", "<f8", "<f8", "<i8", "<i8", "<i8", "<f8"]
    assert d["cat_column_list"][1] == [str(n) for n in t["NAME"]]
    text = json.dumps(d)                                # strict JSON
    assert "NaN" not in text
    t2 = catalog_from_oda_json(text)
    np.testing.assert_allclose(t2["DETSIG"], t["DETSIG"])
    np.testing.assert_allclose(t2["RA_FIN"], t["RA_FIN"])
    assert catalog_to_oda_json(t2) == d
