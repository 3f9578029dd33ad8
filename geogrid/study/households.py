"""Whole households (and persons) whose totals add up.

Estimates (floor area x storeys, raster shares, compound totals spread over buildings) are
fractional; a figure a person reads is a whole number. :func:`round_households` rounds a column
with the largest-remainder method inside each group (community), so every unit gets a whole
number, every group's total is its fractional total rounded, and therefore the totals per
community, grid and study area are sums of whole numbers that agree with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["round_households"]


def _largest_remainder(values: np.ndarray) -> np.ndarray:
    """Round non-negative ``values`` to integers whose sum is ``round(values.sum())``."""
    floor = np.floor(values)
    short = int(np.floor(float(values.sum()) + 0.5) - float(floor.sum()))
    out = floor.astype(np.int64)
    if short > 0:
        rem = values - floor
        # stable order: largest remainder first, ties by position (deterministic)
        order = np.argsort(-rem, kind="stable")[:short]
        out[order] += 1
    return out


def round_households(
    values: Sequence[float] | np.ndarray | pd.Series,
    groups: Sequence[Any] | np.ndarray | pd.Series | None = None,
) -> np.ndarray:
    """Round fractional households to whole numbers that keep every group's total.

    Parameters
    ----------
    values : array-like of float
        Non-negative households (or persons) per unit; NaN counts as 0.
    groups : array-like, optional
        A group label per unit (e.g. ``community_code``). Each group's whole total is its
        fractional total rounded half-up to the nearest integer; units without a label
        (NaN/None) form one group together. ``None``: the whole study area is one group.

    Returns
    -------
    numpy.ndarray of int64
        One whole number per unit, in the input order.

    Raises
    ------
    ValueError
        Negative values, or ``groups`` of a different length.

    Examples
    --------
    >>> round_households([0.4, 0.4, 0.4, 1.8]).tolist()
    [1, 0, 0, 2]
    >>> round_households([0.5, 0.5, 0.6, 0.6], groups=["a", "a", "b", "b"]).tolist()
    [1, 0, 1, 0]

    """
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    if (v < 0).any():
        msg = f"{int((v < 0).sum())} negative household values; fix or drop those rows"
        raise ValueError(msg)
    # absorb float noise (0.30000000000000004) so that exact totals stay exact
    v = np.round(v, 9)
    if groups is None:
        return _largest_remainder(v)
    if len(groups) != len(v):
        msg = f"groups has {len(groups)} labels for {len(v)} values; pass one label per unit"
        raise ValueError(msg)
    if not (v != np.floor(v)).any():
        # whole numbers already: every group keeps its values (and so its total)
        return v.astype(np.int64)
    g = pd.Series(np.asarray(groups, dtype=object)).fillna("__none__")
    if pd.api.types.infer_dtype(g, skipna=False) != "string":
        g = g.astype(str)
    codes = pd.factorize(g)[0]
    order = np.argsort(codes, kind="stable")  # each group's rows in their original order
    cuts = np.flatnonzero(np.diff(codes[order])) + 1
    out = np.zeros(len(v), dtype=np.int64)
    for idx in np.split(order, cuts):
        out[idx] = _largest_remainder(v[idx])
    return out
