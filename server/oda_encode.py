"""Products in the ODA dispatcher's wire format, as ``oda_api`` decodes them.

``oda_api.api.DataCollection.from_response_json`` reads ``products``:

* ``numpy_data_product_list``: FITS files as ``NumpyDataProduct`` JSON (one data unit per
  HDU: header as a dict, data as base64 of a pickled numpy array, which is how the ODA
  dispatcher sends them and what ``NumpyDataUnit.decode`` reads). The server only *writes*
  these: it never unpickles anything, and the arrays are plain numpy (no astropy objects);
* ``catalog``: the ODA catalogue dictionary (``api_cat_str``);
* ``text_product_list``: ``{name, value, meta_data}`` (the spectral-fit summary as JSON).

Product names follow the ODA service, so existing scripts find the same attributes:
``mosaic_image_0_mosaic`` and ``dispatcher_catalog_1`` for images;
``isgri_spectrum_<i>_<src>_isgri_spectrum|isgri_arf|isgri_rmf`` for spectra;
``isgri_lc_<i>_<src>`` for light curves; ``spectral_fit_0_<src>_spectral_fit`` for fits.

``oda_api`` re-parses the response with ``ast.literal_eval(str(json).replace('null',
'None'))``: a ``null`` inside a string is corrupted. Base64 text can contain it by chance
(about once per 5 MB), so :func:`b64_pickle` shifts the pickle by no-op opcodes until its
base64 has none.
"""

from __future__ import annotations

import base64
import json
import math
import pickle
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["b64_pickle", "hdu_unit", "fits_product", "encode_products", "EncodedCache"]

_NOOP = b"(1"  # MARK, POP_MARK: an empty no-op a pickle may start with


def b64_pickle(arr: np.ndarray) -> str:
    """Base64 of a pickle of ``arr`` containing no ``null`` substring."""
    raw = pickle.dumps(np.asarray(arr), protocol=4)
    for shift in range(6):
        text = base64.b64encode(_NOOP * shift + raw).decode("ascii")
        if "null" not in text:
            return text
    raise ValueError("could not encode the array without 'null'")  # (1/64^4 per position, ^6)


def _header_value(v):
    if isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, np.generic):
        return _header_value(v.item())
    return None if v is None or type(v).__name__ == "Undefined" else str(v)


def hdu_unit(hdu) -> dict:
    """One FITS HDU as an ``oda_api`` ``NumpyDataUnit`` encoding."""
    from astropy.io import fits

    if isinstance(hdu, fits.PrimaryHDU):
        kind = "primary"
    elif isinstance(hdu, fits.ImageHDU):
        kind = "image"
    elif isinstance(hdu, fits.BinTableHDU):
        kind = "bintable"
    elif isinstance(hdu, fits.TableHDU):
        kind = "table"
    else:  # pragma: no cover - other HDU kinds are not written by core
        raise ValueError(f"unsupported HDU {type(hdu).__name__}")
    header = {}
    for key, value in hdu.header.items():
        if key in ("COMMENT", "HISTORY", ""):
            continue
        if len(key) > 8 or not all(c.isalnum() or c in "-_" for c in key):
            key = f"HIERARCH {key}"  # as written: no VerifyWarning when oda_api rebuilds the header
        header[key] = _header_value(value)
    data = hdu.data
    binarys = dt = None
    if data is not None:
        arr = np.array(data)  # a plain ndarray (FITS_rec → structured array)
        dt = str(arr.dtype) if arr.dtype.names is None else repr(arr.dtype.descr)
        binarys = b64_pickle(arr)
    return {"data": None, "dt": dt, "name": hdu.name or ("PRIMARY" if kind == "primary" else kind.upper()),
            "header": header, "binarys": binarys, "meta_data": {}, "hdu_type": kind, "units_dict": None}


def fits_product(source, name: str, meta: dict) -> dict:
    """A FITS file (path or HDUList) as an ``oda_api`` ``NumpyDataProduct`` encoding."""
    from astropy.io import fits

    if isinstance(source, (str, Path)):
        with fits.open(source, memmap=False) as hdul:
            units = [hdu_unit(h) for h in hdul]
    else:
        units = [hdu_unit(h) for h in source]
    return {"data_unit_list": units, "name": name, "meta_data": json.dumps(meta)}


def _table_hdu(rows: list[dict], extname: str):
    """A BinTable HDU from a list of flat dicts (numbers as float64, the rest as text)."""
    from astropy.io import fits
    from astropy.table import Table

    keys: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k not in keys and not isinstance(v, (dict, list, tuple)):
                keys.append(k)
    t = Table()
    for k in keys:
        vals = [r.get(k) for r in rows]
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in vals):
            t[k.upper()[:68]] = np.array([np.nan if v is None else float(v) for v in vals], dtype="f8")
        else:
            t[k.upper()[:68]] = np.array(["" if v is None else str(v) for v in vals])
    hdu = fits.table_to_hdu(t)
    hdu.name = extname
    return hdu


def _flat_params(params) -> list[dict]:
    rows = []
    items = params.items() if isinstance(params, dict) else enumerate(params or [])
    for key, p in items:
        row = {"name": key} if not isinstance(key, int) else {}
        if isinstance(p, dict):
            for k, v in p.items():
                if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float, type(None))) for x in v):
                    row[f"{k}_lo"], row[f"{k}_hi"] = v
                elif not isinstance(v, (dict, list, tuple)):
                    row[k] = v
        else:
            row["value"] = p
        rows.append(row)
    return rows


def _fit_fits(summary: dict):
    """The fit as FITS: primary header (model, statistic), FIT_PARAMS, FLUXES, CHANNELS."""
    from astropy.io import fits

    fit = summary.get("fit") or {}
    prim = fits.PrimaryHDU()
    h = prim.header
    for value, card in ((summary.get("source"), "OBJECT"), (summary.get("model") or fit.get("model"), "MODEL"),
                        (fit.get("stat") or summary.get("stat_name"), "STATNAME"),
                        (fit.get("statistic", summary.get("stat")), "STAT"), (fit.get("dof", summary.get("dof")), "DOF"),
                        (fit.get("p_value"), "P_VALUE"), (fit.get("emin_keV"), "E_MIN"), (fit.get("emax_keV"), "E_MAX")):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            h[card] = value if not isinstance(value, float) or math.isfinite(value) else str(value)
    params = summary.get("params") or fit.get("parameters") or []
    hdus = [prim, _table_hdu(_flat_params(params), "FIT_PARAMS")]
    fluxes = summary.get("fluxes") or fit.get("fluxes")
    if fluxes:
        hdus.append(_table_hdu(_flat_params(fluxes), "FLUXES"))
    ch = fit.get("channels")
    if isinstance(ch, dict) and ch:
        n = len(next(iter(ch.values())))
        hdus.append(_table_hdu([{k: (v[i] if i < len(v) else None) for k, v in ch.items()} for i in range(n)],
                               "CHANNELS"))
    return fits.HDUList(hdus)


def _find_file(files: dict, *candidates) -> Path | None:
    for c in candidates:
        if c and c in files:
            return files[c]
    return None


def _sources(summary: dict) -> list[tuple[str, dict]]:
    src = summary.get("sources") or []
    if isinstance(src, dict):
        return [(str(k), v if isinstance(v, dict) else {}) for k, v in src.items()]
    return [(str(s.get("name", f"src{i}")), s) for i, s in enumerate(src) if isinstance(s, dict)]


def _safe(name: str) -> str:
    import re

    return re.sub(r"[^0-9A-Za-z_.+\-]", "_", name.strip())


def encode_products(res) -> dict:
    """The ``products`` entries (without analysis_parameters/api_code) of a finished product."""
    files = res.files
    src_name = res.query.src_name or "query"
    out: dict = {}
    if res.product_type == "image":
        from core.imaging.detect import catalog_to_oda_json

        out["numpy_data_product_list"] = [
            fits_product(files["mosaic.fits"], "mosaic_image", {"product": "mosaic", "target": src_name})]
        out["catalog"] = catalog_to_oda_json(res.data.catalog)
    elif res.product_type == "spectrum":
        lst = []
        for name, s in _sources(res.summary):
            sn = _safe(name)
            for kind, key, ext in (("isgri_spectrum", "pha", "pha"), ("isgri_arf", "arf", "arf"),
                                   ("isgri_rmf", "rmf", "rmf")):
                path = _find_file(files, s.get(key), f"spectrum_{sn}.{ext}", f"{sn}.{ext}")
                if path is not None:
                    lst.append(fits_product(path, "isgri_spectrum", {"src_name": name, "product": kind}))
        out["numpy_data_product_list"] = lst
    elif res.product_type == "lc" and res.query.instrument == "spi_acs":
        from core.instruments.spi_acs.product import LC_FILE

        # As the real plugin: one product named spi_acs_lc, source "query" (spi_acs_lc_0_query in oda_api).
        out["numpy_data_product_list"] = [fits_product(files[LC_FILE], "spi_acs_lc",
                                                       {"src_name": "query", "time_bin": res.summary["time_bin"]})]
    elif res.product_type == "lc":
        lst = []
        for name, s in _sources(res.summary):
            sn = _safe(name)
            path = _find_file(files, s.get("file"), s.get("lc"), s.get("fits"), f"lc_{sn}.fits", f"lc_{name}.fits")
            if path is not None:
                lst.append(fits_product(path, "isgri_lc", {"src_name": name}))
        out["numpy_data_product_list"] = lst
    elif res.product_type == "spectral_fit":
        s = res.summary
        src = str(s.get("source") or src_name)
        out["numpy_data_product_list"] = [fits_product(_fit_fits(s), "spectral_fit",
                                                       {"src_name": src, "product": "spectral_fit"})]
        from .common import jsonable

        out["text_product_list"] = [{"name": "spectral_fit", "value": json.dumps(jsonable(s), allow_nan=False),
                                     "meta_data": {"src_name": src, "product": "spectral_fit_summary"}}]
    return out


class EncodedCache:
    """LRU of encoded products (immutable per product id), bounded in entries."""

    def __init__(self, size: int = 8):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, res) -> dict:
        with self._lock:
            hit = self._items.get(res.product_id)
            if hit is not None:
                self._items.move_to_end(res.product_id)
                return hit
        enc = encode_products(res)
        with self._lock:
            self._items[res.product_id] = enc
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return enc
