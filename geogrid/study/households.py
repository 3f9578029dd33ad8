"""Whole households (and persons) whose totals add up.

Estimates (floor area x storeys, raster shares, compound totals spread over buildings) are
fractional; a figure a person reads is a whole number. :func:`round_households` rounds a column
with the largest-remainder method inside each group (community), so every unit gets a whole
number, every group's total is its fractional total rounded, and therefore the totals per
community, grid and study area are sums of whole numbers that agree with each other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["round_households", "whole_numbers"]


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


#: Kinds of quantity (see :data:`geogrid.schema.KINDS`) that are whole numbers of things.
_WHOLE_KINDS = frozenset({"households", "persons", "count"})
#: Column names that count households or persons, besides the schema's own columns.
_COUNT_NAME = re.compile(r"(^|_)(households|hh|population|persons|party_members)(_|$)")


def _is_whole(values: np.ndarray) -> bool:
    """Tell whether every finite value is a whole number (NaN allowed)."""
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and bool((finite == np.round(finite)).all())


def _as_whole(series: pd.Series, values: np.ndarray) -> pd.Series:
    """``values`` as int64, or nullable Int64 where ``series`` has gaps."""
    if series.isna().any():
        out = pd.array(values, dtype="Int64")
        out[series.isna().to_numpy()] = pd.NA
        return pd.Series(out, index=series.index, name=series.name)
    return pd.Series(values.astype(np.int64), index=series.index, name=series.name)


def _whole_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a ``metric``/``value`` table with its whole counts written as integers."""
    from geogrid.schema import figure_spec

    values: list[str | None] = []
    for metric, value in zip(frame["metric"], frame["value"], strict=True):
        kind = figure_spec(str(metric)).kind  # "text": a count the schema does not name
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not np.isfinite(value):
            values.append(None if number or value is None else str(value))
        elif value == round(value) and kind in (*_WHOLE_KINDS, "text"):
            values.append(str(int(value)))
        else:
            values.append(repr(float(value)))
    # as text: a column of ints and floats would be read back as floats (32561.0)
    return frame.assign(value=pd.Series(values, index=frame.index, dtype=object))


def whole_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with its household and person counts as whole numbers.

    Columns the schema knows as households or persons become integers, rounded by largest
    remainder within each community (:func:`round_households`) so that totals still add up;
    other float columns named like counts (``households_min``, ``outside_band_lb_hh``)
    become integers only when every value already is one. Estimates (``households_est``),
    means and shares stay as they are. A ``metric``/``value`` table gets its values as text,
    whole counts without a decimal point (``32561``, ``0.3974``). Missing values stay missing.

    Examples
    --------
    >>> df = pd.DataFrame({"households": [402.0, 295.0], "households_mean": [348.5, 348.5]})
    >>> whole_numbers(df).dtypes.tolist()
    [dtype('int64'), dtype('float64')]

    """
    from geogrid.schema import column_spec

    if list(frame.columns[:2]) == ["metric", "value"] and "value" in frame:
        return _whole_metrics(frame)
    out = frame
    for col in frame.columns:
        series = frame[col]
        if not pd.api.types.is_float_dtype(series.dtype):
            continue
        values = series.to_numpy(dtype=float)
        spec = column_spec(str(col))
        if spec is not None and spec.kind in ("households", "persons"):
            if not _is_whole(values) and (values[np.isfinite(values)] < 0).any():
                continue  # not a count (a difference); left as it is
            groups = frame["community_code"] if "community_code" in frame.columns else None
            whole = round_households(values, groups) if not _is_whole(values) else values
        elif _COUNT_NAME.search(str(col)) and _is_whole(values):
            whole = values
        else:
            continue
        if out is frame:
            out = frame.copy()
        out[col] = _as_whole(series, np.nan_to_num(np.asarray(whole, dtype=float)))
    return out
