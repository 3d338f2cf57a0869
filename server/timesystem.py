"""ODA's INTEGRAL time-system service, under the dispatcher's URL as scripts call it.

* ``GET /gw/timesystem/api/v1.0/scwlist/<cons|nrt|any>/<T1>/<T2>?ra=&dec=&radius=&min_good_isgri=``
  (also ``min_good_jemx1`` / ``min_good_jemx2``, ``return_columns=SWID,RA_SCX,DEC_SCX``,
  ``return_index_version=yes``): a JSON list of bare 12-digit pointing ScW ids in time order
  (``"155500040010"``), a dict of columns when asked, ``{"scwlist", "index_version"}`` with
  the index version (our pointing-history version);
* ``GET /gw/timesystem/api/v1.0/converttime/<IJD|UTC|MJD|REVNUM|SCWID|ANY>/<time>/<format|ANY>``:
  the converted time as text, or a JSON dict of every format for ``ANY``.

Bad input answers HTTP 400 JSON naming the field. One archive serves all readiness levels
(our simulated archive is consolidated). ``min_good_isgri`` cuts on ISGRI's good time,
``min_good_jemx1/2`` on JEM-X's (the same for both units in the simulated archive).
"""

from __future__ import annotations

from flask import Response, request

from core.archive import timesystem as ts
from core.errors import QueryError

from .common import ApiError, api_blueprint, json_response

__all__ = ["bp", "register"]

bp = api_blueprint("oda_timesystem", __name__)
_PREFIX = "/gw/timesystem/api/v1.0"


def _float_arg(name: str):
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise ApiError(400, f"{raw[:30]!r} is not a number", name, "a number") from None


def _archive():
    from core.archive.store import get_archive

    a = get_archive()
    return a.history, a.ids


@bp.route(f"{_PREFIX}/scwlist/<readiness>/<path:t1>/<path:t2>", methods=["GET"])
def scwlist(readiness: str, t1: str, t2: str):
    if readiness.lower() not in ts.READINESS:
        raise ApiError(400, f"unknown readiness {readiness[:20]!r}", "readiness", ", ".join(ts.READINESS))
    jemx = [g for g in (_float_arg(k) for k in ("min_good_jemx1", "min_good_jemx2")) if g is not None]
    history, ids = _archive()
    try:
        out = ts.scw_list(history, ids, t1, t2, ra=_float_arg("ra"), dec=_float_arg("dec"), radius=_float_arg("radius"),
                          min_good=_float_arg("min_good_isgri"), min_good_jemx=max(jemx) if jemx else None,
                          columns=request.args.get("return_columns"))
    except QueryError as exc:
        raise ApiError.from_query_error(exc) from None
    if request.args.get("return_index_version", "no").lower() == "yes":
        from core.archive.pointings import HISTORY_VERSION

        return json_response({"scwlist": out, "index_version": HISTORY_VERSION})
    return json_response(out)


@bp.route(f"{_PREFIX}/converttime/<informat>/<path:value>/<outformat>", methods=["GET"])
def converttime(informat: str, value: str, outformat: str):
    history, ids = _archive()
    try:
        out = ts.convert_time(history, ids, informat, value, outformat)
    except QueryError as exc:
        raise ApiError.from_query_error(exc) from None
    if isinstance(out, dict):
        return json_response(out)
    return Response(out, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.route(f"{_PREFIX}/<path:rest>", methods=["GET", "POST"])
def unknown(rest: str):
    raise ApiError(404, f"no such time-system resource {rest[:60]!r}", None, "scwlist/<readiness>/<T1>/<T2>, "
                   "converttime/<informat>/<time>/<outformat>")


def register(flask_server) -> None:
    """Attach the time-system routes (once)."""
    if "oda_timesystem" not in flask_server.blueprints:
        flask_server.register_blueprint(bp)
