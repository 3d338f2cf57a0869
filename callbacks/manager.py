"""The background-callback manager, chosen by configuration.

* default: ``DiskcacheManager`` on a private (0700) directory ``$ODA_CACHE_DIR/dash-jobs``
  (one host; several gunicorn workers share it);
* ``ODA_CELERY_BROKER`` set (e.g. ``redis://localhost:6379/0``): ``CeleryManager`` with that
  broker and ``ODA_CELERY_BACKEND`` (default: the broker) as result backend; start workers
  with ``celery -A app:celery_app worker``.

Either way the callbacks hold only job ids and small JSON; products live in the product store.
The diskcache holds JSON only (:class:`JsonDisk`): diskcache's default ``Disk`` pickles any
value that is not a plain str/bytes/number, and its unpickling path has an open CVE.
"""

from __future__ import annotations

import os

__all__ = ["background_manager", "JsonDisk"]


def _json_disk_class():
    import json
    import zlib

    import diskcache
    from plotly.utils import PlotlyJSONEncoder

    class JsonDisk(diskcache.JSONDisk):
        """diskcache values as zlib-compressed JSON (Plotly's encoder: figures, numpy, no_update)."""

        def store(self, value, read, key=diskcache.core.UNKNOWN):
            if not read:
                value = zlib.compress(json.dumps(value, cls=PlotlyJSONEncoder).encode("utf-8"), self.compress_level)
            return diskcache.Disk.store(self, value, read, key=key)

        def get(self, key, raw):
            if not raw:  # a key stored by pickling (only a planted row could be): refuse
                raise ValueError("pickled key in a JSON-only cache")
            return super().get(key, raw)

        def fetch(self, mode, filename, value, read):
            if mode == diskcache.core.MODE_PICKLE:  # never written by this class: refuse, do not unpickle
                raise ValueError("pickled entry in a JSON-only cache")
            data = diskcache.Disk.fetch(self, mode, filename, value, read)
            return data if read else json.loads(zlib.decompress(data).decode("utf-8"))

    return JsonDisk


def __getattr__(name):  # JsonDisk without importing diskcache at module import
    if name == "JsonDisk":
        return _json_disk_class()
    raise AttributeError(name)


def background_manager():
    """(manager, celery_app or None) for the configured backend."""
    broker = os.environ.get("ODA_CELERY_BROKER", "").strip()
    if broker:
        from celery import Celery
        from dash import CeleryManager

        celery_app = Celery(__name__, broker=broker, backend=os.environ.get("ODA_CELERY_BACKEND", broker))
        return CeleryManager(celery_app), celery_app
    import diskcache
    from dash import DiskcacheManager

    from core.config import ensure_private_dir, get_settings

    root = ensure_private_dir(get_settings().cache_dir / "dash-jobs")
    cache = diskcache.Cache(str(root), size_limit=int(256e6), disk=_json_disk_class())
    return DiskcacheManager(cache), None
