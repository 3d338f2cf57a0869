"""Joint ISGRI + JEM-X fits (issue 13 point 4): one model, shared parameters, a free
cross-normalisation per extra dataset (XSPEC's ``constant*powerlaw``).

The Crab on the four JEM-X-on-axis ScWs of pointing history v2: the ISGRI spectrum from the
spectrum product, the JEM-X 1 spectrum from the JEM-X package (extract, stack, OGIP files with
JMX1-… extension names). Measured when written: Γ = 2.081 ± 0.004, const_JMX1 = 0.999 ± 0.007,
χ² = 24/65 with ISGRI 20–100 keV (1 % SYS_ERR) and JEM-X 3–35 keV (no SYS_ERR).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from core.fitting.fit import fit_joint, fit_spectrum, joint_fit_summary
from core.fitting.models import bin_integral, make_model
from core.fitting.ogip import ARF, RMF, SpectrumData, read_spectrum
from core.sky.catalog import sky_model

CRAB_SCWS = ("003900190010", "003900140010", "003900440010", "003900240010")
ISGRI_BAND = (20.0, 100.0)   # the sky model's Crab breaks at 100 keV: one power law below
JEMX_BAND = (3.0, 35.0)
CRAB_F_5_20 = 1.685e-8       # ODA benchmark (JEM-X), erg/cm²/s


@pytest.fixture(scope="module")
def crab_sets(tmp_path_factory):
    """(ISGRI pha, arf, rmf), (JEM-X 1 pha, arf, rmf) of the Crab, same ScWs."""
    from core.archive.store import get_archive
    from core.instruments.jemx import extract as jx
    from core.instruments.jemx.files import read_jemx
    from core.instruments.jemx.simulate import MAX_OFFAXIS_DEG
    from core.products.run import run_product
    from core.query import Query

    res = run_product(Query.from_params(src_name="Crab", scw_list=list(CRAB_SCWS), product_type="spectrum"))
    isgri = tuple(res.files[f"spectrum_Crab.{x}"] for x in ("pha", "arf", "rmf"))
    arch = get_archive()

    def field(scw):
        h = scw.header
        return [(s.name, s.ra, s.dec) for s in sky_model().within(h["RA_SCX"], h["DEC_SCX"], MAX_OFFAXIS_DEG)]

    fluxes = [jx.extract_spectrum(scw, field(scw)) for scw in (read_jemx(arch, s, 1) for s in CRAB_SCWS)]
    rate, err, expo = jx.stack_spectra(fluxes, "Crab")
    files = jx.write_spectrum(tmp_path_factory.mktemp("jmx1"), "Crab", 1, rate, err, expo)
    return isgri, (files["pha"], files["arf"], files["rmf"])


@pytest.fixture(scope="module")
def crab_joint(crab_sets):
    isgri, jemx = crab_sets
    return fit_joint([(*isgri, *ISGRI_BAND), (*jemx, *JEMX_BAND)], "powerlaw")


def test_joint_crab_fit_cross_normalisation_and_index(crab_sets, crab_joint):
    r = crab_joint
    assert r.model.names == ["gamma", "norm", "const_ISGRI", "const_JMX1"]
    ref, c = r["const_ISGRI"], r["const_JMX1"]
    assert ref.frozen and ref.value == 1.0
    assert abs(c.value - 1.0) < 0.10
    assert c.err_1sigma[0] < 0 < c.err_1sigma[1] and c.err_90[1] > c.err_1sigma[1]
    g = r["gamma"]
    model_gamma = sky_model()["Crab"].shape.gamma
    assert abs(g.value - model_gamma) <= g.error + 0.02 * model_gamma
    # Both datasets count: 2 free shared parameters + 1 constant; the statistic is their sum.
    n_i, n_j = (d.rate.size for d in r.datasets)
    assert r.dof == n_i + n_j - 3 and n_j == 16
    assert r.statistic == pytest.approx(sum(d.statistic for d in r.datasets), rel=1e-9)
    assert r.stat_per_dof < 2.0
    assert [d.label for d in r.datasets] == ["ISGRI", "JMX1"]
    assert min(d.e_min.min() for d in r.datasets) == pytest.approx(3.0)
    # The joint index is better known than either instrument's alone.
    alone = [fit_spectrum(read_spectrum(p[0], arf=p[1], rmf=p[2]), "powerlaw", *band)["gamma"].error
             for p, band in zip(crab_sets, (ISGRI_BAND, JEMX_BAND))]
    assert g.error < min(alone)
    # Fluxes from the model, as for one spectrum (the reference's normalisation).
    assert r.flux(5.0, 20.0).energy == pytest.approx(CRAB_F_5_20, rel=0.05)
    assert [(f.e1, f.e2) for f in r.fluxes] == [(20.0, 40.0), (40.0, 100.0), (20.0, 100.0), (100.0, 300.0)]


def test_rescaled_jemx_spectrum_gives_its_constant(crab_sets, crab_joint, tmp_path):
    """JEM-X rates (and errors) × 1.3: the constant comes back at 1.3, the physics unchanged."""
    isgri, (pha, arf, rmf) = crab_sets
    scaled = tmp_path / "scaled.pha"
    with fits.open(pha) as hdul:
        spec = hdul[1]
        spec.data["RATE"] = spec.data["RATE"] * 1.3
        spec.data["STAT_ERR"] = spec.data["STAT_ERR"] * 1.3
        hdul.writeto(scaled)
    r = fit_joint([(*isgri, *ISGRI_BAND), (scaled, arf, rmf, *JEMX_BAND)], "powerlaw")
    c = r["const_JMX1"]
    c0 = crab_joint["const_JMX1"].value
    assert c.value == pytest.approx(1.3 * c0, rel=1e-3)
    assert abs(c.value - 1.3) < 3 * c.error
    assert r["gamma"].value == pytest.approx(crab_joint["gamma"].value, abs=1e-3)
    assert r["norm"].value == pytest.approx(crab_joint["norm"].value, rel=1e-3)
    # Tied normalisations (constant frozen at 1) cannot fit the rescaled data.
    tied = fit_joint([(*isgri, *ISGRI_BAND), (scaled, arf, rmf, *JEMX_BAND)], "powerlaw",
                     fixed={"const_JMX1": 1.0}, errors=False)
    assert tied.statistic > r.statistic + 100


def test_joint_result_round_trips_through_to_dict(crab_sets, crab_joint):
    """The dict (JSON) carries each dataset's channels, folded model and constant: the folded
    model recomputed from the dict's parameters and the files' responses is the dict's."""
    d = json.loads(json.dumps(crab_joint.to_dict()))
    assert d == crab_joint.to_dict()
    assert d["joint"] is True and d["model"] == "powerlaw"
    assert [p["name"] for p in d["parameters"]] == ["gamma", "norm", "const_ISGRI", "const_JMX1"]
    ch = d["channels"]
    assert len(ch["dataset"]) == len(ch["rate"]) == d["n_bins"] == sum(ds["n_bins"] for ds in d["datasets"])
    vals = {p["name"]: p["value"] for p in d["parameters"]}
    model = make_model(d["model"], pivot=d["pivot_keV"])
    total = 0.0
    for ds, (pha, arf, rmf) in zip(d["datasets"], crab_sets):
        c = ds["channels"]
        resid = np.array(c["residual_sigma"])
        assert np.sum(resid ** 2) == pytest.approx(ds["statistic"], rel=1e-9)
        total += ds["statistic"]
        assert ds["constant"]["value"] == vals[f"const_{ds['label']}"]
        spec = read_spectrum(pha, arf=arf, rmf=rmf)
        cols = spec.response_columns()
        photons = bin_integral(lambda e: model(e, np.array([vals["gamma"], vals["norm"]])),
                               spec.rmf.energ_lo, spec.rmf.energ_hi) * np.clip(spec.arf.specresp, 0, None)
        folded = photons @ spec.rmf.matrix[:, cols] * vals[f"const_{ds['label']}"]
        centre = 0.5 * (spec.e_min + spec.e_max)
        sel = (spec.quality == 0) & (centre >= ds["emin_keV"]) & (centre <= ds["emax_keV"])
        assert np.allclose(folded[sel], c["model_rate"], rtol=1e-4)
        assert np.allclose(spec.rate[sel], c["rate"], rtol=1e-6)
    assert total == pytest.approx(d["statistic"], rel=1e-9)
    # The lead's one call gives the same dict.
    again = joint_fit_summary([(*crab_sets[0], *ISGRI_BAND), (*crab_sets[1], *JEMX_BAND)], "powerlaw")
    assert again["parameters"] == d["parameters"] and again["datasets"][1]["channels"] == d["datasets"][1]["channels"]


# ---------------------------------------------------------------------------------------
# Small simulated datasets (no archive): Cash, errors, input checking
# ---------------------------------------------------------------------------------------
def _toy(rng, values, const, exposure, e_lo, e_hi, n_chan=20, area=500.0):
    edges = np.geomspace(e_lo * 0.8, e_hi * 1.2, 150)
    ch = np.geomspace(e_lo, e_hi, n_chan + 1)
    ec = np.sqrt(edges[1:] * edges[:-1])
    from scipy.special import erf

    cdf = 0.5 * (1 + erf((ch[None, :] - ec[:, None]) / (np.sqrt(2) * 0.05 * ec[:, None])))
    matrix = np.diff(cdf, axis=1)
    arf = np.full(ec.size, area)
    rate = const * (make_model("powerlaw").bin_flux(edges[:-1], edges[1:], values) * arf) @ matrix
    counts = rng.poisson(rate * exposure).astype(float)
    n = n_chan
    return SpectrumData(channel=np.arange(n), rate=counts / exposure, stat_err=np.sqrt(np.maximum(counts, 1)) / exposure,
                        sys_err=np.zeros(n), quality=np.zeros(n, int), grouping=np.zeros(n, int), exposure=exposure,
                        counts=counts, poisson=True, arf=ARF(edges[:-1], edges[1:], arf),
                        rmf=RMF(edges[:-1], edges[1:], matrix, np.arange(n), ch[:-1], ch[1:]))


def test_joint_cash_fit_recovers_constant_with_honest_errors():
    """Poisson spectra of two instruments (different bands, exposures, areas), constant 0.8:
    Cash on the sum recovers Γ and the constant; pulls of the constant over seeds ~ N(0, 1)."""
    truth = np.array([1.8, 2e-3])
    pulls_c, pulls_g = [], []
    for seed in range(8):
        rng = np.random.default_rng(100 + seed)
        a = _toy(rng, truth, 1.0, 2000.0, 20.0, 200.0)
        b = _toy(rng, truth, 0.8, 5000.0, 3.0, 30.0, n_chan=16, area=50.0)
        r = fit_joint([a, {"data": b, "label": "JMX2"}], "powerlaw", "cash")
        assert r.model.names[-2:] == ["const_D1", "const_JMX2"]
        c, g = r["const_JMX2"], r["gamma"]
        pulls_c.append((c.value - 0.8) / c.error)
        pulls_g.append((g.value - truth[0]) / g.error)
        assert r.stat_type == "cash" and r.dof == 36 - 3
    assert abs(np.mean(pulls_c)) < 0.8 and 0.4 < np.std(pulls_c) < 1.6
    assert abs(np.mean(pulls_g)) < 0.8 and 0.4 < np.std(pulls_g) < 1.6


def test_joint_input_errors_name_the_problem():
    rng = np.random.default_rng(5)
    a = _toy(rng, np.array([2.0, 1e-3]), 1.0, 1000.0, 20.0, 200.0)
    with pytest.raises(ValueError, match="at least two datasets"):
        fit_joint([a], "powerlaw")
    with pytest.raises(ValueError, match="emin"):
        fit_joint([a, (a, 50.0, 30.0)], "powerlaw")
    with pytest.raises(ValueError, match="no good channels"):
        fit_joint([a, (a, 500.0, 900.0)], "powerlaw")
    with pytest.raises(ValueError, match="reference"):
        fit_joint([a, a], "powerlaw", fixed={"const_D1": 2.0})
    with pytest.raises(ValueError, match="unknown key"):
        fit_joint([a, {"data": a, "bogus": 1}], "powerlaw")
    # Two datasets without a DETNAM: distinct labels, distinct constants.
    r = fit_joint([a, a], "powerlaw", errors=False)
    assert r.model.names[-2:] == ["const_D1", "const_D2"] and r["const_D2"].value == pytest.approx(1.0, abs=1e-4)


def test_joint_figure_draws_each_dataset(crab_joint, tmp_path):
    from core.fitting.plot import spectrum_figure, spectrum_png

    fig = spectrum_figure(crab_joint)
    ax, axr, axu = fig.axes
    labels = ax.get_legend_handles_labels()[1]
    assert labels[1:] == ["ISGRI", "JMX1"]
    # Each dataset's points at its own channel centres, on the folded and unfolded panels.
    xs = [np.asarray(c.lines[0].get_xdata()) for c in ax.containers]
    assert [x.size for x in xs] == [d.rate.size for d in crab_joint.datasets]
    assert xs[1].min() < 4.0 and xs[0].min() > 19.0
    assert len(axu.containers) == 2
    assert spectrum_png(crab_joint, tmp_path / "j.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_joint_fit(crab_sets, crab_joint, tmp_path, capsys):
    from core.cli import main

    (pha, _, _), (jpha, _, _) = crab_sets
    out = tmp_path / "joint.json"
    rc = main(["fit", str(pha), "--emin", "20", "--emax", "100", "--joint", f"{jpha}:3-35", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "const_JMX1" in text and "JMX1 (" in text
    d = json.loads(out.read_text())
    assert d["parameters"] == crab_joint.to_dict()["parameters"]
    assert main(["fit", str(pha), "--joint", f"{jpha}:35-3"]) == 2
    assert "joint" in capsys.readouterr().err
