"""Initialiser of worker processes (kept free of numpy imports on purpose).

It runs in a freshly spawned worker before any task is unpickled, i.e. before numpy and
its BLAS are imported, so the thread limits below take effect: the worker processes are
the parallelism, and oversubscribed BLAS threads made PIF products ~10× slower.
"""

import os

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded() -> None:
    for name in THREAD_VARS:
        os.environ[name] = "1"
