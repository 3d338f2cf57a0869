"""Job controllers: Submit → (instant if computed) or a background callback relaying the
job registry's per-ScW progress; Cancel; the progress table and elapsed time.

Stores hold ids and small JSON only: ``job-request`` = {params, job_id, nonce}, ``job-record``
= the registry's record (per-ScW rows), ``ref-<product>`` = {job_id, product_type}.
"""

from __future__ import annotations

import time

from dash import Input, Output, State, callback, clientside_callback, no_update

from core.errors import QueryError
from layouts import ids
from layouts.ids import PRODUCT_LABELS
from layouts.products import job_status_text, progress_table

from .form_state import FIELDS, form_params, share_search, validate

__all__ = ["start", "run_job", "cancel", "show_progress", "slim_record", "start_outputs", "public_query"]

PRODUCTS = tuple(PRODUCT_LABELS)
_RECORD_KEYS = ("job_id", "product_type", "status", "message", "error", "scws", "n_done", "n_total",
                "started_at", "finished_at", "updated_at")


def slim_record(rec: dict | None) -> dict | None:
    """The part of a job record the page shows (no query, no pid)."""
    if rec is None:
        return None
    return {k: rec.get(k) for k in _RECORD_KEYS}


def _refs(product_type: str, job_id: str) -> list:
    return [{"job_id": job_id, "product_type": p, "t": time.time()} if p == product_type else no_update
            for p in PRODUCTS]


def start_outputs(params: dict | None) -> tuple:
    """What Submit does, as plain data: (refs per product, job request, done record, tab, url search).

    A product already computed (or restored) is shown at once; otherwise a job request
    starts the background callback.
    """
    from server.jobs import get_runner

    none = (*[no_update] * len(PRODUCTS), no_update, no_update, no_update, no_update)
    if not params:
        return none
    try:
        q = public_query(params)
        runner = get_runner()
        jid = runner.job_id(q)
    except QueryError as exc:
        rec = {"status": "failed", "error": exc.to_dict(), "product_type": params.get("product_type", "image")}
        return (*[no_update] * len(PRODUCTS), no_update, rec, no_update, no_update)
    from .form_state import public_limit_error

    refusal = public_limit_error(q)  # what the API refuses without a token, the page refuses too
    if refusal is not None:
        rec = {"status": "failed", "error": refusal, "product_type": q.product_type}
        return (*[no_update] * len(PRODUCTS), no_update, rec, no_update, no_update)
    search = share_search(q)
    rec = runner.jobs.read(jid)
    if rec is not None and rec.get("status") == "done" and _stored(jid):
        return (*_refs(q.product_type, jid), no_update, slim_record(rec), q.product_type, search)
    if rec is None and _stored(jid):
        rec = runner.status(jid)
        return (*_refs(q.product_type, jid), no_update, slim_record(rec), q.product_type, search)
    request = {"params": q.to_params(), "job_id": jid, "nonce": time.time()}
    return (*[no_update] * len(PRODUCTS), request, None, q.product_type, search)


def public_query(params: dict):
    """The page's query: public data only (the page has no token to show private data with)."""
    from core.query import Query

    q = Query.from_params(params)
    if q.integral_data_rights != "public":
        raise QueryError("integral_data_rights", "private data needs a token: use the HTTP API with token=...",
                         "public")
    return q


def _stored(jid: str) -> bool:
    from core.products.store import get_store

    return get_store().has(jid)


#: Text fields where Enter submits the form.
ENTER_FIELDS = ("src_name", "RA", "DEC", "T1", "T2", "E1_keV", "E2_keV", "detection_threshold", "time_bin", "rebin",
                "spectral_model", "radius", "max_pointings", "min_good_time")


@callback(*[Output(ids.ref(p), "data", allow_duplicate=True) for p in PRODUCTS],
          Output(ids.JOB_REQUEST, "data"), Output("job-done", "data", allow_duplicate=True),
          Output(ids.TABS, "value", allow_duplicate=True), Output(ids.URL, "search"),
          Input(ids.SUBMIT, "n_clicks"), Input(ids.AUTORUN, "data"),
          *[Input(ids.field(f), "n_submit") for f in ENTER_FIELDS],
          State(ids.QUERY, "data"), State(ids.TICK, "disabled"),
          *[State(ids.field(f), "value") for f in FIELDS], State(ids.CAT_TABLE, "data"),
          State(ids.CAT_TABLE, "selected_rows"),
          prevent_initial_call="initial_duplicate")
def start(n_clicks, autorun, *rest):
    from dash import ctx

    n_enter = len(ENTER_FIELDS)
    params, tick_disabled = rest[n_enter], rest[n_enter + 1]
    trig = ctx.triggered_id
    if trig == ids.AUTORUN or (trig is None and autorun):
        params = (autorun or {}).get("params")
    elif trig == ids.SUBMIT and not n_clicks:
        params = None
    elif trig == ids.SUBMIT or (isinstance(trig, str) and trig.startswith("q-")):
        # Submit or Enter in a field: the form as it is now (the query store may lag a click
        # on a product or a keystroke).
        if tick_disabled is False:  # a job is running
            return start_outputs(None)
        values = dict(zip(FIELDS, rest[n_enter + 2: n_enter + 2 + len(FIELDS)]))
        rows, selected = rest[n_enter + 2 + len(FIELDS):]
        from .query import selected_sources

        q, errors = validate(form_params(values, selected_sources(rows, selected)))
        params = q.to_params() if q is not None else None
    else:
        params = None
    return start_outputs(params)


@callback(*[Output(ids.ref(p), "data", allow_duplicate=True) for p in PRODUCTS],
          Output("job-done", "data", allow_duplicate=True),
          Input(ids.JOB_REQUEST, "data"),
          background=True, prevent_initial_call=True, interval=250,
          progress=[Output(ids.JOB_RECORD, "data")],
          running=[(Output(ids.CANCEL, "disabled"), False, True), (Output(ids.TICK, "disabled"), False, True)])
def run_job(set_progress, request):
    """Compute the product (or wait on the process computing it), relaying each record."""
    return run_request(request, set_progress)


def run_request(request: dict | None, set_progress=None) -> tuple:
    """The background work as a plain function: (refs per product, final record)."""
    from core.products.run import Cancelled
    from server.jobs import get_runner

    if not request:
        return (*[no_update] * len(PRODUCTS), no_update)
    runner = get_runner()
    try:
        q = public_query(request["params"])
    except QueryError as exc:
        return (*[no_update] * len(PRODUCTS), {"status": "failed", "error": exc.to_dict(), "product_type": "image"})
    jid = runner.job_id(q)
    last = [0.0, -1]

    def relay(rec):
        # Stage updates within a ScW are thinned to 5 per second; a finished ScW (it draws a
        # progressive frame) and the end always go through at once.
        now, n_done = time.time(), rec.get("n_done") or 0
        if set_progress and (now - last[0] > 0.2 or n_done != last[1] or rec.get("status") not in ("submitted", "progress")):
            last[0], last[1] = now, n_done
            set_progress(slim_record(rec))

    try:
        runner.run(q, progress=relay)
    except Cancelled:
        return (*[no_update] * len(PRODUCTS), slim_record(runner.jobs.read(jid)) or {"status": "cancelled"})
    except QueryError as exc:
        rec = slim_record(runner.jobs.read(jid)) or {}
        rec.update(status="failed", error=exc.to_dict(), product_type=q.product_type)
        return (*[no_update] * len(PRODUCTS), rec)
    except Exception as exc:  # shown to the user without a traceback; logged by the runner
        rec = slim_record(runner.jobs.read(jid)) or {}
        rec.update(status="failed", product_type=q.product_type, message=rec.get("message") or type(exc).__name__)
        return (*[no_update] * len(PRODUCTS), rec)
    return (*_refs(q.product_type, jid), slim_record(runner.jobs.read(jid)))


@callback(Output(ids.JOB_STATUS, "children", allow_duplicate=True), Input(ids.CANCEL, "n_clicks"),
          State(ids.JOB_REQUEST, "data"), prevent_initial_call=True)
def cancel(n_clicks, request):
    from server.jobs import get_runner

    if not n_clicks or not request:
        return no_update
    get_runner().cancel(request["job_id"])
    return "Cancelling after the current science window…"


@callback(Output(ids.JOB_STATUS, "children"), Output(ids.JOB_TABLE, "children"), Output(ids.JOB_BAR, "style"),
          Output(ids.JOB_PANEL, "className"),
          Input(ids.JOB_RECORD, "data"), Input("job-done", "data"))
def show_progress(record, done):
    from dash import ctx

    rec = done if ctx.triggered_id == "job-done" else record
    if rec is None:
        rec = done or record
    if not rec:
        return "", "", {"width": "0%"}, "job-panel idle"
    n, tot = rec.get("n_done") or 0, rec.get("n_total") or 0
    pct = 100.0 if rec.get("status") == "done" else (100.0 * n / tot if tot else 0.0)
    return (job_status_text(rec), progress_table(rec), {"width": f"{pct:.0f}%"},
            f"job-panel st-{rec.get('status', 'idle')}")


# Elapsed time ticks in the browser (no server round trip).
clientside_callback(
    """function(n, rec, done) {
        var r = rec || done;
        if (done && rec && (done.updated_at || 0) >= (rec.updated_at || 0)) { r = done; }
        if (!r || !r.started_at) { return ""; }
        var end = r.finished_at || (Date.now() / 1000);
        return "elapsed " + Math.max(0, Math.round(end - r.started_at)) + " s";
    }""",
    Output(ids.ELAPSED, "children"), Input(ids.TICK, "n_intervals"), Input(ids.JOB_RECORD, "data"),
    Input("job-done", "data"))
