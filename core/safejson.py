"""JSON from untrusted text with bounded depth and size.

``json.loads`` of ``[`` × 100 000 raises ``RecursionError`` (and a structure a few hundred
levels deep parses, then breaks every recursive walk after it). :func:`loads` turns both into
a :class:`~core.errors.QueryError` naming the field and the limit, and refuses texts with
more values than :data:`MAX_ITEMS` before parsing them (a 50 MB list of numbers would cost
gigabytes of Python objects).
"""

from __future__ import annotations

import json

from .errors import QueryError

__all__ = ["loads", "check", "depth_of", "JsonLimitError", "MAX_ITEMS", "DEFAULT_DEPTH"]

#: Most values (counted by separators) one JSON text may hold.
MAX_ITEMS = 2_000_000
DEFAULT_DEPTH = 100


class JsonLimitError(QueryError):
    """Valid JSON refused for its size or depth (not a syntax error)."""


def depth_of(obj, limit: int | None = None) -> int:
    """Nesting depth of a parsed JSON value (iterative; stops early past ``limit``)."""
    deepest = 0
    stack = [(obj, 1)]
    while stack:
        value, d = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        deepest = max(deepest, d)
        if limit is not None and deepest > limit:
            return deepest
        stack.extend((c, d + 1) for c in children)
    return deepest


def check(obj, *, field: str = "body", max_depth: int | None = None):
    """``obj`` unchanged, or QueryError if it is nested deeper than ``max_depth``."""
    limit = _depth_limit(max_depth)
    if depth_of(obj, limit) > limit:
        raise JsonLimitError(field, f"JSON nested deeper than {limit} levels", f"at most {limit} levels of nesting")
    return obj


def loads(text, *, field: str = "body", max_depth: int | None = None):
    """Parse ``text`` (str or bytes) like ``json.loads``, within the depth and size bounds.

    Raises
    ------
    QueryError
        For invalid JSON, too deep a nesting or too many values, naming ``field``.
    """
    limit = _depth_limit(max_depth)
    if isinstance(text, (bytes, bytearray)):
        n_items = text.count(b",") + text.count(b":")
    else:
        n_items = text.count(",") + text.count(":")
    if n_items > MAX_ITEMS:
        raise JsonLimitError(field, f"JSON with about {n_items} values", f"at most {MAX_ITEMS} values")
    try:
        obj = json.loads(text)
    except RecursionError:
        raise JsonLimitError(field, f"JSON nested deeper than {limit} levels",
                         f"at most {limit} levels of nesting") from None
    except (ValueError, TypeError) as exc:
        raise QueryError(field, f"is not valid JSON ({str(exc)[:80]})", "JSON text") from None
    return check(obj, field=field, max_depth=limit)


def _depth_limit(max_depth: int | None) -> int:
    if max_depth is not None:
        return int(max_depth)
    from .config import get_limits

    return get_limits().max_json_depth
