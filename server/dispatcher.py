"""ODA dispatcher endpoints: what ``oda_api.api.DispatcherAPI`` talks to.

* ``GET|POST /run_analysis``: submit or poll a product. ``query_status`` goes ``new`` →
  ``submitted`` → ``progress`` → ``done`` | ``failed``; ``job_id`` is the product id, so
  identical requests alias; ``job_monitor.full_report_dict_list`` has one entry per ScW
  (``scwid``, ``node``, ``message``: preparing, restored from cache, calculated,
  failed: reason). When done, ``products`` holds the encoded products
  (:mod:`server.oda_encode`), ``analysis_parameters`` and ``api_code``.
* ``GET /api/par-names``: parameter names of an instrument's product.
* ``GET /api/instr-list``: instruments served.
* ``GET /api/meta-data``: parameter descriptions (defaults, units, ranges).

Bad parameters answer HTTP 400 ``{"error": "<field>: <what> (allowed: <range>)", "field",
"allowed", ...}`` (``oda_api`` raises ``RequestNotUnderstood`` with it); missing rights
answer 403 with ``exit_status.message``; a job that fails answers ``query_status: failed``
with ``exit_status.message`` saying why.
"""

from __future__ import annotations

import secrets

from flask import request

from core.errors import NotFoundError, QueryError
from core.query import INSTRUMENTS

from . import auth
from .common import ApiError, api_blueprint, clean_message, error_body, json_response, product_cache, public_base_url
from .oda_encode import EncodedCache
from .params import (AVAILABLE_INSTRUMENTS, INSTRUMENT_PRODUCTS, ODA_DEFAULT_TIME_BIN, catalog_order, oda_par_names,
                     parameter_specs, query_from_oda)

__all__ = ["bp"]

bp = api_blueprint("oda_dispatcher", __name__)
_encoded = EncodedCache()


def _node(query) -> str:
    """The ODA product name of a query (the node its job monitor reports): the registry's."""
    from core.instruments.base import get_instrument

    try:
        return get_instrument(query.instrument).oda_product(query.product_type)
    except KeyError:
        return query.product_type


def _values() -> dict:
    """Request fields (query string and form), first value each; lists joined for scw_list."""
    out = {}
    for src in (request.args, request.form):
        for key in src.keys():
            vals = src.getlist(key)
            if key == "scw_list" and len(vals) > 1:
                out[key] = ",".join(vals)
            else:
                out[key] = vals[0] if vals else ""
    return out


def _upload():
    """Source rows of an uploaded ``user_catalog_file`` (ECSV, FITS or ODA JSON), or None."""
    from core.spectral.catalog import read_catalog_file

    from core.config import get_limits

    f = request.files.get("user_catalog_file")
    if f is None:
        return None
    limit = get_limits().max_upload_bytes
    data = f.read(limit + 1)
    if len(data) > limit:
        raise QueryError("user_catalog_file", "is too large", f"at most {limit / 1e6:g} MB (ODA_MAX_UPLOAD_BYTES)")
    try:
        return read_catalog_file(data, f.filename or "")
    except QueryError as exc:
        raise QueryError("user_catalog_file", exc.message, exc.allowed) from None



def _exit_status(status: int = 0, message: str = "", error_message: str = "", comment: str = "") -> dict:
    return {"status": status, "message": message, "error_message": error_message, "debug_message": "",
            "comment": comment, "warning": ""}


def _monitor(job_id: str, session_id: str, status: str, rec: dict | None, node: str) -> dict:
    reports = []
    for row in (rec or {}).get("scws", []):
        scw = str(row.get("scw_id", ""))
        if len(scw) == 12 and scw.isdigit():
            scw += ".001"
        reports.append({"scwid": scw, "node": node, "message": clean_message(row.get("status", "")),
                        "seconds": row.get("seconds", 0.0)})
    return {"job_id": job_id, "session_id": session_id, "status": status, "full_report_dict_list": reports,
            "n_done": (rec or {}).get("n_done", 0), "n_total": (rec or {}).get("n_total", 0)}


def _response(query_status: str, job_id: str, session_id: str, rec: dict | None, node: str, *,
              products: dict | None = None, exit_status: dict | None = None, http: int = 200):
    body = {"query_status": query_status, "job_status": query_status,
            "exit_status": exit_status or _exit_status(),
            "job_monitor": _monitor(job_id, session_id, query_status, rec, node),
            "session_id": session_id, "job_id": job_id,
            "products": products if products is not None else {}}
    return json_response(body, http)


@bp.route("/run_analysis", methods=["GET", "POST"])
def run_analysis():
    from .jobs import ACTIVE, get_runner

    values = _values()
    session_id = values.get("session_id") or ""
    if session_id in ("", "new", "\x00"):
        session_id = secrets.token_hex(8).upper()
    job_id_in = values.get("job_id", "")
    status_in = (values.get("query_status") or "new").strip()
    try:
        query, echoed = query_from_oda(values, _upload())
    except QueryError as exc:
        err = ApiError.from_query_error(exc)
        body = error_body(400, err.message, err.field, err.allowed, query_status="failed",
                          exit_status=_exit_status(1, clean_message(str(exc)), clean_message(str(exc))),
                          job_monitor={"job_id": job_id_in or None, "session_id": session_id},
                          products={})
        return json_response(body, 400)
    try:
        query = auth.authorize(query, values.get("integral_data_rights"), auth.token_from_request(request, values))
    except ApiError as exc:
        body = exc.body()
        body.update(query_status="failed", exit_status=_exit_status(1, body["error"], body["error"]),
                    job_monitor={"job_id": job_id_in or None, "session_id": session_id}, products={})
        return json_response(body, exc.status)

    node = _node(query)
    if (values.get("query_type") or "").strip().lower() == "dummy":
        return _dummy(query, echoed, session_id, node)
    runner = get_runner()
    try:
        jid = runner.job_id(query)
    except QueryError as exc:
        return _failed(exc, job_id_in or "unknown", session_id, None, node)
    rec = runner.jobs.read(jid)
    polling = status_in not in ("new", "prepared", "not-prepared")
    if polling and rec is not None and rec["status"] in ("failed", "cancelled"):
        return _failed_record(rec, jid, session_id, node)
    rec = runner.submit(query)
    if rec["status"] in ACTIVE:
        qs = "submitted" if rec["status"] == "submitted" or not polling else "progress"
        comment = f"{rec.get('n_done', 0)} of {rec.get('n_total', 0)} ScWs done"
        return _response(qs, jid, session_id, rec, node, exit_status=_exit_status(comment=comment))
    if rec["status"] == "done":
        try:
            res = product_cache.get(jid)
        except ApiError:
            return _response("submitted", jid, session_id, rec, node)
        from .snippets import oda_api_snippet

        products = dict(_encoded.get(res, catalog_order(echoed.get("selected_catalog")) or None))
        products.update(analysis_parameters=echoed, api_code=oda_api_snippet(res.query, public_base_url()),
                        job_id=jid, session_id=session_id, product_id=jid,
                        prod_process_message=_process_message(rec),
                        download_url=f"{public_base_url()}/products/{jid}/all.zip")
        return _response("done", jid, session_id, rec, node, products=products)
    return _failed_record(rec, jid, session_id, node)


#: ``exit_status.message`` of the ODA dispatcher when the data server found nothing usable
#: (trailing space included): ``oda_api`` raises ``FailedToFindAnyUsefulResults`` on it.
NO_DATA_MESSAGE = "failed: get dataserver products "


def _process_message(rec: dict | None) -> str:
    rows = (rec or {}).get("scws", [])
    counts: dict[str, int] = {}
    for row in rows:
        key = clean_message(str(row.get("status", ""))).split(":")[0] or "done"
        counts[key] = counts.get(key, 0) + 1
    return "; ".join(f"{n} ScW(s) {k}" for k, n in counts.items())


def _failed_record(rec: dict, jid: str, session_id: str, node: str):
    err = rec.get("error") or {}
    msg = rec.get("message") or rec["status"]
    if err.get("allowed"):
        msg = f"{err.get('field')}: {err.get('message')} (allowed: {err['allowed']})"
    msg = clean_message(msg)
    # A job that ran and found no usable data: ODA's text, the reason in error_message.
    # (internal errors and cancellations keep their own message.)
    headline = NO_DATA_MESSAGE if rec.get("status") == "failed" and err else msg
    return _response("failed", jid, session_id, rec, node, exit_status=_exit_status(1, headline, msg))


def _failed(exc: QueryError, jid: str, session_id: str, rec, node: str):
    msg = clean_message(str(exc))
    headline = NO_DATA_MESSAGE if isinstance(exc, NotFoundError) else msg
    return _response("failed", jid, session_id, rec, node, exit_status=_exit_status(1, headline, msg))


def _dummy(query, echoed: dict, session_id: str, node: str):
    """``query_type=Dummy``: ODA's instant placeholder product, nothing computed."""
    from .oda_encode import dummy_products

    jid = "dummy-" + query.product_id()[:16]
    products = dict(dummy_products(query))
    products.update(analysis_parameters=echoed, job_id=jid, session_id=session_id,
                    prod_process_message="dummy product: nothing was computed", api_code="")
    return _response("done", jid, session_id, None, node, products=products,
                     exit_status=_exit_status(comment="query_type=Dummy: a placeholder product"))


@bp.route("/api/par-names", methods=["GET"])
def par_names():
    instrument = (request.args.get("instrument") or "isgri").strip().lower()
    product = request.args.get("product_type")
    try:
        if instrument not in AVAILABLE_INSTRUMENTS:
            raise QueryError("instrument", f"unknown or unavailable instrument {instrument!r}",
                             ", ".join(AVAILABLE_INSTRUMENTS))
        return json_response(oda_par_names(instrument, product))
    except QueryError as exc:
        raise ApiError.from_query_error(exc) from None


@bp.route("/api/instr-list", methods=["GET"])
def instr_list():
    return json_response(list(AVAILABLE_INSTRUMENTS))


@bp.route("/api/meta-data", methods=["GET"])
def meta_data():
    """ODA-style description: a list of parameter groups, each ``[{"query_name"}, {name, units, value}...]``."""
    instrument = (request.args.get("instrument") or "isgri").strip().lower()
    if instrument not in INSTRUMENTS or instrument not in AVAILABLE_INSTRUMENTS:
        raise ApiError(400, f"unknown or unavailable instrument {instrument!r}", "instrument",
                       ", ".join(AVAILABLE_INSTRUMENTS))
    product = request.args.get("product_type")
    products = INSTRUMENT_PRODUCTS[instrument]
    if product:
        if product not in products:
            raise ApiError(400, f"unknown product {product!r}", "product_type", ", ".join(products))
        products = [product]
    from .params import ODA_PRODUCTS

    groups = [[{"instrument": instrument}, {"prod_dict": {p: f"{p}_query" for p in INSTRUMENT_PRODUCTS[instrument]}}]]
    for p in products:
        specs = parameter_specs(instrument, ODA_PRODUCTS[p][1])
        group = [{"query_name": f"{p}_query"}, {"product_name": p}]
        for name, s in specs.items():
            if name == "time_bin":
                s = {**s, "default": ODA_DEFAULT_TIME_BIN}
            entry = {"name": name, "units": s.get("unit", s["type"]), "value": s.get("default"),
                     "description": s.get("description", "")}
            for k in ("minimum", "maximum", "exclusiveMinimum", "enum"):
                if k in s:
                    entry["allowed" if k == "enum" else k] = s[k]
            group.append(entry)
        groups.append(group)
    return json_response(groups)


@bp.route("/api/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
@bp.route("/products/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def unknown(rest: str):
    """Unknown URLs under our prefixes: JSON 404 (not the Dash page's catch-all)."""
    raise ApiError(404, f"no such resource {request.path[:100]}", None,
                   "see /api/v1/openapi.json")
