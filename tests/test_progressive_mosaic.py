"""Progressive mosaics of a running job, for every instrument that makes mosaics: the frame
from the first k finished ScWs is the mosaic of just those k ScWs (computed independently,
in another store), on the job's grid; the per-ScW parts on the target's canonical grid are
what the product and its frames share."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.imaging.progressive import partial_mosaic
from core.products.run import run_product
from core.products.store import ProductStore
from core.query import Query

#: Crab ScWs of pointing history v2 (1.0°, 2.4° ... off axis: JEM-X sees the Crab in each).
CRAB_SCWS = ("003900190010", "003900140010", "003900440010")


def _central(a: np.ndarray, shape) -> np.ndarray:
    """The central ``shape`` window of ``a`` (grids of one target share their central pixel)."""
    dy, dx = (a.shape[0] - shape[0]) // 2, (a.shape[1] - shape[1]) // 2
    return a[dy:dy + shape[0], dx:dx + shape[1]]


def _sep_arcmin(ra1, dec1, ra2, dec2):
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    c = math.sin(d1) * math.sin(d2) + math.cos(d1) * math.cos(d2) * math.cos(r1 - r2)
    return math.degrees(math.acos(min(1.0, max(-1.0, c)))) * 60.0


def test_jemx_frame_of_the_first_k_scws_is_the_mosaic_of_those_k(tmp_path):
    q = Query.from_params(instrument="jemx", jemx_num=1, product_type="image", src_name="Crab",
                          scw_list=",".join(CRAB_SCWS), E1_keV=3, E2_keV=20)
    full = run_product(q)
    ids = [s.scw_id for s in full.scws]
    assert len(ids) == 3
    assert partial_mosaic(q, []) is None

    k = 2
    frame = partial_mosaic(q, ids[:k])
    assert frame is not None and frame.scw_ids == ids[:k]
    # The same k ScWs as their own product, decoded and projected again in an empty store.
    alone = run_product(q.with_(scw_list=",".join(ids[:k])), store=ProductStore(tmp_path / "other"))
    assert {s.status for s in alone.scws} == {"calculated"}
    mine, theirs = frame.images, alone.data.images
    # The job's grid covers three pointings, the k-ScW product's two: one is a window of the other.
    shape = tuple(min(a, b) for a, b in zip(mine.shape, theirs.shape))
    assert min(shape) > 400
    for kind in ("intensity", "variance", "significance", "exposure"):
        a, b = _central(getattr(mine, kind), shape), _central(getattr(theirs, kind), shape)
        assert np.array_equal(np.isfinite(a), np.isfinite(b)), kind
        ok = np.isfinite(a)
        assert ok.sum() > 50000
        scale = float(np.nanmax(np.abs(b)))
        assert np.allclose(a[ok], b[ok], rtol=1e-5, atol=1e-6 * scale), kind
    # Nothing outside the window: the larger grid has no coverage beyond it.
    big = mine if mine.shape[0] * mine.shape[1] >= theirs.shape[0] * theirs.shape[1] else theirs
    assert np.isfinite(big.significance).sum() == np.isfinite(_central(big.significance, shape)).sum()
    # The frame's sources are the k-ScW product's (JMX1-SRCL-RES, detection of the product).
    rows = alone.summary["catalog"]
    assert [str(n).strip() for n in frame.catalog["NAME"]] == [r["name"] for r in rows]
    assert frame.catalog.meta["EXTNAME"] == "JMX1-SRCL-RES"
    for r, f in zip(rows, frame.catalog):
        assert _sep_arcmin(r["ra"], r["dec"], float(f["RA_OBJ"]), float(f["DEC_OBJ"])) < 0.01
        assert float(f["DETSIG"]) == pytest.approx(r["significance"], rel=1e-4)

    # With every ScW finished the frame is the product, and it grows with the ScWs.
    last = partial_mosaic(q, ids)
    assert last.n_scw == 3
    assert np.allclose(last.images.significance, full.data.images.significance, equal_nan=True, rtol=1e-5,
                       atol=1e-4)
    assert frame.catalog["DETSIG"][0] < last.catalog["DETSIG"][0]

    # The page draws the frame of a running JEM-X job as it does ISGRI's.
    from callbacks.progressive import progressive_frame

    finished = {"job_id": "j1", "state": "running", "scws": ids[:k], "n_total": 3}  # the finished-scws store
    fig, holder, rows, partial, note = progressive_frame(finished, {"job_id": "j1", "params": q.to_params()}, None)
    assert holder == "holder has-product" and partial == {"job_id": "j1", "scws": ids[:k]}
    assert "Crab" in list(fig.data[2].text) and f"{k} of 3" in fig.layout.title.text
    assert [r["name"] for r in rows] == [r["name"] for r in alone.summary["catalog"]]


def test_an_instrument_without_mosaics_has_no_frames():
    from core.instruments.base import get_instrument

    q = Query.from_params(instrument="spi_acs", product_type="lc", T1="2003-03-15T00:00:00", T2="2003-03-15T01:00:00")
    assert get_instrument("spi_acs").mosaic_plan(q) is None
    assert partial_mosaic(q, ["003900190010"]) is None
