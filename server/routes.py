"""HTTP routes of the service, attached to the Dash app's Flask server.

================================  =====================================================
module                            routes
================================  =====================================================
:mod:`server.dispatcher`          ODA dispatcher: ``/run_analysis``, ``/api/par-names``,
                                  ``/api/instr-list``, ``/api/meta-data``
:mod:`server.api_v1`              our JSON API ``/api/v1/...`` (``openapi.json``)
:mod:`server.downloads`           ``/products/<id>/<file>``, ``figure.png``, ``all.zip``
================================  =====================================================

Errors on these URLs are JSON (:mod:`server.common`); Dash's own pages are untouched.
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
