"""JEM-X ScWs of the simulated archive: OSA layout beside ISGRI, determinism, content."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
from astropy.io import fits

from core.archive.store import Archive
from core.errors import NotFoundError
from core.instruments.jemx import files as jf
from core.instruments.jemx import response as resp
from core.instruments.jemx.simulate import DEADC, expected_weights, source_rate_per_mcrab
from core.instrument.attitude import Attitude
from core.sky.catalog import sky_model

CRAB_SCW = "003900190010"


@pytest.fixture()
def archive(fresh_settings):
    return Archive(fresh_settings)


def test_layout_extensions_and_keywords(archive):
    path, made = jf.ensure_jemx(archive, CRAB_SCW, 1)
    assert made
    assert path == archive.root / "scw" / CRAB_SCW[:4] / f"{CRAB_SCW}.001" / "jmx1_events.fits.gz"
    assert not [p for p in path.parent.iterdir() if ".tmp" in p.name]  # atomic: nothing left behind
    with fits.open(io.BytesIO(gzip.decompress(path.read_bytes()))) as hdul:
        names = [h.name for h in hdul]
        assert names[1:] == ["JMX1-FULL-ALL", "JMX1-GNRL-GTI", "JMX1-PXLS-STA"]
        ev = hdul["JMX1-FULL-ALL"]
        assert ev.columns.names == ["TIME", "DETX", "DETY", "PI", "STATUS"]
        assert ev.header["INSTRUME"] == "JMX1" and ev.header["TELESCOP"] == "INTEGRAL"
        row = archive.row(CRAB_SCW)
        for key, col in (("RA_SCX", "ra_scx"), ("DEC_SCX", "dec_scx"), ("RA_SCZ", "ra_scz"), ("DEC_SCZ", "dec_scz")):
            assert ev.header[key] == pytest.approx(float(row[col]))  # the ISGRI pointing
        assert ev.header["TSTART"] == pytest.approx(float(row["tstart"]))
    assert not jf.ensure_jemx(archive, CRAB_SCW, 1)[1]  # present: not simulated again


def test_reader_types_and_crab_counts_match_the_model(archive):
    scw = jf.read_jemx(archive, CRAB_SCW, 1)
    ev = scw.events
    assert ev.dtype.names == ("TIME", "DETX", "DETY", "PI", "STATUS")
    assert ev["TIME"].dtype == np.float64 and ev["PI"].dtype == np.int16 and ev["DETX"].dtype == np.uint8
    assert np.all(np.diff(ev["TIME"]) >= 0)
    assert np.all((ev["TIME"] >= scw.gti[0, 0]) & (ev["TIME"] <= scw.gti[-1, 1]))
    assert ev["DETX"].max() < 128 and ev["PI"].max() < 1024
    good = scw.good_events()
    assert 0 < len(ev) - len(good) < 0.01 * len(ev)          # flagged rim events are dropped
    assert np.all(scw.pixel_status[good["DETX"], good["DETY"]] == 0)
    # Counts in the Crab's shadow: the model predicts the on-axis 3–20 keV counts of the ScW.
    crab = sky_model()["Crab"]
    att = Attitude(*(scw.header[k] for k in ("RA_SCX", "DEC_SCX", "RA_SCZ", "DEC_SCZ")))
    tz, ty = (float(v) for v in att.to_instrument(crab.ra, crab.dec))
    from core.instruments.jemx.detector import pixel_efficiency

    w = expected_weights(tz, ty, pixel_efficiency(1, scw.revolution))
    rate = source_rate_per_mcrab(crab)[60:400].sum() * float(crab.flux_mcrab_at(scw.header["TSTART"]))
    lam_src = rate * scw.ontime * DEADC * w[scw.pixel_status == 0].sum()
    sel = (good["PI"] >= 60) & (good["PI"] < 400)
    n = int(sel.sum())
    # Background: both components' PI spectra, normalised to RATE_3_35 over 3–35 keV, on the
    # good pixels (each ScW's level is jittered by 3 %: allow 10 % of it).
    from core.instruments.jemx import background as bkg
    from core.instruments.jemx.detector import active_fraction
    from core.instruments.jemx.simulate import pi_rate

    te = resp.TRUE_ENERGY_EDGES
    mid, width = np.sqrt(te[1:] * te[:-1]), np.diff(te)
    specs = {c: pi_rate(bkg.background_spectrum(c, mid) * width) for c in bkg.COMPONENTS}
    total = sum(sp[60:700].sum() for sp in specs.values())
    maps = bkg.spatial_maps(1, scw.revolution)
    good_pix = scw.pixel_status == 0
    lam_bkg = 0.0
    for c, sp in specs.items():
        lvl = bkg.level_factor(scw.header["TSTART"]) if c == "particle" else 1.0
        share = maps[c][good_pix].sum() / np.count_nonzero(active_fraction() > 0)
        lam_bkg += bkg.RATE_3_35 * lvl * sp[60:400].sum() / total * scw.ontime * DEADC * share
    assert lam_bkg > 0.05 * lam_src
    assert abs(n - lam_src - lam_bkg) < 5 * np.sqrt(lam_src + lam_bkg) + 0.1 * lam_bkg
    assert scw.livetime == pytest.approx(scw.ontime * DEADC)


def test_deterministic_units_differ_and_stale_or_corrupt_files_are_rebuilt(archive, tmp_path):
    a = jf.read_jemx(archive, CRAB_SCW, 2)
    path = archive.path(CRAB_SCW) / "jmx2_events.fits.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3])                     # truncated file
    b = jf.read_jemx(archive, CRAB_SCW, 2)
    assert np.array_equal(a.events, b.events)                  # re-simulated bit for bit
    assert path.read_bytes() == raw
    one = jf.read_jemx(archive, CRAB_SCW, 1)
    assert len(one.events) != len(a.events)                    # units are independent
    assert not np.array_equal(one.pixel_status, a.pixel_status)  # different dead strips
    # A file from another model version is replaced.
    with fits.open(io.BytesIO(gzip.decompress(raw))) as hdul:
        hdul[0].header["JMXVERS"] = "jmxsim0-old"
        buf = io.BytesIO()
        hdul.writeto(buf)
    path.write_bytes(gzip.compress(buf.getvalue(), compresslevel=0))
    assert jf.ensure_jemx(archive, CRAB_SCW, 2)[1]
    assert path.read_bytes() == raw


def test_mirror_without_jemx_data_says_so(tmp_path, monkeypatch):
    from core.config import get_settings

    (tmp_path / "mirror" / "scw").mkdir(parents=True)
    monkeypatch.setenv("ODA_ARCHIVE_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("ODA_ARCHIVE_MODE", "mirror")
    get_settings.cache_clear()
    try:
        arch = Archive(get_settings())
        with pytest.raises(NotFoundError, match="no JEM-X1 data"):
            jf.ensure_jemx(arch, CRAB_SCW, 1)
    finally:
        get_settings.cache_clear()
    with pytest.raises(ValueError, match="jemx_num must be 1 or 2"):
        jf.events_file(0)


def test_pi_channels_follow_the_response(archive):
    scw = jf.read_jemx(archive, CRAB_SCW, 1)
    pi = scw.good_events()["PI"]
    # Nothing below the Be window's cut-off and the measured-energy distribution peaks at 4–6 keV
    # (Crab through the Be window and the Xe gas).
    e = (pi + 0.5) * resp.PI_STEP_KEV
    assert np.mean(e < 1.5) < 0.01
    hist, edges = np.histogram(e, bins=np.arange(2.0, 40.0, 1.0))
    assert 3.0 <= edges[np.argmax(hist)] <= 6.0
