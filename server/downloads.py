"""Product files by id, for the page and the API.

* ``GET /products/<product_id>/<filename>``: a file of the product (only names the
  product lists: nothing a user types reaches a path);
* ``GET /products/<product_id>/figure.png[?source=NAME]``: the publication figure;
* ``GET /products/<product_id>/all.zip``: every file plus ``result.json``.

Ids are content hashes (``core.products.store.KEY_RE``), so responses are immutable:
``Cache-Control: public, max-age=31536000, immutable``, 304 on a matching
``If-None-Match``; ``Content-Disposition: attachment`` with the file's name.

What is sent was verified: file bytes are read (never following a symbolic link), checked
against the SHA-256 the store recorded when it wrote them, and kept in a bounded in-memory
cache of verified bytes; a file that fails the check is not served (404, and the product
is recomputed on the next request). The strong ``ETag`` is that content hash, so one ETag
means identical bytes (a recomputed file with other bytes gets another ETag); the zip is
built deterministically (fixed member dates, sorted JSON) and tagged by its own hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from flask import Response, request

from core import forksafe

from .common import ApiError, api_blueprint, clean_message, jsonable, product_cache

__all__ = ["bp", "MIME_TYPES", "file_url", "verified", "clear_caches", "build_zip"]

bp = api_blueprint("downloads", __name__)

MIME_TYPES = {
    ".fits": "application/fits", ".fit": "application/fits", ".pha": "application/fits",
    ".arf": "application/fits", ".rmf": "application/fits", ".lc": "application/fits",
    ".png": "image/png", ".json": "application/json", ".zip": "application/zip",
    ".ecsv": "text/plain; charset=utf-8", ".reg": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8", ".xcm": "text/plain; charset=utf-8", ".csv": "text/csv; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"


def file_url(base: str, product_id: str, name: str) -> str:
    return f"{base.rstrip('/')}/products/{product_id}/{name}"


def _not_modified(etag: str) -> Response | None:
    inm = request.headers.get("If-None-Match", "")
    tags = {t.strip().removeprefix("W/").strip('"') for t in inm.split(",") if t.strip()}
    if etag in tags or "*" in tags:
        resp = Response(status=304)
        resp.set_etag(etag)
        resp.headers["Cache-Control"] = IMMUTABLE
        return resp
    return None


def _finish(resp: Response, etag: str, name: str) -> Response:
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = IMMUTABLE
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def _mime(name: str) -> str:
    return MIME_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


class _VerifiedBytes:
    """Bytes of stored files that passed their checksum, in a shared sealed cache.

    :class:`~server.shared_cache.SealedCache` ("files"): in-process by default, Redis with
    ``ODA_CACHE_REDIS``; every hit is checked against its seal again, and a miss re-reads and
    re-verifies the store's file.
    """

    #: Larger files are served from the store without being cached.
    MAX_ITEM = 64 << 20

    def __init__(self):
        from .shared_cache import SealedCache

        self._cache = SealedCache("files", items=64)

    def get(self, key: str, name: str) -> tuple[bytes, str] | None:
        ckey = f"{key}/{name}"
        hit = self._cache.get_verified(ckey)
        if hit is not None:
            return hit
        from core.products.store import get_store

        hit = get_store().read_verified(key, name)
        if hit is None:
            return None
        if len(hit[0]) <= self.MAX_ITEM:
            self._cache.set_bytes(ckey, hit[0])
        return hit

    def clear(self) -> None:
        self._cache.clear()


verified = _VerifiedBytes()


def _entry_of(path: Path) -> tuple[str, str]:
    """(store key, file name) of a path inside the product store."""
    from core.products.store import KEY_RE, get_store

    path = Path(path)
    key = path.parent.name
    if not KEY_RE.fullmatch(key) or get_store().path(key) != path.parent:
        raise ApiError(404, "this file is not a stored product file", "filename")
    return key, path.name


def _gone(name: str, product_id: str | None) -> ApiError:
    if product_id:
        product_cache.drop(product_id)
    return ApiError(404, f"file {name} is no longer stored intact; request the product again", "filename")


def _send_stored(path: Path, name: str, product_id: str | None = None) -> Response:
    """A stored file, verified, tagged by its content hash (304 when the client has it)."""
    got = verified.get(*_entry_of(path))
    if got is None:
        raise _gone(name, product_id)
    data, digest = got
    etag = digest[:32]
    hit = _not_modified(etag)  # only ever for bytes that were just verified or are held verified
    if hit is not None:
        return hit
    resp = Response(data)
    resp.headers["Content-Type"] = _mime(name)  # as given: mimetype= would append a second charset
    return _finish(resp, etag, name)


@bp.route("/products/<product_id>/figure.png", methods=["GET"])
def figure(product_id: str):
    source = request.args.get("source") or None
    res = product_cache.get(product_id)
    if source is not None and res.product_type != "image":
        names = _source_names(res)
        if source not in names:
            raise ApiError(404, f"no source {source[:60]!r} in this product", "source", ", ".join(names[:50]))
    try:
        path = res.png(None if res.product_type == "image" else source)
    except (KeyError, ValueError, NotImplementedError) as exc:
        raise ApiError(404, f"no figure for this product ({clean_message(exc)})", "source") from None
    name = "figure.png" if not source else f"figure_{_safe(source)}.png"
    return _send_stored(Path(path), name)


def _safe(name: str) -> str:
    import re

    return re.sub(r"[^0-9A-Za-z_.+\-]", "_", name)[:64]


def _source_names(res) -> list[str]:
    src = res.summary.get("sources") or []
    if isinstance(src, dict):
        return [str(k) for k in src]
    names = [str(s.get("name")) for s in src if isinstance(s, dict)]
    if res.summary.get("source"):
        names.append(str(res.summary["source"]))
    return names


class _ZipCache:
    """Zips of recent products in a shared sealed cache ("zips"; rebuilt on demand)."""

    def __init__(self):
        from .shared_cache import SealedCache

        self._cache = SealedCache("zips", items=16)
        self._lock = forksafe.Lock()
        self._building: dict[str, forksafe.Lock] = {}

    def get(self, res) -> bytes:
        pid = res.product_id
        data = self._cache.get_bytes(pid)
        if data is not None:
            return data
        with self._lock:
            lock = self._building.setdefault(pid, forksafe.Lock())
        with lock:  # one build per product in this process, however many concurrent requests
            data = self._cache.get_bytes(pid)
            if data is None:
                data = build_zip(res)
                self._cache.set_bytes(pid, data)
            with self._lock:
                self._building.pop(pid, None)
        return data

    def clear(self) -> None:
        self._cache.clear()


_zips = _ZipCache()


def clear_caches() -> None:
    """Forget every verified file and zip held in memory (they are re-read and re-checked)."""
    verified.clear()
    _zips.clear()


#: Member dates of every zip (the DOS epoch, as reproducible builds use): same files, same bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def build_zip(res) -> bytes:
    """Every file of the product plus ``result.json`` (query, ScWs, summary), in one zip.

    Built from verified bytes only, deterministically: the same product gives the same zip.
    """
    contents = {}
    for name, path in sorted(res.files.items()):
        got = verified.get(*_entry_of(Path(path)))
        if got is None:
            raise _gone(name, res.product_id)
        contents[name] = got[0]
    result = {k: v for k, v in res.to_dict().items() if k != "from_cache"}
    if "result.json" in contents:
        try:
            result = {**json.loads(contents.pop("result.json")), **result}
        except ValueError:
            contents.pop("result.json", None)
    contents["result.json"] = json.dumps(jsonable(result), indent=1, allow_nan=False, sort_keys=True).encode()
    folder = f"{res.product_type}_{res.product_id}"
    for name, png in _zip_figures(res):
        got = verified.get(*_entry_of(png))
        if got is not None:  # a figure that cannot be verified is left out, never served unchecked
            contents.setdefault(name, got[0])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in sorted(contents):
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, contents[name], compresslevel=6)
    return buf.getvalue()


def _zip_figures(res, max_sources: int = 20) -> list[tuple[str, Path]]:
    """The publication PNGs of a product (one per source for spectra and light curves)."""
    if res.product_type in ("image", "spectral_fit"):
        names = [None]
    else:
        names = [n for n in _source_names(res)][:max_sources]
    out = []
    for source in names:
        try:
            path = Path(res.png(source))
        except (KeyError, ValueError, NotImplementedError):
            continue  # a source without a figure (no exposure): its FITS files are still there
        name = {"image": "mosaic.png", "spectral_fit": "fit.png"}.get(res.product_type) or f"figure_{_safe(source)}.png"
        out.append((name, path))
    return out


@bp.route("/products/<product_id>/all.zip", methods=["GET"])
def all_zip(product_id: str):
    res = product_cache.get(product_id)
    data = _zips.get(res)
    etag = hashlib.sha256(data).hexdigest()[:32]
    hit = _not_modified(etag)
    if hit is not None:
        return hit
    resp = Response(data, mimetype="application/zip")
    return _finish(resp, etag, f"{res.product_type}_{product_id}.zip")


@bp.route("/products/<product_id>/<filename>", methods=["GET"])
def product_file(product_id: str, filename: str):
    res = product_cache.get(product_id)
    if filename not in res.files:
        raise ApiError(404, f"no file {filename[:80]!r} in product {product_id}", "filename",
                       ", ".join(sorted(res.files)))
    return _send_stored(Path(res.files[filename]), filename, product_id)
