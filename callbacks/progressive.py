"""Progressive mosaic: while an image job runs, the map and its source list are redrawn from
the ScWs finished so far (:func:`core.imaging.progressive.partial_mosaic`). The
``partial-image`` store holds only the job id and the finished ScW ids.

The job record changes at every poll (its ``updated_at``, per-ScW stages), and Dash drops
the answer of a callback that is re-triggered while it runs: a frame triggered by the record
itself would be discarded whenever drawing it takes longer than one poll (a loaded server).
So the browser first reduces the record to what a frame depends on (``finished-scws``:
the job, whether it runs, the finished ScW ids), which changes only when a ScW finishes.
"""

from __future__ import annotations

from dash import Input, Output, State, callback, clientside_callback, no_update

from layouts import figures, ids

__all__ = ["progressive_frame"]

# In the browser (no server round trip per poll); no_update when nothing a frame shows changed.
clientside_callback(
    """function(rec, prev) {
        if (!rec) { return window.dash_clientside.no_update; }
        var fin = ["restored from cache", "calculated"];
        var scws = (rec.scws || []).filter(function(r) { return fin.indexOf(r.status) >= 0; })
                                    .map(function(r) { return r.scw_id; });
        var running = rec.status === "submitted" || rec.status === "progress";
        var next = {job_id: rec.job_id, state: running ? "running" : rec.status, scws: scws,
                    n_total: rec.n_total || (rec.scws || []).length};
        if (prev && JSON.stringify(prev) === JSON.stringify(next)) { return window.dash_clientside.no_update; }
        return next;
    }""",
    Output(ids.FINISHED, "data"), Input(ids.JOB_RECORD, "data"), State(ids.FINISHED, "data"))


@callback(Output(ids.IMG_GRAPH, "figure", allow_duplicate=True), Output(ids.holder("image"), "className", allow_duplicate=True),
          Output(ids.CAT_TABLE, "data", allow_duplicate=True), Output(ids.PARTIAL, "data"),
          Output(ids.PARTIAL_NOTE, "children"),
          Input(ids.FINISHED, "data"), State(ids.JOB_REQUEST, "data"), State(ids.PARTIAL, "data"),
          prevent_initial_call=True)
def progressive_frame(finished, request, partial):
    """A new frame when the running image job has finished one more ScW.

    ``finished`` is the ``finished-scws`` store: {job_id, state ("running" or the final
    status), scws (finished ids in the job's order), n_total}.
    """
    from core.errors import QueryError
    from core.imaging.progressive import partial_mosaic
    from core.query import Query

    from types import SimpleNamespace

    from core.products.run import image_summary

    from .products import catalog_table_rows

    none = (no_update,) * 5
    if not finished or not request or (request.get("params") or {}).get("product_type", "image") != "image":
        return none
    if finished.get("job_id") != request.get("job_id"):
        return none
    if finished.get("state") != "running":
        # Finished. A done job's note stays with its last frame until the product replaces it
        # (callbacks.products.render_image), so that no frame is ever on screen without its note.
        return no_update, no_update, no_update, None, (no_update if finished.get("state") == "done" else "")
    done = list(finished.get("scws") or [])
    if not done or (partial and partial.get("job_id") == finished["job_id"] and partial.get("scws") == done):
        return none
    try:
        q = Query.from_params(request["params"])
        frame = partial_mosaic(q, done)
    except (QueryError, OSError, ValueError):
        return none
    if frame is None:
        return none
    tot = finished.get("n_total") or len(done)
    title = f"{q.src_name or 'field'} · {q.E1_keV:g}–{q.E2_keV:g} keV · {frame.n_scw} of {tot} ScW (in progress)"
    rows = image_summary(SimpleNamespace(catalog=frame.catalog, query=q))["catalog"]
    fig = figures.image_figure(frame.images.significance, frame.images.wcs, rows, title=title, hover_radec=False)
    note = f"Mosaic of the {frame.n_scw} science window{'s' if frame.n_scw != 1 else ''} finished so far of {tot}; it refines as each one finishes."
    return (fig, "holder has-product", catalog_table_rows(rows), {"job_id": finished["job_id"], "scws": done}, note)

