"""Science-window identifiers ``RRRRPPPPSSSF.VVV``.

RRRR revolution, PPPP pointing within it, SSS sub-pointing (from 001), F type (0 pointing,
1 slew, 2 engineering), VVV version (``.001`` consolidated, ``.000`` near real time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import QueryError

__all__ = ["ScwId", "parse_scw_id", "parse_scw_list"]

_SCW_RE = re.compile(r"^(\d{4})(\d{4})(\d{3})([012])(?:\.(\d{3}))?$")


@dataclass(frozen=True, order=True)
class ScwId:
    revolution: int
    pointing: int
    subpointing: int = 1
    type: int = 0
    version: int = 1

    @property
    def base(self) -> str:
        """The 12-digit id without version, e.g. ``155500040010``."""
        return f"{self.revolution:04d}{self.pointing:04d}{self.subpointing:03d}{self.type:d}"

    def __str__(self) -> str:
        return f"{self.base}.{self.version:03d}"

    @property
    def rev_dir(self) -> str:
        return f"{self.revolution:04d}"


def parse_scw_id(text: str, field: str = "scw_list") -> ScwId:
    """Parse one id; the version defaults to ``.001`` when absent."""
    s = str(text).strip()
    m = _SCW_RE.match(s)
    if not m:
        raise QueryError(field, f"{s!r} is not a ScW id", "RRRRPPPPSSSF or RRRRPPPPSSSF.VVV, e.g. 155500040010.001")
    rev, pnt, sub, typ, ver = m.groups()
    if int(sub) == 0:
        raise QueryError(field, f"{s!r}: sub-pointing 000 does not exist", "SSS from 001")
    return ScwId(int(rev), int(pnt), int(sub), int(typ), int(ver) if ver is not None else 1)


def parse_scw_list(value, field: str = "scw_list") -> list[ScwId]:
    """Parse a list given as a Python list or a comma/space/newline separated string."""
    if value is None:
        return []
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # a lone ScW id sent as a JSON number
    if isinstance(value, str):
        items = [x for x in re.split(r"[\s,;]+", value.strip()) if x]
    elif isinstance(value, (list, tuple, set)):
        items = [str(x) for x in value]
    else:
        raise QueryError(field, f"cannot read a ScW list from a {type(value).__name__}",
                         "ScW ids as a list or a comma-separated string")
    out = [parse_scw_id(x, field) for x in items]
    if not out:
        raise QueryError(field, "is empty", "one or more ScW ids")
    return out
