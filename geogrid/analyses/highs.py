"""A HiGHS solver object that prints nothing (its constructor writes a banner to stdout)."""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["quiet_highs"]


def quiet_highs(**options: Any) -> Any:
    """Return a deterministic ``highspy.Highs``: no banner, no log, one thread, seed 0.

    HiGHS prints its version banner from the C++ constructor, before any option can be set,
    so file descriptor 1 is pointed at the null device while the object is made.

    Parameters
    ----------
    **options
        HiGHS options set on top of the defaults (``output_flag=False``, ``threads=1``,
        ``random_seed=0``), e.g. ``time_limit=60.0``, ``mip_rel_gap=1e-3``.

    Returns
    -------
    highspy.Highs
        A solver with logging off.

    Examples
    --------
    >>> h = quiet_highs(time_limit=10.0)  # doctest: +SKIP
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
    for key, value in {"output_flag": False, "threads": 1, "random_seed": 0, **options}.items():
        h.setOptionValue(key, value)
    return h
