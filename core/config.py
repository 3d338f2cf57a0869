"""Configuration from documented environment variables.

Every path the system writes lives under one data directory unless a more specific
variable moves it. Values are read when :func:`get_settings` is called (not at import), so
tests and notebooks can change the environment and call :func:`get_settings.cache_clear`.

=============================  ===============================================  ==========================
Variable                       Meaning                                          Default
=============================  ===============================================  ==========================
``ODA_DATA_DIR``               root of everything the service writes            ``./data`` next to the repo
``ODA_ARCHIVE_DIR``            ScW archive in OSA layout (``scw/RRRR/ID/``)     ``$ODA_DATA_DIR/archive``
``ODA_ARCHIVE_MODE``           ``simulated`` (lazily simulate missing ScWs) or  ``simulated``
                               ``mirror`` (read-only real-archive mirror)
``ODA_ARCHIVE_MAX_BYTES``      size bound of a simulated archive (LRU eviction)  ``20e9``
``ODA_CACHE_DIR``              content-addressed product store                  ``$ODA_DATA_DIR/cache``
``ODA_CACHE_MAX_BYTES``        size bound of the product store                   ``5e9``
``ODA_MAX_SCW``                most ScWs one public request may use             ``500``
``ODA_SESAME``                 ``1`` to allow the online CDS Sesame fallback    ``0``
``ODA_WORKERS``                worker processes for per-ScW work                ``1``
``ODA_ARCHIVE_GZIP_LEVEL``     gzip level of simulated event files (0 = stored) ``0``
``ODA_SECRET_KEY``             deployment secret (signs page-job handles, salts  made once, kept in
                               private product ids)                             ``$ODA_DATA_DIR/secret_key``
``ODA_MAX_BODY_BYTES``         largest request body of the HTTP API             ``10e6``
``ODA_MAX_UPLOAD_BYTES``       largest uploaded catalogue file                  ``5e6``
``ODA_MAX_JSON_DEPTH``         deepest nesting of a JSON body or parameter      ``100``
``ODA_MAX_QUEUED``             jobs queued or running at once (all clients)     ``64``
``ODA_MAX_QUEUED_PER_CLIENT``  jobs queued or running at once per client        ``8``
=============================  ===============================================  ==========================
"""

from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "get_settings", "ensure_private_dir", "deployment_secret", "Limits", "get_limits"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number") from exc
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved configuration (immutable)."""

    data_dir: Path
    archive_dir: Path
    archive_mode: str
    archive_max_bytes: int
    cache_dir: Path
    cache_max_bytes: int
    max_scw: int
    sesame: bool

    @property
    def simulated(self) -> bool:
        return self.archive_mode == "simulated"


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once (call ``get_settings.cache_clear()`` after changing it)."""
    data_dir = Path(os.environ.get("ODA_DATA_DIR") or _REPO_ROOT / "data").expanduser().resolve()
    mode = os.environ.get("ODA_ARCHIVE_MODE", "simulated").strip().lower()
    if mode not in ("simulated", "mirror"):
        raise ValueError(f"ODA_ARCHIVE_MODE must be 'simulated' or 'mirror', got {mode!r}")
    return Settings(
        data_dir=data_dir,
        archive_dir=Path(os.environ.get("ODA_ARCHIVE_DIR") or data_dir / "archive").expanduser().resolve(),
        archive_mode=mode,
        archive_max_bytes=int(_float_env("ODA_ARCHIVE_MAX_BYTES", 20e9)),
        cache_dir=Path(os.environ.get("ODA_CACHE_DIR") or data_dir / "cache").expanduser().resolve(),
        cache_max_bytes=int(_float_env("ODA_CACHE_MAX_BYTES", 5e9)),
        max_scw=int(_float_env("ODA_MAX_SCW", 500)),
        sesame=os.environ.get("ODA_SESAME", "0").strip().lower() in ("1", "true", "yes", "on"),
    )


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700; tighten it if it already exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (path.stat().st_mode & 0o777) != 0o700:
        path.chmod(0o700)
    return path


def deployment_secret() -> bytes:
    """The secret of this deployment: ``ODA_SECRET_KEY``, else one made once and kept in
    ``$ODA_DATA_DIR/secret_key`` (mode 0600), so every process sharing the data directory
    agrees on it and no deployment ever runs with a known value."""
    env = os.environ.get("ODA_SECRET_KEY", "")
    if env:
        return env.encode()
    data_dir = get_settings().data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / "secret_key"
    for _ in range(50):
        try:
            raw = path.read_bytes().strip()
            if len(raw) >= 32:
                return raw
            if raw:  # truncated or hand-edited: never run with a weak secret
                raise ValueError(f"{path} holds fewer than 32 bytes; delete it to make a new secret")
        except FileNotFoundError:
            pass
        # First process wins: create exclusively, write, then publish by rename.
        tmp = data_dir / f".secret_key-{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(32).encode())
        try:
            os.link(tmp, path)  # fails if another process published first
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    raise RuntimeError(f"cannot read or create {path}")


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may cost (from the environment, see the module table)."""

    max_body_bytes: int
    max_upload_bytes: int
    max_json_depth: int
    max_queued: int
    max_queued_per_client: int


def get_limits() -> Limits:
    """Read the request and queue bounds (cheap; read at every call)."""
    return Limits(max_body_bytes=int(_float_env("ODA_MAX_BODY_BYTES", 10e6)),
                  max_upload_bytes=int(_float_env("ODA_MAX_UPLOAD_BYTES", 5e6)),
                  max_json_depth=int(_float_env("ODA_MAX_JSON_DEPTH", 100)),
                  max_queued=int(_float_env("ODA_MAX_QUEUED", 64)),
                  max_queued_per_client=int(_float_env("ODA_MAX_QUEUED_PER_CLIENT", 8)))
