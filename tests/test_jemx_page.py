"""JEM-X products in the page: a JEM-X query submitted through the page's job callbacks
renders its image, spectrum and light curve (the instrument-free views)."""

from __future__ import annotations

from callbacks import form_state as fs

SCWS = "003900190010,003900140010"


def _ref(product_type, **kw):
    from callbacks.jobs import PRODUCTS, run_request, start_outputs

    params = fs.validate(fs.form_params(dict(fs.DEFAULTS, instrument="jemx", scw_list=SCWS, src_name="Crab",
                                             E1_keV=3, E2_keV=20, product_type=product_type, **kw)))[0].to_params()
    assert params["instrument"] == "jemx"
    out = start_outputs(params)
    request = out[len(PRODUCTS)]
    if isinstance(request, dict):
        done = run_request(request, lambda rec: None)
        assert done[4]["status"] == "done", done[4]
        out = start_outputs(params)
    ref = out[PRODUCTS.index(product_type)]
    assert isinstance(ref, dict) and ref["product_type"] == product_type
    return ref


def test_jemx_image_spectrum_and_lc_render():
    from callbacks.products import lc_sources, render_image, render_lc, render_spectrum, spectrum_sources

    fig, holder, _ = render_image(_ref("image"), None, None, [], ["labels"], None, [])
    assert holder == "holder has-product"
    assert fig.data[0].type == "heatmap" and "Crab" in list(fig.data[2].text)
    assert "JEM-X2" in fig.layout.title.text

    ref = _ref("spectrum")
    opts, first, _ = spectrum_sources(ref, False)
    assert first == "Crab"
    fig, table, holder = render_spectrum(first, ref)
    assert holder == "holder has-product" and len(fig.data[0].x) == 16

    ref = _ref("lc", time_bin=1000)
    opts, first, _ = lc_sources(ref, False)
    fig, stats, holder = render_lc(first, "isot", [], ref)
    assert holder == "holder has-product" and len(fig.data[0].y) >= 4
