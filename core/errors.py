"""Errors that carry the offending field, so every front end can say what is wrong where."""

from __future__ import annotations

__all__ = ["QueryError", "NotFoundError"]


class QueryError(ValueError):
    """Bad user input.

    Parameters
    ----------
    field : str
        Name of the query parameter at fault, spelled as users type it (``T1``, ``radius``...).
    message : str
        What is wrong, in one sentence.
    allowed : str, optional
        The allowed range or values, shown to the user.
    """

    def __init__(self, field: str, message: str, allowed: str | None = None):
        self.field = field
        self.message = message
        self.allowed = allowed
        text = f"{field}: {message}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)

    def to_dict(self) -> dict:
        out = {"field": self.field, "message": self.message}
        if self.allowed:
            out["allowed"] = self.allowed
        return out


class NotFoundError(QueryError):
    """A valid query that matches nothing (no ScW, unknown source name)."""
