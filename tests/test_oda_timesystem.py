"""The ScW-list and time-conversion service under ``/gw/timesystem/api/v1.0`` (as ODA's).

Over real HTTP on loopback, the way the benchmark notebooks call it (``requests.get(...).json()``).
"""

from __future__ import annotations

import numpy as np
import pytest
import requests

from tests.test_api_support import api_url  # noqa: F401  (fixture)

V404 = dict(ra=306.01591666667, dec=33.867194444444)
P = "/gw/timesystem/api/v1.0"


def _get(url, path, **params):
    return requests.get(f"{url}{P}{path}", params=params or None, timeout=60)


def test_scwlist_as_the_notebooks_call_it(api_url):  # noqa: F811
    # the notebooks' own URL shape: "?&ra=..." and a one-digit hour in T2
    r = requests.get(f"{api_url}{P}/scwlist/cons/2015-06-20T15:49:59/2015-06-25T4:05:59?&ra={V404['ra']}"
                     f"&dec={V404['dec']}&radius=15.0&min_good_isgri=1000", timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    ids = r.json()
    assert isinstance(ids, list) and len(ids) > 60
    assert all(isinstance(s, str) and len(s) == 12 and s.isdigit() and s.endswith("0010") for s in ids)
    assert ids == sorted(ids) and {s[:4] for s in ids} == {"1555", "1556"}
    # the same ScWs the analysis would select (cone, time, good time)
    from core.archive.store import get_archive
    from core.query import Query

    q = Query.from_params(RA=V404["ra"], DEC=V404["dec"], T1="2015-06-20T15:49:59", T2="2015-06-25T04:05:59",
                          radius=15, max_pointings=10000)
    assert [s.split(".")[0] for s in get_archive().select(q).ids] == ids
    # the V404 Cyg flare of MJD 57195.44 is in one of them
    conv = _get(api_url, "/converttime/MJD/57195.44/SCWID")
    assert conv.status_code == 200 and conv.text in ids


def test_scwlist_options(api_url):  # noqa: F811
    base = "/scwlist/any/2010-04-03T00:00:00/2010-04-06T00:00:00"
    r = _get(api_url, base, ra=83.6331, dec=22.0145, radius=10, min_good_isgri=1000,
             return_columns="SWID,RA_SCX,DEC_SCX")
    cols = r.json()
    assert set(cols) == {"SWID", "RA_SCX", "DEC_SCX"} and len(cols["SWID"]) > 30   # Crab / A 0535+26, April 2010
    from core.archive.selection import angular_distance

    assert np.all(angular_distance(np.array(cols["RA_SCX"]), np.array(cols["DEC_SCX"]), 83.6331, 22.0145) <= 10)
    r = _get(api_url, base, ra=83.6331, dec=22.0145, radius=10, min_good_isgri=1000, return_index_version="yes")
    body = r.json()
    assert set(body) == {"scwlist", "index_version"} and body["scwlist"] == cols["SWID"]
    # JEM-X cuts accepted; a stricter good-time cut keeps a subset
    loose = _get(api_url, base, ra=83.6331, dec=22.0145, radius=10, min_good_jemx1=0).json()
    strict = _get(api_url, base, ra=83.6331, dec=22.0145, radius=10, min_good_jemx2=3000).json()
    assert set(strict) < set(loose)
    # ... on JEM-X's own good time, not ISGRI's
    both = _get(api_url, base, ra=83.6331, dec=22.0145, radius=10, return_columns="SWID,GOOD_ISGRI,GOOD_JEMX").json()
    good_j, good_i = np.array(both["GOOD_JEMX"]), np.array(both["GOOD_ISGRI"])
    assert np.any(np.abs(good_j - good_i) > 1.0)
    cut = float(np.median(good_j))
    kept = _get(api_url, base, ra=83.6331, dec=22.0145, radius=10, min_good_jemx1=cut).json()
    assert kept == [s for s, g in zip(both["SWID"], good_j) if g >= cut]
    # T1 before launch is read as the mission's start
    early = _get(api_url, "/scwlist/cons/2002-01-01T00:00:00/2002-11-01T00:00:00").json()
    assert early and int(early[0][:4]) <= 5


@pytest.mark.parametrize("path, params, field", [
    ("/scwlist/bogus/2010-04-03/2010-04-06", {}, "readiness"),
    ("/scwlist/cons/2010-13-03/2010-04-06", {}, "T1"),
    ("/scwlist/cons/2010-04-06/2010-04-03", {}, "T2"),
    ("/scwlist/cons/2010-04-03/2010-04-06", {"ra": 83.6, "dec": 22.0}, "radius"),
    ("/scwlist/cons/2010-04-03/2010-04-06", {"ra": "abc", "dec": 22.0, "radius": 5}, "ra"),
    ("/scwlist/cons/2010-04-03/2010-04-06", {"ra": 83.6, "dec": 95, "radius": 5}, "dec"),
    ("/scwlist/cons/2010-04-03/2010-04-06", {"return_columns": "SWID,BOGUS"}, "return_columns"),
    ("/converttime/UTC/2010-04-03/NOPE", {}, "outformat"),
    ("/converttime/SCWID/999900010010/UTC", {}, "time"),
])
def test_bad_input_is_400_json(api_url, path, params, field):  # noqa: F811
    r = _get(api_url, path, **params)
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/json")
    assert r.json()["field"] == field and r.json()["allowed"]


def test_converttime(api_url):  # noqa: F811
    all_ = _get(api_url, "/converttime/UTC/2015-06-21T10:33:36/ANY").json()
    assert set(all_) == {"IJD", "UTC", "MJD", "REVNUM", "SCWID"}
    assert float(all_["MJD"]) - float(all_["IJD"]) == pytest.approx(51544.0)
    assert all_["REVNUM"] == "1555" and all_["UTC"].startswith("2015-06-21T10:33:36")
    ijd = _get(api_url, "/converttime/ANY/5650.44/UTC").text
    assert ijd.startswith("2015-06-21T10:3")
    scw = _get(api_url, "/converttime/SCWID/066500220010/IJD").text
    back = _get(api_url, f"/converttime/IJD/{float(scw) + 1e-4}/SCWID").text
    assert back == "066500220010"
    rev = float(_get(api_url, "/converttime/REVNUM/1556/IJD").text)
    assert _get(api_url, f"/converttime/IJD/{rev + 0.01}/REVNUM").text == "1556"
