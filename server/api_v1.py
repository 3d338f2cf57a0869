"""Our JSON API, ``/api/v1`` (described by ``/api/v1/openapi.json``).

==========================================  ====================================================
``POST   /api/v1/jobs``                     submit a query (JSON object) → job record (202, or
                                            200 when the product already exists)
``GET    /api/v1/jobs/<id>``                job record with per-ScW progress
``DELETE /api/v1/jobs/<id>``                cancel (also ``POST /api/v1/jobs/<id>/cancel``)
``GET    /api/v1/products/<id>``            summary, query, ScWs, file URLs, snippets
``GET    /api/v1/products/<id>/catalog``    image catalogue (ODA JSON; ``?format=ecsv|fits``)
``POST   /api/v1/validate``                 validate a query without running it
``GET    /api/v1/instruments``              instruments, products and parameter ranges
``GET    /api/v1/instruments/<name>``       one instrument
``GET    /api/v1/openapi.json``             OpenAPI 3 document
==========================================  ====================================================

Files are served by :mod:`server.downloads` (``/products/<id>/<file>``), whose URLs the
product record lists.
"""

from __future__ import annotations

from flask import request

from core.errors import QueryError
from core.query import INSTRUMENTS

from . import auth
from .common import ApiError, api_blueprint, clean_message, json_response, product_cache, public_base_url
from .downloads import file_url
from .params import AVAILABLE_INSTRUMENTS, INSTRUMENT_PRODUCTS, ODA_PRODUCTS, parameter_specs, query_from_json

__all__ = ["bp", "job_view"]

bp = api_blueprint("api_v1", __name__, url_prefix="/api/v1")

_RECORD_FIELDS = ("job_id", "product_type", "query", "status", "message", "error", "scws", "n_done", "n_total",
                  "submitted_at", "started_at", "finished_at", "updated_at")


def job_view(rec: dict) -> dict:
    """A job record as the API shows it (messages cleaned, links added)."""
    out = {k: rec.get(k) for k in _RECORD_FIELDS}
    out["message"] = clean_message(out.get("message") or "")
    if out.get("error"):
        out["error"] = {k: clean_message(v) for k, v in out["error"].items() if v is not None}
    out["scws"] = [{"scw_id": s.get("scw_id"), "status": clean_message(s.get("status")),
                    "seconds": s.get("seconds", 0.0)} for s in rec.get("scws", [])]
    counts: dict[str, int] = {}
    for s in out["scws"]:
        key = "failed" if s["status"].startswith("failed") else s["status"]
        counts[key] = counts.get(key, 0) + 1
    out["counts"] = counts
    base = public_base_url()
    out["links"] = {"self": f"{base}/api/v1/jobs/{rec['job_id']}"}
    if rec.get("status") == "done":
        out["links"]["product"] = f"{base}/api/v1/products/{rec['job_id']}"
    return out


def _body() -> dict:
    if request.mimetype == "application/json" or request.data[:1] in (b"{", b"["):
        body = request.get_json(silent=True)
        if body is None:
            raise ApiError(400, "the body is not valid JSON", "body", "a JSON object of query parameters")
        return body
    return {k: request.form.get(k) for k in request.form} or {k: request.args.get(k) for k in request.args}


def _validated():
    body = _body()
    try:
        query, extra = query_from_json(body)
    except QueryError as exc:
        raise ApiError.from_query_error(exc) from None
    return auth.authorize(query, extra.get("integral_data_rights"), auth.token_from_request(request, extra))


@bp.route("/validate", methods=["POST"])
def validate():
    from .jobs import get_runner

    query = _validated()
    return json_response({"valid": True, "query": query.to_params(), "job_id": get_runner().job_id(query)})


@bp.route("/jobs", methods=["POST"])
def submit():
    from .jobs import get_runner

    query = _validated()
    try:
        rec = get_runner().submit(query)
    except QueryError as exc:
        raise ApiError.from_query_error(exc) from None
    status = 200 if rec["status"] == "done" else 202
    return json_response(job_view(rec), status, {"Location": f"{public_base_url()}/api/v1/jobs/{rec['job_id']}"})


def _record(job_id: str) -> dict:
    from core.products.store import KEY_RE

    from .jobs import get_runner

    if not KEY_RE.fullmatch(job_id or ""):
        raise ApiError(404, "malformed job id", "job_id", "lowercase hexadecimal ids (16-64 characters)")
    try:
        rec = get_runner().status(job_id)
    except QueryError:
        rec = None
    if rec is None:
        raise ApiError(404, f"no job {job_id}", "job_id")
    return rec


@bp.route("/jobs/<job_id>", methods=["GET"])
def status(job_id: str):
    return json_response(job_view(_record(job_id)))


@bp.route("/jobs/<job_id>", methods=["DELETE"])
@bp.route("/jobs/<job_id>/cancel", methods=["POST"])
def cancel(job_id: str):
    from .jobs import ACTIVE, get_runner

    rec = _record(job_id)
    if rec["status"] in ACTIVE:
        get_runner().cancel(job_id)
        view = job_view(rec)
        view["cancel_requested"] = True
        return json_response(view, 202)
    view = job_view(rec)
    view["cancel_requested"] = False
    return json_response(view)


@bp.route("/products/<product_id>", methods=["GET"])
def product(product_id: str):
    from .snippets import client_snippet, oda_api_snippet

    res = product_cache.get(product_id)
    base = public_base_url()
    out = res.to_dict()
    out["scws"] = [{**s, "status": clean_message(s.get("status"))} for s in out["scws"]]
    out["files"] = {name: file_url(base, product_id, name) for name in sorted(res.files)}
    out["links"] = {"self": f"{base}/api/v1/products/{product_id}", "zip": f"{base}/products/{product_id}/all.zip",
                    "figure": f"{base}/products/{product_id}/figure.png"}
    if res.product_type == "image":
        out["links"]["catalog"] = f"{base}/api/v1/products/{product_id}/catalog"
    out["snippets"] = {"client": client_snippet(res.query, base), "oda_api": oda_api_snippet(res.query, base)}
    return json_response(out)


@bp.route("/products/<product_id>/catalog", methods=["GET"])
def catalog(product_id: str):
    from flask import redirect

    res = product_cache.get(product_id)
    if res.product_type != "image":
        raise ApiError(404, f"product {product_id} is a {res.product_type}, catalogues come with images",
                       "product_id")
    fmt = (request.args.get("format") or "json").lower()
    if fmt in ("ecsv", "fits"):
        return redirect(f"{public_base_url()}/products/{product_id}/catalog.{fmt}", code=303)
    if fmt != "json":
        raise ApiError(400, f"unknown format {fmt!r}", "format", "json, ecsv, fits")
    from core.instruments.base import get_instrument

    return json_response({"product_id": product_id, "catalog": res.summary.get("catalog", []),
                          "oda_catalog": get_instrument(res.query.instrument).oda_catalog(res.data.catalog)},
                         headers={"Cache-Control": "public, max-age=31536000, immutable"})


def _instrument(name: str) -> dict:
    return {"name": name, "available": name in AVAILABLE_INSTRUMENTS,
            "products": [{"name": p, "product_type": ODA_PRODUCTS[p][1],
                          "parameters": parameter_specs(name, ODA_PRODUCTS[p][1])} for p in INSTRUMENT_PRODUCTS[name]],
            "parameters": parameter_specs(name)}


@bp.route("/instruments", methods=["GET"])
def instruments():
    return json_response({"instruments": [_instrument(n) for n in INSTRUMENTS],
                          "data_rights": {"public_max_scw": auth.public_max_scw(),
                                          "values": list(auth.RIGHTS)}})


@bp.route("/instruments/<name>", methods=["GET"])
def instrument(name: str):
    if name not in INSTRUMENTS:
        raise ApiError(404, f"unknown instrument {name[:40]!r}", "instrument", ", ".join(INSTRUMENTS))
    return json_response(_instrument(name))


@bp.route("/openapi.json", methods=["GET"])
def openapi():
    from .openapi import openapi_document

    return json_response(openapi_document(public_base_url()))
