"""Serving the app: waitress (a production WSGI server, pure Python) and an access log.

``python app.py`` calls :func:`serve`: waitress on ``ODA_HOST:ODA_PORT`` (default
127.0.0.1:8050) with ``ODA_THREADS`` threads (default 8), bodies above the largest request
bound refused by waitress itself, and SIGTERM ending the process at once (the jobs it was
running are marked failed; worker processes exit with it). Any other WSGI server can serve ``app:server`` the same way (e.g.
``gunicorn -w 4 app:server``); the access log is then that server's.

The access log (logger ``oda.access``, one line per request: client, method, path, query,
status, bytes, seconds) never contains credentials: ``token=`` and other secret-looking
query parameters are replaced by ``<redacted>`` (:func:`redact_query`); Werkzeug's own
request log, used by tests, gets the same filter.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import time

__all__ = ["serve", "AccessLog", "redact_query", "RedactingFilter", "SECRET_PARAMS"]

#: Query parameters whose values are never written to a log.
SECRET_PARAMS = ("token", "access_token", "jwt", "password", "secret", "api_key", "apikey", "session")
_SECRET_RE = re.compile(r"(?i)(^|[?&;\s])((?:%s)(?:%%5B%%5D|\[\])?)=([^&;\s\"]*)" % "|".join(SECRET_PARAMS))
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-+/=]+")

log = logging.getLogger("oda.access")


def redact_query(text: str) -> str:
    """``text`` with the values of secret parameters (and bearer tokens) replaced by ``<redacted>``."""
    text = _SECRET_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}=<redacted>", str(text))
    return _BEARER_RE.sub(lambda m: f"{m.group(1)}<redacted>", text)


class RedactingFilter(logging.Filter):
    """Rewrites records so that no secret parameter reaches a log handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler
            return True
        clean = redact_query(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


class AccessLog:
    """WSGI middleware writing one redacted line per request to ``oda.access``."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        t0 = time.perf_counter()
        seen = {}

        def _start(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            seen["bytes"] = next((v for k, v in headers if k.lower() == "content-length"), "-")
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, _start)
        finally:
            qs = environ.get("QUERY_STRING", "")
            target = environ.get("PATH_INFO", "") + (f"?{redact_query(qs)}" if qs else "")
            log.info("%s %s %s %s %s %.3f", environ.get("REMOTE_ADDR", "-"), environ.get("REQUEST_METHOD", "-"),
                     target[:2000], seen.get("status", "-"), seen.get("bytes", "-"), time.perf_counter() - t0)


def _on_sigterm(signum, frame):
    # Leave at once: a clean interpreter exit would first join the job threads, i.e. wait
    # for every running product. Their records say why they stopped; worker processes
    # notice that their parent is gone and exit too.
    try:
        from .jobs import get_runner

        n = get_runner().abandon()
        logging.getLogger("oda").warning("SIGTERM: stopping (%d running jobs marked failed)", n)
        logging.shutdown()
    finally:
        os._exit(0)


def serve(flask_app, host: str | None = None, port: int | None = None, threads: int | None = None) -> None:
    """Serve ``flask_app`` with waitress until SIGTERM or Ctrl-C."""
    from waitress import serve as waitress_serve

    from .limits import PAGE_MAX_BODY_BYTES

    host = host or os.environ.get("ODA_HOST", "127.0.0.1")
    port = int(port or os.environ.get("ODA_PORT", "8050"))
    threads = int(threads or os.environ.get("ODA_THREADS", "8"))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("oda.access").setLevel(logging.INFO)
    signal.signal(signal.SIGTERM, _on_sigterm)
    print(f"INTEGRAL ODA serving on http://{host}:{port} (waitress, {threads} threads)", file=sys.stderr, flush=True)
    waitress_serve(AccessLog(flask_app), host=host, port=port, threads=threads, ident="integral-oda",
                   max_request_body_size=PAGE_MAX_BODY_BYTES + 1_000_000, channel_timeout=120,
                   connection_limit=1000, clear_untrusted_proxy_headers=True)
