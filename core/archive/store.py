"""The ScW archive on disk: lazy, deterministic, bounded, safe across processes.

``simulated`` mode (default): a ScW is simulated the first time it is needed, written to a
temporary directory and renamed into place (atomic), under a per-ScW file lock so two
processes asking for the same ScW simulate it once. When the archive exceeds its size
bound the least recently used ScWs are evicted; they are regenerated bit for bit when
needed again (the simulation is seeded by the ScW id and model version).

``mirror`` mode: the directory is a read-only copy of (real) OSA ScWs in the same layout;
its index is built from the ``swg.fits`` headers and nothing is ever simulated or deleted.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from ..config import Settings, ensure_private_dir, get_settings
from ..errors import NotFoundError
from .osa_files import EVENTS_FILE, SWG_FILE, ScwData, read_pointing, read_scw, write_scw
from .pointings import HISTORY_DTYPE, load_history, scw_ids
from .scwid import parse_scw_id
from ..forksafe import cached_property

__all__ = ["Archive", "get_archive"]

_LOCK_TIMEOUT_S = 600.0


class Archive:
    """Access to ScWs by id, whatever their origin.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to :func:`core.config.get_settings`.
    """

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.root = self.settings.archive_dir
        self.simulated = self.settings.simulated
        #: What the products of this archive depend on (part of their ids).
        self.tag = "simulated" if self.simulated else f"mirror:{self.root}"
        if self.simulated:
            ensure_private_dir(self.root)
            ensure_private_dir(self.root / ".locks")
            self._check_model_version()

    def data_version(self, scw_id: str, filename: str = EVENTS_FILE) -> str:
        """Version of one ScW file's content, part of the cache keys of what is computed from it:
        the model version when simulated, the file's size and time in a mirror."""
        if self.simulated:
            return self.model_version()
        st = (self.path(scw_id) / filename).stat()
        return f"mirror-{st.st_size}-{int(st.st_mtime)}"

    def model_version(self) -> str:
        """What simulated ScWs depend on: simulator, pointing history and sky model."""
        from ..sky.catalog import sky_model
        from .pointings import HISTORY_VERSION
        from .simulate import SIM_VERSION

        return f"sim{SIM_VERSION}-history{HISTORY_VERSION}-sky{sky_model().version}"

    def _check_model_version(self) -> None:
        """ScWs simulated by another model version are stale: drop them (they regenerate)."""
        marker = self.root / "MODEL_VERSION"
        current = self.model_version()
        try:
            if marker.read_text().strip() == current:
                return
        except OSError:
            pass
        with FileLock(str(self.root / ".locks" / "MODEL_VERSION.lock"), timeout=_LOCK_TIMEOUT_S):
            try:
                if marker.read_text().strip() == current:
                    return
            except OSError:
                pass
            if (self.root / "scw").exists():
                stale = self.root / f".stale-{os.getpid()}-{time.monotonic_ns()}"
                os.rename(self.root / "scw", stale)
                shutil.rmtree(stale, ignore_errors=True)
            marker.write_text(current + "\n")

    # -- index --------------------------------------------------------------------------------
    @cached_property
    def history(self) -> np.ndarray:
        """Pointing history (simulated mode) or index of the mirror's ScWs."""
        if self.simulated:
            return load_history(self.settings.data_dir)
        return self._mirror[0]

    @cached_property
    def _mirror(self) -> tuple[np.ndarray, np.ndarray]:
        return _mirror_index(self.root)

    @cached_property
    def ids(self) -> np.ndarray:
        return scw_ids(self.history) if self.simulated else self._mirror[1]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.ids)}

    def row(self, scw_id: str):
        sid = str(parse_scw_id(scw_id))
        try:
            return self.history[self._index[sid]]
        except KeyError:
            raise NotFoundError("scw_list", f"ScW {sid} is not in the archive", "ids of the pointing history") from None

    def select(self, query, good_time=None):
        """ScWs for a validated :class:`~core.query.Query` (see :mod:`core.archive.selection`).

        ``good_time(rows) -> seconds``: the good time ``min_good_time`` applies to; default
        that of the query's instrument (ISGRI's GTI × live time, JEM-X's own).
        """
        from .selection import select_scws

        if good_time is None:
            from ..instruments.base import get_instrument

            good_time = get_instrument(query.instrument).good_time_s
        return select_scws(query, self.history, self.ids, good_time=good_time)

    # -- files --------------------------------------------------------------------------------
    def path(self, scw_id: str) -> Path:
        sid = parse_scw_id(scw_id)
        return self.root / "scw" / sid.rev_dir / str(sid)

    def is_present(self, scw_id: str) -> bool:
        return (self.path(scw_id) / EVENTS_FILE).exists()

    def ensure(self, scw_id: str) -> tuple[Path, bool]:
        """Path of the ScW directory, simulating it if needed. Returns (path, simulated_now)."""
        sid = str(parse_scw_id(scw_id))
        final = self.path(sid)
        if (final / EVENTS_FILE).exists():
            return final, False
        if not self.simulated:
            raise NotFoundError("scw_list", f"ScW {sid} is not in the archive mirror", f"ScWs under {self.root.name}/scw")
        row = self.row(sid)
        lock = FileLock(str(self.root / ".locks" / f"{sid}.lock"), timeout=_LOCK_TIMEOUT_S)
        with lock:
            if (final / EVENTS_FILE).exists():  # another process made it while we waited
                return final, False
            self._simulate_into(final, row, sid)
        self._enforce_bound(keep={final})
        return final, True

    def _simulate_into(self, final: Path, row, sid: str) -> None:
        from ..sky.catalog import sky_model
        from .simulate import SIM_VERSION, simulate_scw

        sim = simulate_scw(row, sid)
        meta = dict(sim.meta, SIMULATE=True, SIMVERS=SIM_VERSION, SKYVERS=sky_model().version)
        parent = ensure_private_dir(final.parent)
        tmp = parent / f".tmp-{sid}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o700)
        try:
            write_scw(tmp, meta, sim.events, sim.gti, sim.pixel_status)
            if final.exists():
                # The folder holds other instruments' files (JEM-X, simulated on their own) or a
                # corrupt leftover of ours: replace our files only, the events file last (its
                # presence marks the ScW complete).
                names = sorted((p.name for p in tmp.iterdir()), key=lambda n: n == EVENTS_FILE)
                for name in names:
                    os.replace(tmp / name, final / name)
                tmp.rmdir()
            else:
                os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def read(self, scw_id: str) -> ScwData:
        """Read a ScW; a corrupt simulated ScW is detected, deleted and simulated again."""
        sid = str(parse_scw_id(scw_id))
        for attempt in range(2):
            path, _ = self.ensure(sid)
            try:
                data = read_scw(path, sid)
                _touch(path)
                return data
            except OSError:
                if not self.simulated or attempt:
                    raise
                with FileLock(str(self.root / ".locks" / f"{sid}.lock"), timeout=_LOCK_TIMEOUT_S):
                    # ours only: the JEM-X files beside them are read (and checked) on their own
                    for name in (EVENTS_FILE, SWG_FILE):
                        (path / name).unlink(missing_ok=True)
        raise AssertionError("unreachable")

    # -- size bound ---------------------------------------------------------------------------
    def usage(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, path) of every ScW on disk."""
        out = []
        scw_root = self.root / "scw"
        if not scw_root.exists():
            return out
        for rev in os.scandir(scw_root):
            if not rev.is_dir():
                continue
            for d in os.scandir(rev.path):
                if d.name.startswith(".") or not d.is_dir():
                    continue
                size = sum(f.stat().st_size for f in os.scandir(d.path) if f.is_file())
                out.append((d.stat().st_mtime, size, Path(d.path)))
        return out

    def size_bytes(self) -> int:
        return sum(s for _, s, _ in self.usage())

    def _enforce_bound(self, keep=frozenset()) -> int:
        """Evict least recently used ScWs above the bound (down to 90% of it)."""
        if not self.simulated:
            return 0
        usage = self.usage()
        total = sum(s for _, s, _ in usage)
        if total <= self.settings.archive_max_bytes:
            return 0
        target = 0.9 * self.settings.archive_max_bytes
        evicted = 0
        for _, size, path in sorted(usage):
            if total <= target:
                break
            if path in keep:
                continue
            lock = FileLock(str(self.root / ".locks" / f"{path.name}.lock"), timeout=0)
            try:
                with lock:
                    shutil.rmtree(path, ignore_errors=True)
            except Timeout:
                continue  # in use by another process
            total -= size
            evicted += 1
        return evicted


def _touch(path: Path) -> None:
    try:
        os.utime(path, None)
    except OSError:
        pass


def _mirror_index(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Build a history-like index from the ``swg.fits`` headers of a mirror."""
    rows, ids = [], []
    for swg in sorted((root / "scw").glob(f"*/*/{SWG_FILE}")):
        try:
            sid = parse_scw_id(swg.parent.name)
            h = read_pointing(swg.parent)
            if "RA_SCX" not in h:
                continue
        except Exception:
            continue  # not a ScW directory
        ontime = float(h.get("ONTIME", (h["TSTOP"] - h["TSTART"]) * 86400.0))
        rows.append((sid.revolution, sid.pointing, h["TSTART"], h["TSTOP"], h["RA_SCX"], h["DEC_SCX"],
                     h["RA_SCZ"], h["DEC_SCZ"], h.get("POSANGLE", 0.0), ontime, h.get("DEADC", 1.0), 0.0, 0.0, -1))
        ids.append(str(sid))
    arr = np.array(rows, dtype=HISTORY_DTYPE)
    order = np.argsort(arr["tstart"], kind="stable")
    return arr[order], (np.array(ids)[order] if ids else np.array([], dtype=str))


@functools.lru_cache(maxsize=4)
def _archive_for(key: tuple) -> Archive:
    return Archive(get_settings())


def get_archive() -> Archive:
    """The archive for the current settings (one per process and configuration)."""
    s = get_settings()
    return _archive_for((str(s.archive_dir), s.archive_mode, str(s.data_dir)))
