"""Copy-paste Python that reproduces a product: with our client, and with ``oda_api``.

Both take the validated :class:`~core.query.Query` and the service's base URL, so the
page's "API code" panel and the dispatcher's ``api_code`` field print the same request.

Examples
--------
>>> from core.query import Query
>>> q = Query.from_params(src_name="Crab", RA=83.6331, DEC=22.0145, T1="2003-03-15", T2="2003-04-15")
>>> print(client_snippet(q, "http://127.0.0.1:8050").splitlines()[0])
# pip install --find-links http://127.0.0.1:8050/client/ integral-client
"""

from __future__ import annotations

import json

from core.query import Query

__all__ = ["client_snippet", "oda_api_snippet", "oda_params", "oda_catalog_json"]

_DEFAULTS = {"T_format": "isot", "radius": 15.0, "max_pointings": 50, "min_good_time": 1000.0,
             "instrument": "isgri", "time_bin_format": "sec", "channel_grid": "osa11", "rebin": 1,
             "spectral_model": "powerlaw", "time_bin": 0.0}


def _params(query: Query) -> dict:
    """The parameters worth writing: those the product uses, defaults left out."""
    p = query.to_params()
    used = set(Query.used_fields(query.product_type, query.instrument))
    out = {}
    for k, v in p.items():
        if k not in used:
            continue
        if k in _DEFAULTS and v == _DEFAULTS[k] and k not in ("instrument",):
            continue
        out[k] = v
    return out


def _lit(v) -> str:
    if isinstance(v, float):
        return repr(round(v, 8))
    return repr(v)


def client_snippet(query: Query, base_url: str) -> str:
    """Python with :mod:`integral_client` that fetches this product again."""
    p = _params(query)
    if p.get("instrument") == "isgri":
        p.pop("instrument")
    if p.get("selected_catalog"):
        p["selected_catalog"] = [list(r) for r in p["selected_catalog"]]
    if p.get("scw_list"):
        p["scw_list"] = ",".join(p["scw_list"])
    ptype = p.pop("product_type", "image")
    from .client_dist import install_line

    lines = [f"# {install_line(base_url)}", "from integral_client import Client", "",
             f"client = Client({base_url.rstrip('/')!r})", "",
             "product = client.get_product(",
             f"    product_type={ptype!r},"]
    lines += [f"    {k}={_lit(v)}," for k, v in p.items()]
    lines += [")"]
    if ptype == "image":
        lines += ["catalog = product.table()          # detected sources (astropy Table)",
                  "mosaic = product.hdulist(\"mosaic.fits\")  # INTENSITY, VARIANCE, SIGNIFICANCE, EXPOSURE"]
    elif ptype == "spectrum":
        lines += ["print(product.table())             # per-source rates", "spectra = product.quantities"]
    elif ptype == "lc":
        lines += ["lc = product.table()               # TIME, RATE, ERROR of the first source",
                  "print(product.quantities)"]
    else:
        lines += ["print(product.table())             # fitted parameters with errors"]
    lines.append("product.save(\"oda_products\")        # every file of the product")
    return "\n".join(lines) + "\n"


def oda_catalog_json(rows) -> dict:
    """``selected_catalog`` triplets as the ODA catalogue dictionary (api_cat_str)."""
    rows = list(rows)
    return {"cat_frame": "fk5", "cat_coord_units": "deg",
            "cat_column_list": [list(range(len(rows))), [str(r[0]) for r in rows],
                                [float(r[1]) for r in rows], [float(r[2]) for r in rows]],
            "cat_column_names": ["meta_ID", "src_names", "ra", "dec"],
            "cat_column_descr": [["meta_ID", "<i8"], ["src_names", "<U32"], ["ra", "<f8"], ["dec", "<f8"]],
            "cat_lat_name": "dec", "cat_lon_name": "ra"}


def oda_params(query: Query) -> dict:
    """The query as ``oda_api`` ``get_product`` keyword arguments (ODA names and formats)."""
    from .params import oda_product_name

    p = _params(query)
    p.pop("instrument", None)
    ptype = p.pop("product_type", "image")
    out = {"instrument": query.instrument, "product": oda_product_name(ptype, query.instrument),
           "product_type": "Real"}
    if p.get("scw_list"):
        p["scw_list"] = ",".join(p["scw_list"])
    if p.get("selected_catalog"):
        p["selected_catalog"] = json.dumps(oda_catalog_json(p["selected_catalog"]))
    out.update(p)
    return out


def oda_api_snippet(query: Query, base_url: str) -> str:
    """Python with ``oda_api`` (``DispatcherAPI(url=...).get_product``) for this product."""
    p = oda_params(query)
    lines = ["from oda_api.api import DispatcherAPI", "",
             f"disp = DispatcherAPI(url={base_url.rstrip('/')!r})", "",
             "data_collection = disp.get_product("]
    lines += [f"    {k}={_lit(v)}," for k, v in p.items()]
    lines += [")", "data_collection.show()"]
    if query.product_type == "image":
        lines += ["mosaic = data_collection.mosaic_image_0_mosaic.to_fits_hdu_list()",
                  "catalog = data_collection.dispatcher_catalog_1.table"]
    return "\n".join(lines) + "\n"
