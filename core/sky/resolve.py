"""Source-name resolution: offline from the sky model, CDS Sesame only as an opt-in fallback."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..errors import NotFoundError
from .catalog import normalise_name, sky_model

__all__ = ["Resolved", "resolve_name"]


@dataclass(frozen=True)
class Resolved:
    name: str
    ra: float
    dec: float
    origin: str  # "catalogue" or "sesame"


def _loose(key: str) -> str:
    return re.sub(r"[-+.]", "", key)


def resolve_name(name: str, *, allow_online: bool | None = None, field: str = "src_name") -> Resolved:
    """Resolve ``name`` (case and spacing insensitive, with common aliases).

    The online CDS Sesame service is tried only when ``allow_online`` (default: the
    ``ODA_SESAME`` setting) is true; any network failure becomes a polite
    :class:`~core.errors.NotFoundError` naming ``field``.
    """
    model = sky_model()
    src = model.get(name)
    if src is None:
        # Second chance ignoring '-', '+' and '.', accepted only when unambiguous.
        loose = _loose(normalise_name(name))
        hits = {s.name: s for s in model.sources
                for k in (s.name, *s.aliases) if _loose(normalise_name(k)) == loose}
        if len(hits) == 1:
            src = next(iter(hits.values()))
    if src is not None:
        return Resolved(src.name, src.ra, src.dec, "catalogue")
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
    close = difflib.get_close_matches(normalise_name(name), list(keys), n=3, cutoff=0.75)
    hint = f"; did you mean {', '.join(sorted({keys[c] for c in close}))}?" if close else ""
    raise NotFoundError(field, f"unknown source {str(name).strip()!r} in the offline catalogue{online_note}{hint}",
                        "a catalogue name or alias, or give RA and DEC in degrees")
