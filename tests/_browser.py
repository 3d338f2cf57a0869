"""What every browser test needs: the app as a real ``python app.py`` subprocess on a free
loopback port, headless Chromium through chromedriver (Debian's ``/usr/bin`` binaries), and a
polling wait that says what it waited for.

Used as module-scoped fixtures, e.g.::

    from tests._browser import app_server, chrome, needs_browser, wait

    pytestmark = needs_browser

    @pytest.fixture(scope="module")
    def base(tmp_path_factory):
        with app_server(tmp_path_factory.mktemp("app"), ODA_WORKERS="1") as url:
            yield url
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

__all__ = ["ROOT", "CHROMIUM", "DRIVER", "needs_browser", "free_port", "app_server", "chrome", "wait"]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver")

#: ``pytestmark`` of a browser test module: skipped (with the reason) without Chromium.
needs_browser = pytest.mark.skipif(not (Path(CHROMIUM).exists() and DRIVER), reason="needs chromium and chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(log_dir: Path, *, drop_env: tuple[str, ...] = (), **env: str):
    """``python app.py`` on a free port with ``env`` added; yields its base URL.

    The server's output goes to ``log_dir/app.log`` (a pipe nobody reads fills up and blocks
    the server); a server that dies or does not answer within 60 s fails with that log's tail.
    """
    port = free_port()
    full_env = dict(os.environ, ODA_PORT=str(port), **env)
    for k in drop_env:
        full_env.pop(k, None)
    log_path = Path(log_dir) / "app.log"
    with open(log_path, "w+b") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=full_env, stdout=log,
                                stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    urllib.request.urlopen(url + "/", timeout=5).read()
                    break
                except OSError:
                    assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
                    assert time.time() < deadline, "app did not start"
                    time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextlib.contextmanager
def chrome(width: int = 1280, height: int = 900):
    """A headless Chromium WebDriver, closed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--window-size={width},{height}"):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    drv = webdriver.Chrome(options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()


def wait(fn, timeout: float = 60, poll: float = 0.2, what: str = "condition"):
    """The first truthy value of ``fn()`` within ``timeout`` s; exceptions (an element not
    rendered yet, a stale one) count as not yet."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as exc:  # not there yet, stale, ...
            last = exc
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what} ({last!r})")
