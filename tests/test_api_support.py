"""Shared by the API and client tests: the real app served over loopback HTTP.

The Dash app's Flask server (``app.server``, with the API routes registered by ``app.py``)
runs in a werkzeug thread on an ephemeral port. The tests share the session data directory
of ``tests/conftest.py``, so products computed by one test are restored by the next.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

#: The small selections every API test uses (2 ScWs each: ~6 s to simulate and image once).
CRAB = dict(src_name="Crab", T1="2003-03-15", T2="2004-03-15", radius=10, max_pointings=2)


class LiveServer:
    def __init__(self):
        import logging

        from werkzeug.serving import make_server

        import app

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.httpd = make_server("127.0.0.1", 0, app.server, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="api-test-server", daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


_SERVER: LiveServer | None = None


def live_server() -> LiveServer:
    global _SERVER
    if _SERVER is None:
        _SERVER = LiveServer()
    return _SERVER


def wait_job(url: str, jid: str, timeout: float = 240.0, headers=None) -> dict:
    """The job's record once it has left submitted/progress (fails after ``timeout`` s)."""
    deadline = time.time() + timeout
    while True:
        r = requests.get(f"{url}/api/v1/jobs/{jid}", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        rec = r.json()
        if rec["status"] not in ("submitted", "progress"):
            return rec
        assert time.time() < deadline, rec
        time.sleep(0.2)


@pytest.fixture(scope="session")
def api_url():
    yield live_server().url


def test_server_answers(api_url):
    import json
    import urllib.request

    with urllib.request.urlopen(f"{api_url}/api/instr-list", timeout=30) as r:
        assert json.loads(r.read()) == ["isgri", "jemx", "spi_acs"]
