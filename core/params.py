"""The query parameters, in one table: name, type, unit, default, range or choices per
instrument, the products that use each one, and its help text.

Everything else derives from :data:`TABLE`: the validation and canonical form of
:class:`core.query.Query`, ``/api/par-names``, ``/api/meta-data`` and the OpenAPI document,
the CLI options of ``python -m core``, the page's fields and hints, the snippets and the
reproducing command lines. Names are the ODA dispatcher's (``RA``, ``E1_keV``,
``jemx_num``...), so ODA users' requests map one to one.

Defaults are those of the real INTEGRAL plugin (``cdci_osa_plugin``: ``max_pointings`` 50,
``jemx_num`` 2, JEM-X band 3–35 keV, ``osa_version`` OSA11.2, ``detection_threshold`` 7,
``integral_data_rights`` public; the dispatcher's front end: ``radius`` 15° for ISGRI and 4°
for JEM-X, light curves of 1000 s bins), except where this service documents its own:
``time_bin`` 0 is one point per ScW here (an ODA request without ``time_bin`` still gets the
plugin's 1000 s: :attr:`Param.oda_default`), and there is no default source name.

Examples
--------
>>> param("E1_keV").at("jemx").allowed()
'≥ 3.0 and ≤ 35.0 keV'
>>> param("jemx_num").at("jemx").default
2
>>> "jemx_num" in used_by("image", "isgri")
False
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import astropy.units as u

from .errors import QueryError
from .timeutil import T_FORMATS

__all__ = ["Param", "TABLE", "param", "params", "used_by", "parameter_names", "query_field_names", "INSTRUMENTS",
           "PRODUCTS", "CHANNEL_GRIDS", "SPECTRAL_MODELS", "ACS_SPECTRA", "DATA_RIGHTS", "OSA_VERSIONS",
           "SIGMA", "served_instruments", "check_served", "per_instrument_text", "cli_help", "cli_commands_of",
           "reproduce_command", "json_schema", "CLI_COMMANDS"]

INSTRUMENTS = ("isgri", "jemx", "spi_acs")
PRODUCTS = ("image", "spectrum", "lc", "spectral_fit")
#: The coded-mask imagers: ScW selection, imaging, catalogues, spectra.
_IMAGERS = ("isgri", "jemx")
#: Channel grids an ISGRI spectrum is extracted on (before ``rebin``).
CHANNEL_GRIDS = ("osa11", "osa10", "catalogue")
#: Spectral models of ``spectral_fit`` (``+`` sums are allowed: ``powerlaw+bbody``).
SPECTRAL_MODELS = ("powerlaw", "cutoffpl", "bknpower", "bbody", "comptt")
#: Spectra of SPI-ACS fluence conversions and upper limits (core.instruments.spi_acs.response).
ACS_SPECTRA = ("short_grb", "long_grb", "magnetar", "solar_flare")
DATA_RIGHTS = ("public", "all-private")
#: ``osa_version`` values of the ODA INTEGRAL plugin → our ISGRI channel grid (OSA 10: 62
#: channels, OSA 11: 256); the archive's calibration is otherwise the same for all.
OSA_VERSIONS = {"OSA10.2": "osa10", "OSA11.0": "osa11", "OSA11.1": "osa11", "OSA11.2": "osa11"}

#: Detection significances are in standard deviations of the significance map.
SIGMA = u.def_unit("sigma", doc="standard deviations of a significance map")


@dataclass(frozen=True)
class Param:
    """One query parameter.

    Attributes
    ----------
    name : str
        The ODA name (never renamed).
    type : str
        ``number``, ``integer``, ``string``, ``angle`` (degrees or sexagesimal text),
        ``time`` (in ``T_format``), ``list`` (comma-separated), ``catalog`` (source list).
    help : str
        One line for users (page hints, CLI ``--help``, OpenAPI descriptions).
    unit : astropy unit or None
    default
        Value when not given (None: none; required parameters say so in ``help``).
    minimum, maximum : float or None
        Allowed range (``lo_open``: the minimum itself excluded).
    choices : tuple or None
        Allowed values of strings (and of lists' items).
    step : float or None
        Values must be multiples of it.
    zero : str
        Non-empty when 0 is allowed outside the range, saying what it means.
    products, instruments : tuple
        The products and instruments that use the parameter (others ignore it; it is then
        left out of their canonical form, product id, specs, CLI and page).
    per_instrument : dict
        Instrument → overrides of the attributes above (ranges, defaults, help).
    role : str
        ``query`` (a field of :class:`core.query.Query`), ``alias`` (accepted and turned
        into query fields: ``T0``, ``window``, ``osa_version``) or ``ignored`` (ODA
        parameters accepted that do not change a product).
    oda_default
        What an ODA dispatcher request (``/run_analysis``) gets when it omits the parameter,
        when that differs from ``default``.
    id_omits_default : bool
        The default value is left out of the canonical form (ids stay those of queries made
        before the parameter existed).
    cli : tuple or None
        Extra CLI option strings besides ``--name`` (None: not a CLI option).
    form : bool
        A field of the page's query form.
    selects : bool
        Decides which science windows are used (the ``scws``/``simulate`` commands).
    noun : str
        Used in messages: ``unknown <noun> 'x'``.
    """

    name: str
    type: str
    help: str
    unit: object = None
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    lo_open: bool = False
    choices: tuple | None = None
    step: float | None = None
    zero: str = ""
    products: tuple = PRODUCTS
    instruments: tuple = INSTRUMENTS
    per_instrument: dict = field(default_factory=dict)
    role: str = "query"
    oda_default: object = None
    id_omits_default: bool = False
    cli: tuple | None = ()
    form: bool = True
    selects: bool = False
    noun: str = "value"
    example: str | None = None

    # -- per instrument -------------------------------------------------------------------
    def at(self, instrument: str | None) -> "Param":
        """This parameter with ``instrument``'s own range, default and help."""
        over = self.per_instrument.get(instrument or "isgri")
        return replace(self, **over) if over else self

    def uses(self, product: str | None = None, instrument: str | None = None) -> bool:
        return (product is None or product in self.products) and (instrument is None or instrument in self.instruments)

    # -- text -----------------------------------------------------------------------------
    def allowed(self) -> str:
        """The allowed values, as every error message and hint writes them."""
        if self.choices is not None:
            text = ", ".join(str(c) for c in self.choices)
            return f"comma-separated among {text}" if self.type == "list" else text
        if self.minimum is None and self.maximum is None:
            return ""
        unit = f" {self.unit}" if self.unit is not None and self.unit not in (u.deg, SIGMA) else ""
        if self.step:
            text = f"{self.minimum:g} .. {self.maximum:g}{unit}, a multiple of {self.step:g}{unit}"
        elif self.maximum is None:
            text = f"{'>' if self.lo_open else '≥'} {self._num_text(self.minimum)}"
        else:
            text = (f"{'>' if self.lo_open else '≥'} {self._num_text(self.minimum)} and "
                    f"≤ {self._num_text(self.maximum)}{unit}")
        return f"0 ({self.zero}), or {text}" if self.zero else text

    def _num_text(self, x) -> str:
        return str(int(x)) if self.type == "integer" else str(float(x))

    def default_text(self) -> str:
        d = self.default
        if d is None or d == "" or d == ():
            return ""
        if isinstance(d, float):
            d = f"{d:g}"
        elif isinstance(d, tuple):
            d = ",".join(map(str, d))
        unit = f" {self.unit}" if self.unit is not None and self.unit is not SIGMA else ""
        return f"{d}{unit}" if not isinstance(d, str) or self.type in ("number", "integer") else str(d)

    def hint(self) -> str:
        """The page's hint under the field: allowed values and default."""
        allowed, default = self.allowed(), self.default_text()
        return "; ".join(t for t in (allowed, f"default {default}" if default else "") if t)

    # -- checks ---------------------------------------------------------------------------
    def check(self, value):
        """``value`` validated: a number in range, one of the choices, or a tuple of choices."""
        if self.type == "list":
            return self.items(value)
        if self.choices is not None:
            return self.choice(value)
        if self.type in ("number", "integer"):
            return self.number(value)
        return str(value).strip()

    def number(self, value, *, scale: float = 1.0):
        """``value`` as a number within this parameter's range (``scale``: to its unit), else QueryError."""
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise QueryError(self.name, f"{value!r} is not a number", self.allowed() or None) from None
        if not math.isfinite(x):
            raise QueryError(self.name, f"{value!r} is not finite", self.allowed() or None)
        if self.type == "integer":
            if x != int(x):
                raise QueryError(self.name, f"{value!r} is not a whole number", self.allowed() or None)
            x = int(x)
        if self.zero and x == 0:
            return x
        v = x * scale
        lo, hi = self.minimum, self.maximum
        tol = 1e-9 if self.step else 0.0
        if (lo is not None and (v < lo - tol or (self.lo_open and v == lo))) or (hi is not None and v > hi + tol):
            raise QueryError(self.name, f"{value!r} is out of range", self.allowed() or None)
        if self.step and abs(v / self.step - round(v / self.step)) > 1e-6:
            unit = f" {self.unit}" if self.unit is not None else ""
            raise QueryError(self.name, f"{value!r}{unit} is not a multiple of {self.step:g}{unit}", self.allowed())
        return x

    def choice(self, value):
        """``value`` (case-insensitive) among the choices, else QueryError."""
        if self.type == "integer":
            x = self.number(value)
            if x not in self.choices:
                raise QueryError(self.name, f"{value!r} is not a {self.noun}", self.allowed())
            return x
        text = str(value).strip()
        if self.name == "osa_version":
            key = next((c for c in self.choices if c.lower() == text.lower()), None)
            if key is None:
                raise QueryError(self.name, f"unknown OSA version {text[:40]!r}", self.allowed())
            return key
        text = text.lower()
        if text not in self.choices:
            raise QueryError(self.name, f"unknown {self.noun} {text[:40]!r}", self.allowed())
        return text

    def items(self, value) -> tuple:
        """A ``list`` parameter: comma-separated text or a sequence, each item among the choices."""
        raw = value.split(",") if isinstance(value, str) else list(value or ())
        out = []
        for v in raw:
            if str(v).strip():
                c = self.choice(v)
                if c not in out:
                    out.append(c)
        return tuple(out)


_ANY = INSTRUMENTS

#: The table. Order: the page's and the CLI's order.
TABLE: tuple[Param, ...] = (
    Param("src_name", "string", "source name, resolved offline from the sky model (RA/DEC filled)",
          default="", cli=("--src",), selects=True, example="Crab",
          per_instrument={"spi_acs": dict(help="optional: a name whose position sets the response direction")}),
    Param("RA", "angle", "right ascension (degrees, or sexagesimal hours as text: 05:34:31.9)", unit=u.deg,
          minimum=0.0, maximum=360.0, selects=True,
          per_instrument={"spi_acs": dict(help="optional: source direction for the response (default: sky average)")}),
    Param("DEC", "angle", "declination (degrees, or sexagesimal: +22:00:52)", unit=u.deg, minimum=-90.0, maximum=90.0,
          selects=True, per_instrument={"spi_acs": dict(help="optional: source declination")}),
    Param("T1", "time", "start time, in T_format (required unless scw_list is given)", selects=True,
          example="2003-03-15T00:00:00"),
    Param("T2", "time", "end time, in T_format (after T1)", selects=True, example="2003-04-15T00:00:00",
          per_instrument={"spi_acs": dict(help="end time; 5 s ≤ T2 − T1 ≤ 20000 s")}),
    Param("T_format", "string", "format of T1/T2", default="isot", choices=T_FORMATS, selects=True,
          noun="time format"),
    Param("T0", "time", "instead of T1/T2: trigger time, in T_format (T1 = T0 − window, T2 = T0 + window)",
          role="alias", products=("lc",), instruments=("spi_acs",), form=False),
    Param("window", "number", "with T0: half-width of T1..T2 around T0", unit=u.s, default=300.0, minimum=0.0,
          maximum=43200.0, lo_open=True, role="alias", products=("lc",), instruments=("spi_acs",), form=False),
    Param("instrument", "string", "instrument", default="isgri", choices=INSTRUMENTS, selects=True, noun="instrument"),
    Param("jemx_num", "integer", "JEM-X unit", default=2, choices=(1, 2), instruments=("jemx",), selects=True,
          noun="JEM-X unit"),
    Param("product_type", "string", "product", default="image", choices=PRODUCTS, noun="product", cli=None,
          per_instrument={"spi_acs": dict(default="lc", choices=("lc",))}),
    Param("E1_keV", "number", "lower energy bound", unit=u.keV, default=20.0, minimum=15.0, maximum=1000.0,
          per_instrument={"jemx": dict(default=3.0, minimum=3.0, maximum=35.0),
                          "spi_acs": dict(default=75.0, minimum=75.0, maximum=100000.0,
                                          help="lower edge of the band fluences are given in (the shield sees > ~80 keV)")}),
    Param("E2_keV", "number", "upper energy bound (> E1_keV)", unit=u.keV, default=40.0, minimum=15.0, maximum=1000.0,
          per_instrument={"jemx": dict(default=35.0, minimum=3.0, maximum=35.0),
                          "spi_acs": dict(default=2000.0, minimum=75.0, maximum=100000.0,
                                          help="upper edge of the fluence band")}),
    Param("detection_threshold", "number",
          "source detection significance (spectra and light curves without a catalogue find their sources in an "
          "image of the field)", unit=SIGMA, default=7.0, minimum=3.0, maximum=100.0,
          per_instrument={"spi_acs": dict(default=4.0, help="S/N of an excess that counts as a detection")}),
    Param("time_bin", "number", "light-curve bin, in time_bin_format units", unit=u.s, default=0.0, minimum=20.0,
          maximum=20000.0, zero="one point per ScW", products=("lc",), oda_default=1000.0,
          per_instrument={"jemx": dict(minimum=1.0),
                          "spi_acs": dict(default=2.0, minimum=0.05, maximum=1000.0, step=0.05, zero="the default 2 s",
                                          oda_default=None, help="bin width")}),
    Param("time_bin_format", "string", "unit of time_bin: seconds or days", default="sec", choices=("sec", "jd"),
          products=("lc",), noun="unit"),
    Param("channel_grid", "string", "spectral channels: osa11 (256), osa10 (62), catalogue (14)", default="osa11",
          choices=CHANNEL_GRIDS, products=("spectrum", "spectral_fit"), instruments=("isgri",), noun="channel grid"),
    Param("rebin", "integer", "channels summed per spectral bin", default=1, minimum=1, maximum=64,
          products=("spectrum", "spectral_fit"), instruments=_IMAGERS,
          per_instrument={"jemx": dict(maximum=16)}),
    Param("systematic_fraction", "number",
          "fractional systematic error written to SYS_ERR of every channel and used by the fits "
          "(1% is OSA's advice for ISGRI and JEM-X)", default=0.01, minimum=0.0, maximum=0.5,
          products=("spectrum", "spectral_fit"), instruments=_IMAGERS),
    Param("spectral_model", "string", "fit model; sums such as powerlaw+bbody allowed", default="powerlaw",
          choices=SPECTRAL_MODELS, products=("spectral_fit",), instruments=_IMAGERS, noun="model"),
    Param("joint_instruments", "list",
          "instruments whose spectra of the source are fitted together, with a free cross-normalisation "
          "(default: only the query's instrument)", choices=_IMAGERS, products=("spectral_fit",),
          instruments=_IMAGERS, id_omits_default=True, noun="instrument",
          per_instrument={"isgri": dict(default=("isgri",)), "jemx": dict(default=("jemx",))}),
    Param("acs_spectrum", "string",
          "spectrum of the fluence and its upper limit: short_grb (cut-off power law α −0.5, Ep 500 keV), "
          "long_grb (Band α −1, β −2.3, Ep 230 keV), magnetar (blackbody 30 keV), solar_flare (power law index 3)",
          default="short_grb", choices=ACS_SPECTRA, products=("lc",), instruments=("spi_acs",), noun="spectrum"),
    Param("radius", "number", "pointing axes within this distance of the target", unit=u.deg, default=15.0,
          minimum=0.0, maximum=30.0, lo_open=True, instruments=_IMAGERS, selects=True,
          per_instrument={"jemx": dict(default=4.0)}),
    Param("max_pointings", "integer", "most ScWs used (spread evenly in time)", default=50, minimum=1,
          maximum=10000, instruments=_IMAGERS, selects=True),
    Param("min_good_time", "number", "least good time of the instrument per ScW", unit=u.s, default=1000.0,
          minimum=0.0, maximum=3600.0, instruments=_IMAGERS, selects=True),
    Param("scw_list", "list", "ScW ids (RRRRPPPPSSSF[.VVV]), comma-separated; overrides the cone and times",
          default=(), instruments=_IMAGERS, selects=True, example="005600620010.001,005600630010.001"),
    Param("selected_catalog", "catalog",
          "sources to extract: ODA catalogue JSON (as returned with images) or a JSON list of {name, ra, dec}; "
          "200 at most", default=(), minimum=1, maximum=200, products=("spectrum", "lc", "spectral_fit"),
          instruments=_IMAGERS, form=False),
    Param("integral_data_rights", "string", "public, or all-private (needs a token)", default="public",
          choices=DATA_RIGHTS, id_omits_default=True, cli=None, form=False, noun="data rights"),
    Param("osa_version", "string", "OSA version: selects the ISGRI channel grid (OSA10.2: 62 channels, "
          "OSA11.x: 256) unless channel_grid is given", default="OSA11.2", choices=tuple(OSA_VERSIONS),
          role="alias", instruments=_IMAGERS, cli=None, form=False),
)

#: ODA parameters accepted that do not change our products: name → why.
IGNORED = {
    "image_scale_min": "display only", "image_scale_max": "display only",
    "use_scws": "scw_list is used when given", "src_name_resolver": "names are resolved locally",
    "data_level": "SPI-ACS: the simulated archive has one data level (ordinary and realtime are the same counts)",
}

_BY_NAME = {p.name: p for p in TABLE}


def param(name: str) -> Param:
    """The table's entry ``name`` (KeyError if there is none)."""
    return _BY_NAME[name]


def params(*, role: str | None = None, product: str | None = None, instrument: str | None = None) -> list[Param]:
    """Entries (resolved for ``instrument`` when given) with this role, used by this product/instrument."""
    out = [p for p in TABLE if (role is None or p.role == role) and p.uses(product, instrument)]
    return [p.at(instrument) for p in out] if instrument else out


def query_field_names() -> list[str]:
    """The fields of :class:`core.query.Query`, in table order."""
    return [p.name for p in TABLE if p.role == "query"]


def parameter_names() -> list[str]:
    """Every name a request may carry: the query's fields and the aliases."""
    return [p.name for p in TABLE if p.role in ("query", "alias")]


def used_by(product: str, instrument: str | None = None) -> list[str]:
    """Query fields a product (of ``instrument``) depends on; the others are ignored by it."""
    return [p.name for p in TABLE if p.role == "query" and p.uses(product, instrument)]


def per_instrument_text(name: str, what: str = "allowed", instruments=None) -> str:
    """``isgri: …; jemx: …`` when the instruments differ, else the one value."""
    p = param(name)
    insts = [i for i in (instruments or INSTRUMENTS) if i in p.instruments]
    vals = {i: (p.at(i).allowed() if what == "allowed" else p.at(i).default_text()) for i in insts}
    if len(set(vals.values())) <= 1:
        return next(iter(vals.values()), "")
    return "; ".join(f"{i}: {v}" for i, v in vals.items() if v)


# -- served instruments (the registry) -----------------------------------------------------------
def served_instruments() -> list[str]:
    """Instruments whose products this service computes: the registry's, in table order.

    ISGRI counts as served even before it is registered (it is computed by the original
    pipeline, not yet behind the instrument seam).
    """
    from .instruments.base import instruments

    names = {inst.name for inst in instruments()} | {"isgri"}
    return [i for i in INSTRUMENTS if i in names] + sorted(names - set(INSTRUMENTS))


def check_served(instrument: str) -> str:
    """``instrument`` (normalised) if served, else QueryError naming the served ones."""
    name = str(instrument or "isgri").strip().lower()
    served = served_instruments()
    if name not in served:
        known = name in param("instrument").choices
        raise QueryError("instrument", f"{name} products are not available yet" if known
                         else f"unknown instrument {name[:40]!r}", ", ".join(served))
    return name


# -- API descriptions ------------------------------------------------------------------------------
_JSON_TYPES = {"number": "number", "integer": "integer", "angle": "number", "time": "string", "string": "string",
               "list": "string", "catalog": "string"}


def json_schema(p: Param) -> dict:
    """One resolved parameter as the specs of ``/api/par-names``, ``/api/meta-data``, OpenAPI."""
    s: dict = {"type": _JSON_TYPES[p.type]}
    if p.unit is not None:
        s["unit"] = str(p.unit)
    d = p.default
    if d is not None:
        s["default"] = ",".join(d) if isinstance(d, tuple) else d
    if p.choices is not None and p.type != "list":
        s["enum"] = list(p.choices)
    elif p.type in ("number", "integer", "angle"):
        if p.zero and not p.default:  # 0 is a value of its own (one point per ScW), below the range
            s["minimum"] = 0.0
        elif p.minimum is not None:
            s["exclusiveMinimum" if p.lo_open else "minimum"] = p.minimum
        if p.maximum is not None:
            s["maximum"] = p.maximum
        if p.step:
            s["multipleOf"] = p.step
    text = p.help
    if p.type == "list" and p.choices is not None:
        text += f" ({p.allowed()})"
    elif p.zero:
        text += f"; allowed: {p.allowed()}"
    s["description"] = text
    if p.example:
        s["example"] = p.example
    if p.oda_default is not None:
        s["x-oda-default"] = p.oda_default
    if p.allowed():
        s["x-allowed"] = p.allowed()
    return s


# -- the command line ------------------------------------------------------------------------------
#: ``python -m core`` commands → the products they make (() for the ScW-selection commands).
CLI_COMMANDS = {"scws": (), "simulate": (), "image": ("image",), "spectrum": ("spectrum", "spectral_fit"),
                "lc": ("lc",)}


def cli_commands_of(p: Param) -> list[str]:
    """The commands that take ``--<p.name>``."""
    if p.cli is None:
        return []
    return [cmd for cmd, products in CLI_COMMANDS.items() if p.selects or any(pr in p.products for pr in products)]


def cli_help(p: Param, instruments=None) -> str:
    """``--help`` text of a parameter: help, allowed values and default per instrument."""
    insts = [i for i in (instruments or INSTRUMENTS) if i in p.instruments]
    allowed = per_instrument_text(p.name, "allowed", insts)
    default = per_instrument_text(p.name, "default", insts)
    parts = [p.help]
    if allowed:
        parts.append(f"allowed: {allowed}")
    if default:
        parts.append(f"default: {default}")
    if len(insts) < len(INSTRUMENTS):
        parts.append(f"for {', '.join(insts)}")
    return "; ".join(parts).replace("%", "%%")


def reproduce_command(query) -> str:
    """The ``python -m core`` command line that rebuilds this (ISGRI or JEM-X) product."""
    import json
    import shlex

    p = query.to_params()
    command = {"image": "image", "spectrum": "spectrum", "lc": "lc", "spectral_fit": "spectrum"}[query.product_type]
    parts = [f"python -m core {command}"]
    for entry in TABLE:
        k = entry.name
        if entry.cli is None or entry.role != "query" or k not in p or not entry.uses(query.product_type, query.instrument):
            continue
        if command not in cli_commands_of(entry) or k in ("selected_catalog",):
            continue
        if k == "instrument" and p[k] == "isgri":
            continue  # the default: ISGRI commands read as they always did
        v = p[k]
        if isinstance(v, (list, tuple)):
            v = ",".join(map(str, v))
        parts.append(f"--{k} {json.dumps(v) if isinstance(v, str) and (' ' in v or not v) else v}")
    if query.selected_catalog and query.product_type != "image":
        cat = json.dumps([{"name": n, "ra": ra, "dec": dec} for n, ra, dec in query.selected_catalog])
        parts.append("--selected_catalog " + shlex.quote(cat))
    return " ".join(parts)
