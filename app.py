"""INTEGRAL ODA web app entry point: ``python app.py`` (embedded defaults, no services).

Serves on http://127.0.0.1:8050 (``ODA_HOST`` / ``ODA_PORT`` to change). WSGI: ``app:server``.
The query page lands with the app issue; until then this page shows what the archive holds.
"""

from __future__ import annotations

import os

import dash

from layouts.placeholder import placeholder_layout

app = dash.Dash(__name__, title="INTEGRAL ODA", update_title=None)
server = app.server
server.secret_key = os.environ.get("ODA_SECRET_KEY", "dev-only-change-me")
app.layout = placeholder_layout

# HTTP routes (ODA dispatcher endpoints, /api/v1, product downloads) share the Flask server.
import server as _server  # noqa: E402

_server.register(server)


if __name__ == "__main__":
    app.run(host=os.environ.get("ODA_HOST", "127.0.0.1"), port=int(os.environ.get("ODA_PORT", "8050")), debug=False)
