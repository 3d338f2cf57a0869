"""ScW selection rule and the ``python -m core scws`` command."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.archive.selection import angular_distance, select_scws
from core.errors import NotFoundError
from core.query import Query

from ._shared import shared_path

ROOT = Path(__file__).resolve().parents[1]


def test_cone_time_and_max_pointings(history):
    q = Query.from_params(src_name="Crab", T1="2003-01-01", T2="2005-01-01", radius=10, max_pointings=10000)
    full = select_scws(q, history)
    assert full.n_matched == len(full) > 50
    assert np.all(full.offaxis <= 10) and np.all(full.rows["tstop"] > q.ijd1) and np.all(full.rows["tstart"] < q.ijd2)
    assert np.all(full.rows["ontime"] * full.rows["deadc"] >= 1000)
    # Independent brute force over the whole history gives the same set.
    d = angular_distance(history["ra_scx"], history["dec_scx"], q.RA, q.DEC)
    brute = (d <= 10) & (history["tstop"] > q.ijd1) & (history["tstart"] < q.ijd2) & \
        (history["ontime"] * history["deadc"] >= 1000)
    assert brute.sum() == len(full)

    cut = select_scws(q.with_(max_pointings=7), history)
    assert len(cut) == 7 and cut.n_matched == len(full)
    # evenly spread in time: picks from the start, middle and end of the matches
    pos = np.searchsorted(full.rows["tstart"], cut.rows["tstart"])
    assert pos[0] < len(full) / 7 and pos[-1] > len(full) * 6 / 7
    assert list(select_scws(q.with_(max_pointings=7), history).ids) == list(cut.ids)  # deterministic


def test_scw_list_selection(history):
    ids = shared_path("reference-data", "list_osa10.txt").read_text().split()
    q = Query.from_params(scw_list=",".join(ids), src_name="GX 5-1")
    sel = select_scws(q, history)
    assert len(sel) == 44 and sel.offaxis.max() < 10
    with pytest.raises(NotFoundError) as err:
        select_scws(Query.from_params(scw_list="999900010010"), history)
    assert err.value.field == "scw_list"


def test_empty_result_says_what_was_searched(history):
    q = Query.from_params(RA=0.0, DEC=89.0, T1="2003-01-01", T2="2003-01-10", radius=1)
    with pytest.raises(NotFoundError) as err:
        select_scws(q, history)
    assert err.value.field == "radius" and "RA=0.0000" in err.value.message and "2003-01-01" in err.value.message


def _cli(*args):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_cli_scws_lists_the_selection():
    r = _cli("scws", "--src", "Crab", "--T1", "2003-03-15", "--T2", "2004-03-15", "--radius", "10")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l[:4].isdigit()]
    assert 10 <= len(lines) <= 50
    first = lines[0].split()
    assert first[0].endswith(".001") and len(first) == 6
    assert all(0 <= float(l.split()[-1]) <= 10 for l in lines)  # off-axis angle of the target
    r = _cli("scws", "--src", "Crab", "--T1", "52713", "--T2", "53079", "--T_format", "mjd", "--format", "ids")
    assert r.returncode == 0 and len(r.stdout.split()) == len(lines)


@pytest.mark.parametrize("args,field", [
    (("--src", "Crab", "--T1", "2004-03-15", "--T2", "2003-03-15"), "T2"),
    (("--src", "Crab", "--T1", "1990-01-01", "--T2", "2003-03-15"), "T1"),
    (("--src", "Nonexistent X-9", "--T1", "2003-03-15", "--T2", "2004-03-15"), "src_name"),
    (("--src", "Crab", "--T1", "2003-03-15", "--T2", "2004-03-15", "--radius", "-3"), "radius"),
    (("--scw_list", "12345"), "scw_list"),
    (("--RA", "10", "--DEC", "89", "--T1", "2003-01-01", "--T2", "2003-01-05", "--radius", "0.5"), "radius"),
])
def test_cli_bad_input_one_line_no_traceback(args, field):
    r = _cli("scws", *args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(f"error: {field}:")


def test_cli_argparse_errors_are_one_line():
    r = _cli("scws", "--T_format", "jd")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
