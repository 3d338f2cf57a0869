"""The background-callback manager, chosen by configuration.

* default: ``DiskcacheManager`` on a private (0700) directory ``$ODA_CACHE_DIR/dash-jobs``
  (one host; several gunicorn workers share it);
* ``ODA_CELERY_BROKER`` set (e.g. ``redis://localhost:6379/0``): ``CeleryManager`` with that
  broker and ``ODA_CELERY_BACKEND`` (default: the broker) as result backend; start workers
  with ``celery -A app:celery_app worker``.

Either way the callbacks hold only job ids and small JSON; products live in the product store.
"""

from __future__ import annotations

import os

__all__ = ["background_manager"]


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
    return DiskcacheManager(diskcache.Cache(str(root), size_limit=int(256e6))), None
