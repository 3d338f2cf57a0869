"""INTEGRAL ODA core library: archive, instrument model, sky model and analysis.

Plain Python (no web framework imports) so that everything here can be used from a
notebook or a script.
"""

__all__ = ["__version__", "CODE_VERSION"]

__version__ = "0.1.0"

#: Bumped whenever a change alters the numbers any product contains; part of every product id.
CODE_VERSION = "0.3.0"
