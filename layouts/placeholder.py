"""Placeholder page shown until the query page lands: what the archive covers."""

from __future__ import annotations

from dash import html

__all__ = ["placeholder_layout"]


def placeholder_layout():
    """Component tree (called per page load, so it reflects the current archive)."""
    from core.archive.store import get_archive
    from core.timeutil import ijd_to_isot

    hist = get_archive().history
    n = len(hist)
    span = f"{ijd_to_isot(hist['tstart'].min())[:10]} – {ijd_to_isot(hist['tstop'].max())[:10]}" if n else "empty"
    return html.Main([
        html.H1("INTEGRAL ODA"),
        html.P("Online analysis of the INTEGRAL archive: sky images, spectra and light curves."),
        html.P(f"Archive: {n:,} pointing science windows, {span}."),
        html.P(["Command line: ", html.Code("python -m core scws --src Crab --T1 2003-03-15 --T2 2004-03-15 --radius 10")]),
    ], style={"fontFamily": "system-ui, sans-serif", "maxWidth": "48rem", "margin": "2rem auto"})
