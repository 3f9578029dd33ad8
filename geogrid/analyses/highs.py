"""A HiGHS solver object that prints nothing (its constructor writes a banner to stdout)."""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["mip_model", "quiet_highs"]


def mip_model(
    a: Any,
    *,
    cost: Any,
    col_lo: Any,
    col_hi: Any,
    row_lo: Any,
    row_hi: Any,
    n_int: int,
    maximize: bool = False,
) -> Any:
    """Build a ``highspy.HighsLp`` whose first ``n_int`` columns are integer.

    Parameters
    ----------
    a : scipy.sparse matrix
        Constraint matrix (rows x columns); passed column-wise.
    cost, col_lo, col_hi : array-like
        Objective coefficients and column bounds, one per column.
    row_lo, row_hi : array-like
        Row bounds (``-inf``/``inf`` for one-sided rows).
    n_int : int
        The first ``n_int`` columns are integer, the rest continuous.
    maximize : bool
        Maximise instead of minimise.

    Returns
    -------
    highspy.HighsLp
        The model, for ``Highs.passModel``.

    Examples
    --------
    >>> from scipy import sparse
    >>> lp = mip_model(sparse.csc_matrix([[1.0, 1.0]]), cost=[1, 2], col_lo=[0, 0],
    ...                col_hi=[1, 1], row_lo=[1], row_hi=[1], n_int=2)  # doctest: +SKIP
    >>> h = quiet_highs(); h.passModel(lp); h.run()  # doctest: +SKIP

    """
    import highspy
    import numpy as np
    from scipy import sparse

    a = sparse.csc_matrix(a)
    a.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_ = int(a.shape[1])
    lp.num_row_ = int(a.shape[0])
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(col_lo, dtype=float)
    lp.col_upper_ = np.asarray(col_hi, dtype=float)
    lp.row_lower_ = np.asarray(row_lo, dtype=float)
    lp.row_upper_ = np.asarray(row_hi, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    lp.a_matrix_.num_col_ = lp.num_col_
    lp.a_matrix_.num_row_ = lp.num_row_
    kinds = highspy.HighsVarType
    lp.integrality_ = [kinds.kInteger] * n_int + [kinds.kContinuous] * (lp.num_col_ - n_int)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    return lp


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
