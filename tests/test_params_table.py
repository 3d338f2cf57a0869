"""The parameter table (core/params.py) is the one source: the query, the APIs, the OpenAPI
document, the CLI, the page and the reproducing commands all say what it says."""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from core import params as table
from core.errors import QueryError
from core.params import INSTRUMENTS, TABLE, param, served_instruments
from core.query import Query
from tests.test_api_support import api_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
CRAB = dict(src_name="Crab", T1="2003-03-15", T2="2003-04-15", max_pointings=2)


def _flat(text: str) -> str:
    return " ".join(text.split())


@functools.lru_cache(maxsize=None)
def _cli_help(command: str) -> str:
    r = subprocess.run([sys.executable, "-m", "core", command, "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return _flat(r.stdout)


# -- the table itself ------------------------------------------------------------------------------
def test_query_fields_are_the_table():
    assert set(Query.parameter_names()) == set(table.query_field_names())
    names = {p.name for p in TABLE}
    for oda_name in ("RA", "DEC", "T1", "T2", "T_format", "E1_keV", "E2_keV", "radius", "max_pointings", "scw_list",
                     "src_name", "product_type", "instrument", "time_bin", "time_bin_format", "detection_threshold",
                     "osa_version", "jemx_num", "integral_data_rights", "systematic_fraction", "joint_instruments",
                     "selected_catalog", "T0", "window", "acs_spectrum", "min_good_time", "channel_grid", "rebin",
                     "spectral_model"):
        assert oda_name in names, oda_name
    for p in TABLE:
        assert p.help and p.type in ("number", "integer", "string", "angle", "time", "list", "catalog")
        assert set(p.products) <= set(table.PRODUCTS) and set(p.instruments) <= set(INSTRUMENTS)
        for inst in p.per_instrument:
            assert inst in p.instruments, (p.name, inst)


def test_plugin_defaults():
    """As the ODA INTEGRAL plugin (cdci_osa_plugin) and its dispatcher front end."""
    assert param("jemx_num").at("jemx").default == 2 and param("jemx_num").choices == (1, 2)
    assert (param("E1_keV").at("jemx").default, param("E2_keV").at("jemx").default) == (3.0, 35.0)
    assert (param("E1_keV").at("isgri").default, param("E2_keV").at("isgri").default) == (20.0, 40.0)
    assert param("radius").at("isgri").default == 15.0 and param("radius").at("jemx").default == 4.0
    assert param("max_pointings").default == 50 and param("detection_threshold").default == 7.0
    assert param("osa_version").default == "OSA11.2" and param("integral_data_rights").default == "public"
    assert param("time_bin").oda_default == 1000.0 and param("time_bin").at("spi_acs").default == 2.0


def test_registered_instruments_agree_with_the_table():
    """An instrument package's own declarations (band, threshold, time bins) are the table's."""
    from core.instruments.base import instruments

    for inst in instruments():
        if inst.name not in INSTRUMENTS:
            continue
        e1, e2 = param("E1_keV").at(inst.name), param("E2_keV").at(inst.name)
        assert (e1.minimum, e1.maximum) == tuple(inst.energy_range_keV), inst.name
        assert (e1.default, e2.default) == tuple(inst.default_band_keV), inst.name
        assert param("detection_threshold").at(inst.name).default == inst.default_threshold
        assert set(param("product_type").at(inst.name).choices) == set(inst.products.values())
        if inst.time_binning is not None:
            tb = param("time_bin").at(inst.name)
            assert (tb.minimum, tb.maximum, tb.default) == (inst.time_binning.lo, inst.time_binning.hi,
                                                            inst.time_binning.default)


def test_ranges_differ_per_instrument():
    assert param("E1_keV").at("jemx").allowed() == "≥ 3.0 and ≤ 35.0 keV"
    assert param("E1_keV").at("isgri").allowed() == "≥ 15.0 and ≤ 1000.0 keV"
    assert param("rebin").at("jemx").maximum == 16 and param("rebin").at("isgri").maximum == 64
    assert Query.from_params(CRAB, instrument="jemx", E1_keV=5, E2_keV=20).E1_keV == 5.0
    with pytest.raises(QueryError) as isgri:
        Query.from_params(CRAB, E1_keV=5)
    with pytest.raises(QueryError) as jemx:
        Query.from_params(CRAB, instrument="jemx", E2_keV=50)
    assert isgri.value.allowed == "≥ 15.0 and ≤ 1000.0 keV" and jemx.value.allowed == "≥ 3.0 and ≤ 35.0 keV"
    q = Query.from_params(CRAB, instrument="jemx")
    assert (q.E1_keV, q.E2_keV, q.radius, q.jemx_num) == (3.0, 35.0, 4.0, 2)


# -- jemx_num, joint_instruments, ids ------------------------------------------------------------------
def test_jemx_num_enters_only_jemx_ids():
    isgri = Query.from_params(CRAB)
    assert "jemx_num" not in isgri.canonical() and "jemx_num" not in isgri.to_params()
    assert Query.from_params(CRAB, jemx_num=1).product_id() == isgri.product_id()
    j1, j2 = Query.from_params(CRAB, instrument="jemx", jemx_num=1), Query.from_params(CRAB, instrument="jemx")
    assert j1.canonical()["jemx_num"] == 1 and j2.canonical()["jemx_num"] == 2
    assert j1.product_id() != j2.product_id()
    assert j1.with_(E1_keV=4).jemx_num == 1  # to_params keeps it
    with pytest.raises(QueryError) as info:
        Query.from_params(CRAB, instrument="jemx", jemx_num=3)
    assert info.value.field == "jemx_num" and info.value.allowed == "1, 2"


def test_joint_instruments(monkeypatch):
    fit = dict(CRAB, product_type="spectral_fit")
    q = Query.from_params(fit)
    assert q.joint_instruments == ("isgri",) and "joint_instruments" not in q.canonical()
    assert Query.from_params(fit, joint_instruments="isgri").product_id() == q.product_id()
    assert "joint_instruments" not in Query.from_params(CRAB).canonical()  # images: not a parameter
    if "jemx" not in served_instruments():
        with pytest.raises(QueryError) as info:
            Query.from_params(fit, joint_instruments="isgri,jemx")
        assert info.value.field == "joint_instruments" and "not available" in info.value.message
    with pytest.raises(QueryError) as info:
        Query.from_params(fit, joint_instruments="isgri,spi_acs")
    assert info.value.field == "joint_instruments" and "isgri, jemx" in info.value.allowed
    # once JEM-X is served, a joint fit is its own product, the query's instrument first
    monkeypatch.setattr(table, "served_instruments", lambda: ["isgri", "jemx", "spi_acs"])
    both = Query.from_params(fit, joint_instruments=["jemx", "isgri"])
    assert both.joint_instruments == ("isgri", "jemx") and both.canonical()["joint_instruments"] == ["isgri", "jemx"]
    assert both.product_id() != q.product_id()
    assert Query.from_params(fit, instrument="jemx", joint_instruments="isgri,jemx").joint_instruments == ("jemx", "isgri")
    with pytest.raises(QueryError) as info:
        Query.from_params(fit, joint_instruments="jemx")
    assert "must include" in info.value.message


# -- APIs ------------------------------------------------------------------------------------------
def test_specs_par_names_and_openapi_say_what_the_table_says(api_url):  # noqa: F811
    from server.openapi import openapi_document
    from server.params import INSTRUMENT_PRODUCTS, ODA_PRODUCTS, parameter_specs

    props = openapi_document()["components"]["schemas"]["Query"]["properties"]
    assert props["instrument"]["enum"] == served_instruments()
    for p in TABLE:
        if p.role not in ("query", "alias") or p.name == "instrument":
            continue
        assert p.name in props, p.name
        per = props[p.name].get("x-instruments")
        for inst in p.instruments:
            q = p.at(inst)
            want_default = ",".join(q.default) if isinstance(q.default, tuple) else q.default
            if per is not None:
                assert per[inst].get("x-allowed", "") == q.allowed() and per[inst].get("default") == want_default
            else:
                assert props[p.name].get("x-allowed", "") == q.allowed()
    for inst in served_instruments():
        for oda in INSTRUMENT_PRODUCTS[inst]:
            ptype = ODA_PRODUCTS[oda][1]
            r = requests.get(f"{api_url}/api/par-names", params={"instrument": inst, "product_type": oda}, timeout=30)
            assert r.status_code == 200
            names = r.json()
            specs = parameter_specs(inst, ptype)
            for p in TABLE:
                if p.role in ("query", "alias") and p.uses(ptype, inst) and p.name not in ("instrument",
                                                                                           "product_type"):
                    assert p.name in names, (inst, oda, p.name)
                    s, q = specs[p.name], p.at(inst)
                    assert s.get("x-allowed", "") == q.allowed() and s["description"].startswith(q.help)
                    if q.default is not None:
                        assert s["default"] == (",".join(q.default) if isinstance(q.default, tuple) else q.default)
                elif p.role == "query" and p.name not in ("instrument", "product_type", "integral_data_rights"):
                    assert p.name not in names, (inst, oda, p.name)
    assert "systematic_fraction" in parameter_specs("isgri", "spectrum")  # issue 15
    assert parameter_specs("isgri", "spectrum")["systematic_fraction"]["default"] == 0.01
    assert "jemx_num" in parameter_specs("jemx", "image") and "jemx_num" not in parameter_specs("isgri", "image")


def test_openapi_lists_every_api_v1_route(api_url):  # noqa: F811
    """Every route under /api/v1 the server answers is in openapi.json (lightcurves/read included)."""
    import app as dash_app
    from server.openapi import openapi_document

    doc = requests.get(f"{api_url}/api/v1/openapi.json", timeout=30).json()
    assert doc["paths"].keys() == openapi_document()["paths"].keys()
    assert "post" in doc["paths"]["/api/v1/lightcurves/read"]
    rules = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule) for r in dash_app.server.url_map.iter_rules()
             if r.rule.startswith("/api/v1/")}
    assert "/api/v1/lightcurves/read" in rules
    rules = {re.sub(r"\{\w+\}", "{}", r) for r in rules}
    documented = {re.sub(r"\{\w+\}", "{}", p) for p in doc["paths"]}
    assert rules <= documented, rules - documented


def test_out_of_range_same_text_everywhere(api_url):  # noqa: F811
    from callbacks.form_state import field_hint, form_params, validate

    cases = [("E1_keV", 5, "isgri"), ("radius", 45, "isgri"), ("detection_threshold", 1, "isgri"),
             ("rebin", 100, "isgri"), ("systematic_fraction", 0.9, "isgri"), ("min_good_time", -1, "isgri")]
    for name, bad, inst in cases:
        product = "spectrum" if name in ("rebin", "systematic_fraction") else "image"
        allowed = param(name).at(inst).allowed()
        with pytest.raises(QueryError) as info:
            Query.from_params(CRAB, product_type=product, **{name: bad})
        assert info.value.field == name and info.value.allowed == allowed
        r = requests.post(f"{api_url}/api/v1/validate", json={**CRAB, "product_type": product, name: bad}, timeout=60)
        assert r.status_code == 400 and r.json()["field"] == name and r.json()["allowed"] == allowed
        oda = {k: str(v) for k, v in CRAB.items()}
        oda.update(instrument="isgri", product_type=f"isgri_{product}", query_status="new", query_type="Real",
                   **{name: str(bad)})
        r = requests.get(f"{api_url}/run_analysis", params=oda, timeout=60)
        assert r.status_code == 400 and r.json()["field"] == name and r.json()["allowed"] == allowed
        form = {**{k: str(v) for k, v in CRAB.items()}, "product_type": product, "instrument": inst, name: str(bad)}
        _, errors = validate(form_params(form))
        assert errors[name]["allowed"] == allowed and allowed in field_hint(name, inst)
        command = "spectrum" if product == "spectrum" else "image"
        assert _flat(allowed) in _cli_help(command), (name, command)
    # the CLI refuses with the same text (exit 2, one line)
    r = subprocess.run([sys.executable, "-m", "core", "scws", "--src", "Crab", "--T1", "2003-03-15", "--T2",
                        "2003-04-15", "--radius", "45"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == f"error: radius: '45' is out of range " \
                                                     f"(allowed: {param('radius').allowed()})"


def test_page_ranges_per_instrument():
    from callbacks.form_state import energy_range_text, field_hint, form_params, validate

    form = {"src_name": "Crab", "T1": "2003-03-15", "T2": "2003-04-15", "instrument": "jemx", "E1_keV": "1",
            "jemx_num": 1, "product_type": "image"}
    _, errors = validate(form_params(form))
    assert errors["E1_keV"]["allowed"] == "≥ 3.0 and ≤ 35.0 keV"
    if "jemx" not in served_instruments():
        assert "not available" in errors["instrument"]["message"]
    assert "3–35 keV for JEM-X" in energy_range_text("jemx") and "15–1000 keV" in energy_range_text("isgri")
    assert "≥ 3.0 and ≤ 35.0 keV" in field_hint("E1_keV", "jemx")
    assert "default 4 deg" in field_hint("radius", "jemx") and "default 15 deg" in field_hint("radius", "isgri")
    # the form passes jemx_num only to JEM-X queries
    assert "jemx_num" not in form_params({**form, "instrument": "isgri"})
    assert form_params(form)["jemx_num"] == 1


def test_page_fields_come_from_the_table(monkeypatch):
    from callbacks.form_state import DEFAULTS, FIELDS, instrument_options
    from layouts import ids
    from layouts.query_panel import query_panel

    def walk(c):
        yield c
        kids = getattr(c, "children", None)
        for k in (kids if isinstance(kids, (list, tuple)) else [kids]):
            if k is not None and not isinstance(k, (str, int, float)):
                yield from walk(k)

    assert FIELDS == tuple(p.name for p in TABLE if p.role == "query" and p.form)
    for p in TABLE:
        if p.role == "query" and p.name not in ("selected_catalog", "integral_data_rights"):
            assert p.name in FIELDS, p.name
    monkeypatch.setattr(table, "served_instruments", lambda: ["isgri", "jemx", "spi_acs"])
    comps = {getattr(c, "id", None): c for c in walk(query_panel({**DEFAULTS, "instrument": "jemx"}))}
    for name in FIELDS:
        assert ids.field(name) in comps and ids.field_hint(name) in comps, name
    options = {o["value"]: o["label"] for o in comps[ids.field("instrument")].options}
    assert options == {"isgri": "IBIS/ISGRI", "jemx": "JEM-X", "spi_acs": "SPI-ACS (all-sky light curve)"}
    assert [o["value"] for o in comps[ids.field("jemx_num")].options] == [1, 2]
    assert "3.0" in comps[ids.field_hint("E1_keV")].children  # the jemx hint, since the form is for JEM-X
    assert {o["value"] for o in instrument_options()} == {"isgri", "jemx", "spi_acs"}
    # fields an instrument does not use carry its not- class (hidden by the stylesheet)
    classes = {getattr(c, "className", "") for c in walk(query_panel(DEFAULTS))}
    assert any("field-jemx_num" in c and "not-isgri" in c and "not-spi_acs" in c for c in classes)
    assert any("field-channel_grid" in c and "not-jemx" in c for c in classes)
    css = (ROOT / "assets" / "base.css").read_text()
    for inst in INSTRUMENTS:
        assert f".instrument-{inst} .not-{inst}" in css


def test_served_instruments_from_the_registry(api_url):  # noqa: F811
    from server.params import AVAILABLE_INSTRUMENTS

    served = served_instruments()
    assert "isgri" in served and "spi_acs" in served and list(AVAILABLE_INSTRUMENTS) == served
    assert requests.get(f"{api_url}/api/instr-list", timeout=30).json() == served
    for name in set(INSTRUMENTS) - set(served):
        r = requests.post(f"{api_url}/api/v1/validate", json={**CRAB, "instrument": name}, timeout=30)
        assert r.status_code == 400 and r.json()["field"] == "instrument" and r.json()["allowed"] == ", ".join(served)


# -- CLI and reproducing commands ------------------------------------------------------------------
def test_cli_options_are_the_table():
    for command, products in table.CLI_COMMANDS.items():
        text = _cli_help(command)
        insts = [i for i in INSTRUMENTS if set(products or ("image",)) & set(param("product_type").at(i).choices)]
        for p in TABLE:
            if command in table.cli_commands_of(p):
                assert f"--{p.name}" in text, (command, p.name)
                assert _flat(table.cli_help(p, insts).replace("%%", "%")) in text, (command, p.name)
            elif p.cli is not None:
                assert f"--{p.name} " not in text, (command, p.name)
    assert "--jemx_num" in _cli_help("image") and "--joint_instruments" in _cli_help("spectrum")
    assert "--systematic_fraction" in _cli_help("spectrum") and "--time_bin" not in _cli_help("spectrum")


@pytest.mark.parametrize("extra", [dict(product_type="image"),
                                   dict(product_type="spectrum", rebin=2, systematic_fraction=0.02),
                                   dict(product_type="spectral_fit", spectral_model="cutoffpl"),
                                   dict(product_type="lc", time_bin=300, selected_catalog=[["Crab", 83.63, 22.01]]),
                                   dict(product_type="image", instrument="jemx", jemx_num=1, E1_keV=5, E2_keV=20)])
def test_reproduce_command_rebuilds_the_query(extra):
    from core.cli import build_parser

    q = Query.from_params(CRAB, **extra)
    command = table.reproduce_command(q)
    argv = shlex.split(command)[3:]
    assert argv[0] == {"spectral_fit": "spectrum"}.get(q.product_type, q.product_type)
    args = build_parser().parse_args(argv + ([] if "--out" in argv else ["--out", "x"]))
    given = {p.name: getattr(args, p.name) for p in TABLE if getattr(args, p.name, None) is not None}
    again = Query.from_params(given, product_type=q.product_type)
    assert again.canonical() == q.canonical()
    if q.instrument == "jemx":
        assert "--instrument jemx" in command and "--jemx_num 1" in command
    else:
        assert "--instrument" not in command and "--jemx_num" not in command
