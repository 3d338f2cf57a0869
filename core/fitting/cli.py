"""``python -m core fit``: fit an OGIP spectrum from the command line.

Example::

    python -m core fit spec.fits --model cutoffpl --emin 20 --emax 300 --json fit.json --png fit.png
    python -m core fit isgri.pha --emin 20 --emax 100 --joint jemx1.pha:3-35   # joint, constant*model

Prints the parameters with their 1σ and 90 % profile errors, the statistic per degree of
freedom and band fluxes. Bad input (missing or unreadable file, unknown model, bad range)
raises :class:`core.errors.QueryError`, which ``python -m core`` turns into one line on
stderr and exit status 2.

Only ``argparse`` is imported at module level: building the parser must stay cheap.
"""

from __future__ import annotations

import argparse

__all__ = ["add_fit_parser", "cmd_fit"]

_DEFAULT_BANDS = "20-40,40-100,20-100,100-300"


def add_fit_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``fit`` sub-command on an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser("fit", help="fit a spectral model to an OGIP PHA (+ ARF + RMF)")
    p.add_argument("pha", help="OGIP PHA file (RESPFILE/ANCRFILE in its header are used unless --rmf/--arf)")
    p.add_argument("--arf", default=None, help="ARF file (default: ANCRFILE of the PHA)")
    p.add_argument("--rmf", default=None, help="RMF file (default: RESPFILE of the PHA)")
    p.add_argument("--model", default="powerlaw",
                   help="powerlaw, cutoffpl, bknpower, bbody, comptt or a sum such as powerlaw+bbody (default powerlaw)")
    p.add_argument("--emin", default=None, help="lower energy, keV (channels whose centre is above)")
    p.add_argument("--emax", default=None, help="upper energy, keV")
    p.add_argument("--stat", choices=("chi2", "cash"), default="chi2", help="fit statistic (default chi2)")
    p.add_argument("--bands", default=_DEFAULT_BANDS,
                   help=f"flux bands, keV, as E1-E2 separated by commas (default {_DEFAULT_BANDS})")
    p.add_argument("--pivot", default=None, help="pivot energy of the normalisations, keV (default 50)")
    p.add_argument("--joint", action="append", default=None, metavar="PHA[:EMIN-EMAX]",
                   help="another instrument's spectrum of the source (responses from its RESPFILE/ANCRFILE), "
                        "fitted jointly: shared parameters, a free cross-normalisation const_<DETNAM> "
                        "(the first PHA's is 1); repeatable")
    p.add_argument("--json", dest="json_out", default=None, help="write the result as JSON here")
    p.add_argument("--png", dest="png_out", default=None, help="write the spectrum figure here")
    return p


def _number(field, text, positive=True):
    from ..errors import QueryError

    if text is None:
        return None
    try:
        v = float(text)
    except ValueError:
        raise QueryError(field, f"{text!r} is not a number", "energy in keV") from None
    if positive and not v > 0:
        raise QueryError(field, f"{v:g} must be > 0", "energy in keV")
    return v


def _energy_range(text: str, field: str, not_a_range: str, not_ordered: str, example: str) -> tuple[float, float]:
    """``E1-E2`` of ``text`` as floats with 0 < E1 < E2, else a QueryError saying one of the two."""
    from ..errors import QueryError

    try:
        a, b = (float(x) for x in text.split("-"))
    except ValueError:
        raise QueryError(field, not_a_range, example) from None
    if not 0 < a < b:
        raise QueryError(field, not_ordered, example)
    return a, b


def _bands(text):
    parts = (part.strip() for part in str(text).split(","))
    return tuple(_energy_range(part, "bands", f"{part!r} is not E1-E2", f"{part!r}: need 0 < E1 < E2", "e.g. 20-40,40-100")
                 for part in parts if part)


def _joint_entry(text):
    """``PHA[:EMIN-EMAX]`` of ``--joint`` as ``(SpectrumData, emin, emax)``."""
    from pathlib import Path

    from ..errors import QueryError
    from .ogip import read_spectrum

    path, _, rng = str(text).rpartition(":") if ":" in str(text) else (str(text), "", "")
    emin = emax = None
    if rng:
        emin, emax = _energy_range(rng, "joint", f"{text!r}: the range is not EMIN-EMAX",
                                   f"{text!r}: need 0 < EMIN < EMAX", "e.g. jemx.pha:3-35")
    pha = Path(path)
    if not pha.is_file():
        raise QueryError("joint", f"no such file {path!r}", "an OGIP PHA FITS file with RESPFILE/ANCRFILE")
    try:
        data = read_spectrum(pha)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise QueryError("joint", f"cannot read {pha.name} with its response ({exc})", "OGIP PHA + ARF + RMF") from None
    if data.rmf is None:
        raise QueryError("joint", f"{pha.name} names no RESPFILE", "a PHA whose RESPFILE points to its RMF")
    return data, emin, emax


def _fmt_err(v):
    return "  peg " if v is None else f"{v:+.3g}"


def cmd_fit(args) -> int:
    """Run the ``fit`` sub-command; returns the exit status (0)."""
    import json
    from pathlib import Path

    from ..errors import QueryError
    from .fit import fit_joint, fit_spectrum
    from .models import COMPONENTS, make_model
    from .ogip import read_spectrum

    pha = Path(args.pha)
    if not pha.is_file():
        raise QueryError("PHA", f"no such file {args.pha!r}", "an OGIP PHA FITS file")
    for name in ("arf", "rmf"):
        v = getattr(args, name)
        if v is not None and not Path(v).is_file():
            raise QueryError(name, f"no such file {v!r}", "an OGIP FITS file")
    emin, emax = _number("emin", args.emin), _number("emax", args.emax)
    if emin is not None and emax is not None and not emin < emax:
        raise QueryError("emin", f"{emin:g} is not below emax {emax:g}")
    pivot = _number("pivot", args.pivot)
    bands = _bands(args.bands)
    try:
        model = make_model(args.model, **({} if pivot is None else {"pivot": pivot}))
    except ValueError:
        raise QueryError("model", f"unknown model {args.model!r}",
                         f"{', '.join(COMPONENTS)} or sums such as powerlaw+bbody") from None
    try:
        data = read_spectrum(pha, arf=args.arf, rmf=args.rmf)
    except FileNotFoundError as exc:
        raise QueryError("PHA", f"{pha.name}: a response file is missing ({exc})",
                         "give --arf/--rmf or fix RESPFILE/ANCRFILE") from None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise QueryError("PHA", f"cannot read {pha.name} with its response ({exc})", "OGIP PHA + ARF + RMF") from None
    if data.rmf is None:
        raise QueryError("rmf", f"{pha.name} names no RESPFILE", "give --rmf")
    joint = [_joint_entry(text) for text in (getattr(args, "joint", None) or [])]
    try:
        if joint:
            res = fit_joint([(data, emin, emax)] + joint, model, args.stat, bands=bands)
        else:
            res = fit_spectrum(data, model, emin=emin, emax=emax, stat=args.stat, bands=bands)
    except ValueError as exc:
        raise QueryError("fit", str(exc)) from None

    stat_name = "chi2" if res.stat_type == "chi2" else "C-stat"
    print(f"# {pha.name}: {res.rate.size} channels in {res.e_min.min():.1f}-{res.e_max.max():.1f} keV, "
          f"model {res.model.expression} (norms in ph/cm2/s/keV at {res.model.pivot:g} keV), {stat_name}")
    for d in res.datasets:
        print(f"#   {d.label} ({d.source}): {d.rate.size} channels in {d.e_min.min():.1f}-{d.e_max.max():.1f} keV, "
              f"{stat_name} {d.statistic:.2f}, constant {d.constant}")
    print(f"{'parameter':16s} {'value':>12s} {'-1sigma':>10s} {'+1sigma':>10s} {'-90%':>10s} {'+90%':>10s}  unit")
    for p in res.parameters:
        if p.frozen:
            print(f"{p.name:16s} {p.value:12.5g} {'(frozen)':>10s}")
            continue
        print(f"{p.name:16s} {p.value:12.5g} {_fmt_err(p.err_1sigma[0]):>10s} {_fmt_err(p.err_1sigma[1]):>10s} "
              f"{_fmt_err(p.err_90[0]):>10s} {_fmt_err(p.err_90[1]):>10s}  {p.unit}")
    for name, d in res.derived().items():
        m, pl = d["err_1sigma"]
        print(f"{name:16s} {d['value']:12.5g} {_fmt_err(m):>10s} {_fmt_err(pl):>10s} {'':>10s} {'':>10s}  {d['unit']}")
    print(f"{stat_name}/dof = {res.statistic:.2f}/{res.dof} = {res.stat_per_dof:.3f}"
          + (f"   (p = {res.p_value:.3f})" if res.stat_type == "chi2" else ""))
    print(f"{'band keV':>12s} {'F erg/cm2/s':>12s} {'-1sigma':>10s} {'+1sigma':>10s} {'F ph/cm2/s':>12s} "
          f"{'-1sigma':>10s} {'+1sigma':>10s}")
    for f in res.fluxes:
        print(f"{f'{f.e1:g}-{f.e2:g}':>12s} {f.energy:12.4g} {_fmt_err(f.energy_err_1sigma[0]):>10s} "
              f"{_fmt_err(f.energy_err_1sigma[1]):>10s} {f.photon:12.4g} {_fmt_err(f.photon_err_1sigma[0]):>10s} "
              f"{_fmt_err(f.photon_err_1sigma[1]):>10s}")
    for note in res.notes:
        print(f"# note: {note}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(res.to_dict(), indent=1))
        print(f"# wrote {args.json_out}")
    if args.png_out:
        from .plot import spectrum_png

        spectrum_png(res, args.png_out)
        print(f"# wrote {args.png_out}")
    return 0
