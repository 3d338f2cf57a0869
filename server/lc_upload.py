"""``POST /api/v1/lightcurves/read``: read an uploaded OSA/ODA light curve (FITS) into JSON.

The body is the FITS file itself (``Content-Type: application/fits`` or
``application/octet-stream``, gzip allowed) or a multipart form with the file in ``file``.
The answer is :meth:`core.spectral.lc_read.LightCurve.to_dict` (times as MJD bin centres,
widths in s, rates, errors, and the ``notes`` listing every bad row left out), plus the
variability figures of :func:`core.spectral.products.variability` (χ² of a constant, F_var,
linear trend, Bayesian blocks). Nothing is stored: the upload is read in memory and dropped.
Bad input answers 400 with ``{"field": "file", "message", "allowed"}``.
"""

from __future__ import annotations

from flask import request

from core.spectral.lc_read import MAX_LC_BYTES, read_lightcurve

from .common import ApiError, api_blueprint, json_response

__all__ = ["bp", "register", "read_upload"]

bp = api_blueprint("lc_upload", __name__, url_prefix="/api/v1")

_ALLOWED = f"an OGIP/OSA light-curve FITS file (TIME, RATE, ERROR columns), at most {MAX_LC_BYTES // 2**20} MB"


def read_upload(data: bytes) -> dict:
    """Light curve + variability of uploaded bytes (raises :class:`ApiError` 400)."""
    import numpy as np

    from core.spectral.products import variability

    try:
        lc = read_lightcurve(data)
    except ValueError as exc:
        raise ApiError(400, f"cannot read the light curve: {exc}", "file", _ALLOWED) from None
    out = lc.to_dict()
    t = np.asarray(lc.time_mjd, float)
    out["variability"] = {k: v for k, v in variability(t, lc.rate, lc.error).items()}
    return out


@bp.route("/lightcurves/read", methods=["POST"])
def read():
    if request.content_length is not None and request.content_length > MAX_LC_BYTES + 1_000_000:
        raise ApiError(413, "the upload is too large", "file", _ALLOWED)
    if request.files:
        f = request.files.get("file")
        if f is None:
            raise ApiError(400, "the form has no 'file' field", "file", _ALLOWED)
        data = f.read(MAX_LC_BYTES + 1)
    else:
        data = request.get_data(cache=False)
    if not data:
        raise ApiError(400, "empty upload", "file", _ALLOWED)
    if len(data) > MAX_LC_BYTES:
        raise ApiError(413, "the upload is too large", "file", _ALLOWED)
    return json_response(read_upload(data))


def register(flask_server) -> None:
    """Attach the route (idempotent)."""
    if "lc_upload" not in flask_server.blueprints:
        flask_server.register_blueprint(bp)
