"""Science-window selection: cone × time × ``max_pointings``, or an explicit ``scw_list``.

The rule (deterministic, stated to users):

1. keep pointing ScWs whose viewing axis lies within ``radius`` degrees of (RA, DEC),
   whose interval overlaps [T1, T2], and with at least ``min_good_time`` seconds of good
   time of the query's instrument (ISGRI: GTI × live fraction; JEM-X: its GTI × its own
   live fraction; :meth:`core.instruments.base.Instrument.good_time_s`);
2. if more than ``max_pointings`` remain, keep ``max_pointings`` of them evenly spread in
   time: the i-th kept ScW is match number ⌊(i + ½)·n / max_pointings⌋ in time order,
   so a subset is representative of the whole period rather than of its start.

With ``scw_list`` the listed ScWs are used as given (each must exist in the archive's
history; T1/T2 and the cone are ignored).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NotFoundError, QueryError
from ..timeutil import ijd_to_isot
from .pointings import scw_ids

__all__ = ["Selection", "select_scws", "isgri_good_time", "angular_distance", "find_rows", "select_rows"]


def angular_distance(ra1, dec1, ra2, dec2):
    """Great-circle distance in degrees (vectorised; haversine for small angles)."""
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    a = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(a, 0, 1))))


@dataclass(frozen=True)
class Selection:
    """Selected rows of the pointing history with the target's off-axis angle."""

    rows: np.ndarray          # structured, HISTORY_DTYPE
    ids: np.ndarray           # str ids RRRRPPPPSSSF.001
    offaxis: np.ndarray       # deg from the target (NaN without target)
    n_matched: int            # before the max_pointings cut

    def __len__(self) -> int:
        return len(self.rows)

    def table(self):
        """As an astropy Table (id, pointing, start/stop, exposure, off-axis)."""
        from astropy.table import Table

        r = self.rows
        return Table({
            "scw_id": self.ids, "ra_scx": r["ra_scx"], "dec_scx": r["dec_scx"], "posangle": r["posangle"],
            "tstart_ijd": r["tstart"], "tstop_ijd": r["tstop"], "start_utc": [ijd_to_isot(t)[:19] for t in r["tstart"]],
            "good_time_s": np.round(r["ontime"] * r["deadc"], 1), "offaxis_deg": np.round(self.offaxis, 3),
        })


def _positions(all_ids: np.ndarray, wanted: list[str]) -> tuple[np.ndarray, list[str]]:
    """Sorted row numbers of ``wanted`` ids in ``all_ids``, and the ids not found.

    The history is in time order, which is id order: a binary search instead of a
    248 000-entry dictionary per request (60 ms → 0.1 ms).
    """
    w = np.asarray(wanted, dtype=all_ids.dtype)
    if len(all_ids) > 1 and not bool(np.all(all_ids[:-1] <= all_ids[1:])):  # pragma: no cover - mirror indexes
        index = {s: i for i, s in enumerate(all_ids)}
        found = [index[s] for s in wanted if s in index]
        return np.array(sorted(found), dtype=int), [s for s in wanted if s not in index]
    pos = np.clip(np.searchsorted(all_ids, w), 0, max(len(all_ids) - 1, 0))
    ok = all_ids[pos] == w if len(all_ids) else np.zeros(len(w), bool)
    return np.sort(pos[ok]), [s for s, k in zip(wanted, ok) if not k]


def find_rows(all_ids: np.ndarray, wanted) -> np.ndarray:
    """Sorted row numbers of the ``wanted`` ids (``RRRRPPPPSSSF.001``) present in ``all_ids``."""
    return _positions(all_ids, list(wanted))[0]


def isgri_good_time(rows) -> np.ndarray:
    """Good ISGRI time [s] of pointing-history rows: GTI × live fraction."""
    return np.asarray(rows["ontime"], float) * np.asarray(rows["deadc"], float)


def select_scws(query, history: np.ndarray, ids: np.ndarray | None = None, *, good_time=None) -> Selection:
    """Apply the selection rule of this module to a validated :class:`~core.query.Query`.

    ``good_time(rows) -> seconds`` is the instrument's good time (default ISGRI's).
    """
    good_time = good_time or isgri_good_time
    all_ids = scw_ids(history) if ids is None else ids
    has_target = np.isfinite(query.RA) and np.isfinite(query.DEC)
    if query.scw_list:
        idx, missing = _positions(all_ids, list(query.scw_list))
        if missing:
            raise NotFoundError("scw_list", f"{len(missing)} ScW(s) not in the archive, e.g. {missing[0]}",
                                "pointing ScWs of the pointing history (type 0, version .001)")
        rows = history[idx]
        off = angular_distance(rows["ra_scx"], rows["dec_scx"], query.RA, query.DEC) if has_target \
            else np.full(len(rows), np.nan)
        return Selection(rows, all_ids[idx], off, len(idx))

    t1, t2 = query.ijd1, query.ijd2
    time_ok = (history["tstart"] < t2) & (history["tstop"] > t1)
    cand = np.flatnonzero(time_ok)
    off = angular_distance(history["ra_scx"][cand], history["dec_scx"][cand], query.RA, query.DEC)
    good = good_time(history[cand]) >= query.min_good_time
    keep = (off <= query.radius) & good
    idx, off = cand[keep], off[keep]
    if idx.size == 0:
        what = (f"RA={query.RA:.4f} DEC={query.DEC:.4f} radius={query.radius:g} deg, "
                f"{ijd_to_isot(t1)[:19]} .. {ijd_to_isot(t2)[:19]}, good time ≥ {query.min_good_time:g} s")
        n_time = int(cand.size)
        hint = (f"{n_time} ScWs in that time range point elsewhere; widen radius or the time range"
                if n_time else "no ScW at all in that time range (perigee passage or outside the mission)")
        raise NotFoundError("radius" if n_time else "T1", f"no ScW matches {what}: {hint}",
                            f"radius ≤ {30:g} deg, times within the mission")
    n = idx.size
    if n > query.max_pointings:
        pick = ((np.arange(query.max_pointings) + 0.5) * n / query.max_pointings).astype(int)
        idx, off = idx[pick], off[pick]
    return Selection(history[idx], all_ids[idx], off, n)


def check_limits(query, max_scw: int) -> None:
    """Refuse requests above the service's ScW limit with the field to change."""
    if query.max_pointings > max_scw and not query.scw_list:
        raise QueryError("max_pointings", f"{query.max_pointings} exceeds this service's limit", f"1 .. {max_scw}")
    if len(query.scw_list) > max_scw:
        raise QueryError("scw_list", f"{len(query.scw_list)} ScWs exceed this service's limit", f"at most {max_scw}")
