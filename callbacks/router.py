"""URL → page: the query page at ``/``, one product with minimal chrome at ``/embed``."""

from __future__ import annotations

import time

from dash import Input, Output, State, callback

from layouts import ids
from layouts.page import form_values, page_layout

from .form_state import catalog_rows_param, form_params, params_from_search, validate

__all__ = ["route"]


def autorun_for(url_params: dict) -> dict | None:
    """Validated parameters to start at once (share URL / reload), or None."""
    if not url_params:
        return None
    values = form_values(url_params)
    rows = _catalog_dicts(url_params.get("selected_catalog"))
    if rows is None:  # an unreadable source list: never run a different product in its place
        return None
    q, errors = validate(form_params(values, rows))
    if q is None:
        return None
    return {"params": q.to_params(), "nonce": time.time()}


def _catalog_dicts(value) -> list[dict] | None:
    """Rows of a URL's ``selected_catalog`` ([] when absent, None when unreadable)."""
    from core.errors import QueryError
    from core.query import parse_catalog

    try:
        return [{"name": n, "ra": ra, "dec": dec} for n, ra, dec in parse_catalog(value)]
    except QueryError:
        return None


@callback(Output(ids.PAGE, "children"), Input(ids.URL, "pathname"), State(ids.URL, "search"))
def route(pathname, search):
    params = params_from_search(search)
    embed = (pathname or "/").rstrip("/").endswith("/embed")
    rows = _catalog_dicts(params.get("selected_catalog")) or []
    return page_layout(params, embed=embed, autorun=autorun_for(params), catalog_rows=rows)
