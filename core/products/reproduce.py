"""The ``python -m core`` command line that rebuilds a product (written into its files)."""

from __future__ import annotations

import json

__all__ = ["reproduce_command"]


def reproduce_command(query) -> str:
    """The ``python -m core`` command line that rebuilds this product."""
    p = query.to_params()
    command = {"image": "image", "spectrum": "spectrum", "lc": "lc", "spectral_fit": "spectrum"}[query.product_type]
    keys = ["src_name", "RA", "DEC", "T1", "T2", "T_format", "radius", "max_pointings", "scw_list",
            "E1_keV", "E2_keV", "min_good_time"]
    keys += {"image": ["detection_threshold"], "spectrum": ["channel_grid", "rebin", "detection_threshold"],
             "lc": ["time_bin", "time_bin_format", "detection_threshold"],
             "spectral_fit": ["channel_grid", "rebin", "spectral_model", "detection_threshold"]}[query.product_type]
    parts = [f"python -m core {command}"]
    if query.instrument != "isgri":  # ISGRI's commands stay as they always were
        parts.append(f"--instrument {query.instrument}")
        if "jemx_num" in p:
            parts.append(f"--jemx_num {p['jemx_num']}")
    for k in keys:
        if k in p:
            v = ",".join(p[k]) if isinstance(p[k], list) else p[k]
            parts.append(f"--{k} {json.dumps(v) if isinstance(v, str) and (' ' in v or not v) else v}")
    if query.selected_catalog and query.product_type != "image":
        cat = json.dumps([{"name": n, "ra": ra, "dec": dec} for n, ra, dec in query.selected_catalog])
        parts.append("--selected_catalog '" + cat.replace("'", "'\\''") + "'")
    return " ".join(parts)
