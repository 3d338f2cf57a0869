"""Shape check of page-callback requests (``POST /_dash-update-component``) before Dash.

Dash indexes the request body directly (``body["output"]``, the callback map, one value per
declared input), so a malformed body, an unknown output or a wrong number of inputs ends
as a 500 with a traceback in the log. Here they answer 400 JSON naming what is wrong; the
callbacks themselves are untouched.
"""

from __future__ import annotations

from flask import request

from .common import error_body, json_response

__all__ = ["install", "check_callback_body"]

CALLBACK_PATH = "/_dash-update-component"


def _deps_ok(items) -> bool:
    """A list of ``{"id", "property"}`` (or, for pattern-matching, lists of them)."""
    if not isinstance(items, list):
        return False
    for it in items:
        group = it if isinstance(it, list) else [it]
        for d in group:
            if not isinstance(d, dict) or "id" not in d or not isinstance(d.get("property"), str):
                return False
            if not isinstance(d["id"], (str, dict)):
                return False
    return True


def check_callback_body(body, callback_map: dict) -> str | None:
    """What is wrong with a callback request body, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    output = body.get("output")
    if not isinstance(output, str):
        return "'output' must be a string"
    if callback_map and output not in callback_map:
        return "no callback has this output"
    outs = body.get("outputs")
    if not isinstance(outs, (dict, list)):
        return "'outputs' must be an object or a list"
    # Dash names a multi-output callback "..a.x...b.y.." and answers it with one value per
    # output; a single output is one {id, property}. A body of the other shape makes Dash's
    # own return validation raise (500), so it is refused here.
    if output.startswith(".."):
        if not isinstance(outs, list) or len(outs) != len(output.strip(".").split("...")) or not _deps_ok(outs):
            return "'outputs' must list the callback's outputs as {id, property}"
    elif not isinstance(outs, dict) or not _deps_ok([outs]):
        return "'outputs' must be the callback's output as {id, property}"
    inputs, state = body.get("inputs", []), body.get("state", [])
    if not _deps_ok(inputs) or not _deps_ok(state):
        return "'inputs' and 'state' must be lists of {id, property}"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "'changedPropIds' must be a list of strings"
    spec = callback_map.get(output)
    if spec is not None:
        if len(inputs) != len(spec.get("inputs", [])) or len(state) != len(spec.get("state", [])):
            return "the number of inputs or states does not match the callback"
    return None


def install(flask_server, dash_app) -> None:
    """Refuse malformed callback requests to ``dash_app`` with 400."""

    @flask_server.before_request
    def _check_callback_request():
        if request.path != CALLBACK_PATH or request.method != "POST":
            return None
        body = request.get_json(silent=True)  # cached: Dash reads the same parsed body
        problem = check_callback_body(body, dash_app.callback_map) if body is not None else \
            "the body is not valid JSON"
        if problem:
            return json_response(error_body(400, f"malformed callback request: {problem}", "body"), 400)
        return None
