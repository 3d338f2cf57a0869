"""Web-side services shared by the Dash page and the HTTP API (no layout code here).

:func:`register` attaches the HTTP routes (ODA dispatcher endpoints, ``/api/v1``, product
downloads) to the Flask server of the Dash app.
"""

from __future__ import annotations


def register(flask_server) -> None:
    """Attach every HTTP route of the service to ``flask_server``."""
    from . import routes, timesystem

    routes.register(flask_server)
    timesystem.register(flask_server)
