"""The image product end to end: reuse of per-ScW images, progress, files, CLI."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from core.imaging.pipeline import CALCULATED, RESTORED, image_png, make_image
from core.query import Query

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def store(tmp_path):
    from core.products.store import ProductStore

    return ProductStore(tmp_path / "store")


def _crab(**kw):
    base = dict(src_name="Crab", T1="2003-01-01", T2="2004-01-01", radius=10, max_pointings=4)
    return Query.from_params({**base, **kw})


def test_identical_and_overlapping_requests_reuse_scw_images(store):
    from core.archive.store import get_archive

    q4 = _crab()
    ids = [str(i) for i in get_archive().select(q4).ids]
    q3 = Query.from_params(src_name="Crab", scw_list=",".join(ids[:3]))
    seen = []
    r3 = make_image(q3, store=store, progress=lambda i, n, s: seen.append((i, n, s.status)))
    assert [s.status for s in r3.scws] == [CALCULATED] * 3 and seen[-1][:2] == (3, 3)
    r4 = make_image(q4, store=store)
    assert sorted(s.status for s in r4.scws) == sorted([RESTORED] * 3 + [CALCULATED])
    again = make_image(q4, store=store)
    assert again.from_cache and all(s.status == RESTORED for s in again.scws)
    assert again.product_id == r4.product_id
    assert np.allclose(again.images.significance, r4.images.significance, equal_nan=True)
    names = list(r4.catalog["NAME"])
    assert names[0] == "Crab" and r4.catalog["DETSIG"][0] > 100


def test_product_files(store):
    r = make_image(_crab(max_pointings=2), store=store)
    with fits.open(r.files["mosaic.fits"]) as hdul:
        types = [h.header.get("IMATYPE") for h in hdul if h.header.get("EXTNAME") == "ISGR-MOSA-IMA"]
        assert types == ["INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"]
        assert "python -m core image" in repr(hdul[0].header)
    cat = Table.read(r.files["catalog.fits"], hdu="ISGR-SRCL-RES")
    assert "Crab" in [n.strip() for n in cat["NAME"]]
    from regions import Regions

    assert len(Regions.read(str(r.files["sources.reg"]), format="ds9")) >= 1
    png = image_png(r, store=store)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image_png(r, store=store) == png


def test_failed_scw_is_reported_and_mosaic_goes_on(store, tmp_path, monkeypatch):
    from core.archive.store import Archive
    from core.config import get_settings

    q = _crab(max_pointings=3)
    ids = [str(i) for i in Archive(get_settings()).select(q).ids]
    import core.imaging.pipeline as P

    real = P.scw_image

    def flaky(scw_id, *a, **kw):
        if scw_id == ids[1]:
            raise OSError("unreadable ScW file isgri_events.fits.gz: truncated")
        return real(scw_id, *a, **kw)

    monkeypatch.setattr(P, "scw_image", flaky)  # a real truncated mirror file cannot be rebuilt
    r = make_image(q, store=store)
    status = {s.scw_id: s.status for s in r.scws}
    assert status[ids[1]].startswith("failed: unreadable") and r.images.meta.get("n_scw", 2) == 2


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env={**os.environ, **(env or {})})


def test_cli_image_and_detect(tmp_path):
    out = tmp_path / "img"
    r = _cli("image", "--src", "Crab", "--T1", "2003-01-01", "--T2", "2004-01-01", "--max_pointings", "2",
             "--E1_keV", "20", "--E2_keV", "40", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} >= {"mosaic.fits", "catalog.fits", "catalog.ecsv", "sources.reg", "mosaic.png"}
    assert "Crab" in r.stdout
    det = tmp_path / "det"
    r = _cli("detect", str(out / "mosaic.fits"), "--threshold", "6", "--out", str(det))
    assert r.returncode == 0, r.stderr
    assert "Crab" in Table.read(det / "catalog.ecsv")["NAME"]
    r = _cli("detect", str(out / "mosaic.fits"), "--threshold", "0.5", "--out", str(det))
    assert r.returncode == 2 and r.stderr.startswith("error: threshold:") and "Traceback" not in r.stderr
    r = _cli("image", "--src", "Crab", "--T1", "2003-01-01", "--T2", "2004-01-01", "--E1_keV", "40", "--E2_keV", "30",
             "--out", str(out))
    assert r.returncode == 2 and r.stderr.startswith("error: E2_keV:")


def test_worker_processes_use_the_callers_store(store):
    q = _crab(max_pointings=2)
    first = make_image(q, store=store, workers=2)
    assert [s.status for s in first.scws] == [CALCULATED] * 2
    # Another product over the same ScWs (other threshold): everything per ScW is reused,
    # which proves the workers wrote into this store and not into the configured default.
    again = make_image(q.with_(detection_threshold=9), store=store, workers=1)
    assert not again.from_cache and [s.status for s in again.scws] == [RESTORED] * 2


_REGION_SCRIPT = """
import sys
from astropy.table import Table
from core.imaging.outputs import write_region_file
t = Table({"NAME": ["Crab"], "RA_OBJ": [83.633], "DEC_OBJ": [22.014], "ERR_RAD": [0.01], "NEW_SOURCE": [0]})
write_region_file(t, sys.argv[1])
"""


def test_region_file_is_the_same_bytes_in_every_process(tmp_path):
    # regions orders the "global" properties by string hash: products are content-addressed,
    # so the same catalogue must give the same file whatever the interpreter's hash seed.
    texts = set()
    for seed in ("1", "3", "4"):
        out = tmp_path / f"r{seed}.reg"
        subprocess.run([sys.executable, "-c", _REGION_SCRIPT, str(out)], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)})
        texts.add(out.read_text())
    assert len(texts) == 1
    from regions import Regions

    (reg,) = Regions.read(str(out), format="ds9")
    assert reg.meta["text"] == "Crab" and reg.visual["edgecolor"] == "green"
    assert abs(reg.center.ra.deg - 83.633) < 1e-6 and abs(reg.radius.to_value("arcmin") - 2.0) < 1e-6
