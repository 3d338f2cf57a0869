"""Fault injection against the real server process (``python app.py`` on loopback).

One server (waitress, 2 worker processes, ``ODA_SECRET_KEY`` configured) takes forged
page-job handles, loses a worker to ``kill -9`` mid-job, and is itself killed with
``kill -9`` mid-job; the restarted server (no ``ODA_SECRET_KEY``: the secret made in the
data directory) reads the job as failed within seconds, runs it again on resubmit, refuses
the old default secret, and ends with its workers on SIGTERM. Every kill targets a process
the test started or found among the server's own children; the sacrificial ``sleep`` must
survive every forged request.

Kept small (2 fresh ScWs per job) so the module adds a few minutes to CI at most.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
OLD_DEFAULT_SECRET = "dev-only-change-me"
CONFIGURED_SECRET = "configured-secret-0123456789abcdef0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python app.py`` in a subprocess with its own archive and cache (history shared)."""

    def __init__(self, tmp: Path, *, secret: str | None, name: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"{name}.log"
        env = dict(os.environ, ODA_PORT=str(self.port), ODA_WORKERS="2", ODA_SESAME="0",
                   ODA_ARCHIVE_DIR=str(tmp / "archive"), ODA_CACHE_DIR=str(tmp / "cache"))
        env.pop("ODA_SECRET_KEY", None)
        if secret:
            env["ODA_SECRET_KEY"] = secret
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while True:
            try:
                requests.get(f"{self.url}/api/instr-list", timeout=5).raise_for_status()
                break
            except (requests.RequestException, OSError):
                assert self.proc.poll() is None, self.log_text()[-3000:]
                assert time.time() < deadline, "server did not start"
                time.sleep(0.3)

    def log_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def workers(self) -> list[psutil.Process]:
        """The server's per-ScW worker processes (spawned multiprocessing children)."""
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        out = []
        for k in kids:
            try:
                if "spawn_main" in " ".join(k.cmdline()):
                    out.append(k)
            except psutil.Error:
                pass
        return out

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def _wait_gone(procs, timeout: float) -> list:
    deadline = time.time() + timeout
    alive = list(procs)
    while alive and time.time() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    return alive


def _fresh_scws(n_skip: int, n: int = 2) -> list[str]:
    """ScW ids of a field no other test uses (fresh: they must be simulated)."""
    from core.archive.store import get_archive
    from core.query import Query

    q = Query.from_params(src_name="Mrk 421", T1="2011-01-01", T2="2013-12-31", radius=12, max_pointings=50)
    ids = [str(s)[:12] for s in get_archive().select(q).ids]
    assert len(ids) >= n_skip + n
    return ids[n_skip:n_skip + n]


def _submit(url: str, body: dict) -> str:
    r = requests.post(f"{url}/api/v1/jobs", json=body, timeout=60)
    assert r.status_code in (200, 202), r.text
    return r.json()["job_id"]


def _wait_job(url: str, jid: str, timeout: float, until=lambda rec: rec["status"] not in ("submitted", "progress")):
    deadline = time.time() + timeout
    while True:
        rec = requests.get(f"{url}/api/v1/jobs/{jid}", timeout=30).json()
        if until(rec):
            return rec
        assert time.time() < deadline, rec
        time.sleep(0.3)


def _forge(secret: str, pid: int) -> str:
    """A job handle as Dash signs it (no page-load id), for ``pid``."""
    value = str(pid)
    mac = hmac.new(secret.encode(), f"job:\x00{value}".encode(), hashlib.sha256).hexdigest()
    return f"{value}~{mac}"


def _job_callback_body(url: str) -> dict:
    deps = requests.get(f"{url}/_dash-dependencies", timeout=30).json()
    dep = next(d for d in deps if d["inputs"] == [{"id": "job-request", "property": "data"}] and d.get("background"))
    outs = [o.split("@")[0] for o in dep["output"].strip(".").split("...")]
    return {"output": dep["output"], "outputs": [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]}
                                                 for o in outs],
            "inputs": [{"id": "job-request", "property": "data", "value": None}], "state": [],
            "changedPropIds": ["job-request.data"]}


def _post_forged(url: str, handle: str) -> requests.Response:
    return requests.post(f"{url}/_dash-update-component", params={"oldJob": handle}, json=_job_callback_body(url),
                         timeout=60)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    return tmp_path_factory.mktemp("faults-server")


@pytest.fixture(scope="module")
def sacrificial():
    proc = subprocess.Popen(["sleep", "600"])
    yield proc
    proc.kill()
    proc.wait()


def test_faults_against_real_server(dirs, sacrificial):
    # -- server A: configured secret, waitress, 2 workers ----------------------------------------
    a = Server(dirs, secret=CONFIGURED_SECRET, name="a")
    try:
        r = requests.get(f"{a.url}/api/instr-list", params={"token": "SECRET-TOKEN-VALUE-123"}, timeout=30)
        assert r.status_code == 200 and r.headers.get("Server") == "integral-oda"  # waitress, not werkzeug

        # Forged handles, signed with the old default and with the deployment's own secret.
        for secret in (OLD_DEFAULT_SECRET, CONFIGURED_SECRET):
            resp = _post_forged(a.url, _forge(secret, sacrificial.pid))
            assert resp.status_code < 500, resp.text[:300]
            time.sleep(0.5)
            assert sacrificial.poll() is None, f"a handle signed with {secret!r} killed a process"
        assert "refused to signal process" in a.log_text()  # the correctly signed one reached the manager

        # kill -9 of a worker mid-job: the pool is replaced, the ScWs retried, the job completes.
        scws = _fresh_scws(0)
        body = {"scw_list": ",".join(scws), "src_name": "Mrk 421", "product_type": "image", "E1_keV": 20, "E2_keV": 40}
        jid = _submit(a.url, body)
        _wait_job(a.url, jid, 120, until=lambda rec: rec["status"] == "progress")
        deadline = time.time() + 60
        while not a.workers():
            assert time.time() < deadline, "no worker process appeared"
            time.sleep(0.2)
        time.sleep(1.0)
        victim = a.workers()[0]
        victim.send_signal(signal.SIGKILL)
        rec = _wait_job(a.url, jid, 240)
        if rec["status"] == "done":
            assert all(not s["status"].startswith("failed") for s in rec["scws"]), rec["scws"]
        else:  # allowed: failing, but naming the ScW
            assert rec["status"] == "failed" and any(s in rec["message"] for s in scws), rec
        assert "replacing the pool" in a.log_text()
        # A later job on the same ScWs completes (the ScWs are simulated now).
        jid2 = _submit(a.url, {**body, "E1_keV": 30, "E2_keV": 60})
        assert _wait_job(a.url, jid2, 180)["status"] == "done"

        # kill -9 of the server mid-job: its workers go with it.
        scws2 = _fresh_scws(2)
        body2 = {**body, "scw_list": ",".join(scws2)}
        jid3 = _submit(a.url, body2)
        _wait_job(a.url, jid3, 120, until=lambda rec: rec["status"] == "progress")
        time.sleep(1.5)
        kids = a.descendants()
        assert a.workers(), "the job should be running in worker processes"
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        assert not _wait_gone(kids, 5.0), "worker processes outlived the killed server"
    finally:
        a.stop()

    # -- server B: same data, no ODA_SECRET_KEY ---------------------------------------------------
    b = Server(dirs, secret=None, name="b")
    try:
        t0 = time.time()
        rec = _wait_job(b.url, jid3, 10, until=lambda rec: rec["status"] != "progress")
        assert rec["status"] == "failed" and "stopped" in rec["message"], rec
        assert time.time() - t0 < 10
        assert _wait_job(b.url, _submit(b.url, body2), 240)["status"] == "done"  # a resubmit runs it

        # The made-once secret: private, and the old default is not it.
        from core.config import get_settings

        secret_file = get_settings().data_dir / "secret_key"
        assert (secret_file.stat().st_mode & 0o777) == 0o600
        own = secret_file.read_text().strip()
        assert own != OLD_DEFAULT_SECRET and len(own) >= 32
        for secret in (OLD_DEFAULT_SECRET, own):
            assert _post_forged(b.url, _forge(secret, sacrificial.pid)).status_code < 500
            time.sleep(0.5)
            assert sacrificial.poll() is None

        # SIGTERM mid-job: the server exits at once, its job reads failed, its workers exit.
        jid4 = _submit(b.url, {**body, "scw_list": ",".join(_fresh_scws(4))})
        _wait_job(b.url, jid4, 120, until=lambda rec: rec["status"] == "progress")
        kids = b.descendants()
        assert b.workers()
        t0 = time.time()
        b.proc.terminate()
        b.proc.wait(20)
        assert time.time() - t0 < 10
        assert not _wait_gone(kids, 5.0), "worker processes outlived the server after SIGTERM"
        from server.jobs import JobStore

        rec = JobStore(dirs / "cache" / "jobs").read(jid4)
        assert rec["status"] == "failed" and "stopped" in rec["message"], rec
        text = b.log_text() + a.log_text()
        assert "SECRET-TOKEN-VALUE-123" not in text and "token=<redacted>" in text
    finally:
        b.stop()
