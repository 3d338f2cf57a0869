"""Fault injection over real HTTP on loopback (the app's server in this process).

Private products without their token, oversize and deeply nested bodies, corrupted and
symlinked product files, damaged job records, unknown static paths, a flooded queue, and
page-job cancels naming processes that are not the app's. Kills of the server and its
workers are in :mod:`tests.test_faults_process` (they need a server process of their own).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import psutil
import pytest
import requests

from tests.test_api_support import CRAB, api_url, wait_job  # noqa: F401  (fixture)

JWT_SECRET = "fault-test-jwt-secret-0123456789abcdef0123456789"


_wait = wait_job


# -- 2: data rights -------------------------------------------------------------------------------
def test_private_product_needs_its_token_on_every_route(api_url, monkeypatch):  # noqa: F811
    from core.query import Query
    from server.auth import make_token
    from server.jobs import get_runner

    monkeypatch.setenv("ODA_JWT_SECRET", JWT_SECRET)
    token = make_token(JWT_SECRET)
    auth = {"Authorization": f"Bearer {token}"}
    body = {**CRAB, "product_type": "image", "E1_keV": 21, "E2_keV": 41}
    r = requests.post(f"{api_url}/api/v1/jobs", json={**body, "integral_data_rights": "all-private"}, headers=auth,
                      timeout=60)
    assert r.status_code in (200, 202), r.text
    jid = r.json()["job_id"]
    public = Query.from_params(body)
    assert jid != get_runner().job_id(public)
    # Not derivable from the query: another deployment secret gives another id.
    private = Query.from_params({**body, "integral_data_rights": "all-private"})
    assert get_runner().job_id(private) == jid
    monkeypatch.setenv("ODA_SECRET_KEY", "another-deployment-secret-0123456789abcdef")
    assert get_runner().job_id(private) != jid
    monkeypatch.delenv("ODA_SECRET_KEY")
    assert _wait(api_url, jid, headers=auth)["status"] == "done"

    routes = [("GET", f"/api/v1/jobs/{jid}"), ("GET", f"/api/v1/products/{jid}"),
              ("GET", f"/api/v1/products/{jid}/catalog"), ("GET", f"/products/{jid}/mosaic.fits"),
              ("GET", f"/products/{jid}/catalog.ecsv"), ("GET", f"/products/{jid}/figure.png"),
              ("GET", f"/products/{jid}/all.zip"), ("DELETE", f"/api/v1/jobs/{jid}"),
              ("POST", f"/api/v1/jobs/{jid}/cancel")]
    no_role = make_token(JWT_SECRET, roles=("general",))
    for method, path in routes:
        r = requests.request(method, api_url + path, timeout=120)
        assert r.status_code == 403, (path, r.status_code)
        assert "token" in r.json()["error"] and b"SIMPLE" not in r.content and "Crab" not in r.text
        r = requests.request(method, api_url + path, headers={"Authorization": f"Bearer {no_role}"}, timeout=120)
        assert r.status_code == 403 and "integral-private" in r.json()["error"], (path, r.text[:200])
        r = requests.request(method, api_url + path, headers=auth, timeout=120)
        assert r.status_code in (200, 303), (path, r.status_code, r.text[:200])
    assert requests.get(f"{api_url}/products/{jid}/mosaic.fits", params={"token": token}, timeout=60).status_code == 200
    # The ODA protocol: polls re-send the query; without the token they are refused.
    oda = {**{k: str(v) for k, v in body.items() if k != "product_type"}, "instrument": "isgri",
           "product_type": "isgri_image", "integral_data_rights": "all-private", "query_status": "submitted",
           "job_id": jid}
    r = requests.get(f"{api_url}/run_analysis", params=oda, timeout=60)
    assert r.status_code == 403 and not r.json()["products"]
    r = requests.get(f"{api_url}/run_analysis", params={**oda, "token": token}, timeout=120)
    assert r.status_code == 200 and r.json()["job_id"] == jid and r.json()["query_status"] == "done"


def test_tokens_are_not_logged():
    import logging

    from server.wsgi import RedactingFilter, redact_query

    assert redact_query("src_name=Crab&token=eyJ.abc.def&x=1") == "src_name=Crab&token=<redacted>&x=1"
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"GET /run_analysis?%s HTTP/1.1" 200 -',
                               ("token=eyJhbGciOi.payload.sig&E1_keV=20",), None)
    RedactingFilter().filter(record)
    assert "eyJhbGciOi" not in record.getMessage() and "token=<redacted>" in record.getMessage()


# -- 3: request limits ----------------------------------------------------------------------------
def test_oversize_and_deep_bodies(api_url, monkeypatch):  # noqa: F811
    big = b'{"src_name": "' + b"x" * 20_000_000 + b'"}'
    for path in ("/api/v1/jobs", "/api/v1/validate", "/run_analysis"):
        t0 = time.time()
        r = requests.post(api_url + path, data=big, headers={"Content-Type": "application/json"}, timeout=60)
        assert r.status_code == 413, (path, r.status_code)
        assert "at most 10000000 bytes" in r.json()["error"] and time.time() - t0 < 10
    deep = "[" * 100_000
    for path in ("/api/v1/jobs", "/api/v1/validate", "/_dash-update-component"):
        r = requests.post(api_url + path, data=deep, headers={"Content-Type": "application/json"}, timeout=60)
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert "nested deeper than 100 levels" in r.json()["error"]
    # Inside selected_catalog: as a JSON string, as a nested value, and through the ODA form.
    spec = {**CRAB, "product_type": "spectrum"}
    nested = json.loads("[" * 150 + "]" * 150)
    for cat in (deep, nested):
        r = requests.post(f"{api_url}/api/v1/jobs", json={**spec, "selected_catalog": cat}, timeout=60)
        assert r.status_code == 400 and "nested deeper" in r.json()["error"], r.text[:300]
    form = {**{k: str(v) for k, v in CRAB.items()}, "instrument": "isgri", "product_type": "isgri_spectrum",
            "selected_catalog": deep[:50_000], "catalog_selected_objects": "1"}
    r = requests.post(f"{api_url}/run_analysis", data=form, timeout=60)
    assert r.status_code == 400 and "nested" in r.json()["error"], r.text[:300]
    form.pop("catalog_selected_objects")
    r = requests.post(f"{api_url}/run_analysis", data=form, timeout=60)
    assert r.status_code == 400 and "nested" in r.json()["error"], r.text[:300]


def _callback(url: str, input_id: str) -> dict:
    deps = requests.get(f"{url}/_dash-dependencies", timeout=30).json()
    return next(d for d in deps if [i["id"] for i in d["inputs"]] == [input_id])


def test_page_upload_refuses_a_50MB_catalogue_quickly(api_url):  # noqa: F811
    dep = _callback(api_url, "cat-upload")
    contents = "data:application/octet-stream;base64," + base64.b64encode(b"# %ECSV 1.0\n" * 4_200_000).decode()
    body = {"output": dep["output"],
            "outputs": [{"id": "cat-table", "property": "data"}, {"id": "cat-msg", "property": "children"}],
            "inputs": [{"id": "cat-upload", "property": "contents", "value": contents}],
            "state": [{"id": "cat-upload", "property": "filename", "value": "huge.ecsv"}],
            "changedPropIds": ["cat-upload.contents"]}
    data = json.dumps(body).encode()
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    t0 = time.time()
    r = requests.post(f"{api_url}/_dash-update-component", data=data, headers={"Content-Type": "application/json"},
                      timeout=60)
    took = time.time() - t0
    assert r.status_code == 200, r.text[:300]
    msg = r.json()["response"]["cat-msg"]["children"]
    assert "huge.ecsv" in msg and "50.4 MB is too large" in msg and "at most 5 MB" in msg
    assert "cat-table" not in r.json()["response"]
    assert took < 15, took  # received and refused, never parsed as a catalogue (that took 32 s)
    assert proc.memory_info().rss - rss0 < 1.5e9


# -- 6 and 9: integrity of what is served ---------------------------------------------------------
def test_corrupted_or_symlinked_files_are_never_served(api_url):  # noqa: F811
    from core.products.store import get_store
    from server.downloads import verified

    body = {**CRAB, "product_type": "image", "E1_keV": 22, "E2_keV": 42}
    jid = requests.post(f"{api_url}/api/v1/jobs", json=body, timeout=60).json()["job_id"]
    assert _wait(api_url, jid)["status"] == "done"
    url = f"{api_url}/products/{jid}/mosaic.fits"
    data_files = ("mosaic.fits", "catalog.fits", "catalog.ecsv", "sources.reg")
    tags = {n: requests.get(f"{api_url}/products/{jid}/{n}", timeout=60).headers["ETag"] for n in data_files}
    first = requests.get(url, timeout=60)
    original, etag = first.content, first.headers["ETag"].strip('"')
    assert etag == hashlib.sha256(original).hexdigest()[:32]  # the ETag is the content's hash
    path = get_store().path(jid) / "mosaic.fits"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, same name: bit rot while the product is cached
    again = requests.get(url, timeout=60)
    assert again.status_code in (200, 404)
    if again.status_code == 200:
        assert again.content == original  # the verified bytes, not the corrupted file
    verified.clear()  # as after eviction, or in another server process
    r = requests.get(url, timeout=60)
    assert r.status_code == 404 and r.content != bytes(data)
    r = requests.get(url, headers={"If-None-Match": f'"{etag}"'}, timeout=60)
    assert r.status_code == 404  # no 304 vouching for bytes that are not there
    # Resubmitting recomputes the product; its data files are deterministic: the same bytes, the
    # same ETags. (result.json, the log, differs: calculated vs restored, seconds: so does its ETag.)
    r = requests.post(f"{api_url}/api/v1/jobs", json=body, timeout=60)
    assert r.status_code in (200, 202)
    assert _wait(api_url, jid)["status"] == "done"
    redo = requests.get(url, timeout=60)
    assert redo.status_code == 200 and redo.headers["ETag"].strip('"') == etag and redo.content == original
    assert {n: requests.get(f"{api_url}/products/{jid}/{n}", timeout=60).headers["ETag"] for n in data_files} == tags
    log = requests.get(f"{api_url}/products/{jid}/result.json", timeout=60)
    assert log.headers["ETag"].strip('"') == hashlib.sha256(log.content).hexdigest()[:32]

    # A symlink planted in place of a file (to /etc/passwd) is not followed.
    ecsv = get_store().path(jid) / "catalog.ecsv"
    ecsv.unlink()
    ecsv.symlink_to("/etc/passwd")
    verified.clear()
    r = requests.get(f"{api_url}/products/{jid}/catalog.ecsv", timeout=60)
    assert r.status_code == 404 and "root:" not in r.text
    r = requests.get(f"{api_url}/products/{jid}/all.zip", timeout=60)
    assert r.status_code == 404 and b"root:" not in r.content


def test_zip_is_deterministic(api_url):  # noqa: F811
    from server import downloads

    jid = requests.post(f"{api_url}/api/v1/jobs", json={**CRAB, "product_type": "image"}, timeout=60).json()["job_id"]
    assert _wait(api_url, jid)["status"] == "done"
    z1 = requests.get(f"{api_url}/products/{jid}/all.zip", timeout=60)
    downloads.clear_caches()
    z2 = requests.get(f"{api_url}/products/{jid}/all.zip", timeout=60)
    assert z1.content == z2.content and z1.headers["ETag"] == z2.headers["ETag"]
    assert z1.headers["ETag"].strip('"') == hashlib.sha256(z1.content).hexdigest()[:32]


# -- 7: damaged job records -----------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "bad_type", "missing_key", "not_a_record"])
def test_damaged_job_record_is_recomputed(api_url, damage):  # noqa: F811
    from server.jobs import get_runner

    body = {**CRAB, "product_type": "image", "E1_keV": 23, "E2_keV": 43}
    runner = get_runner()
    jid = requests.post(f"{api_url}/api/v1/validate", json=body, timeout=60).json()["job_id"]
    now = time.time()
    good = runner.jobs.read(jid) or {
        "job_id": jid, "product_type": "image", "query": body, "status": "progress", "message": "", "error": None,
        "scws": [], "n_done": 0, "n_total": 2, "submitted_at": now, "started_at": now, "finished_at": None,
        "updated_at": now, "heartbeat": now, "owner": {"host": "elsewhere", "pid": 1, "start": 0.0}}
    text = json.dumps(good)
    bad = {"truncated": text[: len(text) // 2],
           "bad_type": json.dumps({**good, "status": "progress", "updated_at": "yesterday"}),
           "missing_key": json.dumps({k: v for k, v in good.items() if k != "scws"}),
           "not_a_record": "[1, 2, 3]"}[damage]
    (runner.jobs.root / f"{jid}.json").write_text(bad)
    r = requests.post(f"{api_url}/api/v1/jobs", json=body, timeout=60)
    assert r.status_code in (200, 202), r.text[:300]
    assert _wait(api_url, jid)["status"] == "done"
    (runner.jobs.root / f"{jid}.json").write_text(bad)
    assert requests.get(f"{api_url}/api/v1/jobs/{jid}", timeout=60).status_code == 200


# -- 8: unknown static paths ----------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/_dash-component-suites/os/path.py", "/_dash-component-suites/sys/x.js",
                                  "/_dash-component-suites/dash/nothing.v1.js",
                                  "/_dash-component-suites/dash/..%2F..%2Fetc%2Fpasswd",
                                  "/_dash-component-suites/plotly/%2E%2E/%2E%2E/os.py"])
def test_unknown_static_paths_are_404(api_url, path):  # noqa: F811
    r = requests.get(api_url + path, timeout=30)
    assert r.status_code == 404, (path, r.status_code)
    assert "root:" not in r.text and "Traceback" not in r.text


# -- 10: bounded queue ----------------------------------------------------------------------------
def test_queue_is_bounded_per_client_and_in_total(api_url, monkeypatch):  # noqa: F811
    from server.jobs import JobRunner, get_runner

    gate = threading.Event()
    monkeypatch.setattr(JobRunner, "_run_quietly", lambda self, query, jid: gate.wait(60))
    monkeypatch.setenv("ODA_MAX_QUEUED_PER_CLIENT", "2")
    monkeypatch.setenv("ODA_MAX_QUEUED", "50")
    bodies = [{**CRAB, "product_type": "image", "E1_keV": 31 + i, "E2_keV": 71} for i in range(4)]
    jids = []
    try:
        codes = []
        for b in bodies[:3]:
            r = requests.post(f"{api_url}/api/v1/jobs", json=b, timeout=60)
            codes.append(r.status_code)
            if r.status_code == 202:
                jids.append(r.json()["job_id"])
        assert codes == [202, 202, 429], codes
        assert int(r.headers["Retry-After"]) >= 1 and "ODA_MAX_QUEUED_PER_CLIENT" in r.json()["error"]
        monkeypatch.setenv("ODA_MAX_QUEUED_PER_CLIENT", "10")
        monkeypatch.setenv("ODA_MAX_QUEUED", "2")
        r = requests.post(f"{api_url}/api/v1/jobs", json=bodies[3], timeout=60)
        assert r.status_code == 429 and "ODA_MAX_QUEUED" in r.json()["error"] and r.headers["Retry-After"]
        # The ODA protocol is bounded by the same queue.
        oda = {**{k: str(v) for k, v in bodies[3].items() if k != "product_type"}, "instrument": "isgri",
               "product_type": "isgri_image"}
        assert requests.get(f"{api_url}/run_analysis", params=oda, timeout=60).status_code == 429
    finally:
        gate.set()
    runner = get_runner()
    deadline = time.time() + 30
    while runner.queued() and time.time() < deadline:
        time.sleep(0.1)
    r = requests.post(f"{api_url}/api/v1/jobs", json=bodies[3], timeout=60)
    assert r.status_code == 202
    jids.append(r.json()["job_id"])
    time.sleep(0.5)
    for jid in jids:  # these never ran: leave them cancelled, not "submitted" forever
        rec = runner.jobs.read(jid)
        if rec is not None:
            rec["status"] = "cancelled"
            runner.jobs.write(rec)


# -- 1: page-job cancel only signals the app's own job processes -----------------------------------
def _sleep_job(*args):
    time.sleep(120)


def test_cancel_signals_only_own_job_processes():
    from callbacks.manager import REGISTRY_PREFIX, background_manager

    mgr, _ = background_manager()
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        pid = mgr.call_job_fn("fault-test", _sleep_job, [], {})
        assert mgr.job_running(pid) and not mgr.job_running(bystander.pid)
        for handle in (bystander.pid, str(bystander.pid), "1", str(os.getpid()), "-1", "abc", None):
            mgr.terminate_job(handle)
        # A registered pid now held by another process (its start time differs) is left alone.
        mgr.handle.set(f"{REGISTRY_PREFIX}{bystander.pid}", {"create_time": 12345.0, "uid": os.getuid()})
        mgr.terminate_job(bystander.pid)
        time.sleep(0.3)
        assert bystander.poll() is None and os.getpid() > 0
        mgr.terminate_job(str(pid))  # our own job: cancelled
        proc = psutil.Process(pid) if psutil.pid_exists(pid) else None
        assert proc is None or proc.status() == psutil.STATUS_ZOMBIE
    finally:
        bystander.kill()
        bystander.wait()


def test_page_job_process_exits_with_its_server(tmp_path):
    code = ("import sys, time\n"
            "from callbacks.manager import background_manager\n"
            "from tests.test_faults import _sleep_job\n"
            "mgr, _ = background_manager()\n"
            "print(mgr.call_job_fn('orphan-test', _sleep_job, [], {}), flush=True)\n"
            "time.sleep(120)\n")
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(root)))
    try:
        job = psutil.Process(int(server.stdout.readline()))
        assert job.is_running()
        server.kill()
        server.wait(10)
        deadline = time.time() + 5
        while job.is_running() and job.status() != psutil.STATUS_ZOMBIE and time.time() < deadline:
            time.sleep(0.1)
        assert not job.is_running() or job.status() == psutil.STATUS_ZOMBIE
    finally:
        server.kill()


# -- 4: a worker killed mid-task ------------------------------------------------------------------
def _dies_once(scw_id, marker_dir, *, archive, store):
    """``kill-*`` ScWs kill their own worker (as kill -9 or the OOM killer would): ``kill-once-*``
    the first time only, ``kill-always-*`` every time; the others take a moment."""
    import signal
    from pathlib import Path

    marker = Path(marker_dir) / scw_id
    if scw_id.startswith("kill-always") or (scw_id.startswith("kill-once") and not marker.exists()):
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.5)
    return scw_id, "calculated"


def test_broken_worker_pool_is_replaced_and_the_scw_retried_once(tmp_path):
    from core.archive.store import get_archive
    from core.products.scw_runner import pool, run_scws
    from core.products.store import get_store

    def run(ids):
        got = []
        statuses = run_scws(_dies_once, [(i, (str(tmp_path),)) for i in ids], accept=got.append, workers=2,
                            archive=get_archive(), store=get_store())
        return sorted(got), {s.scw_id: s.status for s in statuses}

    got, by_id = run(["kill-once-a", "b", "c"])
    assert got == ["b", "c", "kill-once-a"] and set(by_id.values()) == {"calculated"}
    got, by_id = run(["kill-always-x", "d", "e"])
    assert by_id["kill-always-x"] == "failed: the worker process died while computing ScW kill-always-x (retried once)"
    assert got == ["d", "e"] and by_id["d"] == by_id["e"] == "calculated"
    assert pool(2).submit(int, "7").result(timeout=60) == 7  # later work runs on a working pool
