"""Request bounds enforced in the server, before any work: body size, JSON depth and size.

* bodies: ``ODA_MAX_BODY_BYTES`` on every route but the page's callbacks, refused with 413
  from the ``Content-Length`` before a byte is read (and by the stream limit otherwise);
  the page's callbacks (``/_dash-update-component``) may carry an uploaded catalogue, so
  they get :data:`PAGE_MAX_BODY_BYTES`: the upload callback itself refuses files above
  ``ODA_MAX_UPLOAD_BYTES`` by their length, with a message on the page, without decoding them;
* JSON: every body Flask or Dash parses goes through :func:`core.safejson.loads` (depth
  ``ODA_MAX_JSON_DEPTH``, at most :data:`core.safejson.MAX_ITEMS` values), 400 naming the limit.

Errors are JSON on every path (Dash's renderer shows nothing better for an HTML 413).
"""

from __future__ import annotations

from flask import request
from flask.json.provider import DefaultJSONProvider

from core.config import get_limits
from core.safejson import JsonLimitError
from core.safejson import loads as safe_loads

from .common import ApiError, error_body, json_response

__all__ = ["install", "PAGE_MAX_BODY_BYTES", "PAGE_PATHS", "body_limit"]

#: Largest body of a page callback: room for a base64 upload well above the file limit, so
#: that the callback can say "too large" instead of the browser seeing a bare 413.
PAGE_MAX_BODY_BYTES = 100_000_000
PAGE_PATHS = ("/_dash-update-component",)


class LimitedJSONProvider(DefaultJSONProvider):
    """Flask's JSON with bounded depth and size on the way in (Dash parses with it too)."""

    def loads(self, s, **kwargs):
        try:
            return safe_loads(s, field="body")
        except JsonLimitError as exc:
            # Not a ValueError: get_json(silent=True) must not turn it into "not JSON".
            raise ApiError(400, f"request {exc.message}", "body", exc.allowed) from None


def body_limit(path: str) -> int:
    """The body bound of a request path."""
    api = get_limits().max_body_bytes
    return max(api, PAGE_MAX_BODY_BYTES) if path.startswith(PAGE_PATHS) else api


def _too_large(limit: int, got: int | None = None):
    what = f"a body of {got} bytes" if got is not None else "a larger body"
    return json_response(error_body(413, f"request body too large: {what}, at most {limit} bytes are accepted "
                                         f"(ODA_MAX_BODY_BYTES)", "body", f"at most {limit} bytes"), 413)


def install(app) -> None:
    """Bind the bounds to ``app`` (a Flask server)."""
    app.json = LimitedJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = max(get_limits().max_body_bytes, PAGE_MAX_BODY_BYTES)

    @app.before_request
    def _bound_body():
        limit = body_limit(request.path)
        request.max_content_length = limit
        n = request.content_length
        if n is not None and n > limit:
            return _too_large(limit, n)
        return None

    from werkzeug.exceptions import RequestEntityTooLarge

    def _entity_too_large(exc):
        return _too_large(body_limit(request.path))

    def _api_error(exc: ApiError):
        return json_response(exc.body(), exc.status, exc.headers)

    def _recursion(exc):  # a nested structure that slipped past a parser: the client's fault
        return json_response(error_body(400, "input nested too deeply", "body",
                                        f"at most {get_limits().max_json_depth} levels of nesting"), 400)

    app.register_error_handler(RequestEntityTooLarge, _entity_too_large)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(RecursionError, _recursion)
