"""The background-callback cache holds JSON only and lives in a private directory."""

from __future__ import annotations

import os
import pickle
import stat

import dash
import diskcache
import pytest

from callbacks.manager import _json_disk_class, background_manager


def test_values_round_trip_as_json_and_pickles_are_refused(tmp_path):
    cache = diskcache.Cache(str(tmp_path), disk=_json_disk_class())
    cache.set("out", (dash.no_update, {"job_id": "ab" * 12}, [1.5]))
    assert cache.get("out") == [{"_dash_no_update": "_dash_no_update"}, {"job_id": "ab" * 12}, [1.5]]
    # A row in pickle mode (planted in the directory) is refused, never unpickled.
    with pytest.raises(ValueError, match="pickled entry"):
        cache.disk.fetch(diskcache.core.MODE_PICKLE, None, pickle.dumps({"x": 1}), False)
    with pytest.raises(ValueError, match="pickled key"):
        cache.disk.get(pickle.dumps("k"), False)
    # Values Dash cannot express as JSON are refused when written, not pickled.
    with pytest.raises(TypeError):
        cache.set("bad", {"x": {1, 2}})


def test_default_manager_directory_is_private(tmp_path, monkeypatch):
    from core.config import get_settings

    monkeypatch.setenv("ODA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ODA_CELERY_BROKER", raising=False)
    get_settings.cache_clear()
    try:
        manager, celery_app = background_manager()
        assert celery_app is None
        mode = stat.S_IMODE(os.stat(tmp_path / "cache" / "dash-jobs").st_mode)
        assert mode == 0o700
        assert isinstance(manager.handle.disk, _json_disk_class()) or type(manager.handle.disk).__name__ == "JsonDisk"
    finally:
        get_settings.cache_clear()
