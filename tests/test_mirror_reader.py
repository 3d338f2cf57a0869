"""Real-archive layout: the reader takes plain OSA files, and a mirror plugs in by configuration."""

import shutil

import numpy as np
import pytest
from astropy.io import fits

from core.archive.osa_files import EVENTS_FILE, read_scw
from core.archive.pointings import scw_ids
from core.archive.store import Archive
from core.errors import NotFoundError
from core.query import Query


def _osa_like_events(path, n=5000, seed=1):
    """An events file as OSA writes it: TIME D, ISGRI_ENERGY E, extra columns, no status map."""
    rng = np.random.default_rng(seed)
    hdr = fits.Header()
    for k, v in dict(RA_SCX=83.6, DEC_SCX=22.0, RA_SCZ=83.6, DEC_SCZ=-68.0, REVOL=42, SWID="004200010010",
                     TSTART=1136.0, TSTOP=1136.03, DEADC=0.9).items():
        hdr[k] = v
    t = np.sort(rng.uniform(1136.0, 1136.03, n))
    cols = [fits.Column("TIME", "D", array=t), fits.Column("ISGRI_PHA", "I", array=rng.integers(0, 2048, n)),
            fits.Column("RISE_TIME", "B", array=rng.integers(0, 127, n)),
            fits.Column("DETY", "B", array=rng.integers(0, 64, n)), fits.Column("DETZ", "B", array=rng.integers(0, 32, n)),
            fits.Column("ISGRI_ENERGY", "E", array=rng.uniform(15, 500, n)), fits.Column("SELECT_FLAG", "B", array=np.zeros(n))]
    ev = fits.BinTableHDU.from_columns(cols, header=hdr, name="ISGR-EVTS-ALL")
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), ev]).writeto(path)
    return t


def test_reader_accepts_plain_osa_columns(tmp_path):
    d = tmp_path / "scw" / "0042" / "004200010010.001"
    t = _osa_like_events(d / EVENTS_FILE)
    data = read_scw(d)
    assert np.allclose(data.events["TIME"], t) and data.header["REVOL"] == 42
    assert data.gti.shape == (1, 2) and data.ontime == pytest.approx(0.03 * 86400)
    # no status map in the file: pixels without events are reported dead
    assert data.pixel_status[110, 110] == 1 and data.pixel_status[0, 0] == 0


def test_corrupt_file_is_an_oserror(tmp_path):
    d = tmp_path / "x"
    d.mkdir()
    (d / EVENTS_FILE).write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(OSError):
        read_scw(d)


def test_mirror_mode_reads_only_what_is_there(tmp_path, monkeypatch, history):
    from core.config import get_settings

    # Make a "mirror" from two simulated ScWs.
    monkeypatch.setenv("ODA_ARCHIVE_DIR", str(tmp_path / "sim"))
    get_settings.cache_clear()
    sim = Archive(get_settings())
    rows = history[history["revolution"] == 1555][:2]
    ids = [str(i) for i in scw_ids(rows)]
    for sid in ids:
        sim.ensure(sid)
    shutil.copytree(tmp_path / "sim" / "scw", tmp_path / "mirror" / "scw")

    monkeypatch.setenv("ODA_ARCHIVE_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("ODA_ARCHIVE_MODE", "mirror")
    get_settings.cache_clear()
    try:
        arch = Archive(get_settings())
        assert list(arch.ids) == ids
        q = Query.from_params(RA=float(rows["ra_scx"][0]), DEC=float(rows["dec_scx"][0]),
                              T1="2015-06-01", T2="2015-07-01", radius=20)
        assert list(arch.select(q).ids) == ids
        assert len(arch.read(ids[0]).events) > 0
        with pytest.raises(NotFoundError):
            arch.ensure(str(scw_ids(history[history["revolution"] == 1556][:1])[0]))
        assert not (tmp_path / "mirror" / ".locks").exists()  # read-only: nothing written
    finally:
        get_settings.cache_clear()
