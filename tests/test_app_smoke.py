"""``python app.py`` serves the page over real HTTP on loopback with the embedded defaults."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_serves_page():
    port = _free_port()
    env = dict(os.environ, ODA_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                html = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.time() < deadline, "app did not start"
                time.sleep(0.3)
        assert "<title>INTEGRAL ODA</title>" in html
        layout = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=30).read())
        assert '"page-root"' in json.dumps(layout)  # the router fills the page from the URL
    finally:
        proc.terminate()
        proc.wait(timeout=10)
