"""The ``spectral_fit`` product with ``joint_instruments`` (issue 13 point 4): the Crab's ISGRI
and JEM-X spectra of the same ScWs, made by the two instruments' own spectrum products and
fitted together with a free cross-normalisation, through ``run_product`` and ``/api/v1``-level
JSON (the summary and the stored files)."""

from __future__ import annotations

import json

import pytest

CRAB_SCWS = ["003900190010", "003900140010", "003900440010", "003900240010"]


@pytest.fixture(scope="module")
def joint():
    from core.products.run import run_product
    from core.query import Query

    q = Query.from_params(src_name="Crab", scw_list=CRAB_SCWS, product_type="spectral_fit", E1_keV=20, E2_keV=100,
                          spectral_model="powerlaw", joint_instruments="isgri,jemx", jemx_num=1)
    return q, run_product(q)


def test_cross_normalisation_and_index(joint):
    q, res = joint
    fit = res.summary["fit"]
    par = {p["name"]: p for p in fit["parameters"]}
    const = [p for n, p in par.items() if n.startswith("const_") and not p.get("frozen")]
    assert len(const) == 1 and const[0]["name"] == "const_JMX1", sorted(par)
    assert const[0]["value"] == pytest.approx(1.0, abs=0.10)
    gamma = par["gamma"]
    err = max(abs(gamma["err_1sigma"][0]), abs(gamma["err_1sigma"][1]))
    assert abs(gamma["value"] - 2.08) <= err + 0.02 * 2.08
    assert fit["dof"] > 0 and fit["statistic"] / fit["dof"] < 2.0
    # both instruments' channels are in the fit, each within its band
    labels = {d["label"] for d in fit["datasets"]}
    assert labels == {"ISGRI", "JMX1"}
    jx = next(d for d in fit["datasets"] if d["label"] == "JMX1")
    assert jx["emin_keV"] >= 3.0 and jx["emax_keV"] <= 35.0 and jx["n_bins"] >= 10


def test_joint_files_and_id(joint):
    from core.products.run import load_product, product_id

    q, res = joint
    (entry,) = res.summary["joint"]
    assert entry["instrument"] == "jemx" and entry["label"].startswith("JEM-X")
    for name in entry["files"]:           # the JEM-X spectrum set travels with the product
        assert name in res.files and res.files[name].stat().st_size > 0
    stored = json.loads(res.files["fit.json"].read_text())
    assert stored["joint"][0]["spectrum_product_id"] == entry["spectrum_product_id"]
    # a joint fit is another product than the ISGRI-only fit of the same query
    assert product_id(q) != product_id(q.with_(joint_instruments=["isgri"]))
    again = load_product(res.product_id)
    assert again.summary["fit"]["parameters"] == res.summary["fit"]["parameters"]
