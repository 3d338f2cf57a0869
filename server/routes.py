"""HTTP routes of the service (filled by the API issue)."""

from __future__ import annotations


def register(flask_server) -> None:
    """Attach routes to ``flask_server`` (none yet)."""
