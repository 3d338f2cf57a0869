"""MURA-53 basic pattern, its decoding array and the 95×95 IBIS mask."""

import numpy as np
import pytest

from core.instrument import mask


def _cyclic_correlation(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """C[s] = Σ_k a[k + s] g[k] (cyclic), via FFT."""
    fa = np.fft.fft2(a.astype(float))
    fg = np.fft.fft2(g.astype(float))
    return np.real(np.fft.ifft2(fa * np.conj(fg)))


def test_basic_pattern_counts_and_rules():
    a = mask.mura_basic(53)
    assert a.shape == (53, 53) and a.dtype == np.uint8
    assert int(a.sum()) == 1404
    assert not a[0, :].any()
    assert a[1:, 0].all()
    c = mask.quadratic_residue_sequence(53)
    assert (c == 1).sum() == 26  # (p - 1) / 2 non-zero quadratic residues
    i, j = 5, 7
    assert a[i, j] == (c[i] * c[j] == 1)


def test_decoding_array():
    g = mask.mura_decoding(53)
    a = mask.mura_basic(53)
    assert g.dtype == np.int8 and g[0, 0] == 1
    assert set(np.unique(g)) == {-1, 1}
    off = np.ones_like(a, dtype=bool)
    off[0, 0] = False
    np.testing.assert_array_equal(g[off], 2 * a[off].astype(int) - 1)


@pytest.mark.parametrize("p", [5, 13, 53])
def test_cyclic_correlation_is_delta(p):
    a = mask.mura_basic(p)
    g = mask.mura_decoding(p)
    corr = _cyclic_correlation(a, g)
    expected = np.zeros((p, p))
    expected[0, 0] = a.sum()
    np.testing.assert_allclose(corr, expected, atol=1e-8)


def test_cyclic_correlation_direct_spot_check():
    a = mask.mura_basic(53).astype(int)
    g = mask.mura_decoding(53).astype(int)
    for s in [(0, 0), (1, 0), (0, 1), (17, 40), (52, 52)]:
        value = (np.roll(a, (-s[0], -s[1]), axis=(0, 1)) * g).sum()
        assert value == (1404 if s == (0, 0) else 0)


def test_invalid_order():
    with pytest.raises(ValueError):
        mask.mura_basic(7)  # prime but 4m + 3
    with pytest.raises(ValueError):
        mask.mura_basic(21)


def test_ibis_mask_extension():
    m = mask.ibis_mask()
    a = mask.mura_basic(53)
    assert m.shape == (95, 95) and m.dtype == np.uint8
    assert mask.MASK_ELEMENTS == 95 == 2 * 53 - 11
    # Central element is A[0, 0]; the pattern repeats with period 53 on both axes.
    assert m[47, 47] == a[0, 0]
    np.testing.assert_array_equal(m[47:100, 47:100][:48, :48], a[:48, :48])
    np.testing.assert_array_equal(m[:42, :], m[53:, :])
    np.testing.assert_array_equal(m[:, :42], m[:, 53:])
    # Every 53×53 window is a cyclic shift of A, hence has 1404 open elements.
    for z0, y0 in [(0, 0), (42, 42), (10, 31)]:
        w = m[z0 : z0 + 53, y0 : y0 + 53]
        assert int(w.sum()) == 1404
        shifted = np.roll(a, (-(z0 - 47), -(y0 - 47)), axis=(0, 1))
        np.testing.assert_array_equal(w, shifted)
    # First index is DETZ: no transpose (row 47 is the closed A[0, :] row).
    assert not m[47, :].any()
    # Column 47 is A[:, 0]: open except at kz = 47 (the next zero, kz = 100, is off the mask).
    assert m[:, 47].sum() == m.shape[0] - 1 and m[47, 47] == 0
    assert abs(mask.mask_open_fraction() - 0.5) < 0.01


def test_mask_geometry_constants():
    assert mask.MASK_ELEMENT_MM == 11.2
    assert mask.MASK_THICKNESS_MM == 16.0
    assert 3100 < mask.MASK_DISTANCE_MM < 3200
    edges = mask.mask_element_edges_mm("z")
    assert edges.size == 96
    np.testing.assert_allclose(np.diff(edges), 11.2)
    assert edges[47] + edges[48] == pytest.approx(2 * mask.MASK_CENTRE_Z_MM)
    assert mask.MASK_HALF_SIZE_MM == pytest.approx(532.0)
