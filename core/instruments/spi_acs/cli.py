"""``python -m core lc --instrument spi_acs``: the light curve, its analysis, optional files."""

from __future__ import annotations

import sys
import time
from pathlib import Path

__all__ = ["cmd_lc", "format_analysis"]


def format_analysis(summary: dict) -> list[str]:
    """Human-readable lines of a spi_acs_lc summary (what the CLI prints)."""
    a = summary["analysis"]
    bk = a["background"]
    spec = summary["spectrum"]["name"]
    band = "-".join(f"{e:g}" for e in summary["band_keV"])
    direction = (f"{summary['theta_deg']:.1f} deg from the pointing axis" if summary.get("theta_deg") is not None
                 else "direction unknown (sky-averaged response)")
    out = [f"# SPI-ACS around T0 = {summary['T0_isot']}  ({summary['n']} bins of {summary['time_bin']:g} s; {direction})",
           f"  background: degree-{bk['degree']} polynomial, {bk['rate_at_T0']:.0f} counts/s at T0, "
           f"chi2/dof {bk['chi2']:.1f}/{bk['dof']} with the nominal noise; noise {a['noise_factor_measured']:.3f} x Poisson (measured)"]
    pk = a.get("peak")
    if pk:
        out.append(f"  peak: S/N {pk['snr']:.2f} at T0{pk['t_s']:+.2f} s on {pk['timescale_s']:g} s "
                   f"(net {pk['net_rate']:.4g} counts/s); search T0{a['search_s'][0]:+.1f}..{a['search_s'][1]:+.1f} s; "
                   f"{'DETECTED' if a['detected'] else 'not detected'} (threshold {a['threshold']:g})")
    if a.get("t90"):
        t = a["t90"]
        out.append(f"  T90 = {t['T90_s']:.2f} s (T0{t['t05_s']:+.2f} .. T0{t['t95_s']:+.2f} s)")
    if a.get("fluence"):
        f = a["fluence"]
        line = f"  net counts {f['net_counts']:.4g} +- {f['net_counts_err']:.2g} over T0{f['interval_s'][0]:+.2f}..{f['interval_s'][1]:+.2f} s"
        if "fluence_erg_cm2" in f:
            line += f"; fluence {f['fluence_erg_cm2']:.3g} +- {f['fluence_err']:.2g} erg/cm2 ({band} keV, {spec})"
        out.append(line)
    for u in a.get("upper_limits", []):
        line = f"  95% upper limit, {u['duration_s']:g} s centred on T0: {u['ul_counts_95']:.4g} counts"
        if "ul_fluence_erg_cm2_95" in u:
            line += f" = {u['ul_fluence_erg_cm2_95']:.3g} erg/cm2 ({band} keV, {spec})"
        out.append(line)
    return out


def cmd_lc(query, out_dir: str | None) -> int:
    from ...products.run import run_product

    t0 = time.perf_counter()
    res = run_product(query)
    print("\n".join(format_analysis(res.summary)))
    print(f"# product {res.product_id}{' (from cache)' if res.from_cache else ''}, {time.perf_counter() - t0:.2f} s"
          + (f"; files in {out_dir}" if out_dir else ""), file=sys.stderr if not out_dir else sys.stdout)
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, path in res.files.items():
            (out / name).write_bytes(Path(path).read_bytes())
        (out / "spi_acs_lc.png").write_bytes(res.png().read_bytes())
    return 0
