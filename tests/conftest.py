"""Test session setup: every test runs against a private, throw-away data directory."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="oda-tests-"))
# A session simulates a few hundred ScWs (several GB): never leave them behind.
atexit.register(shutil.rmtree, _SESSION_DIR, ignore_errors=True)
os.environ["ODA_DATA_DIR"] = str(_SESSION_DIR)
os.environ.pop("ODA_ARCHIVE_DIR", None)
os.environ.pop("ODA_CACHE_DIR", None)
os.environ.setdefault("ODA_ARCHIVE_MODE", "simulated")
os.environ["ODA_SESAME"] = "0"  # no network in tests


@pytest.fixture(scope="session")
def history():
    from core.archive.pointings import load_history

    return load_history(_SESSION_DIR)


@pytest.fixture()
def fresh_settings(tmp_path, monkeypatch):
    """Settings pointing at an empty archive under tmp_path (the history is shared)."""
    from core.config import get_settings

    monkeypatch.setenv("ODA_ARCHIVE_DIR", str(tmp_path / "archive"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
