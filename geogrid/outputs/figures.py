"""Headline figures of a set of result layers, shared by the workbook, the summary and the maps."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.outputs.privacy import protect, scan_personal
from geogrid.schema import (
    MEETS_TARGET,
    coverage_col,
    primary_target,
    targets_in,
    uncovered_col,
    within_col,
)
from geogrid.settings import DEFAULTS, FACILITY_TYPES
from geogrid.study.households import round_households

log = logging.getLogger(__name__)


def numeric(series: pd.Series) -> np.ndarray:
    """Values of ``series`` as floats (text and blanks become NaN)."""
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def whole_households(gdf: gpd.GeoDataFrame, column: str = "households") -> np.ndarray:
    """Whole households (or persons) per row, rounded so every community's total is kept.

    The largest-remainder rounding of :func:`geogrid.study.households.round_households`, by
    ``community_code`` when the layer has it: the sums of these numbers per community, per
    grid and over the study area are the totals every output shows.
    """
    groups = gdf["community_code"] if "community_code" in gdf.columns else None
    return round_households(np.nan_to_num(numeric(gdf[column])), groups)


def total_households(
    layers: Mapping[str, gpd.GeoDataFrame], column: str = "households"
) -> int | None:
    """Whole households (or ``column``) of the first of demand, communities, grids with them."""
    for key in ("demand", "communities", "grids"):
        gdf = layers.get(key)
        if gdf is not None and column in gdf and len(gdf):
            return int(whole_households(gdf, column).sum())
    return None


def withheld_counts(layers: Mapping[str, gpd.GeoDataFrame]) -> dict[str, int]:
    """Personal-data columns left out and values masked over all layers (zero ones omitted)."""
    columns = values = 0
    for gdf in layers.values():
        if gdf is not None and len(gdf):
            scan = scan_personal(gdf)
            columns += len(scan.drop)
            values += scan.n_values
    out = {"personal_columns_withheld": columns, "personal_values_withheld": values}
    return {k: v for k, v in out.items() if v}


def lonlat(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (WGS84) of each feature's representative point; NaN without a CRS."""
    if gdf.crs is None:
        return np.full(len(gdf), np.nan), np.full(len(gdf), np.nan)
    pts = gdf.geometry.representative_point().to_crs("EPSG:4326")
    return np.round(pts.x.to_numpy(), 6), np.round(pts.y.to_numpy(), 6)


def uncovered_table(
    demand: gpd.GeoDataFrame, *, include_personal: bool = False, target: str | None = None
) -> pd.DataFrame:
    """Uncovered demand (``within_<target>`` false) by compound, or by building without one.

    ``target`` defaults to the primary target of the demand's columns (``15min``); households
    are whole (:func:`whole_households`).
    """
    dem = protect(demand, include_personal=include_personal)
    key = target or primary_target(dem.columns)
    if key is None or within_col(key) not in dem:
        return pd.DataFrame()
    if "households" in dem:
        dem = dem.assign(households=whole_households(dem))
    else:
        dem = dem.assign(households=1)
    dem = dem[~dem[within_col(key)].fillna(False).astype(bool)]
    lon, lat = lonlat(dem)
    within = [within_col(k) for k in targets_in(dem.columns) if within_col(k) in dem]
    dem = pd.DataFrame(dem.drop(columns=[dem.geometry.name, *within])).assign(lon=lon, lat=lat)
    if "compound_id" in dem and dem["compound_id"].notna().any():
        dem = dem[dem["compound_id"].notna()]
        agg: dict[str, Any] = {"households": "sum", "lon": "mean", "lat": "mean"}
        for col in (
            "compound_name",
            "community_code",
            "community_name",
            "nearest_id",
            "nearest_name",
        ):
            if col in dem:
                agg[col] = "first"
        if "dist_m" in dem:
            agg["dist_m"] = "min"
        grouped = dem.groupby("compound_id", sort=True)
        table = grouped.agg(agg)
        table.insert(0, "n_buildings", grouped.size())
        table = table.reset_index()
        table["lon"] = table["lon"].round(6)
        table["lat"] = table["lat"].round(6)
        return table
    return dem.reset_index(drop=True)


def key_figures(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    include_personal: bool = False,
) -> dict[str, float | int]:
    """Key figures of an analysis, for the summary sheet, page and console.

    Coverage shares are household-weighted, for every target the layers carry: from ``demand``
    (``households`` and ``within_<target>``) when present, else from ``communities``
    (``coverage_<target>`` weighted by ``households``). Households are whole numbers rounded
    per community (:func:`whole_households`), so the figures equal the 合计 rows of the
    workbook. Only figures whose inputs exist are returned; labels and formats are
    :func:`geogrid.schema.figure_spec`. Unless ``include_personal``, the personal-data
    columns the outputs leave out and the values they mask are counted
    (``personal_columns_withheld``, ``personal_values_withheld``; see
    :func:`geogrid.outputs.privacy.scan_personal`).

    Returns
    -------
    dict of str to number

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> demand = gpd.GeoDataFrame(
    ...     {"households": [10.4, 5.6], "within_20min": [True, False]},
    ...     geometry=[shapely.Point(0, 0), shapely.Point(1, 1)], crs=3857)
    >>> figs = key_figures({"demand": demand})
    >>> figs["households"], figs["coverage_20min"], figs["uncovered_hh_20min"]
    (16, 0.625, 6)

    """
    out: dict[str, float | int] = {}
    comms = layers.get("communities")
    for key in ("streets", "communities"):
        if layers.get(key) is not None:
            out[f"n_{key}"] = len(layers[key])
    if comms is not None:
        failing = _failing(comms)
        if failing is not None:
            out["n_failing_communities"] = int(failing.sum())
    hh = total_households(layers)
    if hh is not None:
        out["households"] = hh
        persons = total_households(layers, "population")
        if persons is not None:  # never households x size: it would not match the ledgers
            out["population"] = persons
    out.update(_grid_figures(layers.get("grids")))
    out.update(_facility_figures(layers.get("facilities")))
    out.update(_coverage_figures(layers.get("demand"), comms))
    demand = layers.get("demand")
    if demand is not None:
        unc = uncovered_table(demand, include_personal=include_personal)
        if len(unc.columns):
            out["n_uncovered"] = len(unc)
    out.update(_gap_site_figures(layers, out, hh))
    if not include_personal:
        out.update(withheld_counts(layers))
    return out


def failing_communities(comms: gpd.GeoDataFrame) -> tuple[pd.DataFrame, str | None]:
    """Communities below the primary target, most households beyond it first.

    Returns
    -------
    (DataFrame, str or None)
        The failing rows of ``comms`` (no geometry) and the primary target key; an empty
        frame and None when ``comms`` has no coverage columns.

    """
    failing = _failing(comms)
    key = primary_target(comms.columns)
    if failing is None or key is None:
        return pd.DataFrame(), None
    table = pd.DataFrame(comms[failing].drop(columns=comms.geometry.name, errors="ignore"))
    if uncovered_col(key) in table:
        worst = pd.to_numeric(table[uncovered_col(key)], errors="coerce").fillna(0)
        table = table.iloc[np.argsort(-worst.to_numpy(), kind="stable")]
    return table.reset_index(drop=True), key


def _failing(comms: gpd.GeoDataFrame) -> np.ndarray | None:
    """Communities below the primary target (``meets_target`` false), or None if unknown."""
    if MEETS_TARGET in comms:
        return ~comms[MEETS_TARGET].astype("boolean").fillna(True).to_numpy(dtype=bool)
    key = primary_target(comms.columns)
    if key is not None and uncovered_col(key) in comms:
        return np.nan_to_num(numeric(comms[uncovered_col(key)])) > 0
    return None


def _grid_figures(grids: gpd.GeoDataFrame | None) -> dict[str, float | int]:
    if grids is None:
        return {}
    out: dict[str, float | int] = {"n_grids": len(grids)}
    if "households" in grids and len(grids):
        g = whole_households(grids).astype(float)
        out["grid_households_mean"] = int(round(float(np.mean(g))))
        out["grid_households_min"] = int(np.min(g))
        out["grid_households_max"] = int(np.max(g))
        out["grids_outside_band"] = int(
            np.sum((g < DEFAULTS.grid_min_households) | (g > DEFAULTS.grid_max_households))
        )
    return out


def _facility_figures(fac: gpd.GeoDataFrame | None) -> dict[str, float | int]:
    if fac is None:
        return {}
    out: dict[str, float | int] = {"n_facilities": len(fac)}
    if "type" in fac:
        raw = fac["type"].astype(str)
        types = raw.where(raw.isin(FACILITY_TYPES), "facility")
        for t in FACILITY_TYPES:
            n = int((types == t).sum())
            if n:
                out[f"n_{t}"] = n
    if "overloaded" in fac:
        out["n_overloaded"] = int(fac["overloaded"].fillna(False).astype(bool).sum())
    return out


def _coverage_figures(
    demand: gpd.GeoDataFrame | None, comms: gpd.GeoDataFrame | None
) -> dict[str, float | int]:
    """``coverage_<t>`` and ``uncovered_hh_<t>`` of every target, whole households."""
    out: dict[str, float | int] = {}
    if demand is not None and len(demand) and targets_in(demand.columns):
        w = whole_households(demand) if "households" in demand else np.ones(len(demand), int)
        total = int(w.sum())
        for key in targets_in(demand.columns):
            if within_col(key) not in demand:
                continue
            inside = demand[within_col(key)].fillna(False).astype(bool).to_numpy()
            covered = int(w[inside].sum())
            out[coverage_col(key)] = round(covered / total, 4) if total else 0.0
            out[uncovered_col(key)] = total - covered
        return out
    if comms is None or "households" not in comms:
        return out
    w = np.nan_to_num(numeric(comms["households"]))
    hh = float(w.sum())
    for key in targets_in(comms.columns):
        if coverage_col(key) not in comms:
            continue
        share = np.nan_to_num(numeric(comms[coverage_col(key)]))
        out[coverage_col(key)] = round(float((w * share).sum()) / hh, 4) if hh else 0.0
        if uncovered_col(key) in comms:
            out[uncovered_col(key)] = int(
                round(float(np.nansum(numeric(comms[uncovered_col(key)]))))
            )
        else:
            out[uncovered_col(key)] = int(round(float((w * (1 - share)).sum())))
    return out


def _gap_site_figures(
    layers: Mapping[str, gpd.GeoDataFrame], figures: Mapping[str, float | int], hh: int | None
) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    gaps = layers.get("gaps")
    if gaps is not None:
        out["n_gaps"] = len(gaps)
        if "households" in gaps:
            out["gap_households"] = int(whole_households(gaps).sum())
    sites = layers.get("sites")
    if sites is not None:
        out["n_sites"] = len(sites)
        if "gain_households" in sites:
            gain = int(round(float(np.nansum(numeric(sites["gain_households"])))))
            out["gain_households"] = gain
            key = primary_target(list(figures))
            if key is not None and hh:
                after = min(1.0, float(figures[coverage_col(key)]) + gain / hh)
                out[f"{coverage_col(key)}_after"] = round(after, 4)
    return out


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters as single spaces."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", str(text)).strip()


def _compound_key(value: Any) -> str | None:
    """Return a compound id as text (``7``, ``7.0``, ``"7"`` are one); None if missing."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, int | float | np.number) and float(value).is_integer():
        return str(int(value))
    return str(value)


def name_compounds(
    layers: Mapping[str, gpd.GeoDataFrame], compounds: pd.DataFrame | None
) -> dict[str, gpd.GeoDataFrame]:
    """Return ``layers`` with ``compound_name`` beside every ``compound_id`` the table names.

    People read the compound's name (``胜利小区``), not its number; the number stays in the
    layer for programs (the schema hides it where the name is there).
    """
    out = dict(layers)
    if compounds is None or "compound_id" not in compounds or "name" not in compounds:
        return out
    names = {
        _compound_key(k): str(v)
        for k, v in zip(compounds["compound_id"], compounds["name"], strict=True)
        if _compound_key(k) is not None and isinstance(v, str) and v.strip()
    }
    for key, layer in layers.items():
        if layer is None or "compound_id" not in layer or "compound_name" in layer:
            continue
        named = [names.get(_compound_key(v)) for v in layer["compound_id"]]
        if any(n is not None for n in named):
            out[key] = layer.assign(compound_name=pd.Series(named, index=layer.index, dtype=object))
    return out
