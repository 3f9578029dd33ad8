"""Exceptions raised by geogrid.

Every error geogrid raises for bad input is a :class:`GeogridError` (a ``ValueError``)
whose message is one line that names the fix.
"""

from __future__ import annotations

__all__ = ["CRSError", "GeogridError", "InputError", "NetworkError"]


class GeogridError(ValueError):
    """Base class of every input error geogrid raises; the message names the fix."""


class InputError(GeogridError):
    """A user file or table cannot be used as given."""


class CRSError(GeogridError):
    """A layer has no usable coordinate reference system."""


class NetworkError(GeogridError):
    """The walking network cannot be built or used as given."""
