"""Command line: ``python -m core COMMAND [options]``.

Options mirror the ODA query parameter names (``--RA``, ``--DEC``, ``--T1``, ``--T2``,
``--T_format``, ``--radius``, ``--max_pointings``, ``--scw_list``), with ``--src`` for
``src_name``. Bad input exits with status 2 and one line naming the field; no traceback.
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


def _add_query_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("query (ODA parameter names)")
    g.add_argument("--src", "--src_name", dest="src_name", help="source name (resolved offline), e.g. Crab")
    g.add_argument("--RA", help="right ascension, deg or hh:mm:ss")
    g.add_argument("--DEC", help="declination, deg or dd:mm:ss")
    g.add_argument("--T1", help="start time (isot, mjd or ijd)")
    g.add_argument("--T2", help="end time")
    g.add_argument("--T_format", choices=("isot", "mjd", "ijd"), default=None, help="format of T1/T2 (default: guessed)")
    g.add_argument("--radius", type=str, default=None, help="max pointing offset from the target, deg (default 10)")
    g.add_argument("--max_pointings", default=None, help="max number of ScWs (default 50)")
    g.add_argument("--scw_list", default=None, help="explicit ScW ids, comma separated")
    g.add_argument("--min_good_time", default=None, help="min good ISGRI time per ScW, s (default 1000)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="INTEGRAL ODA core tools")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("scws", help="list the ScWs a query selects")
    _add_query_options(p)
    p.add_argument("--format", choices=("table", "csv", "json", "ids"), default="table")
    p = sub.add_parser("simulate", help="make sure ScWs are on disk (simulating them if needed)")
    _add_query_options(p)
    p = sub.add_parser("resolve", help="resolve a source name offline")
    p.add_argument("name")
    return parser


def _query_from_args(args):
    from .query import Query

    params = {k: getattr(args, k) for k in ("src_name", "RA", "DEC", "T1", "T2", "T_format", "radius",
                                            "max_pointings", "scw_list", "min_good_time") if getattr(args, k, None) is not None}
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


def main(argv=None) -> int:
    from .errors import QueryError

    args = build_parser().parse_args(argv)
    try:
        return {"scws": _cmd_scws, "simulate": _cmd_simulate, "resolve": _cmd_resolve}[args.command](args)
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
