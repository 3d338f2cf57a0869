"""Imaging against the sky model: blank fields, injected sources, √exposure, benchmark fields.

The benchmark fields are the ODA validation cases (validation-cases.md) run through the
whole chain on the simulated archive: ScW files → decode + IROS → mosaic → detection.
"""

import numpy as np
import pytest

from core.archive.pointings import scw_ids
from core.archive.osa_files import ScwData
from core.archive.simulate import MEASURED_ENERGY_EDGES, folded_rate, simulate_scw
from core.imaging.scw_image import decode_scw
from core.imaging.detect import detect_sources
from core.imaging.mosaic import MosaicBuilder, mosaic_grid
from core.imaging.pipeline import make_image
from core.instrument.attitude import Attitude
from core.query import Query
from core.sky.catalog import SkySource
from core.sky.spectra import SpectralShape
from core.sky.variability import Steady

from ._shared import shared_path


def _rows(history, n, rev0=700, seconds=None):
    rows = history[(history["revolution"] >= rev0)][:n].copy()
    if seconds:
        rows["tstop"] = rows["tstart"] + seconds / 86400.0
        rows["ontime"] = np.minimum(rows["ontime"], seconds)
        rows["gap_len"] = 0.0
    return rows


def _scw(row, sources, tag):
    sid = str(scw_ids(row[None])[0])
    sim = simulate_scw(row, sid, sources=sources, background=True, seed_extra=tag)
    return ScwData(sid, sim.meta, sim.events, sim.gti, sim.pixel_status)


def test_blank_field_mosaic_statistics(history):
    """100 background-only ScWs: no pixel above 7σ in any ScW; the mosaic is N(0, 1)."""
    rows = _rows(history, 100, seconds=1200)
    wcs, shape = mosaic_grid(float(rows["ra_scx"][50]), float(rows["dec_scx"][50]),
                             list(zip(rows["ra_scx"], rows["dec_scx"])), max_size_deg=60)
    builder = MosaicBuilder(wcs, shape, e1=20, e2=40)
    worst, pooled = 0.0, []
    for i, row in enumerate(rows):
        img = decode_scw(_scw(row, [], f"blank{i}"), 20, 40, catalog=[])
        good = np.isfinite(img.significance) & (img.exposure > 0.2 * img.exposure.max())
        worst = max(worst, float(np.abs(img.significance[good]).max()))
        pooled.append(img.significance[good][::7])
        builder.add(img)
    assert worst < 7.0  # no false source above 7σ in 100 ScWs
    pooled = np.concatenate(pooled)  # ScW images: the variance is right with no rescaling
    assert abs(pooled.mean()) < 0.05 and abs(pooled.std() - 1) < 0.05
    # Mosaic: V is not rescaled; bilinear resampling smooths the noise, so the raw rms of the
    # significance is below 1 (measured 0.88-0.92 over these 100 ScWs) and reported as such.
    m = builder.result()
    assert m.meta["variance_rescale"] == 1.0
    s = m.significance[np.isfinite(m.significance) & (m.exposure > 0.2 * np.nanmax(m.exposure))]
    assert abs(s.mean()) < 0.05 and 0.8 < s.std() < 0.97
    assert 0.8 < m.meta["noise_rms"] < 0.97
    assert len(detect_sources(m, threshold=7.0)) == 0


def test_injected_sources_position_and_flux(history):
    """Faint sources at random positions: inside ERR_RAD in ≥ 90%, unbiased fluxes.

    With r90 = 18′/SNR only 26 of 30 fell inside; 19′/SNR, measured for detect.py's estimator
    (tests/test_position_errors.py), brings them to ≥ 27."""
    rng = np.random.default_rng(2024)
    rows = _rows(history, 30, rev0=900)
    inside, pulls = 0, []
    for i, row in enumerate(rows):
        att = Attitude(row["ra_scx"], row["dec_scx"], row["ra_scz"], row["dec_scz"])
        tz, ty = rng.uniform(-0.12, 0.12, 2)  # within ±7° of the axis
        ra, dec = att.from_instrument(tz, ty)
        flux = float(rng.uniform(40, 150))  # mCrab
        src = SkySource(f"INJ{i}", float(ra), float(dec), SpectralShape("powerlaw", 2.0), flux, Steady(flux))
        img = decode_scw(_scw(row, [src], f"inj{i}"), 20, 40, catalog=[(src.name, src.ra, src.dec)])
        cat = detect_sources(img, threshold=5.0, catalog=[(src.name, src.ra, src.dec)], target=(src.name, src.ra, src.dec))
        hit = cat[cat["NAME"] == src.name][0]
        sep = np.degrees(np.arccos(np.clip(np.sin(np.radians(dec)) * np.sin(np.radians(hit["DEC_FIN"])) +
                                           np.cos(np.radians(dec)) * np.cos(np.radians(hit["DEC_FIN"])) *
                                           np.cos(np.radians(ra - hit["RA_FIN"])), -1, 1)))
        inside += sep <= hit["ERR_RAD"]
        band = (MEASURED_ENERGY_EDGES[:-1] >= 20) & (MEASURED_ENERGY_EDGES[1:] <= 40)
        from core.archive.simulate import _area, _E_MID, _E_WIDTH  # the simulator's own folding
        rate = folded_rate(src.norm_per_mcrab * src.shape.shape(_E_MID) * _area(int(row["revolution"])) * _E_WIDTH,
                           int(row["revolution"]))[band].sum() * flux
        fitted = [s for s in img.meta["iros_sources"] if s["name"] == src.name]
        assert fitted, "the catalogue source must be fitted by IROS"
        # OSA units: the rate the source would give on axis (the decoder undoes cos θ and
        # the mask-thickness loss), i.e. the folded spectrum itself.
        pulls.append((fitted[0]["flux"] - rate) / fitted[0]["flux_err"])
    assert inside >= 0.9 * len(rows)
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 3 / np.sqrt(len(pulls)) + 0.2 and 0.6 < pulls.std() < 1.4


def test_significance_grows_as_sqrt_exposure():
    sig, expo = [], []
    for n in (4, 16):
        r = make_image(Query.from_params(src_name="Crab", T1="2003-01-01", T2="2004-01-01", radius=10, max_pointings=n))
        row = r.catalog[r.catalog["NAME"] == "Crab"][0]
        x, y = r.images.wcs.world_to_pixel_values(row["RA_FIN"], row["DEC_FIN"])
        sig.append(row["DETSIG"])
        expo.append(r.images.exposure[int(round(float(y))), int(round(float(x)))])
    assert sig[1] / sig[0] == pytest.approx(np.sqrt(expo[1] / expo[0]), rel=0.12)


def _sources(result, names):
    cat = result.catalog
    return {n: float(cat["DETSIG"][list(cat["NAME"]).index(n)]) for n in names}


def test_crab_50_scw_mosaic_significance():
    r = make_image(Query.from_params(src_name="Crab", T1="2003-01-01", T2="2004-01-01", radius=10,
                                     max_pointings=50, E1_keV=20, E2_keV=40), workers=2)
    assert len(r.scws) == 50
    crab = _sources(r, ["Crab"])["Crab"]
    assert 0.7 * 1400 <= crab <= 1.3 * 1700  # ≈1400–1700σ (±30%)
    assert r.catalog["NAME"][0] == "Crab"


def test_v404_cyg_field_order():
    r = make_image(Query.from_params(src_name="V404 Cyg", T1="2015-06-20T15:49:59", T2="2015-06-25T04:05:59",
                                     radius=10, E1_keV=20, E2_keV=40), workers=2)
    s = _sources(r, ["V404 Cyg", "Cyg X-1", "Cyg X-3"])
    assert s["V404 Cyg"] > s["Cyg X-1"] > s["Cyg X-3"] > 50


def test_gx51_field_of_list_osa10():
    ids = shared_path("reference-data", "list_osa10.txt").read_text().split()
    r = make_image(Query.from_params(src_name="GX 5-1", scw_list=",".join(ids), E1_keV=20, E2_keV=30), workers=2)
    s = _sources(r, ["GX 5-1", "GRS 1758-258"])
    assert 70 <= s["GX 5-1"] <= 130 and 31.5 <= s["GRS 1758-258"] <= 58.5
    # The real ODA catalogue of this field lists 25 sources: most should be found here too.
    import json

    real = json.loads(shared_path("reference-data", "api_cat_str_gx5-1.txt").read_text())
    found = set(r.catalog["NAME"])
    assert len(found & set(real["cat_column_list"][1])) >= 15
