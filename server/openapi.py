"""The OpenAPI 3 document of ``/api/v1`` and the download routes, built from the query's ranges."""

from __future__ import annotations

from core.query import INSTRUMENTS, PRODUCTS

from .params import parameter_specs

__all__ = ["openapi_document"]

_ID = {"type": "string", "pattern": "^[0-9a-f]{16,64}$", "description": "product / job id (content hash)"}


def _query_schema() -> dict:
    props = {}
    for name, s in parameter_specs("isgri").items():
        p = {k: v for k, v in s.items() if k in ("type", "minimum", "maximum", "exclusiveMinimum", "enum",
                                                 "description", "default", "example")}
        if "exclusiveMinimum" in p:  # OpenAPI 3.0 form: a boolean beside minimum
            p["minimum"], p["exclusiveMinimum"] = p["exclusiveMinimum"], True
        if name in ("RA", "DEC"):
            p = {"oneOf": [{"type": "number", "minimum": s["minimum"], "maximum": s["maximum"]}, {"type": "string"}],
                 "description": s["description"]}
        if name == "scw_list":
            p = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                 "description": s["description"]}
        if name == "selected_catalog":
            p = {"oneOf": [{"type": "string"}, {"type": "object"},
                           {"type": "array", "items": {"type": "object", "properties": {
                               "name": {"type": "string"}, "ra": {"type": "number"}, "dec": {"type": "number"}},
                               "required": ["ra", "dec"]}}],
                 "description": s["description"]}
        props[name] = p
    props["instrument"] = {"type": "string", "enum": list(INSTRUMENTS), "default": "isgri",
                           "description": "only isgri is served today"}
    props["product_type"] = {"type": "string", "enum": list(PRODUCTS) + ["isgri_image", "isgri_spectrum", "isgri_lc"],
                             "default": "image"}
    props["integral_data_rights"] = {"type": "string", "enum": ["public", "all-private"], "default": "public",
                                     "description": "all-private needs a token"}
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
                 "description": "Submit INTEGRAL/ISGRI analyses (images, spectra, light curves, spectral fits), "
                                "follow their per-ScW progress and fetch the products. ODA dispatcher clients "
                                "(oda_api) use /run_analysis on the same server."},
        "servers": [{"url": base_url or "/"}],
        "components": {
            "schemas": {"Query": _query_schema(), "Error": _error(), "Job": _job()},
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
            "/api/v1/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                             "responses": {"200": _ok("OpenAPI 3 document")}}},
        },
    }
