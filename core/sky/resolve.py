"""Source-name resolution: offline from the sky model and the extra names of
``data/names.ecsv`` (objects that are not simulated sources: Sgr A*, M87, …), CDS Sesame
only as an opt-in fallback."""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFoundError
from .catalog import normalise_name, sky_model

__all__ = ["Resolved", "resolve_name", "extra_names", "NAMES_PATH"]

#: Positions of names the sky model does not simulate (each row cites its source).
NAMES_PATH = Path(__file__).with_name("data") / "names.ecsv"


@dataclass(frozen=True)
class Resolved:
    name: str
    ra: float
    dec: float
    origin: str  # "catalogue" or "sesame"


def _loose(key: str) -> str:
    return re.sub(r"[-+.*]", "", key)


@functools.lru_cache(maxsize=1)
def extra_names() -> dict[str, tuple[str, float, float]]:
    """``{normalised name or alias: (name, ra, dec)}`` of :data:`NAMES_PATH`."""
    from astropy.table import Table

    t = Table.read(NAMES_PATH, format="ascii.ecsv", fill_values=[])
    out = {}
    for row in t:
        entry = (str(row["name"]), float(row["ra"]), float(row["dec"]))
        for key in (row["name"], *str(row["aliases"] or "").split("|")):
            if str(key).strip():
                out[normalise_name(key)] = entry
    return out


def _offline(name: str) -> Resolved | None:
    model = sky_model()
    src = model.get(name)
    if src is None:
        # Second chance ignoring '-', '+', '.' and '*', accepted only when unambiguous.
        loose = _loose(normalise_name(name))
        hits = {s.name: s for s in model.sources
                for k in (s.name, *s.aliases) if _loose(normalise_name(k)) == loose}
        if len(hits) == 1:
            src = next(iter(hits.values()))
    if src is not None:
        return Resolved(src.name, src.ra, src.dec, "catalogue")
    extra = extra_names()
    hit = extra.get(normalise_name(name))
    if hit is None:
        loose = {v for k, v in extra.items() if _loose(k) == _loose(normalise_name(name))}
        hit = next(iter(loose)) if len(loose) == 1 else None
    return None if hit is None else Resolved(hit[0], hit[1], hit[2], "catalogue")


def resolve_name(name: str, *, allow_online: bool | None = None, field: str = "src_name") -> Resolved:
    """Resolve ``name`` (case and spacing insensitive, with common aliases).

    The online CDS Sesame service is tried only when ``allow_online`` (default: the
    ``ODA_SESAME`` setting) is true; any network failure becomes a polite
    :class:`~core.errors.NotFoundError` naming ``field``.
    """
    hit = _offline(name)
    if hit is not None:
        return hit
    model = sky_model()
    if allow_online is None:
        from ..config import get_settings

        allow_online = get_settings().sesame
    online_note = ""
    if allow_online:
        try:
            from astropy.coordinates import SkyCoord
            from astropy.utils.data import conf

            with conf.set_temp("remote_timeout", 5):
                c = SkyCoord.from_name(name)
            return Resolved(str(name).strip(), float(c.icrs.ra.deg), float(c.icrs.dec.deg), "sesame")
        except Exception as exc:  # network errors, unknown names: never a traceback to users
            online_note = f"; the online CDS Sesame look-up failed too ({type(exc).__name__})"
    keys = {normalise_name(k): s.name for s in model.sources for k in (s.name, *s.aliases)}
    keys.update({k: v[0] for k, v in extra_names().items()})
    close = difflib.get_close_matches(normalise_name(name), list(keys), n=3, cutoff=0.75)
    hint = f"; did you mean {', '.join(sorted({keys[c] for c in close}))}?" if close else ""
    raise NotFoundError(field, f"unknown source {str(name).strip()!r} in the offline catalogue{online_note}{hint}",
                        "a catalogue name or alias, or give RA and DEC in degrees")
