"""spi_acs_lc as files and parameters: the FITS layout of the real plugin, the archive's
chunks, the CLI, the query's per-instrument limits and the instrument registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import QueryError
from core.query import Query

ROOT = Path(__file__).resolve().parents[1]
Q = dict(instrument="spi_acs", T1="2019-01-14T20:56:03.19", T2="2019-01-14T20:58:03.19")  # GRB 190114C ± 60 s


def test_fits_layout_and_content_round_trip():
    from astropy.io import fits

    from core.instruments.spi_acs.archive import read_counts
    from core.products.run import run_product

    res = run_product(Query.from_params(Q, time_bin=0.5))
    with fits.open(res.files["spi_acs_lc.fits"]) as h:
        assert [x.name for x in h] == ["PRIMARY", "RATE"]
        r = h["RATE"]
        assert r.columns.names == ["TIME", "RATE", "ERROR"] and r.columns["TIME"].unit == "s"
        hd = r.header
        assert hd["MJDREF"] == 51544.0 and hd["TIMEUNIT"] == "s" and hd["TIMESYS"] == "TT"
        assert hd["TIMEDEL"] == pytest.approx(0.5) and hd["INSTRUME"] == "SPI-ACS"
        t0 = hd["TIMEZERO"]
        assert t0 == pytest.approx(0.5 * (hd["TSTART"] + hd["TSTOP"]))
        assert "instrument" in " ".join(h[0].header.keys()).lower() or "ODA QUERY INSTRUMENT" in h[0].header
        time, rate, err = (np.array(r.data[c], float) for c in ("TIME", "RATE", "ERROR"))
    assert len(time) == 240 and np.allclose(np.diff(time), 0.5)
    # RATE × TIMEDEL are the archive's counts of the same 10 bins of 50 ms; ERROR is √N / Δt.
    data, _ = read_counts(t0 + time[0], t0 + time[-1] + 0.5)
    np.testing.assert_allclose(rate * 0.5, data.counts[: len(time) * 10].reshape(-1, 10).sum(axis=1))
    np.testing.assert_allclose(err, np.sqrt(rate * 0.5) / 0.5)
    # The burst (GRB 190114C at T0) is in the file, well above the background.
    assert rate[(time >= 0) & (time < 6)].mean() > 3 * np.median(rate)
    import shutil

    if shutil.which("fitsverify"):
        out = subprocess.run(["fitsverify", "-q", str(res.files["spi_acs_lc.fits"])], capture_output=True, text=True)
        assert "verification OK" in out.stdout, out.stdout


def test_default_time_bin_and_no_position_needed():
    q = Query.from_params(Q)
    assert q.time_bin == 2.0 and q.product_type == "lc" and q.E1_keV == 75.0 and q.E2_keV == 2000.0
    assert q.detection_threshold == 4.0
    assert Query.from_params(Q, time_bin=0).product_id() == q.product_id()
    with_pos = Query.from_params(Q, RA=54.51, DEC=-26.94)
    assert with_pos.product_id() != q.product_id()  # the direction changes the fluence conversion
    t0 = Query.from_params(instrument="spi_acs", T0="2019-01-14T20:57:03.19", window=60)
    assert abs(t0.ijd1 - q.ijd1) < 1e-7 and abs(t0.ijd2 - q.ijd2) < 1e-7


@pytest.mark.parametrize("bad, field, allowed", [
    (dict(time_bin=0.07), "time_bin", "multiple of 0.05"),
    (dict(time_bin=0.01), "time_bin", "0.05 .. 1000"),
    (dict(time_bin=2000), "time_bin", "0.05 .. 1000"),
    (dict(T2="2019-01-15T03:00:00"), "T2", "5 .. 20000"),
    (dict(T2="2019-01-14T20:56:05"), "T2", "5 .. 20000"),
    (dict(E1_keV=20), "E1_keV", "75"),
    (dict(product_type="image"), "product_type", "lc"),
    (dict(acs_spectrum="banana"), "acs_spectrum", "short_grb"),
])
def test_bad_values_name_the_field(bad, field, allowed):
    with pytest.raises(QueryError) as info:
        Query.from_params({**Q, **bad})
    assert info.value.field == field and allowed in (info.value.allowed or "")


def test_isgri_limits_and_ids_unchanged():
    q = Query.from_params(src_name="Crab", T1="2003-03-01", T2="2003-04-01", product_type="lc", time_bin=100)
    assert "acs_spectrum" not in q.canonical() and "acs_spectrum" not in q.to_params()
    with pytest.raises(QueryError):
        Query.from_params(src_name="Crab", T1="2003-03-01", T2="2003-04-01", product_type="lc", time_bin=0.05)
    with pytest.raises(QueryError) as info:
        Query.from_params(T1="2003-03-01", T2="2003-04-01")  # ISGRI still needs a target
    assert info.value.field == "src_name"


def test_chunks_deterministic_atomic_and_rebuilt_when_corrupt():
    from core.instruments.spi_acs import archive as acs

    k = int((Query.from_params(Q).ijd1 * 86400.0 - acs.ORIGIN_S) // acs.CHUNK_S)
    first, _ = acs.load_chunk(k)
    path = acs.chunk_path(k)
    assert path.exists() and (path.parent.stat().st_mode & 0o777) == 0o700
    assert not list(path.parent.glob("*.tmp"))
    with np.load(path, allow_pickle=False) as z:  # plain arrays, no pickles
        assert set(z.files) == {"counts", "good", "meta"}
    path.write_bytes(path.read_bytes()[:100])  # truncated
    again, made = acs.load_chunk(k)
    assert made and np.array_equal(again.counts, first.counts) and np.array_equal(again.good, first.good)
    np.testing.assert_array_equal(acs.simulate_chunk(k).counts, first.counts)


def test_chunks_bounded_least_recently_used_first():
    import os
    import time

    from core.instruments.spi_acs import archive as acs

    k0 = int((Query.from_params(Q).ijd1 * 86400.0 - acs.ORIGIN_S) // acs.CHUNK_S)
    paths = []
    for i, k in enumerate((k0, k0 + 1, k0 + 2)):
        acs.load_chunk(k)
        p = acs.chunk_path(k)
        os.utime(p, (time.time() - 1e6 + i, time.time() - 1e6 + i))  # older than any other chunk
        paths.append(p)
    acs.load_chunk(k0)  # used again: now the most recent
    sizes = {p: p.stat().st_size for p in paths}
    others = sum(p.stat().st_size for p in acs.chunk_path(k0).parent.parent.glob("*/acs_*.npz") if p not in sizes)
    bound = others + sizes[paths[0]] + sizes[paths[2]] + 10  # room for all but one
    assert acs.enforce_bound(bound) >= 1
    assert paths[0].exists() and not paths[1].exists()  # the least recently used went first
    again, made = acs.load_chunk(k0 + 1)
    assert made and again.good.any()


def test_perigee_gaps_have_no_data():
    from core.archive.pointings import revolution_start_ijd
    from core.instruments.spi_acs.archive import read_counts

    t = float(revolution_start_ijd(700)) * 86400.0  # perigee passage: the start of a revolution
    data, _ = read_counts(t - 60, t + 60)
    assert not data.good.any() and not data.counts.any()
    with pytest.raises(QueryError) as info:
        from core.products.run import run_product
        from core.timeutil import ijd_to_isot

        run_product(Query.from_params(instrument="spi_acs", T0=ijd_to_isot(t / 86400.0), window=60))
    assert "no data" in info.value.message


def test_background_follows_solar_cycle_and_belts():
    from core.instruments.spi_acs.background import coverage, rate
    from core.timeutil import mission_bounds_ijd

    day = 86400.0
    y = lambda year: (year - 2000.0) * 365.25 * day  # noqa: E731
    def quiet(year):  # the middle of the data interval around that date: far from the belts
        a, b = max(coverage(y(year), y(year) + 4 * day), key=lambda ab: ab[1] - ab[0])
        return rate(np.array([0.5 * (a + b)]))[0]

    mid = [quiet(yr) for yr in (2003.5, 2010.0, 2015.0, 2020.5)]
    assert mid[1] > mid[0] and mid[3] > mid[2]  # higher at solar minimum (more cosmic rays)
    assert all(5e4 < m < 1.2e5 for m in mid)
    a, b = coverage(y(2010.3), y(2010.3) + 4 * day)[1]
    near, far = rate(np.array([a + 60.0]))[0], rate(np.array([0.5 * (a + b)]))[0]
    assert near > 2 * far  # climbing out of the belts
    lo, hi = mission_bounds_ijd()
    assert coverage(lo * day - 10 * day, lo * day - day) == []


def test_cli_spi_acs_lc(tmp_path):
    import os

    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "core", "lc", "--instrument", "spi_acs", "--T1", Q["T1"], "--T2", Q["T2"],
                          "--time_bin", "0.05", "--RA", "54.51", "--DEC", "-26.9386", "--out", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "DETECTED" in out.stdout and "fluence" in out.stdout and "T90" in out.stdout
    assert {p.name for p in tmp_path.iterdir()} >= {"spi_acs_lc.fits", "result.json", "spi_acs_lc.png"}
    bad = subprocess.run([sys.executable, "-m", "core", "lc", "--instrument", "spi_acs", "--T1", Q["T1"], "--T2", Q["T2"],
                          "--time_bin", "0.07"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: time_bin") and "Traceback" not in bad.stderr


def test_registry():
    from core.instruments import get_instrument, instruments
    from core.instruments.base import Instrument, register

    acs = get_instrument("spi_acs")
    assert acs.label == "SPI-ACS" and acs.products == {"spi_acs_lc": "lc"} and not acs.needs_position
    assert acs.time_binning.step == 0.05 and acs.time_binning.default == 2.0
    assert [i.name for i in instruments()] == ["isgri", "jemx", "spi_acs"]
    assert get_instrument("nustar", None) is None
    with pytest.raises(KeyError):
        get_instrument("nustar")
    with pytest.raises(TypeError):
        register("not an instrument")
    assert isinstance(acs, Instrument)
    # no import cycle: the base imports without the rest of core, the package on its own
    for mod in ("core.instruments.base", "core.instruments.spi_acs", "core.instruments.spi_acs.product",
                "core.instruments.isgri", "core.instruments.jemx", "core.instruments.jemx.products",
                "core.products.run", "core.products.maker", "core.imaging.pipeline", "core.spectral.products"):
        r = subprocess.run([sys.executable, "-c", f"import {mod}"], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-c", "import sys, core.instruments.base; "
                        "print(sorted(m for m in sys.modules if m.startswith('core.')))"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.strip() == "['core.forksafe', 'core.instruments', 'core.instruments.base']"  # forksafe: stdlib only
