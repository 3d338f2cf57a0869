"""Request parameters: ODA dispatcher names ↔ :class:`core.query.Query`, and their ranges.

The ODA dispatcher receives control fields (``session_id``, ``job_id``, ``query_status``,
``api``, ``token``...) mixed with analysis parameters, and product names such as
``isgri_image``. :func:`query_from_oda` strips the control fields, maps the product name,
applies ``catalog_selected_objects`` to ``selected_catalog`` and builds the validated
query; everything it cannot use is refused with the field named (never silently dropped
when it would change the result). :func:`parameter_specs` describes every parameter with
its type, default and range, for ``/api/par-names``, ``/api/meta-data`` and the OpenAPI
document.
"""

from __future__ import annotations

import json

from collections.abc import Sequence

from core import params as table
from core.errors import QueryError
from core.instruments.base import instruments as registered_instruments
from core.params import INSTRUMENTS, OSA_VERSIONS, PRODUCTS, check_served, json_schema, served_instruments
from core.query import Query

__all__ = ["OSA_VERSIONS", "osa_channel_grid", "catalog_order", "ODA_DEFAULT_TIME_BIN", "ODA_PRODUCTS", "AVAILABLE_INSTRUMENTS", "CONTROL_FIELDS", "ACCEPTED_IGNORED", "query_from_oda",
           "oda_product_name", "parameter_specs", "oda_par_names", "query_from_json", "EXTRA_FIELDS"]

def _oda_products() -> dict:
    owners: dict = {}
    for inst in registered_instruments():
        for oda, ptype in inst.products.items():
            owners.setdefault(oda, []).append((inst.name, ptype))
    return {oda: (own[0][0] if len(own) == 1 else None, own[0][1]) for oda, own in owners.items()}


#: ODA product names → (instrument, our product_type), from the instrument registry; a name
#: several instruments serve (``spectral_fit``) belongs to none of them.
ODA_PRODUCTS = _oda_products()


class _Served(Sequence):
    """The instruments served, read from the registry at each use (``in``, iteration, ``list``)."""

    def __getitem__(self, i):
        return served_instruments()[i]

    def __len__(self):
        return len(served_instruments())

    def __repr__(self):
        return repr(tuple(self))


#: Instruments whose products this service computes: the registry's (:func:`core.params.served_instruments`).
AVAILABLE_INSTRUMENTS = _Served()
#: Products per instrument, ODA names (the table's product choices per instrument).
INSTRUMENT_PRODUCTS = {i: [oda for pt in table.param("product_type").at(i).choices
                           for oda, (inst, t) in ODA_PRODUCTS.items() if t == pt and inst in (i, None)]
                       for i in INSTRUMENTS}

#: Dispatcher control fields: never part of the analysis (nor of the job id).
CONTROL_FIELDS = ("session_id", "job_id", "query_status", "query_type", "dry_run", "off_line", "api",
                  "oda_api_version", "token", "verbose", "run_asynch", "async_dispatcher", "instrument",
                  "product_type", "integral_data_rights", "catalog_selected_objects", "return_progress",
                  "client-name", "user_catalog_file")
#: ODA parameters accepted for compatibility that do not change our products.
ACCEPTED_IGNORED = dict(table.IGNORED)
#: Fields our JSON API accepts besides the query's own.
EXTRA_FIELDS = ("integral_data_rights", "token")


#: Light-curve bin of the ODA INTEGRAL plugin when a request gives none (s).
ODA_DEFAULT_TIME_BIN = table.param("time_bin").oda_default


def osa_channel_grid(value) -> str:
    """The channel grid an ``osa_version`` selects (``OSA10.2`` → ``osa10``)."""
    return OSA_VERSIONS[table.param("osa_version").choice(value)]


def catalog_order(value) -> list[str]:
    """Source names of a ``selected_catalog`` in the order given (duplicates suffixed as
    :func:`core.query.parse_catalog` does); [] if it cannot be read."""
    try:
        data = json.loads(value) if isinstance(value, (str, bytes)) else value
        if isinstance(data, dict):
            names = list(data["cat_column_names"])
            lname = {n.lower(): n for n in names}
            raw = data["cat_column_list"][names.index(lname.get("src_names", lname.get("name", "src_names")))]
        else:
            raw = [(r.get("name", r.get("src_names", "")) if isinstance(r, dict) else r[0]) for r in data or []]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return []
    out: list[str] = []
    for i, name in enumerate(raw):
        base = name = str(name).strip() or f"SRC_{i + 1}"
        k = 1
        while name in out:
            k += 1
            name = f"{base}_{k}"
        out.append(name)
    return out


def oda_product_name(product_type: str, instrument: str = "isgri") -> str:
    """Our product type → the ODA product name (``image`` → ``isgri_image``)."""
    return "spectral_fit" if product_type == "spectral_fit" else f"{instrument}_{product_type}"


def _missing(v) -> bool:
    # oda_api sends None as "\x00"; empty strings mean "not given" in ODA's web form too.
    return v is None or (isinstance(v, str) and v.strip() in ("", "\x00", "None"))


def _check_instrument_product(instrument: str, product: str) -> tuple[str, str]:
    instrument = check_served(instrument)
    product = (product or "").strip()
    if product in ODA_PRODUCTS:
        inst, ptype = ODA_PRODUCTS[product]
        if inst is not None and inst != instrument:
            raise QueryError("product_type", f"{product!r} is not a product of {instrument}",
                             ", ".join(INSTRUMENT_PRODUCTS[instrument]))
        return instrument, ptype
    if product.lower() in PRODUCTS:
        return instrument, product.lower()
    raise QueryError("product_type", f"unknown product {product!r}", ", ".join(INSTRUMENT_PRODUCTS[instrument]))


def _select_objects(catalog, selected: str):
    """Keep the rows of an ODA catalogue whose meta_ID (or row number) is listed."""
    try:
        data = json.loads(catalog) if isinstance(catalog, (str, bytes)) else catalog
        wanted = {int(x) for x in str(selected).replace(";", ",").split(",") if x.strip()}
    except (ValueError, TypeError):
        raise QueryError("catalog_selected_objects", f"cannot read {str(selected)[:60]!r}",
                         "comma-separated meta_ID numbers, e.g. 1,2,5") from None
    if not isinstance(data, dict) or "cat_column_names" not in data:
        return catalog
    names = list(data["cat_column_names"])
    cols = data["cat_column_list"]
    ids = cols[names.index("meta_ID")] if "meta_ID" in names else list(range(len(cols[0]) if cols else 0))
    keep = [i for i, v in enumerate(ids) if v is not None and int(v) in wanted]
    if not keep:
        raise QueryError("catalog_selected_objects", "selects no source of selected_catalog",
                         f"meta_ID values among {sorted(int(v) for v in ids if v is not None)[:50]}")
    out = dict(data)
    out["cat_column_list"] = [[c[i] for i in keep] for c in cols]
    return out


def query_from_oda(values: dict, upload=None) -> tuple[Query, dict]:
    """Validate a dispatcher request.

    Parameters
    ----------
    values : dict
        Request fields (first value of each, ``scw_list`` joined with commas).
    upload : list of (name, ra, dec), optional
        Rows of an uploaded ``user_catalog_file`` used when no selected_catalog is sent.

    Returns
    -------
    (Query, dict)
        The query and the analysis parameters as received (for ``analysis_parameters``).
    """
    v = {k: val for k, val in values.items() if not _missing(val)}
    instrument, ptype = _check_instrument_product(str(v.get("instrument", "isgri")), str(v.get("product_type", "")))
    params = {k: val for k, val in v.items() if k not in CONTROL_FIELDS and k not in ACCEPTED_IGNORED}
    if instrument not in table.param("osa_version").instruments:
        params.pop("osa_version", None)
    if "selected_catalog" in params and "catalog_selected_objects" in v:
        params["selected_catalog"] = _select_objects(params["selected_catalog"], v["catalog_selected_objects"])
    if upload is not None and "selected_catalog" not in params:
        params["selected_catalog"] = upload
    allowed = table.parameter_names()
    for name in params:
        if name not in allowed:
            raise QueryError(name, "is not a parameter of this service",
                             ", ".join(sorted(set(allowed) | set(CONTROL_FIELDS) | set(ACCEPTED_IGNORED))))
    params.update(instrument=instrument, product_type=ptype)
    for p in table.params(role="query", product=ptype, instrument=instrument):
        if p.oda_default is not None and p.name not in params:  # the plugin's default (time_bin 1000 s)
            params[p.name] = p.oda_default
    q = build_query(params)
    # Every request parameter back with the same str() (oda_api compares them); not the token.
    echoed = {k: val for k, val in values.items() if k != "token" and not _missing(val)}
    return q, echoed


def query_from_json(body) -> tuple[Query, dict]:
    """Our JSON API: a query object (plus ``integral_data_rights``/``token``)."""
    if not isinstance(body, dict):
        raise QueryError("body", "must be a JSON object of query parameters", ", ".join(Query.parameter_names()))
    extra = {k: body[k] for k in EXTRA_FIELDS if k in body}
    params = {k: v for k, v in body.items() if k not in EXTRA_FIELDS}
    for k, v in params.items():
        if k == "selected_catalog":
            continue
        if k == "scw_list" and isinstance(v, list):
            if not all(isinstance(x, str) for x in v):
                raise QueryError(k, "must be ScW ids (strings)", "a list of ids or one comma-separated string")
            continue
        if v is not None and not isinstance(v, (str, int, float)):
            raise QueryError(k, f"must be a number or a string, not {type(v).__name__}", None)
        if isinstance(v, bool):
            raise QueryError(k, "must be a number or a string, not a boolean", None)
    if "product_type" in params and str(params["product_type"]) in ODA_PRODUCTS:
        inst, ptype = _check_instrument_product(str(params.get("instrument", "isgri")), str(params["product_type"]))
        params.update(instrument=inst, product_type=ptype)
    else:
        check_served(str(params.get("instrument", "isgri")))
    return build_query(params), extra


def build_query(params: dict) -> Query:
    """:meth:`Query.from_params`, with any malformed value reported as a QueryError."""
    try:
        return Query.from_params(params)
    except QueryError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        raise QueryError("query", f"malformed parameters ({exc.__class__.__name__})",
                         ", ".join(Query.parameter_names())) from None


# -- descriptions ----------------------------------------------------------------------------------
def parameter_specs(instrument: str = "isgri", product: str | None = None) -> dict:
    """Every query parameter of ``instrument``: type, default, unit, range or choices, description
    (:func:`core.params.json_schema` of the table's entries, with the instrument's own ranges).

    ``product`` (our name: image, spectrum, lc, spectral_fit) limits the list to the
    parameters that product uses.
    """
    return {p.name: json_schema(p) for p in table.params(product=product, instrument=instrument)
            if p.role in ("query", "alias") and p.name not in ("instrument", "product_type")}


def oda_par_names(instrument: str, product: str | None) -> list[str]:
    """Parameter names ``/api/par-names`` lists (what ``oda_api`` checks before a request)."""
    ptype = None
    if product:
        _, ptype = _check_instrument_product(instrument, product)
    names = list(parameter_specs(instrument, ptype))
    names += [n for n in ("integral_data_rights", "token", "catalog_selected_objects", "user_catalog_file",
                          "osa_version", "image_scale_min", "image_scale_max", "api", "oda_api_version", "dry_run",
                          "job_id") if n not in names]
    return names
