"""Controllers: thin Dash callbacks (UI state → Query → core → figure).

Importing :func:`register` wires them to the app. ``form_state`` is the form's model (no
Dash); the figures are built by :mod:`layouts.figures`.
"""

from __future__ import annotations

__all__ = ["register"]


def register() -> None:
    """Import the callback modules (they attach themselves with ``dash.callback``)."""
    from . import history, jobs, lc_upload, products, progressive, query, router  # noqa: F401
