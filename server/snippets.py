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

from core.params import param
from core.query import Query

__all__ = ["client_snippet", "oda_api_snippet", "oda_params", "oda_catalog_json"]

#: Written even at their defaults: what a reader of the snippet wants to see.
_ALWAYS = ("instrument", "product_type", "jemx_num", "E1_keV", "E2_keV", "detection_threshold", "systematic_fraction")


def _params(query: Query) -> dict:
    """The parameters worth writing: those the product uses, the table's defaults left out
    (not those the ODA dispatcher would replace by its own, such as time_bin 0)."""
    p = query.to_params()
    used = set(Query.used_fields(query.product_type, query.instrument))
    out = {}
    for k, v in p.items():
        if k not in used:
            continue
        spec = param(k).at(query.instrument)
        default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        if k not in _ALWAYS and spec.oda_default is None and v == default:
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
    for k in ("scw_list", "joint_instruments"):
        if p.get(k):
            p[k] = ",".join(p[k])
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
    for k in ("scw_list", "joint_instruments"):
        if p.get(k):
            p[k] = ",".join(p[k])
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
