"""Product files by id, for the page and the API.

* ``GET /products/<product_id>/<filename>``: a file of the product (only names the
  product lists: nothing a user types reaches a path);
* ``GET /products/<product_id>/figure.png[?source=NAME]``: the publication figure;
* ``GET /products/<product_id>/all.zip``: every file plus ``result.json``.

Ids are content hashes (``core.products.store.KEY_RE``), so responses are immutable:
strong ``ETag``, ``Cache-Control: public, max-age=31536000, immutable``, 304 on a matching
``If-None-Match``; ``Content-Disposition: attachment`` with the file's name.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

from flask import Response, request, send_file

from .common import ApiError, api_blueprint, clean_message, jsonable, product_cache

__all__ = ["bp", "MIME_TYPES", "file_url"]

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


def _etag(*parts) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:32]


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


def _send_path(path: Path, name: str, etag: str) -> Response:
    if not path.is_file():
        raise ApiError(404, f"file {name} is no longer stored; request the product again", "filename")
    resp = send_file(path, mimetype=_mime(name), conditional=False, etag=False, max_age=None)
    resp.headers["Content-Type"] = _mime(name)  # as given: send_file appends a second charset to text types
    return _finish(resp, etag, name)


@bp.route("/products/<product_id>/figure.png", methods=["GET"])
def figure(product_id: str):
    source = request.args.get("source") or None
    res = product_cache.get(product_id)
    if source is not None and res.product_type != "image":
        names = _source_names(res)
        if source not in names:
            raise ApiError(404, f"no source {source[:60]!r} in this product", "source", ", ".join(names[:50]))
    etag = _etag(product_id, "figure.png", source or "")
    hit = _not_modified(etag)
    if hit is not None:
        return hit
    try:
        path = res.png(None if res.product_type == "image" else source)
    except (KeyError, ValueError, NotImplementedError) as exc:
        raise ApiError(404, f"no figure for this product ({clean_message(exc)})", "source") from None
    name = "figure.png" if not source else f"figure_{_safe(source)}.png"
    return _send_path(Path(path), name, etag)


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
    """Zips of recent products, bounded in bytes (they are rebuilt on demand)."""

    def __init__(self, max_bytes: int = 256 << 20):
        self.max_bytes = max_bytes
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}

    def get(self, res) -> bytes:
        pid = res.product_id
        with self._lock:
            if pid in self._items:
                self._items.move_to_end(pid)
                return self._items[pid]
            lock = self._building.setdefault(pid, threading.Lock())
        with lock:  # one build per product, however many concurrent requests
            with self._lock:
                if pid in self._items:
                    return self._items[pid]
            data = build_zip(res)
            with self._lock:
                self._items[pid] = data
                self._building.pop(pid, None)
                while sum(len(v) for v in self._items.values()) > self.max_bytes and len(self._items) > 1:
                    self._items.popitem(last=False)
        return data


_zips = _ZipCache()


def build_zip(res) -> bytes:
    """Every file of the product plus ``result.json`` (query, ScWs, summary), in one zip."""
    buf = io.BytesIO()
    result = res.to_dict()
    stored = res.files.get("result.json")
    if stored is not None and Path(stored).is_file():
        try:
            result = {**json.loads(Path(stored).read_text()), **result}
        except ValueError:
            pass
    folder = f"{res.product_type}_{res.product_id}"
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, path in sorted(res.files.items()):
            if name == "result.json":
                continue
            if not Path(path).is_file():
                raise ApiError(404, f"file {name} is no longer stored; request the product again", "product_id")
            z.write(path, f"{folder}/{name}")
        for name, png in _zip_figures(res):
            z.write(png, f"{folder}/{name}")
        z.writestr(f"{folder}/result.json", json.dumps(jsonable(result), indent=1, allow_nan=False))
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
    etag = _etag(product_id, "all.zip")
    hit = _not_modified(etag)
    if hit is not None:
        return hit
    data = _zips.get(res)
    resp = Response(data, mimetype="application/zip")
    return _finish(resp, etag, f"{res.product_type}_{product_id}.zip")


@bp.route("/products/<product_id>/<filename>", methods=["GET"])
def product_file(product_id: str, filename: str):
    res = product_cache.get(product_id)
    if filename not in res.files:
        raise ApiError(404, f"no file {filename[:80]!r} in product {product_id}", "filename",
                       ", ".join(sorted(res.files)))
    etag = _etag(product_id, filename)
    hit = _not_modified(etag)
    if hit is not None:
        return hit
    return _send_path(Path(res.files[filename]), filename, etag)
