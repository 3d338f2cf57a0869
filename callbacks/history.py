"""Product history of the browser session: every product shown is remembered (id and label
in a ``storage_type="session"`` store) and listed with its thumbnail; a click reopens it at
once from the product store (nothing is recomputed)."""

from __future__ import annotations

import time

from dash import ALL, Input, Output, State, callback, ctx, get_relative_path, no_update

from layouts import ids
from layouts.ids import PRODUCT_LABELS
from layouts.products import history_list

__all__ = ["remember", "show_history", "reopen", "history_label", "add_entry", "MAX_ENTRIES"]

PRODUCTS = tuple(PRODUCT_LABELS)
#: Entries kept (newest first).
MAX_ENTRIES = 12


def history_label(res) -> str:
    """A short label of a product: target, band or model, ScW count."""
    q = res.query
    what = {"image": f"{q.E1_keV:g}–{q.E2_keV:g} keV", "spectrum": q.channel_grid,
            "lc": f"{q.E1_keV:g}–{q.E2_keV:g} keV", "spectral_fit": f"{q.spectral_model} {q.E1_keV:g}–{q.E2_keV:g} keV"}
    n = len(res.scws)
    return f"{q.src_name or f'{q.RA:.2f} {q.DEC:+.2f}'} · {what.get(res.product_type, '')} · {n} ScW{'s' if n != 1 else ''}"


def add_entry(history: list | None, entry: dict, limit: int = MAX_ENTRIES) -> list:
    """``entry`` first, without an older entry of the same product."""
    rest = [e for e in (history or []) if isinstance(e, dict) and e.get("job_id") != entry["job_id"]]
    return [entry, *rest][:limit]


@callback(Output(ids.HISTORY, "data"), *[Input(ids.ref(p), "data") for p in PRODUCTS], State(ids.HISTORY, "data"),
          State("embed-flag", "data"), prevent_initial_call=True)
def remember(*args):
    from .products import load

    *refs, history, embed = args
    ref = next((r for p, r in zip(PRODUCTS, refs) if ctx.triggered_id == ids.ref(p)), None)
    if embed or not ref or not ref.get("job_id"):
        return no_update
    res = load(ref)
    if res is None:
        return no_update
    entry = {"job_id": res.product_id, "product_type": res.product_type, "label": history_label(res), "t": time.time()}
    new = add_entry(history, entry)
    return new if new != history else no_update


@callback(Output(ids.HISTORY_LIST, "children"), Input(ids.HISTORY, "data"), State("embed-flag", "data"))
def show_history(history, embed=False):
    if embed:  # an embedded product shows only itself
        return ""
    return history_list(history, prefix=get_relative_path("/"))


@callback(*[Output(ids.ref(p), "data", allow_duplicate=True) for p in PRODUCTS],
          Output(ids.TABS, "value", allow_duplicate=True),
          Input(ids.history_item(ALL), "n_clicks"), State(ids.HISTORY, "data"), prevent_initial_call=True)
def reopen(clicks, history):
    """Show a product of the history (from the store: instant)."""
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not any(clicks or []):
        return (*[no_update] * len(PRODUCTS), no_update)
    entry = next((e for e in history or [] if e.get("job_id") == trig.get("job_id")), None)
    if entry is None or entry.get("product_type") not in PRODUCTS:
        return (*[no_update] * len(PRODUCTS), no_update)
    kind = entry["product_type"]
    ref = {"job_id": entry["job_id"], "product_type": kind, "t": time.time()}
    return (*[ref if p == kind else no_update for p in PRODUCTS], kind)
