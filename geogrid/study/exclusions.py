"""One place that records every input row left out of an analysis, with its reason.

Every input row ends in an output (with its original id) or in the ``excluded`` layer of the
results GeoPackage: columns ``layer`` (``demand``, ``facilities``, ``communities``...),
``source_id`` (the row's id: its id column when the layer has one, else its 0-based row
number), ``reason`` (one of :data:`REASONS`, in English, with the Chinese in ``reason_zh``),
``households`` (what the row held, NaN when unknown) and the row's geometry in the study CRS.

Readers, demand and facility preparation, grids and the parameter checks all record here::

    excl = Exclusions()
    kept = excl.drop(demand, mask, layer="demand", reason="zero area", ids=ids)
    excl.frame(crs)       # the ``excluded`` layer
    excl.summary()        # {"demand: zero area": 10, ...}, for the command's summary
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

__all__ = ["EXCLUDED_COLUMNS", "REASONS", "Exclusions", "id_column", "row_ids"]

log = logging.getLogger(__name__)

#: Columns of the ``excluded`` layer (plus ``geometry``).
EXCLUDED_COLUMNS: tuple[str, ...] = ("layer", "source_id", "reason", "reason_zh", "households")

#: Reasons a row can be left out, with their Chinese wording for readers of the ledgers.
REASONS: dict[str, str] = {
    "non-residential building": "非住宅建筑",
    "zero area": "面积为零",
    "invalid geometry not repairable": "几何无效且无法修复",
    "empty geometry": "几何为空",
    "not a point or polygon": "既非点也非面",
    "point without households": "点位缺少户数",
    "duplicate": "重复记录",
    "zero households": "户数为零",
    "outside the study area": "位于研究范围之外",
    "outside every community": "不在任何社区内",
    "outlier": "离群位置",
    "coordinates out of range": "坐标超出经纬度范围",
}

_ID_COLUMNS = ("unit_id", "facility_id", "id", "osmid", "fid", "ID", "编号")


def id_column(gdf: pd.DataFrame, candidates: Sequence[str] = _ID_COLUMNS) -> str | None:
    """Return the first column of ``candidates`` whose values are all present and unique."""
    for col in candidates:
        if col in gdf.columns:
            values = gdf[col]
            if values.notna().all() and values.is_unique:
                return col
    return None


def row_ids(gdf: pd.DataFrame, candidates: Sequence[str] = _ID_COLUMNS) -> pd.Series:
    """Return each row's original id as text, aligned with ``gdf``'s index.

    The values of :func:`id_column` (an OSM layer's ``osmid``, a user's ``id``...); without
    one, the 0-based row number.
    """
    col = id_column(gdf, candidates)
    if col is not None:
        return gdf[col].astype(str)
    return pd.Series([str(i) for i in range(len(gdf))], index=gdf.index, dtype=object)


class Exclusions:
    """Collector of the rows an analysis leaves out, each with a layer, an id and a reason."""

    def __init__(self) -> None:
        self._parts: list[gpd.GeoDataFrame] = []

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    def __bool__(self) -> bool:
        return len(self) > 0

    def add(
        self,
        rows: pd.DataFrame,
        *,
        layer: str,
        reason: str,
        ids: Iterable[Any] | None = None,
    ) -> None:
        """Record ``rows`` (a slice of an input layer) as excluded for ``reason``.

        Parameters
        ----------
        rows : DataFrame or GeoDataFrame
            The excluded rows; their geometry (when any) and ``households`` are kept.
        layer : str
            The input layer they came from (``demand``, ``facilities``...).
        reason : str
            Why; one of :data:`REASONS` (another text is accepted and kept as given).
        ids : iterable, optional
            Their original ids (default: :func:`row_ids` of ``rows``).

        """
        if len(rows) == 0:
            return
        source = [str(i) for i in (ids if ids is not None else row_ids(rows))]
        if len(source) != len(rows):
            msg = f"{len(source)} ids for {len(rows)} excluded rows; pass one id per row"
            raise ValueError(msg)
        hh = (
            pd.to_numeric(rows["households"], errors="coerce").to_numpy(dtype=float)
            if "households" in rows.columns
            else np.full(len(rows), np.nan)
        )
        if isinstance(rows, gpd.GeoDataFrame) and rows.geometry.name in rows.columns:
            geom, crs = rows.geometry.to_numpy(), rows.crs
        else:
            geom, crs = np.full(len(rows), None, dtype=object), None
        part = gpd.GeoDataFrame(
            {
                "layer": layer,
                "source_id": source,
                "reason": reason,
                "reason_zh": REASONS.get(reason, reason),
                "households": hh,
            },
            geometry=gpd.GeoSeries(geom, crs=crs),
            crs=crs,
        )
        self._parts.append(part)

    def drop(
        self,
        gdf: gpd.GeoDataFrame,
        mask: Any,
        *,
        layer: str,
        reason: str,
        ids: pd.Series | None = None,
    ) -> gpd.GeoDataFrame:
        """Record the rows of ``gdf`` where ``mask`` is true and return the others.

        ``ids`` (aligned with ``gdf``) are the rows' original ids (default :func:`row_ids`).
        """
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            return gdf
        self.add(
            gdf.loc[m],
            layer=layer,
            reason=reason,
            ids=None if ids is None else ids.loc[gdf.index[m]],
        )
        return gdf.loc[~m]

    def add_frame(self, frame: gpd.GeoDataFrame | None) -> None:
        """Record an already-built frame with ``layer``, ``source_id`` and ``reason`` columns."""
        if frame is None or len(frame) == 0:
            return
        for (layer, reason), part in frame.groupby(["layer", "reason"], sort=False):
            self.add(part, layer=str(layer), reason=str(reason), ids=part["source_id"])

    def extend(self, other: Exclusions | None) -> None:
        """Add every record of ``other``."""
        if other is not None and other is not self:
            self._parts.extend(other._parts)

    def frame(self, crs: Any = None) -> gpd.GeoDataFrame:
        """Return the ``excluded`` layer in ``crs`` (each part reprojected)."""
        if crs is None:
            crs = next((p.crs for p in self._parts if p.crs is not None), None)
        parts = []
        for part in self._parts:
            p = part
            if crs is not None and p.crs is not None:
                p = p.to_crs(crs)
            elif crs is not None:
                p = p.set_crs(crs, allow_override=True)
            parts.append(p)
        if not parts:
            empty = {
                c: pd.Series(dtype=float if c == "households" else object) for c in EXCLUDED_COLUMNS
            }
            return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
        out = pd.concat(parts, ignore_index=True)
        return gpd.GeoDataFrame(
            out, geometry="geometry", crs=crs if crs is not None else parts[0].crs
        )

    def counts(self) -> dict[tuple[str, str], int]:
        """Rows excluded per ``(layer, reason)``, in the order first recorded."""
        out: dict[tuple[str, str], int] = {}
        for p in self._parts:
            key = (str(p["layer"].iloc[0]), str(p["reason"].iloc[0]))
            out[key] = out.get(key, 0) + len(p)
        return out

    def summary(self) -> dict[str, int]:
        """``{"demand: zero area": 10, ...}``; only reasons that excluded a row."""
        return {f"{layer}: {reason}": n for (layer, reason), n in self.counts().items() if n}

    def households(self, layer: str | None = None) -> float:
        """Households held by the excluded rows (of one layer), NaN counted as 0."""
        total = 0.0
        for p in self._parts:
            if layer is None or p["layer"].iloc[0] == layer:
                total += float(np.nansum(p["households"].to_numpy(dtype=float)))
        return total

    def rows(self, layer: str) -> int:
        """Return the number of excluded rows of ``layer``."""
        return sum(len(p) for p in self._parts if p["layer"].iloc[0] == layer)

    def log(self, what: str = "") -> None:
        """Log one warning per reason with its count (nothing when no row was excluded)."""
        for (layer, reason), n in self.counts().items():
            if n:
                log.warning(
                    "%sexcluded %d %s rows: %s (listed in the 'excluded' layer)",
                    f"{what}: " if what else "",
                    n,
                    layer,
                    reason,
                )
