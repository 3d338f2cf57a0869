"""ScW ids, time parsing and the query object: parsing and every validation message."""

import math

import pytest

from core.archive.scwid import parse_scw_id, parse_scw_list
from core.errors import QueryError
from core.query import Query
from core.timeutil import parse_time, time_to_ijd

from ._shared import shared_path


def test_scw_id_round_trip():
    s = parse_scw_id("155500040010.001")
    assert (s.revolution, s.pointing, s.subpointing, s.type, s.version) == (1555, 4, 1, 0, 1)
    assert str(s) == "155500040010.001" and s.base == "155500040010"
    assert str(parse_scw_id("005600620010")) == "005600620010.001"  # version defaults to .001


@pytest.mark.parametrize("bad", ["15550004001", "1555000400100", "15550004001x.001", "155500040013.001",
                                 "155500040000.001", "155500040010.1", ""])
def test_malformed_scw_ids_name_the_field(bad):
    with pytest.raises(QueryError) as err:
        parse_scw_list(bad or " ")
    assert err.value.field == "scw_list"


def test_all_44_real_osa10_ids_parse():
    ids = shared_path("reference-data", "list_osa10.txt").read_text().split()
    assert len(ids) == 44
    parsed = [parse_scw_id(i) for i in ids]
    assert {p.revolution for p in parsed} == {56, 59, 61, 62, 63, 119, 120, 121, 122}


@pytest.mark.parametrize("value,fmt,ijd", [("2015-06-20T15:49:59", "isot", 5649.659),
                                           ("57193.659", "mjd", 5649.659), ("5649.659", "ijd", 5649.659),
                                           ("57193.659", None, 5649.659), ("5649.659", None, 5649.659)])
def test_time_formats(value, fmt, ijd):
    assert float(time_to_ijd(parse_time(value, fmt))) == pytest.approx(ijd, abs=2e-3)


@pytest.mark.parametrize("value,fmt", [("1999-01-01", "isot"), ("2030-01-01", "isot"), ("abc", "isot"),
                                       ("12", "mjd"), ("nan", "ijd")])
def test_bad_times(value, fmt):
    with pytest.raises(QueryError) as err:
        parse_time(value, fmt, "T1")
    assert err.value.field == "T1" and "2002-10-17" in str(err.value)


def test_query_resolves_names_and_hashes_canonically():
    a = Query.from_params(src_name="crab nebula", T1="2003-03-15", T2="2004-03-15", radius="10")
    b = Query.from_params(src_name="Crab", T1="2003-03-15T00:00:00", T2="2004-03-15", radius=10.0)
    assert a.src_name == "Crab" and a.RA == pytest.approx(83.6331, abs=1e-3)
    assert a.product_id() == b.product_id()
    assert a.with_(E2_keV=80).product_id() != a.product_id()
    assert Query.from_params(a.to_params()) == a


@pytest.mark.parametrize("params,field", [
    (dict(src_name="Crab", T1="2004-01-01", T2="2003-01-01"), "T2"),
    (dict(src_name="Crab", T1="2004-01-01"), "T2"),
    (dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", radius=0), "radius"),
    (dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", radius=45), "radius"),
    (dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", max_pointings=0), "max_pointings"),
    (dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", max_pointings=2.5), "max_pointings"),
    (dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", E1_keV=5), "E1_keV"),
    (dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", E1_keV=40, E2_keV=30), "E2_keV"),
    (dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", instrument="xmm"), "instrument"),
    (dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", T_format="jd"), "T_format"),
    (dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", time_bin=5), "time_bin"),
    (dict(src_name="No Such Source", T1="2003-01-01", T2="2004-01-01"), "src_name"),
    (dict(RA=400, DEC=0, T1="2003-01-01", T2="2004-01-01"), "RA"),
    (dict(RA=10, T1="2003-01-01", T2="2004-01-01"), "DEC"),
    (dict(T1="2003-01-01", T2="2004-01-01"), "src_name"),
    (dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", colour="red"), "colour"),
])
def test_query_errors_name_field_and_range(params, field):
    with pytest.raises(QueryError) as err:
        Query.from_params(params)
    assert err.value.field == field
    assert err.value.message


def test_sexagesimal_coordinates():
    q = Query.from_params(RA="05:34:31.94", DEC="+22:00:52.2", T1="2003-03-15", T2="2003-04-15")
    assert q.RA == pytest.approx(83.6331, abs=1e-4) and q.DEC == pytest.approx(22.0145, abs=1e-4)
    assert math.isfinite(q.ijd1) and q.ijd2 > q.ijd1
