"""The Python client as a wheel, served under ``/client/`` for ``pip install --find-links``.

Anyone who reaches the server installs the client with the standard tool, in any
environment and from any directory::

    pip install --find-links http://<server>/client/ integral-client

``/client/`` is a PEP 503-style link page (the wheel's URL with its ``#sha256=`` so pip
checks what it downloads); the wheel itself is built in memory from the ``integral_client``
package this server runs, byte for byte reproducible (sorted entries, fixed timestamps), so
its hash and ETag change only when the client's code or version does.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import zipfile
from functools import lru_cache
from pathlib import Path

from flask import Response, request

from core import forksafe

from .common import ApiError, api_blueprint, public_base_url

__all__ = ["DIST_NAME", "REQUIRES_DIST", "REQUIRES_PYTHON", "wheel_name", "build_wheel", "bp", "install_line"]

DIST_NAME = "integral-client"
#: What the client imports (astropy for HDUList/Table/Quantity, numpy beneath it).
REQUIRES_DIST = ("astropy>=5.0", "numpy>=1.22")
REQUIRES_PYTHON = ">=3.9"
_SUMMARY = "Python client of the INTEGRAL ODA service (submit, progress, products as astropy objects)"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry: reproducible archives
_lock = forksafe.Lock()


def _package() -> tuple[str, Path]:
    import integral_client

    return integral_client.__version__, Path(integral_client.__file__).resolve().parent


def wheel_name() -> str:
    version, _ = _package()
    return f"{DIST_NAME.replace('-', '_')}-{version}-py3-none-any.whl"


def install_line(base_url: str) -> str:
    """The shell command that installs the client from the server at ``base_url``."""
    return f"pip install --find-links {base_url.rstrip('/')}/client/ {DIST_NAME}"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _metadata(version: str) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {DIST_NAME}", f"Version: {version}", f"Summary: {_SUMMARY}",
             "License: MIT", f"Requires-Python: {REQUIRES_PYTHON}",
             *[f"Requires-Dist: {r}" for r in REQUIRES_DIST]]
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=4)
def _build(version: str, sources: tuple[tuple[str, bytes], ...]) -> bytes:
    info = f"{DIST_NAME.replace('-', '_')}-{version}.dist-info"
    files = [(f"integral_client/{name}", data) for name, data in sources]
    files += [(f"{info}/METADATA", _metadata(version).encode()),
              (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: integral-oda\nRoot-Is-Purelib: true\n"
                                b"Tag: py3-none-any\n"),
              (f"{info}/top_level.txt", b"integral_client\n")]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files)
    files.append((f"{info}/RECORD", (record + f"{info}/RECORD,,\n").encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            zf.writestr(entry, data)
    return buf.getvalue()


def build_wheel() -> bytes:
    """The wheel of the running ``integral_client`` package (cached per source content)."""
    version, root = _package()
    sources = tuple((p.name, p.read_bytes()) for p in sorted(root.glob("*.py")))
    with _lock:
        return _build(version, sources)


bp = api_blueprint("client_dist", __name__)


@bp.get("/client/")
@bp.get("/client")
def index():
    data = build_wheel()
    name = wheel_name()
    digest = hashlib.sha256(data).hexdigest()
    href = html.escape(f"{name}#sha256={digest}")
    body = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>integral-client</title></head>"
            f"<body><h1>integral-client</h1><p><code>{html.escape(install_line(public_base_url()))}</code></p>"
            f"<a href=\"{href}\">{html.escape(name)}</a></body></html>\n")
    resp = Response(body, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/client/<path:filename>")
def wheel(filename: str):
    if filename != wheel_name():
        raise ApiError(404, f"no such file {filename[:100]!r}", "filename", wheel_name())
    data = build_wheel()
    etag = hashlib.sha256(data).hexdigest()[:32]
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    resp = Response(data, mimetype="application/octet-stream")
    resp.headers["Content-Disposition"] = f"attachment; filename={filename}"
    resp.headers["ETag"] = f'"{etag}"'
    resp.headers["Cache-Control"] = "no-cache"
    return resp
