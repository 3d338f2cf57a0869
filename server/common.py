"""Pieces every HTTP route shares: JSON responses, errors, message hygiene, product cache.

Responses are strict JSON (``NaN``/``inf`` become ``null``): the ``oda_api`` client
re-parses them with ``ast.literal_eval`` and browsers' ``JSON.parse`` refuse NaN. Messages
shown to users pass through :func:`clean_message`, which removes file-system paths.
"""

from __future__ import annotations

import json
import logging
import math
import re

from flask import Response, request

from core.errors import NotFoundError, QueryError

__all__ = ["ApiError", "json_response", "jsonable", "clean_message", "error_body", "ProductCache",
           "product_cache", "is_api_path", "register_error_handlers", "public_base_url", "api_blueprint",
           "handle_unexpected"]

log = logging.getLogger("server")

#: URL prefixes served by this package (JSON errors there, Dash's own pages elsewhere).
API_PREFIXES = ("/api/", "/run_analysis", "/products/")

#: Absolute file-system paths (under the usual roots) and Windows drive paths.
_PATH_RE = re.compile(r"(?:[A-Za-z]:\\[^\s'\"]+|/(?:tmp|home|root|work|usr|var|opt|etc|srv|mnt|data|proc|sys|dev|run|"
                      r"media|lib|lib64|bin|sbin|private|Users|nix|scratch)\b(?:/[^\s'\":,;)]*)*)")


class ApiError(Exception):
    """An HTTP error with a JSON body naming the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None, allowed=None, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.allowed = allowed
        self.extra = extra
        #: Extra response headers (e.g. ``Retry-After`` of a 429).
        self.headers: dict = {}

    @classmethod
    def from_query_error(cls, exc: QueryError) -> "ApiError":
        status = 404 if isinstance(exc, NotFoundError) and exc.field in ("product_id", "job_id") else 400
        return cls(status, clean_message(exc.message), exc.field, exc.allowed)

    def body(self) -> dict:
        return error_body(self.status, self.message, self.field, self.allowed, **self.extra)


def clean_message(text) -> str:
    """A message safe to show: no file paths, one line, bounded length."""
    text = _PATH_RE.sub("<path>", str(text or ""))
    text = " ".join(text.split())
    return text[:500]


def error_body(status: int, message: str, field: str | None = None, allowed=None, **extra) -> dict:
    text = f"{field}: {message}" if field else message
    if allowed:
        text += f" (allowed: {allowed})"
    body = {"error": clean_message(text), "status": status, "message": clean_message(message)}
    if field:
        body["field"] = field
    if allowed:
        body["allowed"] = allowed
    body.update(extra)
    return body


def jsonable(obj):
    """Plain JSON types, with non-finite floats as None (numpy scalars and arrays converted)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    try:
        import numpy as np

        if isinstance(obj, np.ndarray):
            return jsonable(obj.tolist())
        if isinstance(obj, np.generic):
            return jsonable(obj.item())
    except ImportError:  # pragma: no cover
        pass
    return str(obj)


def json_response(obj, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(jsonable(obj), allow_nan=False, separators=(",", ":"))
    resp = Response(body, status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def public_base_url() -> str:
    """Base URL users reach this service at (``ODA_PUBLIC_URL`` or the request's root)."""
    import os

    base = os.environ.get("ODA_PUBLIC_URL", "").strip()
    if not base:
        try:
            base = request.url_root
        except RuntimeError:  # outside a request
            base = "http://127.0.0.1:8050/"
    return base.rstrip("/")


def register_error_handlers(app) -> None:
    """JSON errors for this package's URLs; everything else keeps Flask's/Dash's handling."""
    from werkzeug.exceptions import HTTPException

    def handle_api_error(exc: ApiError):
        return json_response(exc.body(), exc.status, exc.headers)

    def handle_http(exc: HTTPException):
        if not is_api_path(request.path):
            return exc
        return _handle_http(exc)

    app.register_error_handler(ApiError, handle_api_error)
    for code in (400, 404, 405, 413):
        app.register_error_handler(code, handle_http)


def _handle_http(exc):
    msg = exc.description if exc.code != 404 else f"no such resource {request.path[:100]}"
    return json_response(error_body(exc.code or 500, clean_message(msg)), exc.code or 500)


def handle_unexpected(exc: Exception):
    """Blueprint handler: JSON for every error, a log line (never a traceback) for bugs."""
    from werkzeug.exceptions import HTTPException

    if isinstance(exc, ApiError):
        return json_response(exc.body(), exc.status, exc.headers)
    if isinstance(exc, HTTPException):
        return _handle_http(exc)
    if isinstance(exc, QueryError):
        err = ApiError.from_query_error(exc)
        return json_response(err.body(), err.status)
    if isinstance(exc, RecursionError):  # a nested input that slipped past the JSON bounds
        return json_response(error_body(400, "input nested too deeply", "body", "fewer levels of nesting"), 400)
    log.exception("unhandled error on %s", request.path)
    return json_response(error_body(500, "internal error; the request was logged"), 500)


def api_blueprint(name: str, import_name: str, **kw):
    """A Flask blueprint whose every error answers in JSON."""
    from flask import Blueprint

    bp = Blueprint(name, import_name, **kw)
    bp.register_error_handler(Exception, handle_unexpected)
    return bp


class ProductCache:
    """Finished products of recent requests (immutable: ids are content hashes).

    A flask-caching backend holding the live :class:`~core.products.run.ProductResult`
    objects of this process (:func:`server.shared_cache.make_cache`, ``objects=True``). They
    are not shared through Redis: a result holds open arrays and paths, and sharing it would
    mean pickling it; what web processes share are the bytes served from it (verified files,
    zips, encoded ODA responses), and the store itself.
    """

    def __init__(self, size: int = 16):
        from .shared_cache import make_cache

        self.size = size
        self._items = make_cache("products", objects=True, items=size)

    def get(self, pid: str):
        """The :class:`~core.products.run.ProductResult` for ``pid`` (raises ApiError 404)."""
        from core.products.run import load_product
        from core.products.store import KEY_RE

        if not isinstance(pid, str) or not KEY_RE.fullmatch(pid):
            raise ApiError(404, "malformed product id", "product_id", "lowercase hexadecimal ids (16-64 characters)")
        res = self._items.get(pid)
        if res is not None and all(p.exists() for p in res.files.values()):
            return res
        try:
            res = load_product(pid)
        except QueryError as exc:
            raise ApiError(404, f"no product {pid}", "product_id") from exc
        except NotImplementedError as exc:
            raise ApiError(404, f"no product {pid} ({clean_message(exc)})", "product_id") from exc
        self._items.set(pid, res)
        return res

    def peek(self, pid: str):
        """The cached result for ``pid`` or None (nothing loaded)."""
        return self._items.get(pid) if isinstance(pid, str) else None

    def drop(self, pid: str) -> None:
        self._items.delete(pid)

    def clear(self) -> None:
        self._items.clear()


product_cache = ProductCache()
