"""INTEGRAL ODA web app: ``python app.py`` (embedded defaults, no services to start).

Serves on http://127.0.0.1:8050 (``ODA_HOST`` / ``ODA_PORT``) with waitress, a production
WSGI server (``ODA_THREADS`` threads, default 8; :mod:`server.wsgi`). Other WSGI servers:
``gunicorn app:server``.

* ``/`` — the query page: form validated as you type, jobs with live per-ScW progress,
  interactive products, downloads, share URL, API code;
* ``/embed?<query parameters>&product=image|spectrum|lc|spectral_fit`` — one product with
  minimal chrome, for iframes (``assets/embed-demo.html`` shows how);
* HTTP routes (ODA dispatcher endpoints, ``/api/v1``, ``/products/<id>/<file>``) from ``server``.

Configuration (besides ``core/config.py``'s ``ODA_*``):

``ODA_SECRET_KEY``       deployment secret (signs background-job handles, salts private product ids);
                         unset: a random one made once in ``$ODA_DATA_DIR/secret_key`` (0600),
                         shared by every process using that data directory
``ODA_FRAME_ANCESTORS``  origins allowed to embed the page (space/comma separated), added to 'self'
``ODA_CELERY_BROKER``    use Celery (+ Redis) for background callbacks instead of diskcache
"""

from __future__ import annotations

import os

import dash

from callbacks import register as register_callbacks
from callbacks.manager import background_manager
from core.config import deployment_secret
from layouts.page import page_layout, shell

background_callback_manager, celery_app = background_manager()

app = dash.Dash(__name__, title="INTEGRAL ODA", update_title=None, background_callback_manager=background_callback_manager,
                meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"},
                           {"name": "color-scheme", "content": "light dark"},
                           {"name": "description", "content": "Online analysis of INTEGRAL hard X-ray data"}])
app.index_string = app.index_string.replace("<html>", '<html lang="en">', 1)  # screen readers, hyphenation
server = app.server
# Never a known value: it signs the background-job handles the page round-trips.
server.secret_key = deployment_secret()
app.layout = shell
# Every component any page can show, so that callback ids are checked (no suppression).
app.validation_layout = dash.html.Div([shell(), page_layout({})])
register_callbacks()


def _warm() -> None:
    """Load the pointing history before serving: pages validate against it, and a background
    job forked while another thread was still loading it would inherit that thread's lock."""
    try:
        from core.archive.store import get_archive

        get_archive().history
    except Exception:  # a broken archive shows on the page, per request, with its reason
        pass
    import threading

    from server.jobs import get_runner

    # Jobs left "running" by a process that died (a killed server) read as failed at once.
    threading.Thread(target=get_runner().reap_dead, name="oda-reap-jobs", daemon=True).start()


_warm()


def frame_ancestors() -> str:
    """The CSP ``frame-ancestors`` source list: 'self' plus ``ODA_FRAME_ANCESTORS``."""
    extra = os.environ.get("ODA_FRAME_ANCESTORS", "").replace(",", " ").split()
    return " ".join(["'self'", *[o for o in extra if o not in ("'self'",)]])


@server.after_request
def _security_headers(response):
    # Framing is decided by CSP (X-Frame-Options cannot list origins); sent on every response.
    response.headers["Content-Security-Policy"] = f"frame-ancestors {frame_ancestors()}"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    return response


# HTTP routes (ODA dispatcher endpoints, /api/v1, product downloads) share the Flask server.
import server as _server  # noqa: E402

_server.register(server)
from server import dash_guard  # noqa: E402

dash_guard.install(server, app)


if __name__ == "__main__":
    from server.wsgi import serve

    serve(server)
