"""Jobs on Celery with a real ``redis-server``, a real Celery worker and two web processes.

Everything runs as a deployment would: ``redis-server`` on a loopback port, ``celery -A
app:celery_app worker`` (prefork, one process) in the checkout, and two ``python3 app.py``
web processes sharing the data directory. An API job runs on the worker, once even when two
web processes get it at the same moment; it survives the SIGKILL of the web process that
submitted it; cancel stops it; a worker killed mid-job leaves it failed and a resubmit
computes it. The page's background callbacks run on the same worker (CeleryManager).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REDIS = shutil.which("redis-server")
CELERY = Path(sys.executable).parent / "celery"

pytestmark = pytest.mark.skipif(REDIS is None and not os.environ.get("CI"),
                                reason="redis-server is not installed (.ci/run installs Debian's redis-server)")

#: Small jobs (1-3 ScWs of Feb 2003 near the Crab) so that the whole module stays within ~2 min.
CRAB = {"src_name": "Crab", "T1": "2003-02-01T00:00:00", "T2": "2003-03-01T00:00:00", "E1_keV": 20, "E2_keV": 40}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(method: str, url: str, body: dict | None = None, timeout: float = 30.0):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _wait_http(url: str, proc, log: Path, limit: float = 120.0) -> None:
    t0 = time.monotonic()
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            pass
        if time.monotonic() - t0 > limit:
            pytest.fail(f"{url} did not answer within {limit:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


class Deployment:
    def __init__(self, root: Path):
        self.root = root
        self.redis_port = _free_port()
        broker = f"redis://127.0.0.1:{self.redis_port}/0"
        self.env = {**os.environ, "ODA_DATA_DIR": str(root / "data"), "ODA_CELERY_BROKER": broker,
                    "ODA_CACHE_REDIS": f"redis://127.0.0.1:{self.redis_port}/1", "ODA_WORKERS": "1",
                    "PYTHONPATH": str(ROOT)}
        self.env.pop("ODA_DASK_SCHEDULER", None)
        self.procs: dict[str, subprocess.Popen] = {}
        self.webs: dict[str, str] = {}

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def start(self, name: str, cmd: list[str], **env) -> subprocess.Popen:
        out = open(self.log(name), "ab")
        p = subprocess.Popen(cmd, cwd=ROOT, env={**self.env, **env}, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs[name] = p
        return p

    def start_redis(self) -> None:
        self.start("redis", [REDIS, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"])
        t0 = time.monotonic()
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() - t0 < 30, self.log("redis").read_text()
            time.sleep(0.1)

    def start_worker(self) -> None:
        self.start("worker", [str(CELERY), "-A", "app:celery_app", "worker", "--pool", "prefork", "--concurrency", "1",
                              "--loglevel", "INFO", "--without-gossip", "--without-mingle", "-n",
                              f"oda-{self.redis_port}@%h"])
        t0 = time.monotonic()
        while b"ready." not in self.log("worker").read_bytes():
            assert self.procs["worker"].poll() is None, self.log("worker").read_text()[-3000:]
            assert time.monotonic() - t0 < 180, self.log("worker").read_text()[-3000:]
            time.sleep(0.3)

    def start_web(self, name: str) -> str:
        port = _free_port()
        p = self.start(name, [sys.executable, "app.py"], ODA_PORT=str(port))
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/api/instr-list", p, self.log(name))
        self.webs[name] = base
        return base

    def kill(self, name: str, sig=signal.SIGKILL) -> None:
        p = self.procs.pop(name)
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        p.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.procs)[::-1]:
            self.kill(name, signal.SIGTERM if name != "redis" else signal.SIGKILL)

    def record(self, job_id: str) -> dict:
        return json.loads((self.root / "data" / "cache" / "jobs" / f"{job_id}.json").read_text())

    def wait_job(self, base: str, job_id: str, until=("done", "failed", "cancelled"), limit: float = 240.0) -> dict:
        t0 = time.monotonic()
        while True:
            status, rec = _call("GET", f"{base}/api/v1/jobs/{job_id}")
            assert status == 200, rec
            if rec["status"] in until:
                return rec
            assert time.monotonic() - t0 < limit, (rec, self.log("worker").read_text()[-2000:])
            time.sleep(0.3)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    d = Deployment(tmp_path_factory.mktemp("celery"))
    try:
        d.start_redis()
        d.start_worker()
        d.start_web("web_a")
        d.start_web("web_b")
        yield d
    finally:
        d.stop()


def _received(d: Deployment, job_id: str) -> int:
    return sum(f"oda.run_job[{job_id}-" in line and line.rstrip().endswith("received")
               for line in d.log("worker").read_text().splitlines())


def test_identical_job_from_two_web_processes_runs_once_on_the_worker(deployment):
    d = deployment
    query = {**CRAB, "max_pointings": 1}
    answers = {}

    def post(name):
        answers[name] = _call("POST", d.webs[name] + "/api/v1/jobs", query)

    threads = [threading.Thread(target=post, args=(n,)) for n in ("web_a", "web_b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (sa, a), (sb, b) = answers["web_a"], answers["web_b"]
    assert sa in (200, 202) and sb in (200, 202), answers
    assert a["job_id"] == b["job_id"]
    rec = d.wait_job(d.webs["web_b"], a["job_id"])
    assert rec["status"] == "done", rec
    assert [s["status"] for s in rec["scws"]] == ["calculated"]
    assert _received(d, a["job_id"]) == 1
    owner = d.record(a["job_id"])["owner"]
    assert owner["pid"] not in (d.procs["web_a"].pid, d.procs["web_b"].pid)
    status, product = _call("GET", f"{d.webs['web_a']}/api/v1/products/{a['job_id']}")
    assert status == 200 and product["product_type"] == "image"


def test_job_survives_the_death_of_the_web_process_that_submitted_it(deployment):
    d = deployment
    status, job = _call("POST", d.webs["web_a"] + "/api/v1/jobs", {**CRAB, "max_pointings": 2, "E2_keV": 35})
    assert status == 202, job
    d.kill("web_a")
    rec = d.wait_job(d.webs["web_b"], job["job_id"])
    assert rec["status"] == "done" and len(rec["scws"]) == 2, rec
    d.start_web("web_a")  # the deployment is whole again for the next tests
    status, again = _call("GET", f"{d.webs['web_a']}/api/v1/jobs/{job['job_id']}")
    assert status == 200 and again["status"] == "done"


def _wait_progress(d: Deployment, base: str, job_id: str, limit: float = 180.0) -> dict:
    t0 = time.monotonic()
    while True:
        status, rec = _call("GET", f"{base}/api/v1/jobs/{job_id}")
        if rec["status"] == "progress" and rec["n_done"] >= 1:
            return rec
        assert rec["status"] in ("submitted", "progress"), rec
        assert time.monotonic() - t0 < limit, rec
        time.sleep(0.2)


def test_cancel_stops_a_worker_job(deployment):
    d = deployment
    status, job = _call("POST", d.webs["web_b"] + "/api/v1/jobs",
                        {**CRAB, "T1": "2003-03-01T00:00:00", "T2": "2003-04-30T00:00:00", "max_pointings": 6})
    assert status == 202, job
    _wait_progress(d, d.webs["web_b"], job["job_id"])
    status, _ = _call("POST", f"{d.webs['web_a']}/api/v1/jobs/{job['job_id']}/cancel")
    assert status in (200, 202)
    rec = d.wait_job(d.webs["web_b"], job["job_id"])
    assert rec["status"] == "cancelled", rec
    assert rec["n_done"] < 6


def test_worker_killed_mid_job_leaves_it_failed_and_resubmittable(deployment):
    import psutil

    d = deployment
    query = {**CRAB, "T1": "2004-01-01T00:00:00", "T2": "2004-12-31T00:00:00", "max_pointings": 4}
    status, job = _call("POST", d.webs["web_a"] + "/api/v1/jobs", query)
    assert status == 202, job
    _wait_progress(d, d.webs["web_a"], job["job_id"])
    pid = d.record(job["job_id"])["owner"]["pid"]
    assert pid in [c.pid for c in psutil.Process(d.procs["worker"].pid).children(recursive=True)]
    os.kill(pid, signal.SIGKILL)
    t_kill = time.monotonic()
    rec = d.wait_job(d.webs["web_b"], job["job_id"], limit=60)
    assert rec["status"] == "failed", rec
    assert time.monotonic() - t_kill < 15
    status, again = _call("POST", d.webs["web_b"] + "/api/v1/jobs", query)
    assert status == 202 and again["job_id"] == job["job_id"], again
    rec = d.wait_job(d.webs["web_b"], job["job_id"])
    assert rec["status"] == "done" and len(rec["scws"]) == 4, rec


def test_web_processes_share_verified_caches_in_redis(deployment):
    """Zips and verified files built by one web process are served by the other from Redis;
    a damaged Redis entry is detected by its seal, dropped and rebuilt from the store."""
    import redis

    d = deployment
    status, job = _call("POST", d.webs["web_a"] + "/api/v1/jobs", {**CRAB, "max_pointings": 1})
    rec = d.wait_job(d.webs["web_a"], job["job_id"])
    assert rec["status"] == "done", rec
    pid = job["job_id"]
    r = redis.Redis(port=d.redis_port, db=1)
    with urllib.request.urlopen(f"{d.webs['web_a']}/products/{pid}/all.zip", timeout=60) as resp:
        zip_a, etag_a = resp.read(), resp.headers["ETag"]
    key = f"oda:zips:{pid}".encode()
    sealed = r.get(key)
    assert sealed is not None and sealed.endswith(zip_a) and sealed.startswith(b"ODA1")
    assert r.get(f"oda:files:{pid}/mosaic.fits".encode()) is not None
    with urllib.request.urlopen(f"{d.webs['web_b']}/products/{pid}/all.zip", timeout=60) as resp:
        assert resp.read() == zip_a and resp.headers["ETag"] == etag_a
    # A value that is not what was sealed (a flipped byte) is never served.
    r.set(key, sealed[:-10] + bytes(10))
    with urllib.request.urlopen(f"{d.webs['web_b']}/products/{pid}/all.zip", timeout=60) as resp:
        assert resp.read() == zip_a
    assert r.get(key) == sealed
    # Nothing in Redis is a pickle: every value carries the seal.
    for k in r.scan_iter(b"oda:*"):
        assert r.get(k).startswith(b"ODA1"), k


def test_page_job_runs_on_the_celery_worker(deployment):
    """The page's background callback (Dash's CeleryManager) computes on the worker: a real browser."""
    chromium, driver = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")
    if not (Path(chromium).exists() and driver):
        if os.environ.get("CI"):
            pytest.fail("chromium/chromedriver missing in CI")
        pytest.skip("needs chromium and chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.common.by import By

    d = deployment
    before = d.log("worker").read_text().count(" received")
    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
              "--disable-background-networking", "--no-first-run"):
        opts.add_argument(a)
    opts.binary_location = chromium
    drv = webdriver.Chrome(options=opts)
    try:
        drv.set_page_load_timeout(60)
        # A band no other test used: the page's job computes (not restored).
        drv.get(d.webs["web_b"] + "/?src_name=Crab&T1=2003-02-01T00:00:00&T2=2003-03-01T00:00:00&max_pointings=1"
                                  "&E1_keV=22&E2_keV=44")
        t0 = time.monotonic()
        while not (drv.find_elements(By.CSS_SELECTOR, "#submit") and
                   drv.find_element(By.CSS_SELECTOR, "#submit").is_enabled()):
            assert time.monotonic() - t0 < 60, "Submit never enabled"
            time.sleep(0.2)
        time.sleep(0.5)
        drv.find_element(By.CSS_SELECTOR, "#submit").click()
        t0 = time.monotonic()
        while "ready" not in drv.find_element(By.CSS_SELECTOR, "#job-status").text:
            assert time.monotonic() - t0 < 180, (drv.find_element(By.CSS_SELECTOR, "#job-status").text,
                                                 d.log("worker").read_text()[-2000:])
            time.sleep(0.3)
        title = drv.execute_script("var gd = document.querySelector('#img-graph .js-plotly-plot');"
                                   "return gd && gd.layout && gd.layout.title ? gd.layout.title.text : '';")
        assert "1 ScW" in title, title
    finally:
        drv.quit()
    worker = d.log("worker").read_text()
    # Dash's background callback ran as a Celery task on the worker (not in a web process).
    page_tasks = [line for line in worker.splitlines()[-400:] if line.rstrip().endswith("received")
                  and "oda.run_job" not in line]
    assert worker.count(" received") > before and page_tasks, worker[-2000:]
