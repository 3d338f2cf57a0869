"""A fresh machine: ``python3 app.py`` starts and serves, and the client installs from the server.

These run the app as a user does, a real subprocess of the same interpreter (so an import-time
failure of the app fails here), and install the client into a new virtual environment with
plain ``pip install --find-links http://<server>/client/ integral-client`` from a directory
outside the checkout, then run the page's snippet there unchanged.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """``python3 app.py`` in a subprocess on a free port, its own data directory."""
    port = _free_port()
    data = tmp_path_factory.mktemp("app-data")
    env = {**os.environ, "ODA_PORT": str(port), "ODA_HOST": "127.0.0.1", "ODA_DATA_DIR": str(data),
           "ODA_WORKERS": "1"}
    log = open(data / "app.log", "wb")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    try:
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(f"app.py exited with {proc.returncode}:\n{(data / 'app.log').read_text()[-3000:]}")
            try:
                status, body, _ = _get(base + "/", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - t0 > 60:
                pytest.fail(f"app.py did not serve within 60 s:\n{(data / 'app.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield {"base": base, "startup_s": time.monotonic() - t0, "proc": proc, "log": data / "app.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_app_py_serves_the_page(app_server):
    base = app_server["base"]
    assert app_server["startup_s"] < 30, f"page served after {app_server['startup_s']:.1f} s"
    status, body, headers = _get(base + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    text = body.decode()
    assert "INTEGRAL ODA" in text and "_dash-config" in text
    # The page's layout and its callbacks come from the same process (Dash's own endpoints).
    status, body, _ = _get(base + "/_dash-layout")
    assert status == 200 and b"page-root" in body
    status, body, _ = _get(base + "/_dash-dependencies")
    assert status == 200 and body.startswith(b"[")
    status, body, _ = _get(base + "/api/instr-list")
    assert status == 200 and b"isgri" in body


def test_client_index_links_a_hash_checked_wheel(app_server):
    import integral_client
    from server.client_dist import wheel_name

    status, body, _ = _get(app_server["base"] + "/client/")
    assert status == 200
    m = re.search(rb'href="([^"#]+)#sha256=([0-9a-f]{64})"', body)
    assert m, body[:500]
    name = m.group(1).decode().replace("&amp;", "&")
    assert name == wheel_name() and integral_client.__version__ in name
    status, wheel, headers = _get(app_server["base"] + "/client/" + name)
    import hashlib

    assert status == 200 and hashlib.sha256(wheel).hexdigest() == m.group(2).decode()
    # Reproducible: the same bytes (and ETag) again.
    assert _get(app_server["base"] + "/client/" + name)[1] == wheel
    assert _get(app_server["base"] + "/client/nope.whl")[0] == 404


def test_client_installs_from_the_server_and_the_page_snippet_runs(app_server, tmp_path):
    """A fresh venv outside the checkout: pip install from /client/, then the snippet as shown."""
    from core.query import Query
    from server.snippets import client_snippet

    base = app_server["base"]
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    work = tmp_path / "elsewhere"
    work.mkdir()
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    query = Query.from_params(src_name="Crab", T1="2003-02-01T00:00:00", T2="2003-03-01T00:00:00", max_pointings=3,
                              E1_keV=20, E2_keV=40)
    snippet = client_snippet(query, base)
    first = snippet.splitlines()[0]
    assert first == f"# pip install --find-links {base}/client/ integral-client"
    cmd = first.lstrip("# ").split()
    assert cmd[:2] == ["pip", "install"]
    r = subprocess.run([str(py), "-m", *cmd, "-q", "--disable-pip-version-check"], cwd=work, env=clean_env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(py), "-c", "import integral_client, importlib.metadata as m; "
                        "print(integral_client.__version__, m.version('integral-client'), integral_client.__file__)"],
                       cwd=work, env=clean_env, capture_output=True, text=True, timeout=60)
    import integral_client

    version, dist_version, where = r.stdout.split()
    # The server's wheel, not PyPI's unrelated namesake, and installed in the venv (not the checkout).
    assert version == dist_version == integral_client.__version__
    assert Path(where).resolve().is_relative_to(env_dir.resolve())
    script = work / "snippet.py"
    script.write_text(snippet)
    r = subprocess.run([str(py), str(script)], cwd=work, env=clean_env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    from astropy.io import fits

    mosaic = work / "oda_products" / "mosaic.fits"
    with fits.open(mosaic) as hdul:
        maps = {h.header.get("IMATYPE"): h.data for h in hdul if h.name == "ISGR-MOSA-IMA"}
        assert {"INTENSITY", "SIGNIFICANCE", "VARIANCE", "EXPOSURE"} <= set(maps), list(maps)
        sig = maps["SIGNIFICANCE"]
        assert sig.shape[0] > 50 and float(sig[sig == sig].max()) > 30  # the Crab in 3 ScWs
