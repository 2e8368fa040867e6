"""The base of every error that is the user's to fix.

The command line prints an :class:`EdgezooError` as one line (what, where, what to do) and exits
with code 2; anything else is a bug and keeps its traceback. Stage errors derive from it (most
also from ``ValueError``, so callers of the Python API that caught ``ValueError`` still do).
"""

from __future__ import annotations


class EdgezooError(Exception):
    """An error the user can fix: bad input, a missing file, a refused directory."""
