"""Command line: ``python -m core COMMAND [options]``.

Options are the ODA query parameter names (``--RA``, ``--DEC``, ``--T1``, ``--T2``,
``--T_format``, ``--radius``, ``--max_pointings``, ``--scw_list``, ``--jemx_num``...), with
``--src`` for ``src_name``, built from the parameter table (:mod:`core.params`): each
command takes the parameters its products use, with their help, allowed values and defaults.
Bad input exits with status 2 and one line naming the field; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, not usage + traceback
        self.exit(2, f"error: {message}\n")


def _add_table_options(p: argparse.ArgumentParser, command: str) -> None:
    """The options of ``command``: every parameter of :data:`core.params.TABLE` it takes, with
    the table's help, allowed values and defaults (per instrument)."""
    from .params import CLI_COMMANDS, INSTRUMENTS, TABLE, cli_commands_of, cli_help, param

    products = CLI_COMMANDS[command] or ("image",)
    insts = [i for i in INSTRUMENTS if set(products) & set(param("product_type").at(i).choices)]
    g = p.add_argument_group("query (ODA parameter names; allowed values and defaults from core/params.py)")
    for entry in TABLE:
        if command not in cli_commands_of(entry):
            continue
        text = cli_help(entry, insts)
        kw = {}
        if entry.name == "T_format":
            text += " (when not given: guessed from each value, e.g. 2003-03-15 or 52713.5)"
            kw["choices"] = entry.choices
        g.add_argument(f"--{entry.name}", *entry.cli, dest=entry.name, default=None, help=text, **kw)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="INTEGRAL ODA core tools")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("scws", help="list the ScWs a query selects")
    _add_table_options(p, "scws")
    p.add_argument("--format", choices=("table", "csv", "json", "ids"), default="table")
    p = sub.add_parser("simulate", help="make sure ScWs are on disk (simulating them if needed)")
    _add_table_options(p, "simulate")
    p = sub.add_parser("resolve", help="resolve a source name offline")
    p.add_argument("name")

    p = sub.add_parser("image", help="mosaic with detected sources (FITS, ECSV, regions, PNG)")
    _add_table_options(p, "image")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default ODA_WORKERS or 1)")
    p.add_argument("--out", required=True, help="output directory")

    for name, helptext in (("spectrum", "spectra of catalogue sources (OGIP PHA, ARF, RMF, PNG); with "
                                        "--spectral_model also their fit"),
                           ("lc", "light curves of catalogue sources (OGIP FITS, PNG), or SPI-ACS's")):
        p = sub.add_parser(name, help=helptext)
        _add_table_options(p, name)
        p.add_argument("--catalog", default=None, help="source list: ECSV, FITS (ISGR-SRCL-RES) or ODA JSON file")
        p.add_argument("--workers", type=int, default=None, help="worker processes (default ODA_WORKERS or 1)")
        p.add_argument("--out", required=name == "spectrum", default=None,
                       help="output directory" + (" (lc: required but for spi_acs)" if name == "lc" else ""))

    p = sub.add_parser("detect", help="find sources in an OSA-style mosaic FITS file")
    p.add_argument("mosaic", help="mosaic FITS (INTENSITY+VARIANCE HDUs, or a lone significance image)")
    p.add_argument("--threshold", default="7", help="detection threshold, sigma (default 7; allowed as "
                                                    "detection_threshold's)")
    p.add_argument("--out", required=True, help="output directory")

    from .fitting.cli import add_fit_parser

    add_fit_parser(sub)
    return parser


def _query_from_args(args):
    from .params import TABLE, check_served
    from .query import Query

    params = {e.name: getattr(args, e.name) for e in TABLE if getattr(args, e.name, None) is not None}
    check_served(params.get("instrument", "isgri"))
    if getattr(args, "catalog", None):
        from .spectral.catalog import read_catalog_file

        params["selected_catalog"] = read_catalog_file(args.catalog)
    if "T_format" not in params and "T0" in params:
        from .timeutil import parse_time

        params["T0"] = parse_time(params["T0"], None, "T0").utc.isot
    if "T_format" not in params and ("T1" in params or "T2" in params):
        from .timeutil import parse_time

        # Guess per value and normalise to ISO so that both ends share one format.
        params["T1"] = parse_time(params["T1"], None, "T1").utc.isot if "T1" in params else None
        params["T2"] = parse_time(params["T2"], None, "T2").utc.isot if "T2" in params else None
    return Query.from_params(params)


def _cmd_scws(args) -> int:
    from .archive.store import get_archive

    q = _query_from_args(args)
    sel = get_archive().select(q)
    t = sel.table()
    if args.format == "ids":
        print("\n".join(t["scw_id"]))
    elif args.format == "json":
        print(json.dumps([{k: (v.item() if hasattr(v, "item") else v) for k, v in zip(t.colnames, row)} for row in t], indent=1))
    elif args.format == "csv":
        t.write(sys.stdout, format="ascii.csv")
    else:
        target = q.src_name or f"RA={q.RA:.4f} DEC={q.DEC:.4f}"
        print(f"# {len(sel)} ScWs selected of {sel.n_matched} matching  (target {target}; "
              f"rule: pointing within radius, overlapping T1..T2, good time ≥ {q.min_good_time:g} s, "
              f"max_pointings={q.max_pointings} spread evenly in time)")
        out = t["scw_id", "ra_scx", "dec_scx", "start_utc", "good_time_s", "offaxis_deg"]
        out["ra_scx"].info.format = ".3f"
        out["dec_scx"].info.format = ".3f"
        out.pprint_all()
    return 0


def _cmd_simulate(args) -> int:
    from .archive.store import get_archive

    q = _query_from_args(args)
    arch = get_archive()
    sel = arch.select(q)
    t0 = time.perf_counter()
    for i, sid in enumerate(sel.ids, 1):
        t = time.perf_counter()
        _, made = arch.ensure(sid)
        print(f"[{i}/{len(sel)}] {sid} {'simulated' if made else 'on disk'} ({time.perf_counter() - t:.2f} s)")
    print(f"# done in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_resolve(args) -> int:
    from .sky.resolve import resolve_name

    r = resolve_name(args.name)
    print(f"{r.name}\t{r.ra:.5f}\t{r.dec:.5f}\t({r.origin})")
    return 0


def _print_catalog(table) -> None:
    cols = [c for c in ("NAME", "RA_FIN", "DEC_FIN", "DETSIG", "FLUX", "FLUX_ERR", "ERR_RAD", "FLAG") if c in table.colnames]
    if "RA_FIN" not in cols and "RA_OBJ" in table.colnames:  # JEM-X source lists
        cols[1:1] = ["RA_OBJ", "DEC_OBJ"]
    out = table[cols]
    for c in ("RA_FIN", "DEC_FIN", "RA_OBJ", "DEC_OBJ"):
        if c in cols:
            out[c].info.format = ".4f"
    for c in ("DETSIG", "FLUX", "FLUX_ERR"):
        if c in cols:
            out[c].info.format = ".2f"
    if "ERR_RAD" in cols:
        out["ERR_RAD"].info.format = ".4f"
    out.pprint_all()


def _cmd_image(args) -> int:
    from pathlib import Path

    from .products.run import run_product

    q = _query_from_args(args).with_(product_type="image")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def progress(i, n, s):
        print(f"[{i}/{n}] {s.scw_id} {s.status} ({s.seconds:.2f} s)", file=sys.stderr)

    product = run_product(q, progress=progress, workers=args.workers)  # the query's instrument, from the registry
    res = product.data
    for name, path in {**res.files, "mosaic.png": product.png()}.items():
        (out / name).write_bytes(Path(path).read_bytes())
    n_ok = sum(not s.status.startswith("failed") for s in res.scws)
    print(f"# mosaic of {n_ok} ScWs, {q.E1_keV:g}-{q.E2_keV:g} keV, product {res.product_id}"
          f"{' (from cache)' if res.from_cache else ''}, {time.perf_counter() - t0:.1f} s; files in {out}")
    _print_catalog(res.catalog)
    return 0


def _cmd_spectral(args) -> int:
    """``spectrum`` and ``lc``: products of every source of the catalogue, written to --out."""
    from pathlib import Path

    from .products.run import run_product

    product = args.command
    if product == "lc" and (getattr(args, "instrument", None) or "").strip().lower() == "spi_acs":
        from .instruments.spi_acs.cli import cmd_lc

        return cmd_lc(_query_from_args(args).with_(product_type="lc"), args.out)
    if args.out is None:
        from .errors import QueryError

        raise QueryError("out", "is required", "an output directory")
    if product == "spectrum" and getattr(args, "spectral_model", None):
        product = "spectral_fit"
    q = _query_from_args(args).with_(product_type=product)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def progress(i, n, s):
        print(f"[{i}/{n}] {s.scw_id} {s.status} ({s.seconds:.2f} s)", file=sys.stderr)

    res = run_product(q, progress=progress, workers=args.workers)
    for name, path in res.files.items():
        (out / name).write_bytes(Path(path).read_bytes())
    summary = res.summary
    if product == "spectral_fit":
        (out / "fit.png").write_bytes(res.png().read_bytes())
        fit = summary["fit"]
        print(f"# {summary['source']}: {summary['model']} fit over {q.E1_keV:g}-{q.E2_keV:g} keV, "
              f"product {res.product_id}; files in {out}")
        for p in fit["parameters"]:
            lo1, hi1 = (v if v is not None else float("nan") for v in p["err_1sigma"])
            lo9, hi9 = (v if v is not None else float("nan") for v in p["err_90"])
            print(f"  {p['name']:>10s} = {p['value']:.5g}  1 sigma {lo1:+.3g}/{hi1:+.3g}  90% {lo9:+.3g}/{hi9:+.3g}"
                  f"  {p.get('unit') or ''}{'  (frozen)' if p.get('frozen') else ''}")
        print(f"  {fit['stat']} = {fit['statistic']:.2f} for {fit['dof']} dof")
        for band, f in summary["fluxes"].items():
            if "energy_flux_erg_cm2_s" in f:
                lo, hi = f["energy_flux_err_1sigma"]
                print(f"  F({band} keV) = {f['energy_flux_erg_cm2_s']:.4g} ({lo:+.2g}/{hi:+.2g}) erg/cm2/s")
        return 0
    n_ok = sum(not s.status.startswith("failed") for s in res.scws)
    print(f"# {product} of {n_ok} ScWs, product {res.product_id}{' (from cache)' if res.from_cache else ''}, "
          f"{time.perf_counter() - t0:.1f} s; files in {out}")
    for src in summary["sources"]:
        if not (src.get("n_scw") or src.get("n")):
            print(f"  {src['name']:<24s} {src.get('message', 'no data')}")
            continue
        png = out / ((src.get("pha") or src.get("file")).rsplit(".", 1)[0] + ".png")
        png.write_bytes(res.png(src["name"]).read_bytes())
        if product == "spectrum":
            print(f"  {src['name']:<24s} {src['n_scw']:4d} ScWs  exposure {src['exposure'] / 1e3:8.1f} ks  {src['pha']}")
        else:
            chi = f"chi2/dof {src['chi2_const']:.1f}/{src['dof']}" if src.get("dof") else ""
            print(f"  {src['name']:<24s} {src['n']:5d} bins  mean {src['mean']:9.3f} +- {src['mean_err']:.3f} cts/s  "
                  f"{chi}  {src['file']}")
    return 0


def _cmd_detect(args) -> int:
    from pathlib import Path

    from .errors import QueryError
    from .imaging.detect import detect_sources
    from .imaging.mosaic import read_mosaic_fits
    from .imaging.outputs import write_catalog_ecsv, write_catalog_fits, write_region_file
    from .params import param
    from .sky.catalog import sky_model

    try:
        threshold = param("detection_threshold").number(args.threshold)
    except QueryError as exc:
        raise QueryError("threshold", exc.message, exc.allowed) from None
    path = Path(args.mosaic)
    if not path.is_file():
        raise QueryError("mosaic", f"no such file {path.name!r}", "an existing FITS file")
    try:
        images = read_mosaic_fits(path)
    except (OSError, ValueError, KeyError) as exc:
        raise QueryError("mosaic", f"cannot read {path.name!r} as a mosaic ({exc})", "OSA/ODA mosaic FITS") from None
    table = detect_sources(images, threshold=threshold, catalog=[(s.name, s.ra, s.dec) for s in sky_model()])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_catalog_fits(table, out / "catalog.fits")
    write_catalog_ecsv(table, out / "catalog.ecsv")
    write_region_file(table, out / "sources.reg")
    print(f"# {len(table)} sources above {threshold:g} sigma in {path.name}; files in {out}")
    _print_catalog(table)
    return 0


def main(argv=None) -> int:
    from .errors import QueryError

    args = build_parser().parse_args(argv)
    try:
        from .fitting.cli import cmd_fit

        return {"scws": _cmd_scws, "simulate": _cmd_simulate, "resolve": _cmd_resolve, "image": _cmd_image,
                "spectrum": _cmd_spectral, "lc": _cmd_spectral, "detect": _cmd_detect,
                "fit": cmd_fit}[args.command](args)
    except BrokenPipeError:  # output piped into head & co.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except QueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for users; developers can rerun under python -X dev
        print(f"error: internal error ({type(exc).__name__}: {str(exc)[:200]})", file=sys.stderr)
        return 1
