"""JEM-X instrument model: HURA mask, detectors, PIF/collimator field of view, response."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.instruments.jemx import detector as det
from core.instruments.jemx import mask as msk
from core.instruments.jemx import pif as jpif
from core.instruments.jemx import response as resp


def test_hura_is_a_22501_element_quarter_open_difference_set():
    el = msk.mask_elements()
    assert len(el["label"]) == 22501
    assert np.unique(el["label"]).size == 22501  # one period: every label exactly once
    assert int(el["open"].sum()) == 5625          # (p − 1)/4 open: 25 %
    # Uniform redundancy: the cyclic autocorrelation of the open labels is flat off zero.
    ind = msk.quartic_residues().astype(float)
    ac = np.rint(np.fft.ifft(np.abs(np.fft.fft(ind)) ** 2).real).astype(int)
    assert ac[0] == 5625 and set(ac[1:].tolist()) == {1406}


def test_hura_two_dimensional_autocorrelation_is_flat_on_the_hexagonal_lattice():
    # Periodic autocorrelation over the period lattice, evaluated through the labels: the
    # overlap of the pattern with itself shifted by any lattice vector (a, b) ≠ period.
    el = msk.mask_elements()
    lab_open = set(el["label"][el["open"]].tolist())
    for a, b in ((1, 0), (0, 1), (7, -3), (40, 25)):
        shift = int(msk.hura_labels(a, b))
        overlap = sum(((x + shift) % msk.HURA_ORDER) in lab_open for x in lab_open)
        assert overlap == 1406
    # The period lattice is hexagonal: two shortest periods of equal length at 60° or 120°.
    v = msk.period_vectors_mm()
    n = np.hypot(v[:, 0], v[:, 1])
    assert n[0] == pytest.approx(n[1], rel=1e-9)
    cos = abs(float(v[0] @ v[1]) / (n[0] * n[1]))
    assert cos == pytest.approx(0.5, abs=1e-9)


def test_mask_geometry_matches_the_flight_numbers():
    el = msk.mask_elements()
    r = np.hypot(el["x_mm"], el["y_mm"])
    # One hexagonal period of 3.3 mm elements: ≈ 535 mm across (495 between flats, 571 between corners).
    assert 480 < 2 * r.max() < 580
    area = msk.mask_area_raster().sum() * msk.RASTER_MM ** 2
    assert area == pytest.approx(22501 * 3.3 ** 2 * math.sqrt(3) / 2, rel=2e-3)
    assert msk.mask_raster().sum() / msk.mask_area_raster().sum() == pytest.approx(0.25, abs=2e-3)
    assert msk.MASK_DISTANCE_MM == 3400.0
    # Element lookup: the centre of every element falls in its own hexagon.
    a, b = msk.element_index(el["x_mm"], el["y_mm"])
    assert np.array_equal(a, el["a"]) and np.array_equal(b, el["b"])


def test_detectors_are_500_cm2_discs_with_unit_specific_dead_strips():
    assert det.active_area_cm2() == pytest.approx(500.0, rel=0.01)
    e1, e2 = det.pixel_efficiency(1, 1000), det.pixel_efficiency(2, 1000)
    dead1 = set(np.flatnonzero((e1 == 0).all(axis=0) & (det.active_fraction() > 0).any(axis=0)).tolist())
    dead2 = set(np.flatnonzero((e2 == 0).all(axis=0) & (det.active_fraction() > 0).any(axis=0)).tolist())
    assert dead1 == {30, 91} and dead2 == {17, 18, 64}
    assert det.pixel_efficiency(2, 2000)[:, 102].max() == 0  # lost later in the mission
    assert det.pixel_efficiency(2, 100)[:, 64].max() > 0
    with pytest.raises(ValueError, match="jemx_num must be 1 or 2"):
        det.check_unit(3)


def test_field_of_view_fully_coded_to_2_deg_and_zero_beyond_6_6_deg():
    t = lambda deg: math.tan(math.radians(deg))  # noqa: E731
    for deg in (0.0, 1.0, 2.0):
        assert jpif.coding_fraction(t(deg), 0.0) == pytest.approx(1.0, abs=1e-6)
        assert jpif.coding_fraction(0.0, t(deg)) == pytest.approx(1.0, abs=1e-6)
    assert 0.3 < jpif.coding_fraction(t(4.5), 0.0) < 0.6
    assert float(jpif.response_factor(t(6.7), 0.0)) == 0.0
    assert float(jpif.response_factor(0.0, t(6.7))) == 0.0
    # Full width of zero response ≈ 13.2°, fully coded ≈ 4.1–4.8° (hexagon flats/corners).
    assert 2 * jpif.ZERO_RESPONSE_HALF_DEG == pytest.approx(13.2, abs=0.1)
    assert 4.0 < 2 * jpif.FCFOV_HALF_DEG < 4.9


def test_pif_on_axis_is_the_open_fraction_and_shifts_with_the_source():
    p0 = jpif.pif(0.0, 0.0)
    w = det.ideal_efficiency()
    assert float((p0 * w).sum() / w.sum()) == pytest.approx(0.25, abs=0.015)
    # A shift of exactly one detector pixel in direction moves the shadow by one pixel.
    step = det.PITCH_MM / msk.MASK_DISTANCE_MM
    p1 = jpif.pif(step, 0.0)
    assert np.allclose(p1[:-1, :], p0[1:, :], atol=1e-5)
    assert not np.allclose(p1, p0, atol=1e-2)


def test_effective_area_has_the_be_cutoff_and_the_xe_k_edge():
    e = np.array([3.0, 10.0, 30.0, 34.4, 34.8, 50.0])
    a = resp.effective_area(e)
    assert a[0] < 0.5 * a[1]                      # Be window below ~4 keV
    assert 55 < a[1] < 75                          # ≈ 64 cm² at 10 keV
    assert a[4] > 2.5 * a[3]                       # Xe K edge at 34.56 keV
    assert a[2] < 0.5 * a[1]                       # gas becomes transparent above 20 keV


@pytest.mark.parametrize("e0", [6.0, 10.0, 22.0])
def test_rmf_line_width_follows_the_measured_resolution(e0):
    edges = np.array([e0 * 0.999, e0 * 1.001])
    m = resp.redistribution_matrix(edges, resp.PI_EDGES)[0]
    c = 0.5 * (resp.PI_EDGES[1:] + resp.PI_EDGES[:-1])
    mean = float((m * c).sum() / m.sum())
    sigma = math.sqrt(float((m * (c - mean) ** 2).sum() / m.sum()))
    fwhm = 2.3548 * sigma
    assert mean == pytest.approx(e0, rel=2e-3)
    assert fwhm / e0 == pytest.approx(0.40 * math.sqrt(1 / e0 + 1 / 60), rel=0.03)


def test_k_escape_peak_above_the_edge():
    edges = np.array([44.95, 45.05])
    m = resp.redistribution_matrix(edges, resp.PI_EDGES)[0]
    c = 0.5 * (resp.PI_EDGES[1:] + resp.PI_EDGES[:-1])
    esc = m[(c > 13.0) & (c < 17.5)].sum()
    photo = m[(c > 42.0) & (c < 48.0)].sum()
    assert esc == pytest.approx(0.55 * 0.85, abs=0.03)
    assert photo == pytest.approx(0.45, abs=0.03)


def test_sixteen_channels_and_their_rmf():
    edges = resp.spectral_channel_edges()
    assert len(edges) == 17 and edges[0] == 3.0 and edges[-1] == 35.0
    m = resp.channel_matrix(edges)
    te = resp.TRUE_ENERGY_EDGES
    mid = np.sqrt(te[1:] * te[:-1])
    row = m[np.searchsorted(mid, 10.0)]
    assert row.sum() == pytest.approx(1.0, abs=1e-3)
    assert np.argmax(row) == np.searchsorted(edges, 10.0) - 1
