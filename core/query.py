"""The analysis query: one typed, validated object that every front end builds.

Parameter names are those of the ODA dispatcher (``RA``, ``DEC``, ``T1``, ``T2``,
``T_format``, ``radius``, ``max_pointings``, ``scw_list``, ``E1_keV``, ``E2_keV``,
``detection_threshold``, ``time_bin``, ``jemx_num``...), so ODA users' requests map one to
one; their types, defaults, ranges per instrument and the products that use them are those of
the parameter table, :data:`core.params.TABLE`. :meth:`Query.canonical` is the normal form
that, with the code and data versions, hashes to the product id: only the parameters the
product of that instrument uses enter it.

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
from .params import (ACS_SPECTRA, CHANNEL_GRIDS, DATA_RIGHTS, INSTRUMENTS, OSA_VERSIONS, PRODUCTS, SPECTRAL_MODELS,
                     TABLE, param, used_by)
from .timeutil import T_FORMATS, parse_time, time_to_ijd

__all__ = ["Query", "INSTRUMENTS", "PRODUCTS", "LIMITS", "DATA_RIGHTS", "DEFAULT_RADIUS", "ACS_SPECTRA", "INPUT_ALIASES",
           "CHANNEL_GRIDS", "SPECTRAL_MODELS", "expand_t0", "parse_catalog"]


def _limits(name, instrument="isgri"):
    p = param(name).at(instrument)
    return (p.minimum, p.maximum)


#: Allowed ranges (read from :data:`core.params.TABLE`; kept for the modules that read them).
LIMITS = {
    "radius": _limits("radius"),
    "max_pointings": _limits("max_pointings"),
    "E_keV": {i: _limits("E1_keV", i) for i in INSTRUMENTS},
    "detection_threshold": _limits("detection_threshold"),
    "time_bin_sec": _limits("time_bin"),
    "min_good_time": _limits("min_good_time"),
    "rebin": _limits("rebin"),
    "systematic_fraction": _limits("systematic_fraction"),
    "selected_catalog": _limits("selected_catalog"),
}

#: Default cone radius (deg) per instrument, as the ODA INTEGRAL plugin's front end.
DEFAULT_RADIUS = {i: param("radius").at(i).default for i in param("radius").instruments}

#: Accepted as input, not stored: ``T0`` and ``window`` (s) stand for T1 = T0 − window, T2 = T0 + window;
#: ``osa_version`` selects the channel grid.
INPUT_ALIASES = tuple(p.name for p in TABLE if p.role == "alias")


def _d(name):
    """The dataclass default: the table's (for the default instrument)."""
    return param(name).at("isgri").default


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
    p = param("RA" if is_ra else "DEC")
    lo, hi = p.minimum, p.maximum
    if not math.isfinite(x) or x < lo or x > hi:
        raise QueryError(name, f"{value!r} is out of range", f"{lo} .. {hi} deg")
    return x % 360.0 if is_ra else x


@dataclass(frozen=True)
class Query:
    """A validated request. Build it with :meth:`from_params`, never by hand.

    Fields are the query parameters of :data:`core.params.TABLE` (defaults: the default
    instrument's; :meth:`from_params` applies each instrument's own).
    """

    src_name: str = _d("src_name")
    RA: float = math.nan
    DEC: float = math.nan
    T1: str = ""
    T2: str = ""
    T_format: str = _d("T_format")
    instrument: str = _d("instrument")
    jemx_num: int = _d("jemx_num")
    product_type: str = _d("product_type")
    E1_keV: float = _d("E1_keV")
    E2_keV: float = _d("E2_keV")
    detection_threshold: float = _d("detection_threshold")
    time_bin: float = _d("time_bin")          # 0: one point per ScW
    time_bin_format: str = _d("time_bin_format")
    channel_grid: str = _d("channel_grid")
    rebin: int = _d("rebin")
    #: Fractional systematic error written to SYS_ERR of every channel and used by the χ² fits.
    #: 1 % is OSA's advice for ISGRI ("systematic uncertainties of 1% should be added to ISGRI
    #: counts, fluxes", OSA 10.2 / 11.2 known issues).
    systematic_fraction: float = _d("systematic_fraction")
    spectral_model: str = _d("spectral_model")
    #: Instruments whose spectra ``spectral_fit`` fits together (the query's own first).
    joint_instruments: tuple[str, ...] = _d("joint_instruments")
    #: SPI-ACS: spectrum assumed for fluences and upper limits (see ACS_SPECTRA).
    acs_spectrum: str = _d("acs_spectrum")
    radius: float = _d("radius")
    max_pointings: int = _d("max_pointings")
    min_good_time: float = _d("min_good_time")
    scw_list: tuple[str, ...] = ()
    #: ``((name, ra, dec), ...)`` sources to extract; empty = find them in an image of the field.
    selected_catalog: tuple = ()
    #: ``public`` or ``all-private`` (ODA's name): private products get ids salted with the
    #: deployment secret, so nobody derives them from the public query.
    integral_data_rights: str = _d("integral_data_rights")
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
        names = cls.parameter_names()
        unknown = set(p) - set(names) - {"osa_version"}
        if unknown:
            name = sorted(unknown)[0]
            raise QueryError(name, "is not a parameter", ", ".join(names))
        from .archive.scwid import parse_scw_list
        from .instruments.base import get_instrument

        out: dict = {}
        out["instrument"] = param("instrument").choice(p.get("instrument", param("instrument").default))
        instrument = out["instrument"]

        def spec(name):
            return param(name).at(instrument)

        def given(name):
            return p.get(name, spec(name).default)

        inst = get_instrument(instrument, None)  # registered instruments declare their products and spans
        pt = spec("product_type")
        ptype = str(given("product_type")).strip().lower()
        if ptype not in PRODUCTS:
            raise QueryError("product_type", f"unknown product {ptype[:40]!r}", pt.allowed())
        products = list(inst.products.values()) if inst is not None else list(pt.choices)
        if ptype not in products or ptype not in pt.choices:
            label = inst.label if inst is not None else instrument
            raise QueryError("product_type", f"{ptype!r} is not a product of {label}",
                             ", ".join(x for x in products if x in pt.choices))
        out["product_type"] = ptype
        out["jemx_num"] = spec("jemx_num").check(given("jemx_num"))

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

        t_format = spec("T_format").choice(given("T_format"))
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

        for name in ("radius", "max_pointings", "min_good_time"):
            out[name] = spec(name).number(given(name))
        out["E1_keV"] = spec("E1_keV").number(given("E1_keV"))
        out["E2_keV"] = spec("E2_keV").number(given("E2_keV"))
        if out["E2_keV"] <= out["E1_keV"]:
            elo, ehi = spec("E2_keV").minimum, spec("E2_keV").maximum
            raise QueryError("E2_keV", f"must exceed E1_keV ({out['E1_keV']:g})", f"{elo:g} < E1_keV < E2_keV ≤ {ehi:g}")
        out["detection_threshold"] = spec("detection_threshold").number(given("detection_threshold"))
        out["time_bin_format"] = spec("time_bin_format").choice(given("time_bin_format"))
        tb = spec("time_bin")
        scale = 86400.0 if out["time_bin_format"] == "jd" else 1.0
        x = tb.number(p.get("time_bin", 0.0), scale=scale)
        out["time_bin"] = float(tb.default) / scale if x == 0 and tb.default else float(x)
        grid = p.get("channel_grid")
        if grid is None and "osa_version" in p:
            grid = OSA_VERSIONS[param("osa_version").choice(p["osa_version"])]
        elif "osa_version" in p:
            param("osa_version").choice(p["osa_version"])  # still a valid one
        out["channel_grid"] = spec("channel_grid").choice(grid if grid is not None else spec("channel_grid").default)
        out["rebin"] = spec("rebin").number(given("rebin"))
        out["systematic_fraction"] = spec("systematic_fraction").number(given("systematic_fraction"))
        model = str(given("spectral_model")).strip().lower().replace(" ", "")
        if not model or any(m not in SPECTRAL_MODELS for m in model.split("+")):
            raise QueryError("spectral_model", f"unknown model {model!r}",
                             ", ".join(SPECTRAL_MODELS) + " or sums such as powerlaw+bbody")
        out["spectral_model"] = model
        out["joint_instruments"] = _joint_instruments(p.get("joint_instruments"), instrument)
        out["selected_catalog"] = parse_catalog(p.get("selected_catalog", ()))
        rights = str(given("integral_data_rights")).strip().lower()
        rights = "public" if rights in ("", "none", "\x00") else rights
        out["integral_data_rights"] = spec("integral_data_rights").choice(rights)
        out["acs_spectrum"] = spec("acs_spectrum").choice(given("acs_spectrum"))
        return cls(**out)

    # -- canonical form and ids -------------------------------------------------------------
    def _applicable(self) -> dict:
        """Query fields with their values, only those this product of this instrument uses,
        and without the defaults that ids have always left out."""
        d = asdict(self)
        for p in TABLE:
            if p.role != "query":
                continue
            inst = self._user_of(p, self.product_type)
            if inst is None:
                d.pop(p.name)
            elif p.id_omits_default and d[p.name] == p.at(inst).default:
                d.pop(p.name)
        return d

    def _user_of(self, p, product: str | None) -> str | None:
        """The instrument of this query that uses parameter ``p``: the query's own, else one of
        its ``joint_instruments`` (a joint ISGRI + JEM-X fit depends on ``jemx_num``)."""
        for inst in (self.instrument,) + tuple(i for i in (self.joint_instruments or ()) if i != self.instrument):
            if p.uses(product, inst):
                return inst
        return None

    def canonical(self) -> dict:
        """Normal form: what determines the products (display-only fields left out)."""
        d = self._applicable()
        d.pop("T1"), d.pop("T2"), d.pop("T_format")
        for k in ("RA", "DEC"):
            d[k] = None if not math.isfinite(d[k]) else round(d[k], 6)
        for k in ("ijd1", "ijd2"):
            d[k] = None if not math.isfinite(d[k]) else round(d[k], 8)
        for k in ("scw_list", "joint_instruments"):
            if k in d:
                d[k] = list(d[k])
        if "selected_catalog" in d:
            d["selected_catalog"] = [list(r) for r in d["selected_catalog"]]
        return d

    @staticmethod
    def used_fields(product_type: str, instrument: str | None = None) -> list[str]:
        """Parameter names a product (of ``instrument``) depends on (the others are ignored by it)."""
        return used_by(product_type, instrument or "isgri")

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
        """User-level parameters that reproduce this query through :meth:`from_params`
        (those of the instrument; product-specific ones kept, so that ``with_`` can switch products)."""
        d = {k: v for k, v in asdict(self).items() if not k.startswith("ijd")}
        for p in TABLE:
            if p.role != "query":
                continue
            inst = self._user_of(p, None)
            if inst is None:
                d.pop(p.name)
            elif p.id_omits_default and d[p.name] == p.at(inst).default:
                d.pop(p.name)
        for k in ("scw_list", "joint_instruments"):
            if k in d:
                d[k] = list(d[k])
        if "selected_catalog" in d:
            d["selected_catalog"] = [list(r) for r in d["selected_catalog"]]
        return {k: v for k, v in d.items() if v not in ("", (), []) and not (isinstance(v, float) and math.isnan(v))}

    def with_(self, **changes) -> "Query":
        """A re-validated copy with some parameters changed."""
        return type(self).from_params({**self.to_params(), **changes})


def _joint_instruments(value, instrument: str) -> tuple:
    """``joint_instruments`` normalised: the query's instrument first, then the others, each served."""
    p = param("joint_instruments")
    if instrument not in p.instruments:
        return ()
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return tuple(p.at(instrument).default)
    chosen = p.items(value)
    if instrument not in chosen:
        raise QueryError("joint_instruments", f"must include the query's instrument ({instrument})",
                         p.allowed() + f", including {instrument}")
    from .params import served_instruments

    served = served_instruments()
    for i in chosen:
        if i not in served:
            raise QueryError("joint_instruments", f"{i} products are not available yet",
                             ", ".join(x for x in p.choices if x in served))
    return (instrument,) + tuple(i for i in p.choices if i in chosen and i != instrument)


def expand_t0(p: dict) -> dict:
    """``T0`` (in T_format) and ``window`` (s, default 300) → T1/T2 symmetric around T0."""
    if "T0" not in p:
        raise QueryError("T0", "is required with window", "a time in T_format")
    if "T1" in p or "T2" in p:
        raise QueryError("T0", "give either T0 (and window) or T1 and T2", "T0 with window, or T1 and T2")
    from .timeutil import ijd_to_time

    window = param("window").number(p.get("window", param("window").default))
    fmt = str(p.get("T_format", "isot")).strip().lower()
    t0 = parse_time(p["T0"], fmt if fmt in T_FORMATS else None, "T0")
    ijd = float(time_to_ijd(t0))
    q = {k: v for k, v in p.items() if k not in ("T0", "window")}
    q["T1"] = ijd_to_time(ijd - window / 86400.0).utc.isot
    q["T2"] = ijd_to_time(ijd + window / 86400.0).utc.isot
    q["T_format"] = "isot"
    return q


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
    lo, hi = param("selected_catalog").minimum, param("selected_catalog").maximum
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
