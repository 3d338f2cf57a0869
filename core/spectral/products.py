"""Spectrum, light-curve and spectral-fit products (being written)."""

from __future__ import annotations


def product_key(query, archive) -> str:
    return query.product_id(query.product_type, "spectral-0", "simulated" if archive.simulated else f"mirror:{archive.root}")


def make_product(query, **kw):
    raise NotImplementedError(f"{query.product_type} products are being written")


def load(pid, query, *, store=None):
    return None


def product_png(result, name=None):
    raise NotImplementedError
