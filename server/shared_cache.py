"""The web processes' caches, through flask-caching: in-process by default, Redis when configured.

Three caches sit in front of the product store: finished products (:class:`ProductResult`),
encoded ODA responses and zip archives. With ``ODA_CACHE_REDIS`` (``redis://host:6379/1``)
the responses and archives live in Redis, shared by every web process of the deployment;
products keep an in-process copy (they hold open arrays) in front of a shared description.

Values are sealed bytes: a version tag, the SHA-256 of the payload, then the payload (JSON
or raw bytes). Every read checks the seal; a damaged or foreign entry is dropped and reads
as a miss, so the caller recomputes from the store (which verifies its own checksums). No
value is ever pickled: flask-caching's backends pickle by default, so both backends here are
given a serializer that passes bytes through and refuses anything else.

================================  ===========================================  =============
variable                          meaning                                      default
================================  ===========================================  =============
``ODA_CACHE_REDIS``               Redis URL of the shared caches               unset (in-process)
``ODA_CACHE_ITEMS``               entries per in-process cache                 ``64``
================================  ===========================================  =============
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

from cachelib.serializers import BaseSerializer
from flask_caching.backends.rediscache import RedisCache
from flask_caching.backends.simplecache import SimpleCache

__all__ = ["SealedCache", "redis_url", "make_cache", "BytesSerializer", "ObjectSerializer"]

log = logging.getLogger(__name__)

_SEAL = b"ODA1"


class BytesSerializer(BaseSerializer):
    """Bytes in, bytes out; anything else is refused (no pickling, either way)."""

    def dumps(self, value: Any, protocol: int | None = None) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"only bytes are cached, not {type(value).__name__}")
        return bytes(value)

    def loads(self, bvalue: bytes | None) -> bytes | None:
        return None if bvalue is None else bytes(bvalue)


class ObjectSerializer(BaseSerializer):
    """In-process cache of live objects: stored as they are (nothing serialised)."""

    def dumps(self, value: Any, protocol: int | None = None) -> Any:
        return value

    def loads(self, bvalue: Any) -> Any:
        return bvalue


class BytesRedisCache(RedisCache):
    """flask-caching's RedisCache storing sealed bytes only."""

    serializer = BytesSerializer()


class BytesSimpleCache(SimpleCache):
    serializer = BytesSerializer()


class ObjectSimpleCache(SimpleCache):
    serializer = ObjectSerializer()


def redis_url() -> str | None:
    url = os.environ.get("ODA_CACHE_REDIS", "").strip()
    return url or None


def _items() -> int:
    try:
        return max(1, int(os.environ.get("ODA_CACHE_ITEMS", "64")))
    except ValueError:
        return 64


def make_cache(name: str, *, objects: bool = False, shared: bool = True, items: int | None = None):
    """A flask-caching backend for one cache.

    ``objects`` keeps live Python objects in this process (never shared); otherwise values are
    sealed bytes, in Redis when ``ODA_CACHE_REDIS`` is set and ``shared``.
    """
    from flask import Flask
    from flask_caching import Cache

    url = redis_url() if shared and not objects else None
    items = items or _items()
    if objects:
        config = {"CACHE_TYPE": f"{__name__}.ObjectSimpleCache", "CACHE_THRESHOLD": items}
    elif url:
        config = {"CACHE_TYPE": f"{__name__}.BytesRedisCache", "CACHE_REDIS_URL": url,
                  "CACHE_KEY_PREFIX": f"oda:{name}:"}
    else:
        config = {"CACHE_TYPE": f"{__name__}.BytesSimpleCache", "CACHE_THRESHOLD": items}
    config["CACHE_DEFAULT_TIMEOUT"] = 0  # entries are immutable (keys are content hashes)
    # flask-caching binds a backend to an app; this holder app carries no routes.
    holder = Flask(f"oda-cache-{name}")
    cache = Cache(config=config)
    cache.init_app(holder)
    return cache.cache


class SealedCache:
    """Bytes or JSON values, checksummed, in a flask-caching backend (see module doc)."""

    def __init__(self, name: str, *, shared: bool = True, items: int | None = None):
        self.name = name
        self.backend = make_cache(name, shared=shared, items=items)

    @staticmethod
    def seal(payload: bytes) -> bytes:
        return _SEAL + hashlib.sha256(payload).digest() + payload

    @staticmethod
    def unseal(value) -> tuple[bytes, str] | None:
        """(payload, its SHA-256 hex) of an intact sealed value, else None."""
        if not isinstance(value, (bytes, bytearray)) or len(value) < 36 or value[:4] != _SEAL:
            return None
        digest, payload = bytes(value[4:36]), bytes(value[36:])
        return (payload, digest.hex()) if hashlib.sha256(payload).digest() == digest else None

    def get_verified(self, key: str) -> tuple[bytes, str] | None:
        """(payload, SHA-256 hex) for ``key``, checked; None for a miss or a damaged entry."""
        try:
            value = self.backend.get(key)
        except Exception as exc:  # an unreachable Redis is a miss, not an error page
            log.warning("cache %s unavailable (%s): recomputing", self.name, exc.__class__.__name__)
            return None
        if value is None:
            return None
        hit = self.unseal(value)
        if hit is None:
            log.warning("cache %s: damaged entry %s dropped", self.name, key[:40])
            self.delete(key)
        return hit

    def get_bytes(self, key: str) -> bytes | None:
        hit = self.get_verified(key)
        return None if hit is None else hit[0]

    def set_bytes(self, key: str, payload: bytes) -> None:
        try:
            self.backend.set(key, self.seal(payload), timeout=0)
        except Exception as exc:
            log.warning("cache %s unavailable (%s): not stored", self.name, exc.__class__.__name__)

    def get_json(self, key: str):
        payload = self.get_bytes(key)
        if payload is None:
            return None
        try:
            return json.loads(payload)
        except ValueError:
            self.delete(key)
            return None

    def set_json(self, key: str, obj) -> None:
        self.set_bytes(key, json.dumps(obj, separators=(",", ":"), allow_nan=False).encode())

    def delete(self, key: str) -> None:
        try:
            self.backend.delete(key)
        except Exception:
            pass

    def clear(self) -> None:
        try:
            self.backend.clear()
        except Exception:
            pass
