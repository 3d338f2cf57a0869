"""The reproducing snippets carry every parameter the product depends on."""

from __future__ import annotations

import pytest

from core.query import Query
from server.snippets import _params, client_snippet, oda_api_snippet

BASE = dict(src_name="Crab", T1="2003-03-01", T2="2003-04-30", max_pointings=3, detection_threshold=9,
            E1_keV=25, E2_keV=80, radius=7, min_good_time=500)
EXTRA = {"image": {}, "spectrum": {"channel_grid": "osa10", "rebin": 2},
         "lc": {"time_bin": 300}, "spectral_fit": {"spectral_model": "cutoffpl", "rebin": 4}}


@pytest.mark.parametrize("product", sorted(EXTRA))
def test_snippet_parameters_rebuild_the_same_product(product):
    q = Query.from_params(**BASE, product_type=product, **EXTRA[product],
                          **({} if product == "image" else {"selected_catalog": [("Crab", 83.6331, 22.0145)]}))
    again = Query.from_params(_params(q))
    assert again.canonical() == q.canonical()
    for text in (client_snippet(q, "http://127.0.0.1:8050"), oda_api_snippet(q, "http://127.0.0.1:8050")):
        assert "detection_threshold" in text and "127.0.0.1:8050" in text
