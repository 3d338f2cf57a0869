"""The OpenAPI 3 document of ``/api/v1`` and the download routes, built from the query's ranges."""

from __future__ import annotations

from core import params as table
from core.params import INSTRUMENTS, json_schema, served_instruments

from .params import ODA_PRODUCTS

__all__ = ["openapi_document", "query_schema"]

_ID = {"type": "string", "pattern": "^[0-9a-f]{16,64}$", "description": "product / job id (content hash)"}
_SCHEMA_KEYS = ("type", "minimum", "maximum", "exclusiveMinimum", "multipleOf", "enum", "description", "default",
                "example", "x-allowed", "x-oda-default")


def _property(p) -> dict:
    """One table entry as an OpenAPI 3.0 property: the default instrument's range, and every
    instrument's own range and default in ``x-instruments`` (and in the description)."""
    insts = [i for i in INSTRUMENTS if i in p.instruments]
    first = p.at("isgri" if "isgri" in insts else insts[0])
    s = json_schema(first)
    out = {k: v for k, v in s.items() if k in _SCHEMA_KEYS}
    if "unit" in s:
        out["x-unit"] = s["unit"]
    if p.type in ("number", "integer") and p.choices is None:  # bounds that hold for every instrument
        lows = [p.at(i).minimum for i in insts if p.at(i).minimum is not None]
        highs = [p.at(i).maximum for i in insts if p.at(i).maximum is not None]
        if "minimum" in out and lows and not first.zero:
            out["minimum"] = min(lows)
        if "exclusiveMinimum" in out:  # OpenAPI 3.0 form: a boolean beside minimum
            out["minimum"], out["exclusiveMinimum"] = out["exclusiveMinimum"], True
        if highs:
            out["maximum"] = max(highs)
        out.pop("multipleOf", None) if len(insts) > 1 and any(not p.at(i).step for i in insts) else None
    per = {}
    for i in insts:
        q = json_schema(p.at(i))
        per[i] = {k: q[k] for k in ("default", "x-allowed") if k in q}
    if len({repr(v) for v in per.values()}) > 1:
        out["x-instruments"] = per
        out["description"] = first.help + " — " + "; ".join(
            f"{i}: {v.get('x-allowed', '')}" + (f" (default {v['default']})" if "default" in v else "")
            for i, v in per.items())
    if len(insts) < len(INSTRUMENTS):
        out["x-instruments-using"] = insts
    if p.products != table.PRODUCTS:
        out["x-products"] = list(p.products)
    if p.type == "angle":
        out = {"oneOf": [{"type": "number", "minimum": p.minimum, "maximum": p.maximum}, {"type": "string"}],
               **{k: v for k, v in out.items() if k not in ("type", "minimum", "maximum")}}
    elif p.type == "list":
        out = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
               **{k: v for k, v in out.items() if k != "type"}}
    elif p.type == "catalog":
        row = {"type": "object", "properties": {"name": {"type": "string"}, "ra": {"type": "number"},
                                                "dec": {"type": "number"}}, "required": ["ra", "dec"]}
        rest = {k: v for k, v in out.items() if k not in ("type", "minimum", "maximum")}
        out = {"oneOf": [{"type": "string"}, {"type": "object"}, {"type": "array", "items": row}], **rest}
    return out


def query_schema() -> dict:
    """The JSON body of ``/api/v1/jobs`` and ``/api/v1/validate``: every table parameter."""
    props = {p.name: _property(p) for p in table.TABLE if p.role in ("query", "alias")}
    served = served_instruments()
    props["instrument"]["enum"] = served
    props["instrument"]["description"] = "instrument (served: " + ", ".join(served) + ")"
    props["instrument"]["x-allowed"] = ", ".join(served)
    props["product_type"]["enum"] = list(table.PRODUCTS) + [k for k, (i, _) in ODA_PRODUCTS.items()
                                                             if i is None or i in served]
    props["token"] = {"type": "string", "description": "JWT (or use the Authorization: Bearer header)"}
    return {"type": "object", "properties": props, "additionalProperties": False,
            "example": {"src_name": "Crab", "T1": "2003-03-15", "T2": "2003-04-15", "product_type": "image",
                        "E1_keV": 20, "E2_keV": 40, "max_pointings": 4}}


def _error() -> dict:
    return {"type": "object", "required": ["error", "status"], "properties": {
        "error": {"type": "string", "description": "one line: field, what is wrong, allowed range"},
        "status": {"type": "integer"}, "message": {"type": "string"}, "field": {"type": "string"},
        "allowed": {"type": "string"}}}


def _job() -> dict:
    return {"type": "object", "required": ["job_id", "status", "scws"], "properties": {
        "job_id": _ID, "product_type": {"type": "string"}, "query": {"type": "object"},
        "status": {"type": "string", "enum": ["submitted", "progress", "done", "failed", "cancelled"]},
        "message": {"type": "string"}, "error": {"type": "object", "nullable": True},
        "scws": {"type": "array", "items": {"type": "object", "properties": {
            "scw_id": {"type": "string"}, "status": {"type": "string",
                                                      "description": "preparing, restored from cache, calculated, failed: reason"},
            "seconds": {"type": "number"}}}},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "n_done": {"type": "integer"}, "n_total": {"type": "integer"},
        "links": {"type": "object", "additionalProperties": {"type": "string"}}}}


def _err(desc: str) -> dict:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(desc: str, ref: str | None = None, schema: dict | None = None) -> dict:
    sch = {"$ref": f"#/components/schemas/{ref}"} if ref else (schema or {"type": "object"})
    return {"description": desc, "content": {"application/json": {"schema": sch}}}


def openapi_document(base_url: str = "") -> dict:
    id_param = {"name": "id", "in": "path", "required": True, "schema": _ID}
    file_content = {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "INTEGRAL ODA API", "version": "1.0.0",
                 "description": "Submit INTEGRAL analyses (images, spectra, light curves, spectral fits), "
                                "follow their per-ScW progress and fetch the products. ODA dispatcher clients "
                                "(oda_api) use /run_analysis on the same server."},
        "servers": [{"url": base_url or "/"}],
        "components": {
            "schemas": {"Query": query_schema(), "Error": _error(), "Job": _job()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "paths": {
            "/api/v1/jobs": {"post": {
                "summary": "Submit a query", "operationId": "submit",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Query"}}}},
                "responses": {"200": _ok("the product exists already", "Job"), "202": _ok("job started", "Job"),
                              "400": _err("bad parameter (field, allowed range)"),
                              "403": _err("a token is needed (private data, many ScWs)"),
                              "404": _err("nothing matches (e.g. unknown source name)")}}},
            "/api/v1/validate": {"post": {
                "summary": "Validate a query without running it", "operationId": "validate",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Query"}}}},
                "responses": {"200": _ok("valid; canonical parameters and the job id"),
                              "400": _err("bad parameter"), "403": _err("a token is needed"),
                              "404": _err("nothing matches")}}},
            "/api/v1/jobs/{id}": {
                "parameters": [id_param],
                "get": {"summary": "Job status with per-ScW progress", "operationId": "status",
                        "responses": {"200": _ok("job record", "Job"), "404": _err("no such job")}},
                "delete": {"summary": "Cancel a job", "operationId": "cancel",
                           "responses": {"200": _ok("job already finished", "Job"),
                                         "202": _ok("cancel requested", "Job"), "404": _err("no such job")}}},
            "/api/v1/jobs/{id}/cancel": {"parameters": [id_param], "post": {
                "summary": "Cancel a job", "operationId": "cancelPost",
                "responses": {"200": _ok("job already finished", "Job"), "202": _ok("cancel requested", "Job"),
                              "404": _err("no such job")}}},
            "/api/v1/products/{id}": {"parameters": [id_param], "get": {
                "summary": "Product: summary, query, ScWs, file URLs, reproducing code", "operationId": "product",
                "responses": {"200": _ok("product"), "404": _err("no such product")}}},
            "/api/v1/products/{id}/catalog": {"parameters": [id_param, {
                "name": "format", "in": "query", "required": False,
                "schema": {"type": "string", "enum": ["json", "ecsv", "fits"]}}], "get": {
                "summary": "Source catalogue of an image", "operationId": "catalog",
                "responses": {"200": _ok("catalogue rows and ODA catalogue JSON"),
                              "303": {"description": "redirect to the ECSV/FITS file"},
                              "400": _err("unknown format"), "404": _err("no such image product")}}},
            "/api/v1/instruments": {"get": {
                "summary": "Instruments, products and parameter ranges", "operationId": "instruments",
                "responses": {"200": _ok("instruments")}}},
            "/api/v1/instruments/{name}": {"parameters": [{"name": "name", "in": "path", "required": True,
                                                           "schema": {"type": "string"}}], "get": {
                "summary": "One instrument", "operationId": "instrument",
                "responses": {"200": _ok("instrument"), "404": _err("unknown instrument")}}},
            "/products/{id}/{filename}": {"parameters": [id_param, {
                "name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}], "get": {
                "summary": "A product file (FITS, ECSV, regions, JSON)", "operationId": "file",
                "responses": {"200": {"description": "the file", **file_content},
                              "304": {"description": "not modified (ETag)"}, "404": _err("no such file")}}},
            "/products/{id}/figure.png": {"parameters": [id_param, {
                "name": "source", "in": "query", "required": False, "schema": {"type": "string"}}], "get": {
                "summary": "Publication figure", "operationId": "figure",
                "responses": {"200": {"description": "PNG", "content": {"image/png": {
                    "schema": {"type": "string", "format": "binary"}}}},
                    "304": {"description": "not modified"}, "404": _err("no such product or source")}}},
            "/products/{id}/all.zip": {"parameters": [id_param], "get": {
                "summary": "Every file of the product and result.json", "operationId": "zip",
                "responses": {"200": {"description": "zip", "content": {"application/zip": {
                    "schema": {"type": "string", "format": "binary"}}}},
                    "304": {"description": "not modified"}, "404": _err("no such product")}}},
            "/api/v1/lightcurves/read": {"post": {
                "summary": "Read an uploaded OSA/ODA light curve (FITS) into JSON, with its variability figures",
                "operationId": "readLightcurve",
                "description": "The body is the FITS file (gzip allowed), or a multipart form with the file in "
                               "'file'. Nothing is stored. The answer lists times (MJD bin centres), widths (s), "
                               "rates, errors, every bad row left out (notes), and the chi2 of a constant, F_var, "
                               "linear trend and Bayesian blocks.",
                "requestBody": {"required": True, "content": {
                    "application/fits": {"schema": {"type": "string", "format": "binary"}},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"200": _ok("the light curve and its variability"),
                              "400": _err("not a light curve (field file, allowed formats)"),
                              "413": _err("the upload is too large")}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                             "responses": {"200": _ok("OpenAPI 3 document")}}},
        },
    }
