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


#: Column-structure cards: rebuilt by astropy from the data, never copied.
_STRUCTURAL = ("TTYPE", "TFORM", "TUNIT", "TDIM", "TNULL", "TSCAL", "TZERO", "TDISP", "TBCOL")


def _is_vla(fmt: str) -> bool:
    return str(fmt).lstrip("0123456789").upper().startswith(("P", "Q"))


def _copy_cards(src, dst) -> None:
    """Cards of ``src`` that describe the data, not the table layout, copied onto ``dst``."""
    for card in src.header.cards:
        key = card.keyword
        if key in ("XTENSION", "BITPIX", "PCOUNT", "GCOUNT", "TFIELDS", "THEAP", "EXTNAME", "") \
                or key.startswith("NAXIS") or key.rstrip("0123456789") in _STRUCTURAL:
            continue
        if key in ("COMMENT", "HISTORY"):
            dst.header.add_comment(card.value) if key == "COMMENT" else dst.header.add_history(card.value)
            continue
        dst.header[key] = (card.value, card.comment)


def dense_matrix_hdu(hdu):
    """An OGIP matrix extension with variable-length groups rewritten as one full row each.

    The ODA wire format carries numpy arrays; a variable-length column would travel as
    heap descriptors, and scripts add matrices of several queries element by element
    (``rmf['MATRIX'] * expos``), which needs equal shapes. Each row becomes ``N_GRP = 1``,
    ``F_CHAN`` = the first channel, ``N_CHAN`` = all channels (one-element variable-length
    cells), ``MATRIX`` the full row as a fixed-width column:
    the same response, valid OGIP (CAL/GEN/92-002 allows full rows).
    """
    from astropy.io import fits

    names = hdu.columns.names
    data = hdu.data
    fcol = names.index("F_CHAN") + 1
    first = int(hdu.header.get(f"TLMIN{fcol}", 0))
    n_chan = int(hdu.header.get("DETCHANS") or (int(hdu.header.get(f"TLMAX{fcol}", first)) - first + 1))
    n = len(data)
    dense = np.zeros((n, n_chan), np.float32)
    for i in range(n):
        f = np.atleast_1d(np.asarray(data["F_CHAN"][i], int))
        k = np.atleast_1d(np.asarray(data["N_CHAN"][i], int))
        vals = np.atleast_1d(np.asarray(data["MATRIX"][i], float))
        pos = 0
        for fk, nk in zip(f, k):
            if nk <= 0:
                continue
            a = fk - first
            dense[i, a:a + nk] = vals[pos:pos + nk]
            pos += nk
    cols = []
    for c in hdu.columns:
        if c.name == "N_GRP":
            cols.append(fits.Column("N_GRP", "I", array=np.ones(n, np.int16)))
        elif c.name in ("F_CHAN", "N_CHAN"):
            # one group per row, kept variable-length: readers (gammapy) index them per group,
            # and they travel as object arrays of their values (not heap descriptors)
            v = first if c.name == "F_CHAN" else n_chan
            cells = np.empty(n, dtype=object)
            cells[:] = [np.array([v], np.int32) for _ in range(n)]
            cols.append(fits.Column(c.name, "PJ()", array=cells))
        elif c.name == "MATRIX":
            cols.append(fits.Column("MATRIX", f"{n_chan}E", array=dense))
        else:
            cols.append(fits.Column(c.name, c.format, unit=c.unit, array=data[c.name]))
    out = fits.BinTableHDU.from_columns(cols, name=hdu.name)
    _copy_cards(hdu, out)
    out.header["NUMGRP"], out.header["NUMELT"] = n, n * n_chan
    return out


def _is_matrix(hdu) -> bool:
    from astropy.io import fits

    from core.fitting.ogip import extension_kind

    return (isinstance(hdu, fits.BinTableHDU) and extension_kind(hdu.name) == "matrix"
            and {"F_CHAN", "N_CHAN", "MATRIX"} <= set(hdu.columns.names)
            and _is_vla(hdu.columns["MATRIX"].format))


def _table_array(hdu) -> np.ndarray:
    """A table's rows as a plain structured array; variable-length cells as object arrays
    holding their values (never the (count, offset) heap descriptors)."""
    data = hdu.data
    vla = [c.name for c in hdu.columns if _is_vla(c.format)]
    if not vla:
        return np.array(data)
    descr = []
    for c in hdu.columns:
        if c.name in vla:
            descr.append((c.name, object))
        else:
            col = np.asarray(data[c.name])
            descr.append((c.name, col.dtype, col.shape[1:]) if col.ndim > 1 else (c.name, col.dtype))
    arr = np.zeros(len(data), dtype=descr)
    for c in hdu.columns:
        if c.name in vla:
            cells = np.empty(len(data), dtype=object)
            cells[:] = [np.array(v) for v in data[c.name]]
            arr[c.name] = cells
        else:
            arr[c.name] = np.asarray(data[c.name])
    return arr


def hdu_unit(hdu) -> dict:
    """One FITS HDU as an ``oda_api`` ``NumpyDataUnit`` encoding.

    Column units travel in ``units_dict`` (``oda_api`` restores them as TUNITn; the header
    alone would not survive its rebuild of the table from the array).
    """
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
    if _is_matrix(hdu):
        hdu = dense_matrix_hdu(hdu)
    header = {}
    for key, value in hdu.header.items():
        if key in ("COMMENT", "HISTORY", ""):
            continue
        if len(key) > 8 or not all(c.isalnum() or c in "-_" for c in key):
            key = f"HIERARCH {key}"  # as written: no VerifyWarning when oda_api rebuilds the header
        header[key] = _header_value(value)
    data = hdu.data
    binarys = dt = None
    units = None
    if data is not None:
        if kind in ("bintable", "table"):
            arr = _table_array(hdu)
            units = {c.name: str(c.unit) for c in hdu.columns if c.unit} or None
        else:
            arr = np.array(data)
        dt = str(arr.dtype) if arr.dtype.names is None else repr(arr.dtype.descr)
        binarys = b64_pickle(arr)
    return {"data": None, "dt": dt, "name": hdu.name or ("PRIMARY" if kind == "primary" else kind.upper()),
            "header": header, "binarys": binarys, "meta_data": {}, "hdu_type": kind, "units_dict": units}


def _ogip_order(hdus: list) -> list:
    """Response files in the order of OSA and the ODA service: PRIMARY, EBOUNDS, MATRIX
    (scripts read ``rmf.data_unit[2]`` as the matrix)."""
    from core.fitting.ogip import extension_kind

    kinds = [extension_kind(h.name) for h in hdus]
    if "ebounds" in kinds and "matrix" in kinds:
        e = kinds.index("ebounds")
        return [hdus[0], hdus[e]] + [h for i, h in enumerate(hdus[1:], 1) if i != e]
    return hdus


def fits_product(source, name: str, meta: dict) -> dict:
    """A FITS file (path or HDUList) as an ``oda_api`` ``NumpyDataProduct`` encoding."""
    from astropy.io import fits

    if isinstance(source, (str, Path)):
        with fits.open(source, memmap=False) as hdul:
            units = [hdu_unit(h) for h in _ogip_order(list(hdul))]
    else:
        units = [hdu_unit(h) for h in _ogip_order(list(source))]
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


def _sources(summary: dict, order=None) -> list[tuple[str, dict]]:
    """Sources of a product summary; in ``order`` (the request's catalogue order) when given."""
    src = summary.get("sources") or []
    if isinstance(src, dict):
        out = [(str(k), v if isinstance(v, dict) else {}) for k, v in src.items()]
    else:
        out = [(str(s.get("name", f"src{i}")), s) for i, s in enumerate(src) if isinstance(s, dict)]
    if order:
        rank = {n: i for i, n in enumerate(order)}
        out.sort(key=lambda item: rank.get(item[0], len(rank)))
    return out


def _safe(name: str) -> str:
    import re

    return re.sub(r"[^0-9A-Za-z_.+\-]", "_", name.strip())


def _named_lc(path: Path, name: str):
    """The light-curve file with ``NAME`` in its table header (ODA's light curves carry it)."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    for h in hdul[1:]:
        h.header.setdefault("NAME", name)
    return hdul


def encode_products(res, order=None) -> dict:
    """The ``products`` entries (without analysis_parameters/api_code) of a finished product.

    ``order``: source names in the order of the request's catalogue; spectra and light
    curves come in that order (``isgri_lc_0_<first>``, ``isgri_lc_1_<second>``…), as ODA's.
    """
    from core.instruments.base import get_instrument

    inst = get_instrument(res.query.instrument)
    names = inst.oda_names
    files = res.files
    src_name = res.query.src_name or ""
    out: dict = {}
    if res.product_type == "image":
        # src_name empty as in ODA's mosaics: oda_api then names the product mosaic_image_0_mosaic.
        meta = {"product": "mosaic", "instrument": res.query.instrument, "src_name": "",
                "query_parameters": json.dumps(res.query.to_params(), default=str)}
        out["numpy_data_product_list"] = [fits_product(files["mosaic.fits"], names.get("image", "mosaic_image"), meta)]
        out["catalog"] = inst.oda_catalog(res.data.catalog)
    elif res.product_type == "spectrum":
        lst = []
        for name, s in _sources(res.summary, order):
            sn = _safe(name)
            for kind, key in (("spectrum", "pha"), ("arf", "arf"), ("rmf", "rmf")):
                path = _find_file(files, s.get(key), f"spectrum_{sn}.{key}", f"{sn}.{key}")
                if path is not None:
                    lst.append(fits_product(path, names["spectrum"], {"src_name": name, "product": names[kind]}))
        out["numpy_data_product_list"] = lst
    elif res.product_type == "lc" and not inst.needs_position:
        # As the real plugin: one product named spi_acs_lc, source "query" (spi_acs_lc_0_query in oda_api).
        fname = inst.fits_names["lc"][0]
        out["numpy_data_product_list"] = [fits_product(files[fname], names["lc"],
                                                       {"src_name": "query", "time_bin": res.summary["time_bin"]})]
    elif res.product_type == "lc":
        lst = []
        q = res.query
        for name, s in _sources(res.summary, order):
            sn = _safe(name)
            path = _find_file(files, s.get("file"), s.get("lc"), s.get("fits"), f"lc_{sn}.fits", f"lc_{name}.fits")
            if path is not None:
                meta = {"src_name": name, "time_bin": q.time_bin, "time": "TIME", "rate": "RATE",
                        "rate_err": "ERROR"}
                lst.append(fits_product(_named_lc(path, name), names["lc"], meta))
        out["numpy_data_product_list"] = lst
    elif res.product_type == "spectral_fit":
        s = res.summary
        src = str(s.get("source") or src_name or "query")
        out["numpy_data_product_list"] = [fits_product(_fit_fits(s), "spectral_fit",
                                                       {"src_name": src, "product": "spectral_fit"})]
        from .common import jsonable

        out["text_product_list"] = [{"name": "spectral_fit", "value": json.dumps(jsonable(s), allow_nan=False),
                                     "meta_data": {"src_name": src, "product": "spectral_fit_summary"}}]
    return out


class EncodedCache:
    """Encoded products (immutable per product id and source order) in a shared sealed cache
    (:class:`~server.shared_cache.SealedCache` "oda": in-process, or Redis with ``ODA_CACHE_REDIS``)."""

    def __init__(self, size: int = 8):
        from .shared_cache import SealedCache

        self.size = size
        self._cache = SealedCache("oda", items=size)

    def get(self, res, order=None) -> dict:
        import hashlib

        tag = hashlib.sha256(json.dumps(list(order or ())).encode()).hexdigest()[:16]
        key = f"{res.product_id}:{tag}"
        hit = self._cache.get_json(key)
        if hit is not None:
            return hit
        enc = encode_products(res, order)
        self._cache.set_json(key, enc)
        return enc


def dummy_products(query) -> dict:
    """ODA's ``query_type=Dummy`` answer: a placeholder in the product's layout, all zeros,
    computed from nothing (a 32×32 mosaic at the query position with an empty catalogue, a
    one-bin light curve, a zero spectrum). Every HDU says ``DUMMY = T``."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from core.imaging.detect import catalog_to_oda_json, empty_catalog

    from core.instruments.base import get_instrument

    inst = get_instrument(query.instrument)
    naming, names = inst.fits_naming(query), inst.oda_names
    ra = query.RA if math.isfinite(query.RA) else 0.0
    dec = query.DEC if math.isfinite(query.DEC) else 0.0
    name = query.src_name or "query"
    prim = fits.PrimaryHDU()
    prim.header["DUMMY"] = (True, "query_type=Dummy: nothing computed")
    out: dict = {}
    if query.product_type == "image":
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [ra, dec]
        w.wcs.crpix = [16.5, 16.5]
        w.wcs.cdelt = [-0.0822, 0.0822]
        hdus = [prim]
        for kind in naming.imatypes:
            h = fits.ImageHDU(np.zeros((32, 32), np.float32), header=w.to_header(),
                              name=naming.extnames.get("mosaic", "ISGR-MOSA-IMA"))
            h.header["IMATYPE"], h.header["DUMMY"] = kind, True
            hdus.append(h)
        meta = {"product": "mosaic", "instrument": query.instrument, "src_name": "",
                "query_parameters": json.dumps(query.to_params(), default=str)}
        out["numpy_data_product_list"] = [fits_product(fits.HDUList(hdus), "mosaic_image", meta)]
        out["catalog"] = catalog_to_oda_json(empty_catalog())
    elif query.product_type == "lc":
        cols = [fits.Column("TIME", "D", unit="d", array=[0.5 * (query.ijd1 + query.ijd2) if math.isfinite(query.ijd1) else 0.0]),
                fits.Column("TIMEDEL", "D", unit="d", array=[0.0]), fits.Column("RATE", "E", unit="count/s", array=[0.0]),
                fits.Column("ERROR", "E", unit="count/s", array=[0.0]), fits.Column("FRACEXP", "E", array=[0.0])]
        h = fits.BinTableHDU.from_columns(cols, name=naming.extnames.get("lc", "ISGR-SRC.-LCR"))
        for k, v in (("INSTRUME", naming.instrume), ("NAME", name), ("MJDREF", 51544.0), ("TIMEDEL", 0.0),
                     ("TIMEPIXR", 0.5), ("DUMMY", True)):
            h.header[k] = v
        meta = {"src_name": name, "time_bin": query.time_bin, "time": "TIME", "rate": "RATE", "rate_err": "ERROR"}
        out["numpy_data_product_list"] = [fits_product(fits.HDUList([prim, h]), names.get("lc", "isgri_lc"), meta)]
    else:
        n = len(inst.channel_edges(query)) - 1
        cols = [fits.Column("CHANNEL", "J", array=np.arange(n)), fits.Column("RATE", "E", unit="count/s", array=np.zeros(n)),
                fits.Column("STAT_ERR", "E", unit="count/s", array=np.zeros(n))]
        h = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
        for k, v in (("INSTRUME", naming.instrume), ("EXPOSURE", 0.0), ("DUMMY", True)):
            h.header[k] = v
        sname = names.get("spectrum", "isgri_spectrum")
        out["numpy_data_product_list"] = [fits_product(fits.HDUList([prim, h]), sname,
                                                       {"src_name": name, "product": sname})]
    return out
