"""The ``python -m core`` command line that rebuilds a product (written into its files):
derived from the parameter table (:func:`core.params.reproduce_command`)."""

from __future__ import annotations

__all__ = ["reproduce_command"]


def reproduce_command(query) -> str:
    """The ``python -m core`` command line that rebuilds this product."""
    from ..params import reproduce_command as from_table

    return from_table(query)
