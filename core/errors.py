"""Errors that carry the offending field, so every front end can say what is wrong where."""

from __future__ import annotations

__all__ = ["QueryError", "NotFoundError", "public_message"]


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


def public_message(exc: BaseException, limit: int = 200) -> str:
    """One line saying why, fit for users: the service's directories are not shown.

    OSError texts carry absolute paths (``[Errno 2] No such file: '/srv/oda/archive/...'``);
    the configured data, archive and cache directories become ``<data>``, ``<archive>``,
    ``<cache>``, and any other absolute path is cut to its file name.
    """
    import re

    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    try:
        from .config import get_settings

        s = get_settings()
        for label, root in (("<archive>", s.archive_dir), ("<cache>", s.cache_dir), ("<data>", s.data_dir)):
            text = text.replace(str(root), label)
    except Exception:  # settings unreadable: the generic rule below still applies
        pass
    text = re.sub(r"(?<![<>\w])/(?:[^\s'\":/]+/)+([^\s'\":/]+)", r"\1", text)
    return text[:limit]
