"""A HiGHS solver object that prints nothing (its constructor writes a banner to stdout)."""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["quiet_highs"]


def quiet_highs() -> Any:
    """Return a ``highspy.Highs`` with ``output_flag`` off and no banner on stdout.

    HiGHS prints its version banner from the C++ constructor, before any option can be set,
    so file descriptor 1 is pointed at the null device while the object is made.

    Returns
    -------
    highspy.Highs
        A solver with logging off.

    Examples
    --------
    >>> h = quiet_highs()  # doctest: +SKIP
    >>> h.run()  # doctest: +SKIP

    """
    import highspy

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no usable stdout (a daemon, a closed descriptor): nothing to hide
        saved = -1
    if saved >= 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    try:
        h = highspy.Highs()
    finally:
        if saved >= 0:
            os.dup2(saved, 1)
            os.close(saved)
    h.setOptionValue("output_flag", False)
    return h
