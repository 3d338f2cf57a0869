"""Band selection on the file's integer energy codes equals selection on keV floats."""

import numpy as np

from core.archive.osa_files import ScwData, read_scw, write_scw
from core.archive.pointings import scw_ids
from core.archive.simulate import simulate_scw
from core.imaging.shadowgram import shadowgram


def test_coded_and_float_band_selection_agree(history, tmp_path):
    row = history[history["revolution"] == 800][0]
    sid = str(scw_ids(row[None])[0])
    sim = simulate_scw(row, sid)
    write_scw(tmp_path, dict(sim.meta), sim.events, sim.gti, sim.pixel_status)
    lazy = read_scw(tmp_path, sid)                        # EventList over scaled integers
    plain = ScwData(sid, lazy.header, lazy.events.to_records(), lazy.gti, lazy.pixel_status)
    assert lazy.events.coded("ISGRI_ENERGY") is not None
    for e1, e2 in ((20, 40), (20.3, 39.99), (15, 1000), (17.015625, 17.03125), (900, 2000), (1100, 1200)):
        a, b = shadowgram(lazy, e1, e2), shadowgram(plain, e1, e2)
        assert np.array_equal(a.counts, b.counts), (e1, e2)
