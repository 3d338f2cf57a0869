"""Locks and lazy attributes that survive ``fork()`` from a multi-threaded server.

The page's background jobs are processes forked from the web server (Dash's
``DiskcacheManager``), whose request threads may hold a lock at that instant — e.g. while
the first request of a fresh server loads the pointing history. The child inherits the lock
*held*, by a thread that does not exist in it, and blocks on it forever: the job never
starts. So every lock that a forked job may take is a :class:`Lock`, re-created unlocked in
every child, and lazily computed attributes use :class:`cached_property`, which holds no
lock while it computes (Python 3.11's ``functools.cached_property`` holds one for the whole
computation; 3.12 dropped it for this reason among others).

>>> from core.forksafe import Lock
>>> lock = Lock()
>>> with lock:
...     lock.locked()
True
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import weakref

__all__ = ["Lock", "cached_property"]

_LOCKS: "weakref.WeakSet[Lock]" = weakref.WeakSet()


class Lock:
    """A ``threading.Lock`` that a forked child gets back unlocked.

    What the lock protected may be half-updated in the child (its holder was stopped
    mid-way); the structures guarded here are caches whose entries are complete or absent,
    which a child may recompute.
    """

    __slots__ = ("_lock", "__weakref__")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        _LOCKS.add(self)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc) -> None:
        self._lock.release()

    def _reset(self) -> None:
        self._lock = threading.Lock()


def _after_fork_in_child() -> None:
    for lock in list(_LOCKS):
        lock._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


if sys.version_info >= (3, 12):
    cached_property = functools.cached_property
else:
    class cached_property:  # noqa: N801  (named as the functools original it replaces)
        """``functools.cached_property`` as of Python 3.12: no lock held while computing.

        Two threads asking at once may both compute; the last result is kept. The
        attributes cached here are deterministic loads, so either result is the same.
        """

        def __init__(self, func):
            self.func = func
            self.attrname = None
            self.__doc__ = func.__doc__
            self.__module__ = func.__module__

        def __set_name__(self, owner, name):
            if self.attrname is None:
                self.attrname = name
            elif name != self.attrname:
                raise TypeError(f"Cannot assign the same cached_property to two names ({self.attrname!r} and {name!r}).")

        def __get__(self, instance, owner=None):
            if instance is None:
                return self
            if self.attrname is None:
                raise TypeError("Cannot use cached_property instance without calling __set_name__ on it.")
            value = self.func(instance)
            instance.__dict__[self.attrname] = value
            return value
