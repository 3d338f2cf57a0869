"""A job process forked while a server thread holds a lock (or computes a lazy attribute)
must not block on it forever: the page's share URL once never started its job on a fresh
server, because the fork came while a request thread was loading the pointing history
under ``functools.cached_property``'s lock (Python 3.11)."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from core.forksafe import Lock, cached_property

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _in_child(fn, timeout=10.0) -> int:
    """Run ``fn`` in a forked child; its exit status (0 = ok), or -1 when it hung."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = 0 if fn() else 2
        finally:
            os._exit(code)
    deadline = time.time() + timeout
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -1


def _hold_in_thread(enter, leave):
    """A thread that calls ``enter`` and stays inside until ``leave`` is set."""
    inside = threading.Event()

    def body():
        enter(inside)
    th = threading.Thread(target=body, daemon=True)
    th.start()
    assert inside.wait(10)
    return th


def test_a_lock_held_by_another_thread_is_free_in_a_forked_child():
    lock, leave = Lock(), threading.Event()

    def enter(inside):
        with lock:
            inside.set()
            leave.wait(30)
    th = _hold_in_thread(enter, leave)
    try:
        assert lock.locked()
        assert _in_child(lambda: lock.acquire(timeout=5)) == 0
        assert lock.locked()  # still held in this process
        # the plain threading.Lock the project used before: the child waits for a thread it does not have
        plain = threading.Lock()
        plain.acquire()
        assert _in_child(lambda: plain.acquire(timeout=2)) == 2
        plain.release()
    finally:
        leave.set()
        th.join(10)


def test_a_lazy_attribute_being_computed_elsewhere_is_computed_in_the_child():
    leave = threading.Event()

    class Archive:
        calls = 0

        @cached_property
        def history(self):
            Archive.calls += 1
            if threading.current_thread() is not threading.main_thread():
                inside.set()
                leave.wait(30)  # the slow first load of a fresh server
            return [1, 2, 3]

    archive = Archive()
    inside = threading.Event()
    th = threading.Thread(target=lambda: archive.history, daemon=True)
    th.start()
    assert inside.wait(10)
    try:
        assert _in_child(lambda: archive.history == [1, 2, 3], timeout=10) == 0
    finally:
        leave.set()
        th.join(10)
    assert archive.history == [1, 2, 3] and Archive.calls == 1  # computed once here, then cached


def test_no_module_takes_a_lock_a_forked_job_could_inherit_held():
    """Every lock in the server and the library is fork-safe (a grep: new code keeps it)."""
    offenders = []
    for path in [*ROOT.glob("core/**/*.py"), *ROOT.glob("server/**/*.py"), *ROOT.glob("callbacks/**/*.py"), ROOT / "app.py"]:
        if path.name == "forksafe.py":
            continue
        text = path.read_text()
        for pat in (r"threading\.R?Lock\(\)", r"functools\.cached_property", r"from functools import .*cached_property"):
            if re.search(pat, text):
                offenders.append(f"{path.relative_to(ROOT)}: {pat}")
    assert not offenders, offenders
