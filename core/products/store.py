"""Content-addressed product store: numpy arrays, JSON and files, never pickles.

Each entry is a directory ``<root>/<k[:2]>/<k>/`` written atomically (built in a temporary
directory, then renamed into place) holding ``meta.json`` and optionally ``arrays.npz``
(``allow_pickle=False`` both ways) and named files (FITS, PNG, regions...). ``meta.json``
records the SHA-256 of every other file; a read that finds a mismatch (truncated write,
disk corruption, tampering) deletes the entry and reports a miss, so the caller recomputes.
Directories are private (0700). The store has a size bound enforced by least-recently-used
eviction. Several processes may share a store: the rename is atomic and identical keys
hold identical content, so a lost race only wastes work.

Symbolic links are never followed: an entry directory or file that is a link reads as
corrupt. :meth:`ProductStore.read_verified` gives a file's bytes only after checking them
against ``meta.json`` (what a server sends is what was stored).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np

from .. import forksafe
from ..config import ensure_private_dir, get_settings

__all__ = ["ProductStore", "content_key", "get_store", "KEY_RE"]

#: Keys are lowercase hex digests (or ids made of them): nothing a user types reaches a path.
KEY_RE = re.compile(r"^[0-9a-f]{16,64}$")


def content_key(*parts) -> str:
    """Hash of a canonical JSON of ``parts`` (32 hex characters)."""
    payload = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _open_nofollow(path: Path):
    """A binary file object on ``path``; OSError if it (the last component) is a symlink."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    return os.fdopen(fd, "rb")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with _open_nofollow(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ProductStore:
    """A directory of immutable entries addressed by key."""

    def __init__(self, root: Path | None = None, max_bytes: int | None = None):
        s = get_settings()
        self.root = ensure_private_dir(Path(root) if root is not None else s.cache_dir)
        self.max_bytes = int(max_bytes if max_bytes is not None else s.cache_max_bytes)
        # Scanning the whole store costs ~10 µs per entry: do it only after this process has
        # written 5% of the bound since its last scan (the bound may overshoot by that much).
        self._written_since_scan = 0
        self._count_lock = forksafe.Lock()

    # -- paths --------------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        if not KEY_RE.match(key):
            raise ValueError(f"invalid product key {key!r}")
        return self.root / key[:2] / key

    def has(self, key: str) -> bool:
        return (self.path(key) / "meta.json").exists()

    # -- write --------------------------------------------------------------------------------
    def put(self, key: str, *, arrays: dict | None = None, meta: dict | None = None,
            files: dict[str, bytes | Path] | None = None) -> Path:
        """Store an entry (a no-op if the key is already present and intact)."""
        final = self.path(key)
        arrays = {k: np.asarray(v) for k, v in (arrays or {}).items()}
        for name, arr in arrays.items():
            if arr.dtype.hasobject:  # would need pickle to store: refused (CVE-prone)
                raise ValueError(f"array {name!r} has Python objects; store numbers, strings or JSON")
        if self.has(key):
            return final
        parent = ensure_private_dir(final.parent)
        tmp = parent / f".tmp-{key}-{os.getpid()}-{time.monotonic_ns()}"
        tmp.mkdir(mode=0o700)
        try:
            digests = {}
            if arrays:
                buf = io.BytesIO()
                np.savez(buf, **arrays)
                (tmp / "arrays.npz").write_bytes(buf.getvalue())
            for name, data in (files or {}).items():
                if "/" in name or name.startswith(".") or name == "meta.json":
                    raise ValueError(f"invalid file name {name!r}")
                if isinstance(data, (bytes, bytearray)):
                    (tmp / name).write_bytes(data)
                else:
                    shutil.copyfile(data, tmp / name)
            for f in tmp.iterdir():
                digests[f.name] = _sha256(f)
            record = {"key": key, "created": time.time(), "sha256": digests, "meta": meta or {}}
            (tmp / "meta.json").write_text(json.dumps(record, sort_keys=True))
            try:
                os.rename(tmp, final)
            except OSError:
                if not self.has(key):  # a half-deleted corrupt entry: replace it
                    shutil.rmtree(final, ignore_errors=True)
                    os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        written = sum(f.stat().st_size for f in final.iterdir() if f.is_file())
        with self._count_lock:
            self._written_since_scan += written
            scan = self._written_since_scan > 0.05 * self.max_bytes
            if scan:
                self._written_since_scan = 0
        if scan:
            self._enforce_bound(keep=final)
        return final

    # -- read ---------------------------------------------------------------------------------
    def _record(self, key: str, verify: bool = True) -> dict | None:
        entry = self.path(key)
        try:
            if entry.is_symlink() or entry.parent.is_symlink():
                raise ValueError("entry is a symbolic link")
            with _open_nofollow(entry / "meta.json") as fh:
                record = json.loads(fh.read())
            if not isinstance(record.get("sha256"), dict):
                raise ValueError("no checksums")
            if verify:
                for name, digest in record["sha256"].items():
                    if _sha256(entry / name) != digest:
                        raise ValueError(f"checksum mismatch in {name}")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            self.discard(key)  # corrupt: the caller recomputes
            return None
        try:
            os.utime(entry, None)  # LRU bookkeeping
        except OSError:
            pass
        return record

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """(arrays, meta) of an intact entry, or None (missing or corrupt)."""
        record = self._record(key)
        if record is None:
            return None
        arrays = {}
        npz = self.path(key) / "arrays.npz"
        if npz.exists():
            try:
                with np.load(npz, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
            except (OSError, ValueError):
                self.discard(key)
                return None
        return arrays, record["meta"]

    def meta(self, key: str, verify: bool = True) -> dict | None:
        record = self._record(key, verify=verify)
        return None if record is None else record["meta"]

    def file(self, key: str, name: str, verify: bool = True) -> Path | None:
        """Path of a stored file of an intact entry, or None."""
        record = self._record(key, verify=verify)
        if record is None or name not in record["sha256"]:
            return None
        return self.path(key) / name

    def digests(self, key: str) -> dict[str, str]:
        """``{file name: SHA-256}`` as recorded when the entry was written ({} if none)."""
        record = self._record(key, verify=False)
        return {} if record is None else dict(record["sha256"])

    def read_verified(self, key: str, name: str) -> tuple[bytes, str] | None:
        """(bytes, sha256) of a stored file, checked against its recorded checksum, or None.

        A mismatch (corruption, a replaced file) or a symbolic link discards the entry,
        so that the product is recomputed.
        """
        record = self._record(key, verify=False)
        if record is None or name not in record["sha256"] or name == "meta.json":
            return None
        try:
            with _open_nofollow(self.path(key) / name) as fh:
                data = fh.read()
        except FileNotFoundError:
            self.discard(key)
            return None
        except OSError:  # ELOOP: a symbolic link planted in the entry
            self.discard(key)
            return None
        digest = hashlib.sha256(data).hexdigest()
        if digest != record["sha256"][name]:
            self.discard(key)
            return None
        return data, digest

    def files(self, key: str) -> list[str]:
        record = self._record(key, verify=False)
        return [] if record is None else sorted(n for n in record["sha256"] if n != "arrays.npz")

    def discard(self, key: str) -> None:
        path = self.path(key)
        if path.is_symlink():
            path.unlink(missing_ok=True)
            return
        shutil.rmtree(path, ignore_errors=True)

    # -- size bound ---------------------------------------------------------------------------
    def _entries(self):
        for sub in os.scandir(self.root):
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for e in os.scandir(sub.path):
                if e.is_dir() and not e.name.startswith("."):
                    size = sum(f.stat().st_size for f in os.scandir(e.path) if f.is_file())
                    yield e.stat().st_mtime, size, Path(e.path)

    def size_bytes(self) -> int:
        return sum(s for _, s, _ in self._entries())

    def _enforce_bound(self, keep: Path | None = None) -> int:
        entries = list(self._entries())
        total = sum(s for _, s, _ in entries)
        if total <= self.max_bytes:
            return 0
        evicted = 0
        for _, size, path in sorted(entries):
            if total <= 0.9 * self.max_bytes:
                break
            if path == keep:
                continue
            shutil.rmtree(path, ignore_errors=True)
            total -= size
            evicted += 1
        return evicted


_STORES: dict[tuple, ProductStore] = {}
_STORES_LOCK = forksafe.Lock()


def get_store() -> ProductStore:
    """The product store of the current settings (one per root and bound in a process).

    Shared so that its count of bytes written since the last size scan is too: a store
    made per request never reached the 5% of the bound that triggers eviction.
    """
    from ..config import get_settings

    s = get_settings()
    key = (str(s.cache_dir), int(s.cache_max_bytes))
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = ProductStore()
        return store
