"""Locate files of the read-only ``shared/`` tree that sits beside the repository.

Reference data are never copied into the repository; tests read them from
``<repo>/../shared``. Locally a missing tree skips the test; in CI (environment
variable ``CI`` set) it fails, so that a broken checkout cannot pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["SHARED_ROOT", "shared_path"]

#: ``<repo>/../shared``: this file is ``<repo>/tests/_shared.py``; ``ODA_SHARED_DIR`` overrides it
#: (a git worktree elsewhere than beside ``shared/``).
SHARED_ROOT = Path(os.environ.get("ODA_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")


def shared_path(*parts: str) -> Path:
    """Path of a file under ``shared/``, or skip/fail the calling test if it is absent.

    Parameters
    ----------
    *parts : str
        Path components below ``shared/``, e.g.
        ``shared_path("reference-data", "isgri_pif_255900280010_SGR1935.fits.gz")``.

    Returns
    -------
    pathlib.Path
        The existing path.

    Raises
    ------
    pytest.skip.Exception
        If the file is absent and ``CI`` is not set.
    pytest.fail.Exception
        If the file is absent and ``CI`` is set.
    """
    path = SHARED_ROOT.joinpath(*parts)
    if path.exists():
        return path
    msg = f"shared reference file not found: {path} (expected ../shared beside the repo)"
    if "CI" in os.environ:
        pytest.fail(msg)
    pytest.skip(msg)
