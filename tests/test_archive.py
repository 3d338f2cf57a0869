"""The lazily simulated archive: files, determinism, corruption, bounds, concurrency, physics."""

import multiprocessing as mp
import os

import numpy as np
import pytest
from astropy.io import fits

from core.archive import simulate as S
from core.archive.osa_files import EVENTS_FILE, read_scw
from core.archive.pointings import scw_ids
from core.archive.store import Archive
from core.instrument import response as resp
from core.sky.catalog import sky_model

V404_SCW = None


def _first_id(history, rev):
    return str(scw_ids(history[history["revolution"] == rev][:1])[0])


def test_scw_files_in_osa_layout(fresh_settings, history):
    arch = Archive(fresh_settings)
    sid = _first_id(history, 100)
    path, made = arch.ensure(sid)
    assert made and path == fresh_settings.archive_dir / "scw" / "0100" / sid
    assert (path / "swg.fits").exists() and (path / EVENTS_FILE).exists()
    assert oct(fresh_settings.archive_dir.stat().st_mode & 0o777) == "0o700"
    with fits.open(path / EVENTS_FILE) as hdul:
        ev = hdul["ISGR-EVTS-ALL"]
        assert ev.columns.names == ["TIME", "DETY", "DETZ", "ISGRI_ENERGY", "SELECT_FLAG"]
        for key in ("RA_SCX", "DEC_SCX", "RA_SCZ", "DEC_SCZ", "REVOL", "SWID", "TSTART", "TSTOP"):
            assert key in ev.header
        assert ev.header["SWID"] == sid[:12] and ev.header["REVOL"] == 100 and ev.header["MJDREF"] == 51544
        t = ev.data["TIME"]
        assert np.all(np.diff(t) >= 0) and t[0] >= ev.header["TSTART"] and t[-1] <= ev.header["TSTOP"]
        assert ev.data["DETY"].max() < 130 and ev.data["DETZ"].max() < 134
        gti = hdul["IBIS-GNRL-GTI"].data
        assert np.all(gti["STOP"] > gti["START"])
    data = arch.read(sid)
    assert len(data.events) > 1e5 and data.header["RA_SCX"] == pytest.approx(float(arch.row(sid)["ra_scx"]))
    # no events on module gaps or dead pixels
    from core.instrument.detector import live_pixels

    good = data.good_events()
    assert live_pixels()[good["DETZ"], good["DETY"]].all()
    assert not np.any(data.pixel_status[good["DETZ"], good["DETY"]] == 1)


def test_regenerated_identically_after_eviction(fresh_settings, history):
    arch = Archive(fresh_settings)
    sid = _first_id(history, 200)
    path, _ = arch.ensure(sid)
    first = read_scw(path).events.to_records()
    for f in path.iterdir():
        f.unlink()
    path.rmdir()
    path, made = arch.ensure(sid)
    assert made
    assert np.array_equal(read_scw(path).events.to_records(), first)


def test_corrupt_scw_is_detected_and_rebuilt(fresh_settings, history):
    arch = Archive(fresh_settings)
    sid = _first_id(history, 300)
    path, _ = arch.ensure(sid)
    good = arch.read(sid).events.to_records()
    raw = (path / EVENTS_FILE).read_bytes()
    (path / EVENTS_FILE).write_bytes(raw[: len(raw) // 3])  # truncated download / disk full
    assert np.array_equal(arch.read(sid).events.to_records(), good)


def test_size_bound_evicts_least_recently_used(tmp_path, monkeypatch, history):
    from core.config import get_settings

    monkeypatch.setenv("ODA_ARCHIVE_DIR", str(tmp_path / "arch"))
    monkeypatch.setenv("ODA_ARCHIVE_MAX_BYTES", "1")
    get_settings.cache_clear()
    try:
        arch = Archive(get_settings())
        a, b = _first_id(history, 400), _first_id(history, 401)
        arch.ensure(a)
        arch.ensure(b)  # over the bound: a (older) goes, b (just written) stays
        assert not arch.is_present(a) and arch.is_present(b)
    finally:
        get_settings.cache_clear()


def _ensure_in_child(args):
    root, data_dir, sid = args
    os.environ["ODA_ARCHIVE_DIR"], os.environ["ODA_DATA_DIR"] = root, data_dir
    from core.config import get_settings

    get_settings.cache_clear()
    return Archive(get_settings()).ensure(sid)[1]


def test_two_processes_simulate_once(fresh_settings, history):
    sid = _first_id(history, 500)
    args = (str(fresh_settings.archive_dir), str(fresh_settings.data_dir), sid)
    with mp.get_context("spawn").Pool(2) as pool:
        made = pool.map(_ensure_in_child, [args, args])
    assert sorted(made) == [False, True]


def test_crab_on_axis_counts_match_model(history):
    """One on-axis Crab ScW without background: 20–40 keV counts within 3σ of the folded model."""
    crab = sky_model()["Crab"]
    row = history[history["revolution"] == 170][0].copy()
    row["ra_scx"], row["dec_scx"] = crab.ra, crab.dec
    row["ra_scz"], row["dec_scz"] = crab.ra, crab.dec - 90.0 if crab.dec > 0 else crab.dec + 90.0
    sim = S.simulate_scw(row, "017000010010.001", sources=[crab], background=False, seed_extra="test")
    e = sim.events["ISGRI_ENERGY"]
    observed = int(np.sum((e >= 20) & (e < 40) & (sim.events["SELECT_FLAG"] == 0)))

    rev = int(row["revolution"])
    t_mid = 0.5 * (row["tstart"] + row["tstop"])
    weight, _ = S.expected_source_counts(crab, row)
    exposure = float(row["ontime"]) * float(row["deadc"])
    edges = S.TRUE_ENERGY_EDGES
    mid = np.sqrt(edges[1:] * edges[:-1])
    photons = crab.photon_spectrum(mid, t_mid) * np.diff(edges) * np.asarray(resp.effective_area_for_simulation(mid, rev))
    matrix = resp.redistribution_matrix(edges, np.array([20.0, 40.0]), rev)
    expected = exposure * weight * float(photons @ matrix[:, 0])
    assert 140 * exposure * 0.8 < expected < 180 * exposure  # ≈160 cts/s of Crab in 20–40 keV
    assert abs(observed - expected) < 3 * np.sqrt(expected)
