"""Web-side services shared by the Dash page and the HTTP API (no layout code here).

:func:`register` attaches the HTTP routes (ODA dispatcher endpoints, ``/api/v1``, product
downloads, the client wheel under ``/client/``, ODA's time-system service under
``/gw/timesystem/``, light-curve uploads) to the Flask server of the Dash app.
"""

from __future__ import annotations


def register(flask_server) -> None:
    """Attach every HTTP route of the service to ``flask_server``."""
    from . import client_dist, lc_upload, routes, timesystem

    routes.register(flask_server)
    if "client_dist" not in flask_server.blueprints:
        flask_server.register_blueprint(client_dist.bp)
    timesystem.register(flask_server)
    lc_upload.register(flask_server)
