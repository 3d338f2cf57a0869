"""The query form's state, independent of Dash: form values ⇄ query parameters ⇄ errors.

Like glue's viewer state objects, this module knows nothing of the GUI: the controllers in
``callbacks/`` bind Dash components to these functions, and tests call them directly.

* :data:`FIELDS` — the form's fields: the parameters of :data:`core.params.TABLE` the page
  offers, in their ODA names; :func:`field_hint` their hints, per instrument;
* :func:`form_params` — the non-empty values of a form, as query parameters;
* :func:`validate` — every bad field with its message and allowed range (not only the first);
* :func:`params_from_search` / :func:`share_search` — URL query strings in and out;
* :func:`preset` — T1/T2 of the presets (a revolution, the V404 Cyg outburst, the last year);
* :func:`convert_time` — a date re-written in another time format (the T_format switch);
* :func:`public_limit_error` — the API's refusal of a query without a token, as a field error
  (the page serves what the API serves: the same rule, the same message);
* :data:`FIT_BAND` — the default band of spectral fits.
"""

from __future__ import annotations

import json
import math
from urllib.parse import parse_qsl, urlencode

from core.errors import QueryError
from core import params as table
from core.params import TABLE, check_served, param
from core.query import Query

__all__ = ["FIELDS", "DEFAULTS", "instrument_defaults", "INSTRUMENT_FIELDS", "form_params", "validate",
           "params_from_search", "share_search", "preset", "PRESETS", "energy_range_text", "catalog_rows_param",
           "convert_time", "time_limits", "public_limit_error", "max_pointings_hint", "FIT_BAND", "fit_band",
           "fit_band_note", "field_hint", "HINT_FIELDS", "instrument_options", "instrument_label", "form_value"]

#: Default band of a spectral fit, per instrument: where the ISGRI response is calibrated
#: (the ARF is validated against OSA over 20–300 keV), not the 20–40 keV of an image; other
#: instruments fit over their whole range (:func:`fit_band`).
FIT_BAND = {"isgri": (20.0, 300.0)}

#: Form fields: the query parameters of the table the page offers (``selected_catalog``
#: comes from the sources table), in table order.
FIELDS = tuple(p.name for p in TABLE if p.role == "query" and p.form)

def instrument_label(name: str, *, summary: bool = True) -> str:
    """The registry's name of an instrument for people, e.g. ``SPI-ACS (all-sky light curve)``."""
    from core.instruments.base import get_instrument

    inst = get_instrument(name, None)
    if inst is None:
        return name
    return f"{inst.label} ({inst.summary})" if summary and inst.summary else inst.label


def form_value(value):
    """A table value as the form holds it (lists for checklists, "" for none)."""
    if value is None:
        return ""
    return list(value) if isinstance(value, tuple) else value


#: What an empty page shows: a small, quick Crab image (the table's defaults for the rest).
DEFAULTS = {**{k: form_value(param(k).at("isgri").default) for k in FIELDS},
            "src_name": "Crab", "T1": "2003-03-01", "T2": "2003-04-30", "radius": 10, "max_pointings": 4}
DEFAULTS["scw_list"] = ""

#: Fields whose default depends on the instrument (reset when the instrument changes).
INSTRUMENT_FIELDS = tuple(p.name for p in TABLE if p.name in FIELDS and p.name != "product_type"
                          and any("default" in over for over in p.per_instrument.values()))
#: Fields whose hint depends on the instrument (rewritten when the instrument changes).
HINT_FIELDS = tuple(p.name for p in TABLE if p.name in FIELDS and p.name not in ("max_pointings", "instrument")
                    and (p.choices is None or p.name == "spectral_model") and any(k in over for over in p.per_instrument.values()
                            for k in ("minimum", "maximum", "default", "choices", "step", "zero")))


def instrument_defaults(instrument: str | None) -> dict:
    """Field values an instrument starts with instead of the page's (ISGRI) ones."""
    instrument = (instrument or "isgri").strip().lower()
    if instrument == "isgri" or instrument not in param("instrument").choices:
        return {}
    return {k: form_value(param(k).at(instrument).default) for k in INSTRUMENT_FIELDS
            if param(k).uses(None, instrument)}


def instrument_options() -> list[dict]:
    """The instrument select: the instruments served (the registry's)."""
    return [{"label": instrument_label(name), "value": name} for name in table.served_instruments()]


def field_hint(name: str, instrument: str | None = None) -> str:
    """The hint under a form field: the table's allowed values and default for ``instrument``
    (what an out-of-range value's error says is allowed)."""
    if name == "max_pointings":
        return max_pointings_hint()  # the API's public limit, which the page serves
    p = param(name).at(instrument or "isgri")
    if name in ("T1", "T2", "src_name", "scw_list", "instrument"):
        return p.help if name == "scw_list" else ""
    if name == "spectral_model":
        return p.allowed() + "; sums with +"
    if name == "joint_instruments":
        return "fitted together, with a free cross-normalisation"
    if p.choices is not None:
        return ""  # the control offers the choices
    if name in ("RA", "DEC"):
        return p.allowed() + " deg, or sexagesimal"
    return p.hint()


#: Presets of the time fields (isot); ``revolution`` is computed by :func:`preset`.
PRESETS = {
    "v404": ("2015-06-20T15:50:00", "2015-06-25T04:06:00", "V404 Cyg"),
    "last_year": ("2024-02-28T00:00:00", "2025-02-28T23:59:00", None),
}

#: Placeholders that let validation carry on past a bad required field (to report the others).
_STAND_INS = {"T1": {"isot": "2003-03-01", "mjd": "52699", "ijd": "1155"},
              "T2": {"isot": "2003-04-30", "mjd": "52759", "ijd": "1215"}}


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, (list, tuple)) and not v)


def form_params(values: dict, selected_catalog=None) -> dict:
    """Non-empty form values as query parameters.

    RA/DEC typed by the user win over the name (the name is then only a label); the
    product-specific fields are passed only to the products that use them.
    """
    p = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in FIELDS and not _blank(v)}
    if "scw_list" in p:
        p["scw_list"] = ",".join(s for s in str(p["scw_list"]).replace("\n", ",").replace(" ", ",").split(",") if s)
    if isinstance(p.get("joint_instruments"), (list, tuple)):
        p["joint_instruments"] = ",".join(p["joint_instruments"])
    product = p.get("product_type", "image")
    instrument = str(p.get("instrument") or "isgri").strip().lower()
    if instrument in param("instrument").choices:  # fields this product of this instrument ignores stay out
        p = {k: v for k, v in p.items() if param(k).uses(product if product in param("product_type").choices
                                                          else None, instrument)}
    rows = catalog_rows_param(selected_catalog)
    if rows and param("selected_catalog").uses(product, instrument):
        p["selected_catalog"] = rows
    return p


def catalog_rows_param(rows) -> list:
    """Sources-table rows (dicts with name/ra/dec) as ``selected_catalog`` triplets."""
    out = []
    for r in rows or []:
        try:
            name = str(r.get("name", "")).strip()
            ra, dec = float(r["ra"]), float(r["dec"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(ra) and math.isfinite(dec):
            out.append([name, round(ra, 6), round(dec, 6)])
    return out


def validate(params: dict, *, max_rounds: int = 12) -> tuple[Query | None, dict]:
    """The query, or ``None`` and every bad field: ``{field: {"message", "allowed"}}``.

    :meth:`Query.from_params` stops at the first bad field; to show them all, the bad value
    is replaced (by the default, or a stand-in for required fields) and validation repeated.
    """
    p = dict(params)
    errors: dict = {}
    try:
        check_served(p.get("instrument", "isgri"))
    except QueryError as exc:
        errors["instrument"] = {"message": exc.message, "allowed": exc.allowed or ""}
    for _ in range(max_rounds):
        try:
            q = Query.from_params(p)
        except QueryError as exc:
            f = exc.field
            if f in errors:
                break
            fmt = str(p.get("T_format", "isot")).lower()
            allowed = exc.allowed or ""
            if f in ("T1", "T2") and "must be after" not in exc.message:
                allowed = time_limits(fmt)  # the mission in the format the user writes in
            elif f == "max_pointings":
                allowed = max_pointings_hint()  # what the hint says, and what the API serves
            errors[f] = {"message": exc.message, "allowed": allowed}
            if f in _STAND_INS:
                p[f] = _STAND_INS[f].get(fmt, _STAND_INS[f]["isot"])
            elif f == "src_name":
                p.pop("src_name", None)
                p["RA"], p["DEC"] = 0.0, 0.0
            elif f in ("RA", "DEC"):
                p["RA"], p["DEC"] = 0.0, 0.0
            else:
                p.pop(f, None)
            continue
        return (q if not errors else None), errors
    return None, errors


def time_limits(t_format: str) -> str:
    """The mission's time range written in ``t_format`` (isot, mjd or ijd)."""
    from core.timeutil import mission_bounds_ijd

    lo, hi = mission_bounds_ijd()
    return f"{convert_time(lo, 'ijd', t_format)} .. {convert_time(hi, 'ijd', t_format)}"


def convert_time(value, from_format: str, to_format: str) -> str | None:
    """``value`` (written in ``from_format``) in ``to_format``; None if it does not read.

    ISOT keeps seconds (dates typed without a time stay dates), MJD/IJD keep 6 decimals
    (0.09 s).
    """
    from astropy.time import Time

    from core.timeutil import IJD_MJDREF

    text = str(value if value is not None else "").strip()
    if not text or from_format not in ("isot", "mjd", "ijd") or to_format not in ("isot", "mjd", "ijd"):
        return None
    try:
        if from_format == "isot":
            if not any(c in text for c in "-T:"):
                return None
            t = Time(text, format="isot" if "T" in text else "iso", scale="utc")
        else:
            x = float(text)
            t = Time(x + (IJD_MJDREF if from_format == "ijd" else 0.0), format="mjd", scale="tt")
    except (ValueError, TypeError):
        return None
    if to_format == "isot":
        iso = t.utc.isot
        return iso[:10] if iso.endswith("T00:00:00.000") and from_format == "isot" else iso[:19]
    mjd = float(t.tt.mjd)
    return f"{mjd - (IJD_MJDREF if to_format == 'ijd' else 0.0):.6f}".rstrip("0").rstrip(".")


def max_pointings_hint() -> str:
    """The max_pointings range the page may use (the API's public limit: no token here)."""
    lo = param("max_pointings").minimum
    return f"{lo}–{public_max_pointings()} without a token"


def public_max_pointings() -> int:
    from core.config import get_settings
    from server.auth import public_max_scw

    return min(public_max_scw(), get_settings().max_scw, param("max_pointings").maximum)


def public_limit_error(query: Query) -> dict | None:
    """The API's 403 for this query without a token, as ``{"field", "message", "allowed"}``."""
    from server.auth import check_rights
    from server.common import ApiError

    try:
        check_rights(query, "public", None)
    except ApiError as exc:
        field = "scw_list" if query.scw_list else "max_pointings"
        return {"field": field, "message": exc.message.split(": pass token")[0],
                "allowed": max_pointings_hint() + (" ScWs" if query.scw_list else "")}
    return None


def fit_band_note(values: dict) -> str:
    """A warning when a spectral fit's band is too narrow to constrain a spectral shape."""
    if values.get("product_type") != "spectral_fit":
        return ""
    try:
        e1, e2 = float(values.get("E1_keV")), float(values.get("E2_keV"))
    except (TypeError, ValueError):
        return ""
    lo, hi = fit_band(values.get("instrument"))
    if e2 / e1 < 3:
        return (f"The fit will use only {e1:g}–{e2:g} keV (a few channels); fluxes outside it are extrapolated. "
                f"The instrument's spectral range is {lo:g}–{hi:g} keV.")
    return f"The fit uses {e1:g}–{e2:g} keV."


def fit_band(instrument: str | None) -> tuple[float, float]:
    """The band a spectral fit starts with on the page: FIT_BAND, else the instrument's range."""
    instrument = instrument if instrument in param("instrument").choices else "isgri"
    if instrument in FIT_BAND:
        return FIT_BAND[instrument]
    p = param("E1_keV").at(instrument)
    return (p.minimum, p.maximum)


def energy_range_text(instrument: str) -> str:
    """The band's allowed range for ``instrument`` (as E1_keV/E2_keV errors give it)."""
    instrument = instrument if instrument in param("instrument").choices else "isgri"
    p = param("E1_keV").at(instrument)
    label = instrument_label(instrument, summary=False)
    return f"{p.minimum:g}–{p.maximum:g} keV for {label} ({p.allowed()})"


# -- URLs ------------------------------------------------------------------------------------
def params_from_search(search: str | None) -> dict:
    """Query parameters of a page URL's query string (``?src_name=Crab&T1=...``)."""
    if not search:
        return {}
    out = {}
    pairs = parse_qsl(search.lstrip("?"), keep_blank_values=False)
    raw = dict(pairs)
    if "T0" in raw and "T1" not in raw and "T2" not in raw:  # T0 ± window (SPI-ACS links): as T1/T2
        from core.query import expand_t0

        try:
            t = expand_t0({k: raw[k] for k in ("T0", "window", "T_format") if k in raw})
            pairs = [(k, v) for k, v in pairs if k not in ("T0", "window", "T_format")] + \
                [("T1", t["T1"]), ("T2", t["T2"]), ("T_format", "isot")]
        except QueryError:
            pass  # left out: the form then shows what is missing
    for k, v in pairs:
        if k == "selected_catalog":
            try:
                out[k] = json.loads(v)
            except ValueError:
                out[k] = v
        elif k in FIELDS or k in ("product",):
            out[k] = v
    return out


def share_search(query: Query) -> str:
    """The query string that replays ``query`` (its user-level parameters, no defaults dropped)."""
    p = query.to_params()
    keep = set(query.canonical()) | {"src_name", "T1", "T2", "T_format"}
    items = []
    for k in FIELDS:
        if k not in p or k not in keep:
            continue
        v = p[k]
        if k == "scw_list":
            v = ",".join(v)
        if k in ("RA", "DEC") and p.get("src_name") and _name_gives_position(p["src_name"], p.get("RA"), p.get("DEC")):
            continue  # the name resolves to this very position: readable URLs
        items.append((k, v if isinstance(v, str) else (f"{v:g}" if isinstance(v, float) else str(v))))
    if query.selected_catalog:
        items.append(("selected_catalog", json.dumps([list(r) for r in query.selected_catalog], separators=(",", ":"))))
    return "?" + urlencode(items)


def _name_gives_position(name: str, ra, dec) -> bool:
    """True when ``name`` resolves (offline) to within 0.36″ of (ra, dec)."""
    from core.sky.resolve import resolve_name

    try:
        r = resolve_name(str(name), allow_online=False)
        return abs(float(ra) - r.ra) < 1e-4 and abs(float(dec) - r.dec) < 1e-4
    except (QueryError, TypeError, ValueError):
        return False


def preset(kind: str, revolution=None) -> dict:
    """Field values of a time preset: ``revolution`` (with its number), ``v404``, ``last_year``.

    Raises
    ------
    QueryError
        For a revolution number outside the mission.
    """
    if kind == "revolution":
        from core.archive.pointings import revolution_of_ijd, revolution_start_ijd
        from core.timeutil import mission_bounds_ijd, ijd_to_isot

        lo, hi = mission_bounds_ijd()
        last = int(revolution_of_ijd(hi))
        try:
            rev = int(str(revolution).strip())
        except (TypeError, ValueError):
            raise QueryError("revolution", f"{revolution!r} is not a revolution number", f"0 .. {last}") from None
        if not 0 <= rev <= last:
            raise QueryError("revolution", f"{rev} is outside the mission", f"0 .. {last}")
        t1 = float(revolution_start_ijd(rev))
        t2 = float(revolution_start_ijd(rev + 1))
        return {"T1": ijd_to_isot(max(t1, lo))[:19], "T2": ijd_to_isot(min(t2, hi))[:19], "T_format": "isot"}
    if kind not in PRESETS:
        raise QueryError("preset", f"unknown preset {kind!r}", ", ".join(["revolution", *PRESETS]))
    t1, t2, src = PRESETS[kind]
    out = {"T1": t1, "T2": t2, "T_format": "isot"}
    if src:
        out["src_name"] = src
    return out
