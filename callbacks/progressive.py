"""Progressive mosaic: while an image job runs, the map and its source list are redrawn from
the ScWs finished so far (:func:`core.imaging.progressive.partial_mosaic`). The
``partial-image`` store holds only the job id and the finished ScW ids."""

from __future__ import annotations

from dash import Input, Output, State, callback, no_update

from layouts import figures, ids

__all__ = ["progressive_frame", "finished_ids"]

_FINISHED = ("restored from cache", "calculated")


def finished_ids(record: dict | None) -> list[str]:
    return [r["scw_id"] for r in (record or {}).get("scws") or [] if r.get("status") in _FINISHED]


@callback(Output(ids.IMG_GRAPH, "figure", allow_duplicate=True), Output(ids.holder("image"), "className", allow_duplicate=True),
          Output(ids.CAT_TABLE, "data", allow_duplicate=True), Output(ids.PARTIAL, "data"),
          Output(ids.PARTIAL_NOTE, "children"),
          Input(ids.JOB_RECORD, "data"), State(ids.JOB_REQUEST, "data"), State(ids.PARTIAL, "data"),
          prevent_initial_call=True)
def progressive_frame(record, request, partial):
    """A new frame when the running image job has finished one more ScW."""
    from core.errors import QueryError
    from core.imaging.progressive import partial_mosaic
    from core.query import Query

    from types import SimpleNamespace

    from core.products.run import image_summary

    from .products import catalog_table_rows

    none = (no_update,) * 5
    if not record or not request or (request.get("params") or {}).get("product_type", "image") != "image":
        return none
    if record.get("job_id") != request.get("job_id"):
        return none
    if record.get("status") not in ("submitted", "progress"):
        # Finished. A done job's note stays with its last frame until the product replaces it
        # (callbacks.products.render_image), so that no frame is ever on screen without its note.
        return no_update, no_update, no_update, None, (no_update if record.get("status") == "done" else "")
    done = finished_ids(record)
    if not done or (partial and partial.get("job_id") == record["job_id"] and partial.get("scws") == done):
        return none
    try:
        frame = partial_mosaic(Query.from_params(request["params"]), done)
    except (QueryError, OSError, ValueError):
        return none
    if frame is None:
        return none
    q = Query.from_params(request["params"])
    tot = record.get("n_total") or len(record.get("scws") or [])
    title = f"{q.src_name or 'field'} · {q.E1_keV:g}–{q.E2_keV:g} keV · {frame.n_scw} of {tot} ScW (in progress)"
    rows = image_summary(SimpleNamespace(catalog=frame.catalog, query=q))["catalog"]
    fig = figures.image_figure(frame.images.significance, frame.images.wcs, rows, title=title)
    note = f"Mosaic of the {frame.n_scw} science window{'s' if frame.n_scw != 1 else ''} finished so far of {tot}; it refines as each one finishes."
    return (fig, "holder has-product", catalog_table_rows(rows), {"job_id": record["job_id"], "scws": done}, note)

