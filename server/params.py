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

from core.errors import QueryError
from core.instruments.base import instruments
from core.query import (ACS_SPECTRA, CHANNEL_GRIDS, DEFAULT_RADIUS, INPUT_ALIASES, INSTRUMENTS, LIMITS, PRODUCTS,
                        SPECTRAL_MODELS, Query)

__all__ = ["OSA_VERSIONS", "osa_channel_grid", "catalog_order", "ODA_DEFAULT_TIME_BIN", "ODA_PRODUCTS", "AVAILABLE_INSTRUMENTS", "CONTROL_FIELDS", "ACCEPTED_IGNORED", "query_from_oda",
           "oda_product_name", "parameter_specs", "oda_par_names", "query_from_json", "EXTRA_FIELDS"]

#: ODA product names → (instrument, our product_type).
ODA_PRODUCTS = {
    "isgri_image": ("isgri", "image"),
    "isgri_spectrum": ("isgri", "spectrum"),
    "isgri_lc": ("isgri", "lc"),
    "spectral_fit": (None, "spectral_fit"),
    "jemx_image": ("jemx", "image"),
    "jemx_spectrum": ("jemx", "spectrum"),
    "jemx_lc": ("jemx", "lc"),
    "spi_acs_lc": ("spi_acs", "lc"),
}
#: Instruments whose products this service computes: those of the registry.
AVAILABLE_INSTRUMENTS = tuple(i.name for i in instruments())
#: Products per instrument, ODA names.
INSTRUMENT_PRODUCTS = {"isgri": ["isgri_image", "isgri_spectrum", "isgri_lc", "spectral_fit"],
                       "jemx": ["jemx_image", "jemx_spectrum", "jemx_lc", "spectral_fit"],
                       "spi_acs": ["spi_acs_lc"]}

#: Dispatcher control fields: never part of the analysis (nor of the job id).
CONTROL_FIELDS = ("session_id", "job_id", "query_status", "query_type", "dry_run", "off_line", "api",
                  "oda_api_version", "token", "verbose", "run_asynch", "async_dispatcher", "instrument",
                  "product_type", "integral_data_rights", "catalog_selected_objects", "return_progress",
                  "client-name", "user_catalog_file")
#: ODA parameters accepted for compatibility that do not change our products.
ACCEPTED_IGNORED = {
    "osa_version": "selects the channel grid (OSA10.x: 62 channels, OSA11.x: 256) unless channel_grid is given",
    "image_scale_min": "display only", "image_scale_max": "display only",
    "use_scws": "scw_list is used when given", "src_name_resolver": "names are resolved locally",
    "data_level": "SPI-ACS: the simulated archive has one data level (ordinary and realtime are the same counts)",
}
#: Fields our JSON API accepts besides the query's own.
EXTRA_FIELDS = ("integral_data_rights", "token")


#: ``osa_version`` values of the ODA INTEGRAL plugin → our channel grid (OSA 10: 62 ISGRI channels,
#: OSA 11: 256). The archive's calibration is otherwise the same for both.
OSA_VERSIONS = {"OSA10.2": "osa10", "OSA11.0": "osa11", "OSA11.1": "osa11", "OSA11.2": "osa11"}
#: Light-curve bin of the ODA INTEGRAL plugin when a request gives none (s).
ODA_DEFAULT_TIME_BIN = 1000.0


def osa_channel_grid(value) -> str:
    """The channel grid an ``osa_version`` selects (``OSA10.2`` → ``osa10``)."""
    text = str(value).strip()
    key = next((k for k in OSA_VERSIONS if k.lower() == text.lower()), None)
    if key is None:
        raise QueryError("osa_version", f"unknown OSA version {text[:40]!r}", ", ".join(OSA_VERSIONS))
    return OSA_VERSIONS[key]


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
    instrument = (instrument or "isgri").strip().lower()
    if instrument not in INSTRUMENTS:
        raise QueryError("instrument", f"unknown instrument {instrument!r}", ", ".join(AVAILABLE_INSTRUMENTS))
    if instrument not in AVAILABLE_INSTRUMENTS:
        raise QueryError("instrument", f"{instrument} products are not available yet", ", ".join(AVAILABLE_INSTRUMENTS))
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
    if "selected_catalog" in params and "catalog_selected_objects" in v:
        params["selected_catalog"] = _select_objects(params["selected_catalog"], v["catalog_selected_objects"])
    if upload is not None and "selected_catalog" not in params:
        params["selected_catalog"] = upload
    allowed = Query.parameter_names() + list(INPUT_ALIASES)
    for name in params:
        if name not in allowed:
            raise QueryError(name, "is not a parameter of this service",
                             ", ".join(sorted(set(allowed) | set(CONTROL_FIELDS) | set(ACCEPTED_IGNORED))))
    params.update(instrument=instrument, product_type=ptype)
    if "osa_version" in v:
        grid = osa_channel_grid(v["osa_version"])
        params.setdefault("channel_grid", grid)
    if ptype == "lc" and instrument == "isgri" and "time_bin" not in params:  # the ISGRI plugin's default
        params["time_bin"] = ODA_DEFAULT_TIME_BIN
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
    elif str(params.get("instrument", "isgri")).strip().lower() not in AVAILABLE_INSTRUMENTS:
        _check_instrument_product(str(params.get("instrument")), str(params.get("product_type", "image")))
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
    """Every query parameter: type, default, unit, range or choices, description.

    ``product`` (our name: image, spectrum, lc, spectral_fit) limits the list to the
    parameters that product uses.
    """
    e_lo, e_hi = LIMITS["E_keV"].get(instrument, LIMITS["E_keV"]["isgri"])
    specs = {
        "src_name": dict(type="string", default="", description="source name, resolved locally (RA/DEC filled)"),
        "RA": dict(type="number", unit="deg", minimum=0.0, maximum=360.0,
                   description="right ascension (degrees, or sexagesimal hours as text)"),
        "DEC": dict(type="number", unit="deg", minimum=-90.0, maximum=90.0, description="declination"),
        "T1": dict(type="string", description="start time, in T_format", example="2003-03-15T00:00:00"),
        "T2": dict(type="string", description="end time, in T_format (after T1)", example="2003-04-15T00:00:00"),
        "T_format": dict(type="string", default="isot", enum=["isot", "mjd", "ijd"], description="format of T1/T2"),
        "radius": dict(type="number", unit="deg", default=DEFAULT_RADIUS.get(instrument, 15.0), exclusiveMinimum=LIMITS["radius"][0],
                       maximum=LIMITS["radius"][1], description="pointing axes within this distance of the target"),
        "max_pointings": dict(type="integer", default=50, minimum=LIMITS["max_pointings"][0],
                              maximum=LIMITS["max_pointings"][1], description="most ScWs used (spread in time)"),
        "scw_list": dict(type="string", default="", description="comma-separated ScW ids (RRRRPPPPSSSF[.VVV])",
                         example="005600620010.001,005600630010.001"),
        "min_good_time": dict(type="number", unit="s", default=1000.0, minimum=LIMITS["min_good_time"][0],
                              maximum=LIMITS["min_good_time"][1], description="least good ISGRI time per ScW"),
        "E1_keV": dict(type="number", unit="keV", default=max(20.0, e_lo), minimum=e_lo, maximum=e_hi,
                       description="lower energy bound"),
        "E2_keV": dict(type="number", unit="keV", default=min(40.0, e_hi), minimum=e_lo, maximum=e_hi,
                       description="upper energy bound (> E1_keV)"),
        "detection_threshold": dict(type="number", unit="sigma", default=7.0,
                                    minimum=LIMITS["detection_threshold"][0], maximum=LIMITS["detection_threshold"][1],
                                    description="source detection significance"),
        "time_bin": dict(type="number", default=0.0, minimum=0.0,
                         description=f"light-curve bin in time_bin_format units; 0 = one point per ScW; "
                                     f"{LIMITS['time_bin_sec'][0]:g}..{LIMITS['time_bin_sec'][1]:g} s otherwise"),
        "time_bin_format": dict(type="string", default="sec", enum=["sec", "jd"], description="unit of time_bin"),
        "channel_grid": dict(type="string", default="osa11", enum=list(CHANNEL_GRIDS), description="spectral channels"),
        "rebin": dict(type="integer", default=1, minimum=LIMITS["rebin"][0], maximum=LIMITS["rebin"][1],
                      description="channels summed per spectral bin"),
        "spectral_model": dict(type="string", default="powerlaw", enum=list(SPECTRAL_MODELS),
                               description="fit model; sums such as powerlaw+bbody allowed"),
        "selected_catalog": dict(type="string", default="",
                                 description=f"sources to extract: ODA catalogue JSON (as returned with images) or "
                                             f"a JSON list of {{name, ra, dec}}; {LIMITS['selected_catalog'][1]} at most"),
    }
    if instrument == "jemx":
        specs["jemx_num"] = dict(type="integer", default=2, enum=[1, 2], description="JEM-X unit (1 or 2)")
    if instrument == "spi_acs":
        from core.instruments.spi_acs.params import spi_acs_specs

        specs = spi_acs_specs(specs)
    if product is None:
        return specs
    return {k: specs[k] for k in Query.used_fields(product, instrument) + list(INPUT_ALIASES)
            if k in specs and k not in ("instrument", "product_type")}


def oda_par_names(instrument: str, product: str | None) -> list[str]:
    """Parameter names ``/api/par-names`` lists (what ``oda_api`` checks before a request)."""
    ptype = None
    if product:
        _, ptype = _check_instrument_product(instrument, product)
    names = list(parameter_specs(instrument, ptype))
    names += ["integral_data_rights", "token", "catalog_selected_objects", "user_catalog_file", "osa_version",
              "image_scale_min", "image_scale_max", "api", "oda_api_version", "dry_run", "job_id"]
    return names
