"""The analysis query: one typed, validated object that every front end builds.

Parameter names are those of the ODA dispatcher (``RA``, ``DEC``, ``T1``, ``T2``,
``T_format``, ``radius``, ``max_pointings``, ``scw_list``, ``E1_keV``, ``E2_keV``,
``detection_threshold``, ``time_bin``...), so ODA users' requests map one to one.
:meth:`Query.canonical` is the normal form that, with the code and data versions, hashes to
the product id.

Examples
--------
>>> q = Query.from_params(src_name="Crab", T1="2003-03-15", T2="2004-03-15", radius=10)
>>> round(q.RA, 4), q.T_format
(83.6331, 'isot')
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .errors import QueryError
from .timeutil import T_FORMATS, parse_time, time_to_ijd

__all__ = ["Query", "INSTRUMENTS", "PRODUCTS", "LIMITS", "DATA_RIGHTS", "DEFAULT_RADIUS", "ACS_SPECTRA", "INPUT_ALIASES",
           "expand_t0"]

DATA_RIGHTS = ("public", "all-private")

INSTRUMENTS = ("isgri", "jemx", "spi_acs")
PRODUCTS = ("image", "spectrum", "lc", "spectral_fit")
#: Channel grids a spectrum is extracted on (before ``rebin``).
CHANNEL_GRIDS = ("osa11", "osa10", "catalogue")
#: Spectral models of ``spectral_fit`` (``+`` sums are allowed: ``powerlaw+bbody``).
SPECTRAL_MODELS = ("powerlaw", "cutoffpl", "bknpower", "bbody", "comptt")
#: Spectra of SPI-ACS fluence conversions and upper limits (core.instruments.spi_acs.response).
ACS_SPECTRA = ("short_grb", "long_grb", "magnetar", "solar_flare")

#: Allowed ranges, shown in every error message and exposed to the UI and API.
LIMITS = {
    "radius": (0.0, 30.0),          # deg, pointing-axis distance from the target
    "max_pointings": (1, 10000),
    "E_keV": {"isgri": (15.0, 1000.0), "jemx": (3.0, 35.0), "spi_acs": (75.0, 100000.0)},
    "detection_threshold": (3.0, 100.0),
    "time_bin_sec": (20.0, 20000.0),
    "min_good_time": (0.0, 3600.0),
    "rebin": (1, 64),
    "systematic_fraction": (0.0, 0.5),
    "selected_catalog": (1, 200),   # sources
}

#: Default cone radius (deg) per instrument, as the ODA INTEGRAL plugin's (fully coded field + half the partially coded).
DEFAULT_RADIUS = {"isgri": 15.0, "jemx": 4.0}

#: Fields that only some products use: left out of the other products' canonical form (and id).
#: (``detection_threshold`` serves every product: spectra and light curves without a
#: catalogue find their sources in an image of the field.)
_PRODUCT_FIELDS = {
    "time_bin": ("lc",), "time_bin_format": ("lc",),
    "channel_grid": ("spectrum", "spectral_fit"), "rebin": ("spectrum", "spectral_fit"),
    "systematic_fraction": ("spectrum", "spectral_fit"),
    "spectral_model": ("spectral_fit",),
    "selected_catalog": ("spectrum", "lc", "spectral_fit"),
}
#: Fields of one instrument's products only (left out of the others' canonical form and id).
_INSTRUMENT_FIELDS = {"acs_spectrum": ("spi_acs",), "jemx_num": ("jemx",)}
#: JEM-X units (``jemx_num``); the ODA plugin's default is 2.
JEMX_UNITS = (1, 2)
#: Accepted as input, not stored: ``T0`` and ``window`` (s) stand for T1 = T0 − window, T2 = T0 + window.
INPUT_ALIASES = ("T0", "window")


def _num(name, value, lo=None, hi=None, integer=False, lo_open=False):
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise QueryError(name, f"{value!r} is not a number", _range(lo, hi, lo_open)) from None
    if not math.isfinite(x):
        raise QueryError(name, f"{value!r} is not finite", _range(lo, hi, lo_open))
    if integer:
        if x != int(x):
            raise QueryError(name, f"{value!r} is not a whole number", _range(lo, hi, lo_open))
        x = int(x)
    if lo is not None and (x < lo or (lo_open and x == lo)) or hi is not None and x > hi:
        raise QueryError(name, f"{value!r} is out of range", _range(lo, hi, lo_open))
    return x


def _range(lo, hi, lo_open=False):
    if lo is None and hi is None:
        return None
    return f"{'>' if lo_open else '≥'} {lo} and ≤ {hi}" if hi is not None else f"≥ {lo}"


def _parse_angle(name, value, is_ra):
    """Degrees, or sexagesimal (RA in hours) like '05:34:31.9' / '05h34m31.9s'."""
    if isinstance(value, (int, float, np.floating)) and not isinstance(value, bool):
        x = float(value)
    else:
        text = str(value).strip()
        try:
            x = float(text)
        except ValueError:
            from astropy.coordinates import Angle
            import astropy.units as u

            try:
                unit = u.hourangle if is_ra and not text.endswith(("d", "°")) else u.deg
                x = float(Angle(text, unit=unit).deg)  # a numpy scalar breaks to_params' `in` tests
            except Exception:
                raise QueryError(name, f"cannot read {text!r} as an angle",
                                 "degrees, or sexagesimal e.g. 05:34:31.9" if is_ra else "degrees, or e.g. +22:00:52") from None
    lo, hi = (0.0, 360.0) if is_ra else (-90.0, 90.0)
    if not math.isfinite(x) or x < lo or x > hi:
        raise QueryError(name, f"{value!r} is out of range", f"{lo} .. {hi} deg")
    return x % 360.0 if is_ra else x


@dataclass(frozen=True)
class Query:
    """A validated request. Build it with :meth:`from_params`, never by hand."""

    src_name: str = ""
    RA: float = math.nan
    DEC: float = math.nan
    T1: str = ""
    T2: str = ""
    T_format: str = "isot"
    radius: float = 15.0           # ODA's INTEGRAL plugin: 15° for ISGRI, 4° for JEM-X (DEFAULT_RADIUS)
    max_pointings: int = 50
    scw_list: tuple[str, ...] = ()
    min_good_time: float = 1000.0
    instrument: str = "isgri"
    product_type: str = "image"
    E1_keV: float = 20.0
    E2_keV: float = 40.0
    detection_threshold: float = 7.0
    time_bin: float = 0.0          # 0: one point per ScW
    time_bin_format: str = "sec"
    channel_grid: str = "osa11"
    rebin: int = 1
    #: Fractional systematic error written to SYS_ERR of every channel and used by the χ² fits.
    #: 1 % is OSA's advice for ISGRI ("systematic uncertainties of 1% should be added to ISGRI
    #: counts, fluxes", OSA 10.2 / 11.2 known issues).
    systematic_fraction: float = 0.01
    spectral_model: str = "powerlaw"
    #: SPI-ACS: spectrum assumed for fluences and upper limits (see ACS_SPECTRA).
    acs_spectrum: str = "short_grb"
    #: JEM-X: which unit (1 or 2), as the ODA plugin's ``jemx_num`` (default 2).
    jemx_num: int = 2
    #: ``((name, ra, dec), ...)`` sources to extract; empty = find them in an image of the field.
    selected_catalog: tuple = ()
    #: ``public`` or ``all-private`` (ODA's name): private products get ids salted with the
    #: deployment secret, so nobody derives them from the public query.
    integral_data_rights: str = "public"
    ijd1: float = field(default=math.nan, repr=False)
    ijd2: float = field(default=math.nan, repr=False)

    @classmethod
    def parameter_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if not f.name.startswith("ijd")]

    @classmethod
    def from_params(cls, params: dict | None = None, **kw) -> "Query":
        """Validate user parameters (strings or numbers) into a query.

        Raises
        ------
        QueryError
            naming the first bad field and its allowed range.
        """
        p = {**(params or {}), **kw}
        p = {k: v for k, v in p.items() if v is not None and not (isinstance(v, str) and v.strip() == "")}
        if "T0" in p or "window" in p:
            p = expand_t0(p)
        unknown = set(p) - set(cls.parameter_names())
        if unknown:
            name = sorted(unknown)[0]
            raise QueryError(name, "is not a parameter", ", ".join(cls.parameter_names()))
        from .archive.scwid import parse_scw_list
        from .instruments.base import get_instrument

        out: dict = {}
        out["instrument"] = str(p.get("instrument", "isgri")).strip().lower()
        if out["instrument"] not in INSTRUMENTS:
            raise QueryError("instrument", f"unknown instrument {p['instrument']!r}", ", ".join(INSTRUMENTS))
        inst = get_instrument(out["instrument"], None)  # registered instruments declare their own limits
        default_product = next(iter(inst.products.values())) if inst is not None else "image"
        out["product_type"] = str(p.get("product_type", default_product)).strip().lower()
        if out["product_type"] not in PRODUCTS:
            raise QueryError("product_type", f"unknown product {p['product_type']!r}", ", ".join(PRODUCTS))
        if inst is not None and out["product_type"] not in inst.products.values():
            raise QueryError("product_type", f"{out['product_type']!r} is not a product of {inst.label}",
                             ", ".join(inst.products.values()))

        scw = parse_scw_list(p["scw_list"]) if "scw_list" in p else []
        out["scw_list"] = tuple(sorted({str(s) for s in scw}))

        src_name = str(p.get("src_name", "")).strip()
        out["src_name"] = src_name
        if "RA" in p or "DEC" in p:
            if "RA" not in p or "DEC" not in p:
                missing = "DEC" if "RA" in p else "RA"
                raise QueryError(missing, "is needed when the other coordinate is given", "degrees")
            out["RA"] = _parse_angle("RA", p["RA"], True)
            out["DEC"] = _parse_angle("DEC", p["DEC"], False)
        elif src_name:
            from .sky.resolve import resolve_name

            r = resolve_name(src_name)
            out["RA"], out["DEC"], out["src_name"] = r.ra, r.dec, r.name
        elif not out["scw_list"] and (inst is None or inst.needs_position):
            raise QueryError("src_name", "give a source name, or RA and DEC, or a scw_list",
                             "a catalogue name, or RA 0..360 and DEC -90..90 deg")

        t_format = str(p.get("T_format", "isot")).strip().lower()
        if t_format not in T_FORMATS:
            raise QueryError("T_format", f"unknown time format {t_format!r}", ", ".join(T_FORMATS))
        out["T_format"] = t_format
        if not out["scw_list"] or "T1" in p or "T2" in p:
            if "T1" not in p or "T2" not in p:
                raise QueryError("T1" if "T1" not in p else "T2", "is required", "a time within the mission")
            t1 = parse_time(p["T1"], t_format, "T1")
            t2 = parse_time(p["T2"], t_format, "T2")
            if t2 <= t1:
                raise QueryError("T2", f"must be after T1 ({t1.utc.isot[:19]})", "T2 > T1")
            out["ijd1"], out["ijd2"] = round(float(time_to_ijd(t1)), 8), round(float(time_to_ijd(t2)), 8)
            out["T1"], out["T2"] = str(p["T1"]).strip(), str(p["T2"]).strip()
            span = (out["ijd2"] - out["ijd1"]) * 86400.0
            if inst is not None and inst.max_span_s is not None and not inst.min_span_s <= span <= inst.max_span_s:
                raise QueryError("T2", f"T2 - T1 = {span:.6g} s is out of range for {inst.label}",
                                 f"{inst.min_span_s:g} .. {inst.max_span_s:g} s")

        out["radius"] = _num("radius", p.get("radius", DEFAULT_RADIUS.get(out["instrument"], 15.0)),
                             *LIMITS["radius"], lo_open=True)
        out["max_pointings"] = _num("max_pointings", p.get("max_pointings", 50), *LIMITS["max_pointings"], integer=True)
        out["min_good_time"] = _num("min_good_time", p.get("min_good_time", 1000.0), *LIMITS["min_good_time"])
        elo, ehi = LIMITS["E_keV"][out["instrument"]]
        d1, d2 = inst.default_band_keV if inst is not None else (max(20.0, elo), min(40.0, ehi) if elo < 40 else ehi)
        out["E1_keV"] = _num("E1_keV", p.get("E1_keV", d1), elo, ehi)
        out["E2_keV"] = _num("E2_keV", p.get("E2_keV", d2), elo, ehi)
        if out["E2_keV"] <= out["E1_keV"]:
            raise QueryError("E2_keV", f"must exceed E1_keV ({out['E1_keV']:g})", f"{elo:g} < E1_keV < E2_keV ≤ {ehi:g}")
        out["detection_threshold"] = _num("detection_threshold", p.get("detection_threshold",
                                                                        inst.default_threshold if inst is not None else 7.0),
                                          *LIMITS["detection_threshold"])
        tbf = str(p.get("time_bin_format", "sec")).strip().lower()
        if tbf not in ("sec", "jd"):
            raise QueryError("time_bin_format", f"unknown unit {tbf!r}", "sec, jd")
        out["time_bin_format"] = tbf
        tb = p.get("time_bin", 0.0)
        binning = inst.time_binning if inst is not None else None
        if binning is not None:
            tb = _instrument_time_bin(binning, tb, 86400.0 if tbf == "jd" else 1.0)
        elif float(_num("time_bin", tb, 0.0, None)) != 0.0:
            lo, hi = LIMITS["time_bin_sec"]
            scale = 86400.0 if tbf == "jd" else 1.0
            _num("time_bin", float(tb) * scale, lo, hi)
        out["time_bin"] = float(tb)
        grid = str(p.get("channel_grid", "osa11")).strip().lower()
        if grid not in CHANNEL_GRIDS:
            raise QueryError("channel_grid", f"unknown channel grid {grid!r}", ", ".join(CHANNEL_GRIDS))
        out["channel_grid"] = grid
        out["rebin"] = _num("rebin", p.get("rebin", 1), *LIMITS["rebin"], integer=True)
        out["systematic_fraction"] = _num("systematic_fraction", p.get("systematic_fraction", 0.01),
                                          *LIMITS["systematic_fraction"])
        model = str(p.get("spectral_model", "powerlaw")).strip().lower().replace(" ", "")
        if not model or any(m not in SPECTRAL_MODELS for m in model.split("+")):
            raise QueryError("spectral_model", f"unknown model {model!r}",
                             ", ".join(SPECTRAL_MODELS) + " or sums such as powerlaw+bbody")
        out["spectral_model"] = model
        out["selected_catalog"] = parse_catalog(p.get("selected_catalog", ()))
        rights = str(p.get("integral_data_rights", "public")).strip().lower()
        rights = "public" if rights in ("", "none", "\x00") else rights
        if rights not in DATA_RIGHTS:
            raise QueryError("integral_data_rights", f"unknown data rights {rights!r}", ", ".join(DATA_RIGHTS))
        out["integral_data_rights"] = rights
        spec = str(p.get("acs_spectrum", "short_grb")).strip().lower()
        if spec not in ACS_SPECTRA:
            raise QueryError("acs_spectrum", f"unknown spectrum {spec!r}", ", ".join(ACS_SPECTRA))
        out["acs_spectrum"] = spec
        num = p.get("jemx_num", 2)
        try:
            num_i = int(float(str(num).strip()))
        except (TypeError, ValueError):
            num_i = None
        if num_i not in JEMX_UNITS or float(str(num).strip()) != num_i:
            raise QueryError("jemx_num", f"unknown JEM-X unit {str(num)[:20]!r}", "1, 2")
        out["jemx_num"] = num_i
        return cls(**out)

    # -- canonical form and ids -------------------------------------------------------------
    def canonical(self) -> dict:
        """Normal form: what determines the products (display-only fields left out)."""
        d = asdict(self)
        d.pop("T1"), d.pop("T2"), d.pop("T_format")
        for k in ("RA", "DEC"):
            d[k] = None if not math.isfinite(d[k]) else round(d[k], 6)
        for k in ("ijd1", "ijd2"):
            d[k] = None if not math.isfinite(d[k]) else round(d[k], 8)
        d["scw_list"] = list(d["scw_list"])
        d["selected_catalog"] = [list(r) for r in d["selected_catalog"]]
        for name, products in _PRODUCT_FIELDS.items():
            if self.product_type not in products:
                d.pop(name)
        for name, insts in _INSTRUMENT_FIELDS.items():
            if self.instrument not in insts:
                d.pop(name)
        if d["integral_data_rights"] == "public":  # public ids are what they always were
            d.pop("integral_data_rights")
        return d

    @staticmethod
    def used_fields(product_type: str, instrument: str | None = None) -> list[str]:
        """Parameter names a product (of ``instrument``) depends on (the others are ignored by it)."""
        return [f.name for f in fields(Query) if not f.name.startswith("ijd")
                and product_type in _PRODUCT_FIELDS.get(f.name, (product_type,))
                and (f.name not in _INSTRUMENT_FIELDS or instrument in _INSTRUMENT_FIELDS[f.name])]

    def product_id(self, *extra_versions: str) -> str:
        """Content hash of the canonical query plus code and data versions (hex, 24 chars)."""
        from . import CODE_VERSION
        from .archive.pointings import HISTORY_VERSION

        doc = {"q": self.canonical(), "code": CODE_VERSION, "history": HISTORY_VERSION, "extra": list(extra_versions)}
        if self.integral_data_rights != "public":
            import hmac

            from .config import deployment_secret

            doc["scope"] = hmac.new(deployment_secret(), b"private-product-id:" + self.integral_data_rights.encode(),
                                    hashlib.sha256).hexdigest()
        payload = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:24]

    def to_params(self) -> dict:
        """User-level parameters that reproduce this query through :meth:`from_params`."""
        d = {k: v for k, v in asdict(self).items() if not k.startswith("ijd")}
        for name, insts in _INSTRUMENT_FIELDS.items():
            if self.instrument not in insts:
                d.pop(name)
        d["scw_list"] = list(d["scw_list"])
        d["selected_catalog"] = [list(r) for r in d["selected_catalog"]]
        if d["integral_data_rights"] == "public":
            d.pop("integral_data_rights")
        return {k: v for k, v in d.items() if v not in ("", (), []) and not (isinstance(v, float) and math.isnan(v))}

    def with_(self, **changes) -> "Query":
        """A re-validated copy with some parameters changed."""
        return type(self).from_params({**self.to_params(), **changes})



def expand_t0(p: dict) -> dict:
    """``T0`` (in T_format) and ``window`` (s, default 300) → T1/T2 symmetric around T0."""
    if "T0" not in p:
        raise QueryError("T0", "is required with window", "a time in T_format")
    if "T1" in p or "T2" in p:
        raise QueryError("T0", "give either T0 (and window) or T1 and T2", "T0 with window, or T1 and T2")
    from .timeutil import ijd_to_time

    window = _num("window", p.get("window", 300.0), 0.0, 43200.0, lo_open=True)
    fmt = str(p.get("T_format", "isot")).strip().lower()
    t0 = parse_time(p["T0"], fmt if fmt in T_FORMATS else None, "T0")
    ijd = float(time_to_ijd(t0))
    q = {k: v for k, v in p.items() if k not in ("T0", "window")}
    q["T1"] = ijd_to_time(ijd - window / 86400.0).utc.isot
    q["T2"] = ijd_to_time(ijd + window / 86400.0).utc.isot
    q["T_format"] = "isot"
    return q


def _instrument_time_bin(binning, value, scale: float) -> float:
    """An instrument's time bin: a multiple of its step within its limits (0 or none: its default)."""
    x = _num("time_bin", value, 0.0, None)
    if x == 0.0:
        return float(binning.default) / scale
    sec = x * scale
    if not binning.lo - 1e-9 <= sec <= binning.hi + 1e-9:
        raise QueryError("time_bin", f"{value!r} is out of range", binning.allowed())
    if binning.step and abs(sec / binning.step - round(sec / binning.step)) > 1e-6:
        raise QueryError("time_bin", f"{value!r} s is not a multiple of {binning.step:g} s", binning.allowed())
    return float(x)


def parse_catalog(value) -> tuple:
    """Normalise a source list to ``((name, ra_deg, dec_deg), ...)`` sorted by name.

    Accepts ODA's ``selected_catalog`` / ``api_cat_str`` JSON (text or dict), a list of
    ``{"name", "ra", "dec"}`` mappings, or of ``(name, ra, dec)`` triplets. An astropy
    Table (ECSV/FITS upload) goes through :func:`core.spectral.catalog.catalog_rows`.
    """
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        return ()
    rows = []
    try:
        if isinstance(value, (str, bytes, bytearray)):
            from .safejson import loads as safe_loads

            value = safe_loads(value, field="selected_catalog")
        if isinstance(value, dict):
            names = list(value["cat_column_names"])
            cols = dict(zip(names, value["cat_column_list"]))
            lname = {n.lower(): n for n in names}
            nm = cols[lname.get("src_names", lname.get("name", "src_names"))]
            ra = cols[value.get("cat_lon_name", lname.get("ra", "ra"))]
            dec = cols[value.get("cat_lat_name", lname.get("dec", "dec"))]
            rows = list(zip(nm, ra, dec))
        else:
            for r in value:
                if isinstance(r, dict):
                    low = {str(k).lower(): v for k, v in r.items()}
                    rows.append((low.get("name", low.get("src_names", "")), low["ra"], low["dec"]))
                else:
                    name, ra, dec = r
                    rows.append((name, ra, dec))
    except QueryError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise QueryError("selected_catalog", f"cannot read the source list ({exc.__class__.__name__}: {exc})",
                         "ODA catalogue JSON or a list of {name, ra, dec}") from None
    lo, hi = LIMITS["selected_catalog"]
    if len(rows) > hi:
        raise QueryError("selected_catalog", f"{len(rows)} sources", f"{lo} .. {hi} sources")
    out = {}
    for i, (name, ra, dec) in enumerate(rows):
        ra = _parse_angle("selected_catalog", ra, True)
        dec = _parse_angle("selected_catalog", dec, False)
        base = name = str(name).strip() or f"SRC_{i + 1}"
        k = 1
        while name in out:  # names key the files and products: two peaks matched to one name
            k += 1
            name = f"{base}_{k}"
        out[name] = (name, round(ra, 6), round(dec, 6))
    return tuple(out[k] for k in sorted(out))
