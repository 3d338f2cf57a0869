"""Start-up of worker processes (kept free of numpy imports on purpose).

:func:`single_threaded` runs in a freshly spawned worker before any task is unpickled, i.e.
before numpy and its BLAS are imported, so the thread limits take effect: the worker
processes are the parallelism, and oversubscribed BLAS threads made PIF products ~10× slower.

:func:`exit_with_parent` makes a worker end when the process that started it ends, however
it ends (SIGTERM, SIGKILL, out-of-memory kill): a watchdog thread polls ``os.getppid()``.
Linux's ``PR_SET_PDEATHSIG`` is not used: it fires when the *thread* that forked the
worker exits, and pools and page jobs are started from short-lived request threads.
"""

import os
import threading
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: Seconds between two looks at the parent.
WATCH_INTERVAL_S = 0.25


def single_threaded(parent_pid: int | None = None) -> None:
    for name in THREAD_VARS:
        os.environ[name] = "1"
    if parent_pid:
        exit_with_parent(parent_pid)


def exit_with_parent(parent_pid: int, interval: float = WATCH_INTERVAL_S) -> threading.Thread:
    """Exit this process (status 1, no clean-up) as soon as ``parent_pid`` is no longer its parent."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    t = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    t.start()
    return t
