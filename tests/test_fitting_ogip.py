"""OGIP readers and writers of core.fitting.ogip: round trips, OSA names, variable-length
matrices, negative ARF values, count spectra, grouping and quality."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from core.fitting.ogip import (
    read_arf,
    read_rmf,
    read_spectrum,
    write_arf,
    write_pha,
    write_rmf,
)
from tests._shared import shared_path

NGC = ("reference-data", "NGC2110_ursini_spectrum_osa10.fits")


def _toy_response(n_true=60, n_chan=12):
    """A small Gaussian-resolution response on 15–300 keV (ARF in cm², rows sum ≤ 1)."""
    edges = np.geomspace(15.0, 300.0, n_true + 1)
    ch = np.geomspace(18.0, 250.0, n_chan + 1)
    ec = np.sqrt(edges[1:] * edges[:-1])
    sig = 0.04 * ec
    from scipy.special import erf

    cdf = 0.5 * (1 + erf((ch[None, :] - ec[:, None]) / (np.sqrt(2) * sig[:, None])))
    matrix = np.diff(cdf, axis=1)
    matrix[matrix < 1e-6] = 0.0
    arf = 800.0 * np.exp(-((np.log(ec / 90.0)) ** 2) / 2.0)
    return edges, ch, matrix, arf


def test_round_trip_pha_arf_rmf(tmp_path):
    edges, ch, matrix, arf = _toy_response()
    n = ch.size - 1
    rate = np.linspace(1.0, 0.1, n)
    err = 0.05 * rate
    sys = np.full(n, 0.01)
    quality = np.zeros(n, int)
    quality[-1] = 5
    grouping = np.ones(n, int)
    grouping[3] = -1
    query = '{"RA": 83.63, "DEC": 22.01, "T1": "2003-01-01", "notes": "' + "x" * 150 + '"}'
    write_arf(tmp_path / "a.arf", edges[:-1], edges[1:], arf)
    write_rmf(tmp_path / "r.rmf", edges[:-1], edges[1:], matrix, ch[:-1], ch[1:])
    write_pha(tmp_path / "s.pha", np.arange(n), rate, err, 1234.5, sys_err=sys, quality=quality,
              grouping=grouping, respfile="r.rmf", ancrfile="a.arf", header={"OBJECT": "Crab", "QUERY": query})

    s = read_spectrum(tmp_path / "s.pha")  # responses found through RESPFILE/ANCRFILE
    assert s.exposure == pytest.approx(1234.5)
    np.testing.assert_allclose(s.rate, rate, rtol=1e-6)
    np.testing.assert_allclose(s.stat_err, err, rtol=1e-6)
    np.testing.assert_allclose(s.sys_err, sys, rtol=1e-6)
    np.testing.assert_array_equal(s.quality, quality)
    np.testing.assert_array_equal(s.grouping, grouping)
    assert s.header["QUERY"] == query and s.header["OBJECT"] == "Crab"
    np.testing.assert_allclose(s.rmf.matrix, matrix, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(s.arf.specresp, arf, rtol=1e-6)
    np.testing.assert_allclose(s.e_min, ch[:-1], rtol=1e-6)

    # Standard OGIP keywords XSPEC relies on.
    with fits.open(tmp_path / "s.pha") as h:
        hd = h["SPECTRUM"].header
        assert (hd["HDUCLASS"], hd["HDUCLAS1"], hd["HDUCLAS3"], hd["CHANTYPE"]) == ("OGIP", "SPECTRUM", "RATE", "PI")
        assert hd["DETCHANS"] == n and hd["TLMIN1"] == 0 and hd["POISSERR"] is False
        assert h["SPECTRUM"].columns["RATE"].unit == "count/s"
    with fits.open(tmp_path / "r.rmf") as h:
        assert h["MATRIX"].header["HDUCLAS2"] == "RSP_MATRIX" and h["EBOUNDS"].header["DETCHANS"] == n
        assert h["MATRIX"].columns["MATRIX"].format.startswith("P")  # variable length

    # Grouping: channels 2 and 3 merged, the bad last channel dropped.
    g = s.grouped()
    assert len(g) == n - 2
    assert g.rate[2] == pytest.approx(rate[2] + rate[3], rel=1e-6)
    assert g.stat_err[2] == pytest.approx(np.hypot(err[2], err[3]), rel=1e-6)
    assert g.e_min[2] == pytest.approx(ch[2], rel=1e-6) and g.e_max[2] == pytest.approx(ch[4], rel=1e-6)


def _osa_rmf(path, edges, ch, matrix, *, first=1, multi_group=True):
    """An RMF with OSA extension names, variable-length columns, several groups per row."""
    n_chan = ch.size - 1
    f_chan, n_ch, vals, ngrp = [], [], [], []
    for row in matrix:
        k = np.flatnonzero(row)
        if k.size == 0:
            f_chan.append(np.zeros(0, np.int16)); n_ch.append(np.zeros(0, np.int16)); vals.append(np.zeros(0, np.float32))
            ngrp.append(0)
            continue
        if multi_group and k.size >= 3:  # split the run in two groups on purpose
            mid = k.size // 2
            runs = [(k[0], k[mid]), (k[mid], k[-1] + 1)]
        else:
            runs = [(k[0], k[-1] + 1)]
        f_chan.append(np.array([a + first for a, _ in runs], np.int16))
        n_ch.append(np.array([b - a for a, b in runs], np.int16))
        vals.append(np.concatenate([row[a:b] for a, b in runs]).astype(np.float32))
        ngrp.append(len(runs))
    obj = lambda xs: np.array(xs + [None], dtype=object)[:-1]
    m = fits.BinTableHDU.from_columns([
        fits.Column("ENERG_LO", "E", array=edges[:-1]), fits.Column("ENERG_HI", "E", array=edges[1:]),
        fits.Column("N_GRP", "I", array=np.array(ngrp)), fits.Column("F_CHAN", "PI()", array=obj(f_chan)),
        fits.Column("N_CHAN", "PI()", array=obj(n_ch)), fits.Column("MATRIX", "PE()", array=obj(vals))],
        name="ISGR-RMF.-RSP")
    m.header["TLMIN4"] = first
    m.header["DETCHANS"] = n_chan
    e = fits.BinTableHDU.from_columns([
        fits.Column("CHANNEL", "J", array=np.arange(n_chan) + first),
        fits.Column("E_MIN", "E", array=ch[:-1]), fits.Column("E_MAX", "E", array=ch[1:])], name="ISGR-EBDS-MOD")
    fits.HDUList([fits.PrimaryHDU(), m, e]).writeto(path)


@pytest.mark.parametrize("first", [0, 1])
def test_osa_names_variable_length_multi_group(tmp_path, first):
    edges, ch, matrix, arf = _toy_response()
    n = ch.size - 1
    _osa_rmf(tmp_path / "isgr_rmf.fits", edges, ch, matrix, first=first)
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([
        fits.Column("ENERG_LO", "E", array=edges[:-1]), fits.Column("ENERG_HI", "E", array=edges[1:]),
        fits.Column("SPECRESP", "E", array=arf)], name="ISGR-ARF.-RSP")]).writeto(tmp_path / "isgr_arf.fits")
    spec = fits.BinTableHDU.from_columns([
        fits.Column("CHANNEL", "J", array=np.arange(n) + first), fits.Column("RATE", "E", array=np.ones(n)),
        fits.Column("STAT_ERR", "E", array=np.full(n, 0.1))], name="ISGR-PHA1-SPE")
    spec.header["EXPOSURE"] = 1000.0
    spec.header["RESPFILE"] = "isgr_rmf.fits"
    spec.header["ANCRFILE"] = "isgr_arf.fits"
    fits.HDUList([fits.PrimaryHDU(), spec]).writeto(tmp_path / "isgr_spe.fits")

    rmf = read_rmf(tmp_path / "isgr_rmf.fits")
    np.testing.assert_allclose(rmf.matrix, matrix, rtol=1e-6, atol=1e-12)
    assert rmf.channel[0] == first
    s = read_spectrum(tmp_path / "isgr_spe.fits")
    np.testing.assert_array_equal(s.response_columns(), np.arange(n))
    assert s.sys_err.sum() == 0 and s.quality.sum() == 0 and np.all(s.grouping == 0)  # absent → defaults
    np.testing.assert_allclose(read_arf(tmp_path / "isgr_arf.fits").specresp, arf, rtol=1e-6)


def test_negative_arf_kept_and_clipped_in_fold(tmp_path):
    from core.fitting.fit import fit_spectrum

    edges, ch, matrix, arf = _toy_response()
    arf = arf.copy()
    arf[-10:] = -40.0  # like the OSA 10 ARF above ~870 keV
    n = ch.size - 1
    write_arf(tmp_path / "a.arf", edges[:-1], edges[1:], arf)
    write_rmf(tmp_path / "r.rmf", edges[:-1], edges[1:], matrix, ch[:-1], ch[1:])
    write_pha(tmp_path / "s.pha", np.arange(n), np.ones(n), np.full(n, 0.1), 100.0, respfile="r.rmf", ancrfile="a.arf")
    s = read_spectrum(tmp_path / "s.pha")
    assert s.arf.n_negative == 10 and s.arf.specresp.min() == pytest.approx(-40.0)
    r = fit_spectrum(s, "powerlaw", errors=False)
    assert np.all(r.model_rate >= 0)
    assert any("negative ARF" in note for note in r.notes)


def test_counts_and_poisserr(tmp_path):
    edges, ch, matrix, _ = _toy_response()
    n = ch.size - 1
    write_rmf(tmp_path / "r.rmf", edges[:-1], edges[1:], matrix, ch[:-1], ch[1:])
    counts = np.arange(n) * 3.0
    write_pha(tmp_path / "c.pha", np.arange(n), counts / 50.0, None, 50.0, poisson=True, respfile="r.rmf")
    s = read_spectrum(tmp_path / "c.pha")
    assert s.poisson and s.counts is not None
    np.testing.assert_allclose(s.counts, counts)
    np.testing.assert_allclose(s.stat_err, np.sqrt(np.maximum(counts, 1)) / 50.0)
    with fits.open(tmp_path / "c.pha") as h:
        assert h[1].header["HDUCLAS3"] == "COUNT" and h[1].header["POISSERR"] is True
    # A RATE column with POISSERR = T and no STAT_ERR is Poisson too.
    hdu = fits.BinTableHDU.from_columns([fits.Column("CHANNEL", "J", array=np.arange(n)),
                                         fits.Column("RATE", "E", array=counts / 50.0)], name="SPECTRUM")
    hdu.header.update(EXPOSURE=50.0, POISSERR=True, RESPFILE="r.rmf")
    hdu.writeto(tmp_path / "p.pha")
    s2 = read_spectrum(tmp_path / "p.pha")
    assert s2.poisson
    np.testing.assert_allclose(s2.counts, counts, rtol=1e-6)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_spectrum(tmp_path / "missing.pha")
    hdu = fits.BinTableHDU.from_columns([fits.Column("X", "E", array=np.ones(3))], name="OTHER")
    hdu.writeto(tmp_path / "bad.fits")
    with pytest.raises(ValueError, match="spectrum"):
        read_spectrum(tmp_path / "bad.fits")
    edges, ch, matrix, arf = _toy_response()
    write_rmf(tmp_path / "r.rmf", edges[:-1], edges[1:], matrix, ch[:-1], ch[1:])
    write_arf(tmp_path / "a.arf", edges[:-1][:10], edges[1:][:10], arf[:10])
    n = ch.size - 1
    write_pha(tmp_path / "s.pha", np.arange(n), np.ones(n), np.ones(n), 1.0, respfile="r.rmf", ancrfile="a.arf")
    with pytest.raises(ValueError, match="grids differ"):
        read_spectrum(tmp_path / "s.pha")


def test_real_osa10_files():
    s = read_spectrum(shared_path(*NGC))
    assert s.n_channels == 14 and s.rmf.matrix.shape == (2466, 14)
    assert s.rmf.e_min[0] == pytest.approx(17.31, abs=0.01) and s.rmf.e_max[-1] == pytest.approx(300.22, abs=0.01)
    assert s.arf.n_negative == 604
    assert s.rmf.matrix.sum(axis=1).max() <= 1.0006
    assert s.rate.sum() == pytest.approx(3.50, abs=0.01)
    assert np.sqrt(np.sum(s.stat_err ** 2)) == pytest.approx(0.045, abs=0.002)


def test_real_files_round_trip(tmp_path):
    s = read_spectrum(shared_path(*NGC))
    write_arf(tmp_path / "a.fits", s.arf.energ_lo, s.arf.energ_hi, s.arf.specresp)
    write_rmf(tmp_path / "r.fits", s.rmf.energ_lo, s.rmf.energ_hi, s.rmf.matrix, s.rmf.e_min, s.rmf.e_max)
    write_pha(tmp_path / "s.fits", s.channel, s.rate, s.stat_err, s.exposure, respfile="r.fits", ancrfile="a.fits")
    t = read_spectrum(tmp_path / "s.fits")
    np.testing.assert_array_equal(t.rmf.matrix, s.rmf.matrix)  # negative elements included
    np.testing.assert_array_equal(t.arf.specresp, s.arf.specresp)
    np.testing.assert_allclose(t.rate, s.rate)


@pytest.mark.parametrize("names", [
    # OSA names of an instrument the reader has never heard of (any 4-character prefix) …
    {"SPECTRUM": "SPI.-PHA1-SPE", "SPECRESP": "SPI.-ARF.-RSP", "MATRIX": "SPI.-RMF.-RSP", "EBOUNDS": "SPI.-EBDS-MOD"},
    # … JEM-X's (AXIS-ARF, FBDS-MOD) …
    {"SPECTRUM": "JMX2-PHA1-SPE", "SPECRESP": "JMX2-AXIS-ARF", "MATRIX": "JMX2-RMF.-RSP", "EBOUNDS": "JMX2-FBDS-MOD"},
    # … and names that say nothing: only the OGIP HDUCLAS keys tell what each extension is.
    {"SPECTRUM": "DATA", "SPECRESP": "AREA", "MATRIX": "REDIST", "EBOUNDS": "CHANNELS"},
])
def test_reader_is_instrument_free(tmp_path, names):
    edges, ch, matrix, arf = _toy_response()
    n = ch.size - 1
    rate = np.linspace(2.0, 0.2, n)
    write_arf(tmp_path / "a.arf", edges[:-1], edges[1:], arf)
    write_rmf(tmp_path / "r.rmf", edges[:-1], edges[1:], matrix, ch[:-1], ch[1:])
    write_pha(tmp_path / "s.pha", np.arange(n), rate, 0.1 * rate, 500.0, sys_err=0.02, respfile="r.rmf",
              ancrfile="a.arf")
    for f in ("a.arf", "r.rmf", "s.pha"):
        with fits.open(tmp_path / f, mode="update") as hdul:
            for h in hdul[1:]:
                h.header["EXTNAME"] = names[h.name]
    s = read_spectrum(tmp_path / "s.pha")
    np.testing.assert_allclose(s.rate, rate, rtol=1e-6)
    np.testing.assert_allclose(s.sys_err, 0.02, rtol=1e-6)
    np.testing.assert_allclose(s.rmf.matrix, matrix, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(s.arf.specresp, arf, rtol=1e-6)
    np.testing.assert_allclose(s.e_max, ch[1:], rtol=1e-6)


def test_extension_kinds_of_any_instrument():
    """OGIP names and OSA's of any 4-character instrument prefix (what the ODA encoder orders by)."""
    from core.fitting.ogip import extension_kind

    assert [extension_kind(n) for n in ("SPECTRUM", "ISGR-PHA1-SPE", "JMX2-PHA1-SPE", "SPECRESP", "JMX1-AXIS-ARF",
                                        "MATRIX", "SPECRESP MATRIX", "ISGR-RMF.-RSP", "jmx1-rmf.-rsp",
                                        "EBOUNDS", "ISGR-EBDS-MOD", "JMX2-FBDS-MOD")] == \
        ["spectrum"] * 3 + ["arf"] * 2 + ["matrix"] * 4 + ["ebounds"] * 3
    assert [extension_kind(n) for n in ("PRIMARY", "", None, "ISGR-SRCL-RES", "RMF.-RSP", "XRMF.-RSP")] == [None] * 6
