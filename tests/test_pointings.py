"""The mission pointing history: structure, benchmark epochs, determinism."""

import numpy as np
import pytest
from astropy.time import Time

from core.archive import pointings as P
from core.archive.selection import angular_distance
from core.instrument.attitude import radec_to_unit
from core.timeutil import ijd_to_isot, time_to_ijd

from ._shared import shared_path


def _ijd(iso):
    return float(time_to_ijd(Time(iso, scale="utc")))


def test_revolution_anchors():
    assert ijd_to_isot(P.revolution_start_ijd(1555))[:10] == "2015-06-20"
    assert abs(P.revolution_start_ijd(1626) - _ijd("2015-12-26T00:00:00")) < 1.0
    assert ijd_to_isot(P.revolution_start_ijd(0))[:10] == "2002-10-17"
    early = P.revolution_start_ijd(101) - P.revolution_start_ijd(100)
    late = P.revolution_start_ijd(2001) - P.revolution_start_ijd(2000)
    assert early * 24 == pytest.approx(72, abs=0.5) and late == pytest.approx(2.662, abs=1e-3)
    assert int(P.revolution_of_ijd(P.revolution_start_ijd(1555) + 0.5)) == 1555


def test_real_epochs_are_observed(history):
    """Epochs that ODA's notebooks and examples analyse have pointing ScWs there."""
    ids = P.scw_ids(history)
    # V404 Cyg's flare at MJD 57195.44: inside a ScW pointing within 15° of V404 Cyg
    t = 57195.44 - 51544.0
    k = np.flatnonzero((history["tstart"] <= t) & (history["tstop"] > t))
    assert k.size == 1
    assert angular_distance(history["ra_scx"][k[0]], history["dec_scx"][k[0]], 306.0159, 33.8672) < 5
    assert str(ids[k[0]])[:4] == "1555"
    # the real ToO's ScWs are revolutions 1555 and 1556 only
    w = (history["tstart"] < _ijd("2015-06-25T04:05:59")) & (history["tstop"] > _ijd("2015-06-20T15:49:59"))
    near = w & (angular_distance(history["ra_scx"], history["dec_scx"], 306.0159, 33.8672) < 15)
    assert set(history["revolution"][near]) == {1555, 1556}
    # ODA's Crab example ScW 066500220010
    row = history[list(ids).index("066500220010.001")]
    assert angular_distance(row["ra_scx"], row["dec_scx"], 83.6331, 22.0145) < 6
    # the Crab and A 0535+26 on 2010-04-03..06
    w = (history["tstart"] < _ijd("2010-04-06")) & (history["tstop"] > _ijd("2010-04-03"))
    for ra, dec in ((83.6331, 22.0145), (84.7274, 26.3158)):
        assert np.sum(w & (angular_distance(history["ra_scx"], history["dec_scx"], ra, dec) < 10)) > 30


def test_history_structure(history):
    h = history
    assert 200_000 < len(h) < 320_000
    assert h["revolution"].max() >= 2880
    assert ijd_to_isot(h["tstop"].max()) <= "2025-03-01"
    dur = (h["tstop"] - h["tstart"]) * 86400
    assert dur.max() <= 3600.001 and np.mean((dur >= 1750) & (dur <= 3600)) > 0.97
    same_rev = np.diff(h["revolution"]) == 0
    slews = np.diff(h["tstart"])[same_rev] * 86400 - dur[:-1][same_rev]
    assert slews.min() > 90 and np.median(slews) < 300  # ScWs separated by slews
    assert np.all(np.diff(h["tstart"]) > 0)
    # roll: the Z axis is perpendicular to the viewing axis
    x = radec_to_unit(h["ra_scx"], h["dec_scx"])
    z = radec_to_unit(h["ra_scz"], h["dec_scz"])
    assert np.abs(np.sum(x * z, axis=1)).max() < 1e-6
    # no science near perigee: every ScW within 6%..94% of its orbit
    r0 = P.revolution_start_ijd(h["revolution"])
    r1 = P.revolution_start_ijd(h["revolution"] + 1)
    phase = (h["tstart"] - r0) / (r1 - r0)
    assert phase.min() >= 0.059 and ((h["tstop"] - r0) / (r1 - r0)).max() <= 0.9401


def test_dither_steps(history):
    h = history[(history["revolution"] == 1000)]
    d = angular_distance(h["ra_scx"][:-1], h["dec_scx"][:-1], h["ra_scx"][1:], h["dec_scx"][1:])
    assert np.median(d) == pytest.approx(2.1, abs=0.3)


def test_all_osa10_ids_exist_and_point_at_gx51(history):
    ids = set(P.scw_ids(history))
    real = shared_path("reference-data", "list_osa10.txt").read_text().split()
    assert all(r + ".001" in ids for r in real)
    index = {s: i for i, s in enumerate(P.scw_ids(history))}
    rows = history[[index[r + ".001"] for r in real]]
    off = angular_distance(rows["ra_scx"], rows["dec_scx"], 270.2905, -25.0789)
    assert off.max() < 10.0
    assert ijd_to_isot(rows["tstart"].min())[:4] == ijd_to_isot(rows["tstop"].max())[:4] == "2003"


def test_benchmark_epochs(history):
    h = history
    ids = P.scw_ids(h)
    v404 = (h["tstart"] >= _ijd("2015-06-20T15:49:59")) & (h["tstop"] <= _ijd("2015-06-25T04:05:59"))
    on_v404 = v404 & (angular_distance(h["ra_scx"], h["dec_scx"], 306.0159, 33.8672) < 3)
    assert on_v404.sum() > 100 and set(h["revolution"][on_v404]) == {1555, 1556}  # as the real ToO ScWs
    flare = (h["tstart"] >= _ijd("2015-06-15T15:56:45")) & (h["tstop"] <= _ijd("2015-06-16T06:13:10"))
    assert (flare & (angular_distance(h["ra_scx"], h["dec_scx"], 194.0465, -5.7893) < 3)).sum() >= 15
    crab_close = angular_distance(h["ra_scx"], h["dec_scx"], 83.6331, 22.0145) < 10
    years = {ijd_to_isot(t)[:4] for t in h["tstart"][crab_close]}
    assert {str(y) for y in range(2003, 2025)} <= years  # a Crab calibration every year
    ngc = angular_distance(h["ra_scx"], h["dec_scx"], 88.0474, -7.4562) < 10
    assert (h["ontime"][ngc] * h["deadc"][ngc]).sum() > 1.0e6
    assert len(set(ids)) == len(ids)


def test_fields_respect_sun_constraint(history):
    h = history[::97]
    sun = P.sun_vector(0.5 * (h["tstart"] + h["tstop"]))
    x = radec_to_unit(h["ra_scx"], h["dec_scx"])
    ang = np.degrees(np.arccos(np.sum(sun * x, axis=1)))
    # Fixed ToOs and dithers may stretch it a little; the bulk of the mission obeys it.
    assert np.mean((ang > 45) & (ang < 135)) > 0.97


def test_build_is_deterministic(history):
    again = P.build_history()
    assert again.tobytes() == np.asarray(history).tobytes()
