"""HTTP routes of the service, attached to the Dash app's Flask server.

================================  =====================================================
module                            routes
================================  =====================================================
:mod:`server.dispatcher`          ODA dispatcher: ``/run_analysis``, ``/api/par-names``,
                                  ``/api/instr-list``, ``/api/meta-data``
:mod:`server.api_v1`              our JSON API ``/api/v1/...`` (``openapi.json``)
:mod:`server.downloads`           ``/products/<id>/<file>``, ``figure.png``, ``all.zip``
================================  =====================================================

Errors on these URLs are JSON (:mod:`server.common`); Dash's own pages are untouched,
except that unknown static paths (``/_dash-component-suites/os/path.py``) answer 404.

Around every route: the request bounds of :mod:`server.limits`; the data rights of a
private product or job named in the URL (:func:`server.auth.check_resource`); no token in
any log (:class:`server.wsgi.RedactingFilter` on Werkzeug's request log).
"""

from __future__ import annotations


def register(flask_server) -> None:
    """Attach the dispatcher, ``/api/v1`` and download routes to ``flask_server``."""
    from . import api_v1, dispatcher, downloads
    from .common import register_error_handlers

    if "oda_dispatcher" in flask_server.blueprints:
        return
    flask_server.register_blueprint(dispatcher.bp)
    flask_server.register_blueprint(api_v1.bp)
    flask_server.register_blueprint(downloads.bp)
    register_error_handlers(flask_server)
    _register_guards(flask_server)


def _register_guards(flask_server) -> None:
    import logging

    from flask import request

    from . import auth, limits
    from .common import error_body, json_response
    from .wsgi import RedactingFilter

    limits.install(flask_server)

    @flask_server.before_request
    def _data_rights():
        args = request.view_args or {}
        rid = args.get("product_id") or args.get("job_id")
        if rid:
            auth.check_resource(rid, request)

    try:
        from dash.exceptions import DependencyException
    except ImportError:  # pragma: no cover - dash always comes with the app
        DependencyException = None
    if DependencyException is not None:
        def _no_such_asset(exc):
            return json_response(error_body(404, f"no such resource {request.path[:100]}"), 404)

        flask_server.register_error_handler(DependencyException, _no_such_asset)
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactingFilter) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(RedactingFilter())
